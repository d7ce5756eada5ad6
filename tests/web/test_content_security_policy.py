"""Every page carries a Content-Security-Policy strict enough to matter — scripts and styles only from the
node's own files, no inline script or style attribute, no framing by anybody — and the templates need
nothing more. Only the views that must have more get it, and only that: the file preview may be framed by
the node's own pages; Swagger UI (/api/docs/) may use inline styles. (The browser tests drive the pages
under this policy and fail on any violation Chromium reports.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

ROOT = Path(django_settings.BASE_DIR)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.strip().split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def assert_strict_scripts(directives: dict[str, list[str]]) -> None:
    for name in ("script-src", "default-src"):
        assert directives[name] == ["'self'"], (name, directives[name])
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]


@pytest.mark.parametrize("path", ["/search", "/accounts/login/", "/api/v1/vocabularies", "/no-such-page"])
def test_pages_carry_a_strict_policy_and_refuse_framing(client, path):
    response = client.get(path)
    directives = policy(response)
    assert_strict_scripts(directives)
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'self'" in directives["form-action"]
    assert response["X-Frame-Options"] == "DENY"


def test_signed_in_pages_carry_it_too(users, catalog, client_as):
    response = client_as(users["teacher"]).get(reverse("resource-page", args=[catalog.open_maths.pk]))
    assert response.status_code == 200
    assert policy(response)["frame-ancestors"] == ["'none'"]
    assert_strict_scripts(policy(response))


def test_the_file_preview_may_be_framed_by_the_node_itself_only(users, catalog, client_as):
    file = catalog.open_maths.files.get()
    response = client_as(users["teacher"]).get(reverse("file-preview", args=[catalog.open_maths.pk, file.pk]))
    assert response.status_code == 200
    assert policy(response)["frame-ancestors"] == ["'self'"]
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert_strict_scripts(policy(response))


def test_api_docs_get_inline_styles_but_no_inline_script(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    directives = policy(response)
    assert_strict_scripts(directives)
    assert "'unsafe-inline'" in directives["style-src"]
    assert "data:" in directives["img-src"]
    html = response.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts and all("src=" in attributes for attributes in scripts), scripts
    # The start-up script is a request of its own, under the same policy.
    start = re.search(r'<script src="([^"]*script[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(start)
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


INLINE = [
    (re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*application/ld\+json)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def test_no_template_needs_inline_script_or_style():
    templates = sorted(p for app in ("exchange", "catalog", "licensing", "federation")
                       for p in (ROOT / app / "templates").rglob("*.html"))
    assert len(templates) > 20
    found = [f"{path.relative_to(ROOT)}: {what}" for path in templates for pattern, what in INLINE
             if pattern.search(path.read_text(encoding="utf-8"))]
    assert found == []
