"""Fixtures of the web page tests: an isolated search index, a small catalog covering the licensing cases,
signed-in clients, and — for the browser tests — Debian's Chromium driven by Playwright against the live
server. Without Chromium the browser tests skip, naming the Debian package to install."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from catalog.models import Resource
from catalog.search.indexing import index_resources
from exchange.models import Organisation, User
from tests.factories import ResourceFactory
from tests.requirements import unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(django_settings.BASE_DIR) / "test-output" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture(autouse=True)
def isolated_search_index(settings, tmp_path):
    """Each test searches its own embedded index."""
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"


@dataclass
class Catalog:
    """The resources every page test can rely on (all published and indexed unless said)."""

    open_maths: Resource      # CC BY, free for everybody
    priced_physics: Resource  # all rights reserved, 5 vouchers, free for rural schools, province only
    chinese: Resource         # CC BY-NC, another subject and grade
    submitted: Resource       # waiting in the reviewer's queue (not indexed)


def make_catalog(orgs: dict[str, Organisation], province: str) -> Catalog:
    publisher = orgs["publisher"]
    open_maths = ResourceFactory(
        publisher=publisher, title="人教版七年级数学上册 有理数 教学课件",
        description="有理数的概念与分类，数轴与相反数，含课堂练习。", keywords=["有理数", "数轴"],
        chapter="第一章 有理数", section="1.2 有理数")
    priced = ResourceFactory(
        publisher=publisher, title="八年级物理 浮力 实验微课", stage="初中", subject="物理", grade="八年级",
        edition="人教版", volume="下册", resource_type="微课", description="阿基米德原理的探究实验。",
        license="ALL-RIGHTS-RESERVED", price=5, free_for=["rural"], territory=[province])
    chinese = ResourceFactory(
        publisher=orgs["other_publisher"], title="统编版七年级语文 春 教学设计", subject="语文", edition="统编版",
        resource_type="教案", description="朱自清《春》的教学设计。", license="CC-BY-NC-4.0")
    submitted = ResourceFactory(
        publisher=publisher, title="七年级数学 有理数的加法 习题", resource_type="习题",
        status=Resource.Status.SUBMITTED)
    index_resources(resource_ids=[str(r.pk) for r in (open_maths, priced, chinese)])
    return Catalog(open_maths=open_maths, priced_physics=priced, chinese=chinese, submitted=submitted)


@pytest.fixture
def catalog(orgs, users, province) -> Catalog:
    return make_catalog(orgs, province)


@pytest.fixture
def students(orgs):
    for key, count in (("city_school", 100), ("rural_school", 40), ("far_school", 80)):
        orgs[key].student_count = count
        orgs[key].save(update_fields=["student_count"])
    return orgs


@pytest.fixture
def client_as() -> Callable[[User | None], Client]:
    """``client_as(user)`` → a Django test client signed in as ``user`` (anonymous for None)."""

    def make(user: User | None, language: str | None = None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        if language:
            client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
        return client

    return make


# --- the browser ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, for one test module (skips when it is not installed).

    Playwright's sync API keeps an event loop running in this thread, which makes Django refuse ORM
    calls as if they came from async code; the tests' own database work between page actions is plain
    synchronous code, so that check is switched off while the browser runs, and only then."""
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        unavailable("Chromium is not installed: install the Debian package `chromium` (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - playwright is a test dependency
        unavailable("the Python package `playwright` is not installed")
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM if os.path.exists(CHROMIUM) else shutil.which(
                "chromium"), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def live(live_server, settings) -> str:
    """The live server's URL, with the node's public base URL pointing at it (signed download links)."""
    settings.EXCHANGE_BASE_URL = live_server.url
    return live_server.url


def is_csp_violation(text: str) -> bool:
    """Chromium reports a refused script, style, frame or form target on the console with this wording."""
    return "Content Security Policy" in text


@pytest.fixture
def csp_violations() -> list[str]:
    """Console messages of every page the test opened that report a Content-Security-Policy violation."""
    return []


@pytest.fixture
def browse(chromium, live, csp_violations) -> Iterator[Callable[..., Any]]:
    """``browse(user=None, language="zh-hans", viewport=DESKTOP)`` → a new page in a fresh browser
    context, signed in as ``user`` through a session cookie. Contexts are closed after the test, which
    fails if any page reported a Content-Security-Policy violation (the pages must work under the policy)."""
    contexts = []

    def open_page(user: User | None = None, *, language: str = "zh-hans", viewport: dict[str, int] | None = None):
        context = chromium.new_context(viewport=viewport or DESKTOP, locale="zh-CN" if language == "zh-hans" else "en",
                                       accept_downloads=True)
        host = live.split("//", 1)[1].split(":", 1)[0]
        cookies = [{"name": django_settings.LANGUAGE_COOKIE_NAME, "value": language, "domain": host, "path": "/"}]
        if user is not None:
            client = Client()
            client.force_login(user)
            cookies.append({"name": django_settings.SESSION_COOKIE_NAME,
                            "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                            "domain": host, "path": "/"})
        context.add_cookies(cookies)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: csp_violations.append(f"{page.url}: {message.text}")
                if is_csp_violation(message.text) else None)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert csp_violations == []


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot under ``test-output/screenshots/`` (gitignored) and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _load_reference_data() -> None:
    from catalog.vocab import vocabularies_load
    from exchange.services import roles_ensure

    vocabularies_load()
    roles_ensure()


@pytest.fixture(scope="module")
def restore_reference_data(django_db_blocker) -> Iterator[None]:
    """The live server's tests commit for real and every table is emptied after each of them; put back
    what ``tests/conftest.py`` loads once per session, for the tests that run after this module."""
    yield
    from catalog.models import Term

    with django_db_blocker.unblock():
        if not Term.objects.exists():
            _load_reference_data()


@pytest.fixture
def live_world(restore_reference_data, live, province):
    """Reference data, the demo organisations and users and the small catalog, committed for the live
    server to see."""
    from catalog.models import Term
    from tests import factories

    if not Term.objects.exists():
        _load_reference_data()
    orgs = factories.demo_organisations(province)
    users = factories.demo_users(orgs)
    return orgs, users, make_catalog(orgs, province)
