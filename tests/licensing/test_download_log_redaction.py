"""A signed download link is a bearer credential until it expires: no log the project configures may hold
its token. After real downloads — through Django's runserver, through gunicorn as deployed
(``deploy/gunicorn.conf.py``) and through nginx as deployed (``deploy/nginx.conf``) in front of gunicorn —
the servers' logs name the path ``/files/[REDACTED]`` and never the token; a refused (tampered) link's
warning from ``django.request`` is redacted the same way."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
import urllib3

from tests import servers
from tests.node_processes import ROOT, gunicorn, runserver, seed_node

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

def _nginx_version() -> tuple[int, ...] | None:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        return None
    out = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(part) for part in match.groups()) if match else None


def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "node.example.edu.cn")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def nginx_config(directory: Path, *, upstream_port: int, https_port: int, http_port: int) -> Path:
    """``deploy/nginx.conf`` as it is, placed on loopback ports here: only addresses and file paths
    change (each replacement must apply, so a changed deploy file fails loudly), and ``http2 on``
    (nginx ≥ 1.25) is dropped on an older nginx."""
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    cert, key = _self_signed(directory)
    replacements = [
        ("server web:8000;", f"server 127.0.0.1:{upstream_port};", 1),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;", 1),
        ("listen 80;", f"listen 127.0.0.1:{http_port};", 1),
        ("/etc/nginx/tls/fullchain.pem", str(cert), 1),
        ("/etc/nginx/tls/privkey.pem", str(key), 1),
        ("/var/log/nginx/access.log", str(directory / "access.log"), 2),
        ("/srv/exchange/data/static/", str(directory / "static") + "/", 1),
    ]
    if (_nginx_version() or (0,)) < (1, 25, 1):
        replacements.append(("http2 on;", "", 1))
    for old, new, count in replacements:
        assert site.count(old) == count, (old, site.count(old))
        site = site.replace(old, new)
    (directory / "site.conf").write_text(site)
    main = directory / "nginx.conf"
    main.write_text(f"""
daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log info;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {directory}/client_body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    include {directory}/site.conf;
}}
""")
    return main


def test_download_tokens_stay_out_of_nginx_and_gunicorn_logs(node_dir, tmp_path):
    if _nginx_version() is None:
        pytest.skip("nginx is not installed (Debian package `nginx`)")
    data_dir, resource = node_dir
    upstream, https_port, http_port = servers.free_ports(3)
    proxy_dir = tmp_path / "nginx"
    proxy_dir.mkdir()
    config = nginx_config(proxy_dir, upstream_port=upstream, https_port=https_port, http_port=http_port)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    subprocess.run([nginx, "-t", "-p", str(proxy_dir), "-c", str(config)], check=True, capture_output=True)
    with gunicorn(data_dir, upstream, "gunicorn.log") as node:
        proxy = subprocess.Popen([nginx, "-p", str(proxy_dir), "-c", str(config)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            servers.wait_for_port(https_port, proc=proxy)
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
        finally:
            servers.stop(proxy)
    access = (proxy_dir / "access.log").read_text()
    assert len(access.strip().splitlines()) == 2, access
    assert_redacted(access, token, requests_logged=2)
    assert '"[REDACTED]"' in access  # the referrer
    assert "x=1" not in access  # query strings are left out
    assert_redacted(node.output(), token, requests_logged=1)
