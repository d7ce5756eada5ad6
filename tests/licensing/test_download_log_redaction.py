"""A signed download link is a bearer credential until it expires: no log the project configures may hold
its token. After real downloads — through Django's runserver, through gunicorn as deployed
(``deploy/gunicorn.conf.py``) and through nginx as deployed (``deploy/nginx.conf``) in front of gunicorn —
the servers' logs name the path ``/files/[REDACTED]`` and never the token; a refused (tampered) link's
warning from ``django.request`` is redacted the same way."""

from __future__ import annotations

import re
import shutil
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
import urllib3

from tests import servers
from tests.node_processes import gunicorn, runserver, seed_node
from tests.requirements import unavailable

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    directory = tmp_path_factory.mktemp("log-redaction") / "template"
    resource = seed_node(directory)["resource"]
    return directory, resource


@pytest.fixture
def node_dir(seeded, tmp_path) -> tuple[Path, str]:
    template, resource = seeded
    data_dir = tmp_path / "node"
    shutil.copytree(template, data_dir)
    return data_dir, resource


def download_link(base: str, resource: str) -> str:
    """Sign in, ask for the resource's download and return its signed link."""
    token = requests.post(f"{base}/api/v1/auth/token", json={"username": "teacher", "password": "test-pass-teacher"},
                          timeout=30).json()["token"]
    response = requests.post(f"{base}/api/v1/resources/{resource}/download", json={},
                             headers={"Authorization": f"Token {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    (link,) = response.json()["files"]
    assert link["delivery"] == "signed"
    return link["url"]


def secret_of(url: str) -> str:
    path = urllib.parse.urlsplit(url).path
    assert path.startswith("/files/")
    token = path.removeprefix("/files/")
    assert len(token) > 20
    return token


def fetch_and_tamper(base: str, path: str) -> None:
    """Download the file (and once with a Range), then ask with a tampered token (a refused link)."""
    whole = requests.get(f"{base}{path}", timeout=30)
    assert whole.status_code == 200 and whole.content.startswith(b"%PDF")
    part = requests.get(f"{base}{path}", headers={"Range": "bytes=0-3"}, timeout=30)
    assert part.status_code == 206 and part.content == b"%PDF"
    tampered = requests.get(f"{base}{path[:-2]}xy", timeout=30)
    assert tampered.status_code in (403, 404, 410)


def wait_for_lines(read, marker: str, count: int, timeout: float = 20) -> None:
    """A server writes its access line after the response has gone out: wait for it before stopping."""
    deadline = time.monotonic() + timeout
    while read().count(marker) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def assert_redacted(log: str, token: str, *, requests_logged: int) -> None:
    tampered = token[:-2] + "xy"
    assert token not in log and tampered not in log
    # Neither is any long piece of it (a log line cut or re-encoded differently).
    assert not any(token[i:i + 16] in log for i in range(0, len(token) - 16, 8))
    assert log.count("/files/[REDACTED]") >= requests_logged, log[-3000:]


@pytest.mark.parametrize("server", ["runserver", "gunicorn"])
def test_download_tokens_stay_out_of_the_servers_logs(server, node_dir):
    data_dir, resource = node_dir
    port = servers.free_port()
    start = runserver if server == "runserver" else gunicorn
    with start(data_dir, port, f"{server}.log") as node:
        url = download_link(node.url, resource)
        token = secret_of(url)
        fetch_and_tamper(node.url, urllib.parse.urlsplit(url).path)
        wait_for_lines(node.output, " 403 ", 1)
    log = node.output()
    # Three requests in the access log, the refused one also as a django.request warning.
    assert_redacted(log, token, requests_logged=4)
    assert re.search(r"(Forbidden|Not Found|Gone).*?/files/\[REDACTED\]", log), log[-3000:]


# --- nginx as deployed ---------------------------------------------------------------------------------

def test_download_tokens_stay_out_of_nginx_and_gunicorn_logs(node_dir, tmp_path):
    reason = servers.nginx_missing_reason()
    if reason:
        unavailable(reason)
    data_dir, resource = node_dir
    upstream, https_port, http_port = servers.free_ports(3)
    proxy_dir = tmp_path / "nginx"
    proxy_dir.mkdir()
    config = servers.nginx_config(proxy_dir, upstream_port=upstream, https_port=https_port, http_port=http_port)
    with gunicorn(data_dir, upstream, "gunicorn.log") as node, servers.nginx_server(config, port=https_port):
        url = download_link(node.url, resource)
        token = secret_of(url)
        path = urllib.parse.urlsplit(url).path
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        through_proxy = requests.get(f"https://127.0.0.1:{https_port}{path}?x=1", verify=False,  # noqa: S501
                                     headers={"Referer": f"https://node.example.edu.cn{path}"}, timeout=30)
        assert through_proxy.status_code == 200 and through_proxy.content.startswith(b"%PDF")
        redirect = requests.get(f"http://127.0.0.1:{http_port}{path}", allow_redirects=False, timeout=30)
        assert redirect.status_code == 301
        wait_for_lines(node.output, "GET /files/", 1)
        wait_for_lines(lambda: (proxy_dir / "access.log").read_text(), "GET ", 2)
    access = (proxy_dir / "access.log").read_text()
    assert len(access.strip().splitlines()) == 2, access
    assert_redacted(access, token, requests_logged=2)
    assert '"[REDACTED]"' in access  # the referrer
    assert "x=1" not in access  # query strings are left out
    assert_redacted(node.output(), token, requests_logged=1)
