"""The shipped production stack (``deploy/``) read as an operator's tools would read it. Docker cannot run
in the test environment, so the compose file is checked by parsing it; what its services run is run for
real by the production-topology lane (``tests/production``), and the web container's healthcheck is run
here against a node in production mode."""

from __future__ import annotations

import ipaddress
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from tests import servers
from tests.node_processes import manage, node_env

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NODE_SERVICES = ("migrate", "web", "worker", "sync")
SUBSTITUTION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<rest>[^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def command_words(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def test_migrations_bucket_and_static_files_are_a_one_shot_job(compose):
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["restart"] == "no"
    steps = [shlex.split(part)[:3] for part in shlex.split(command_words(migrate))[-1].split("&&")]
    assert steps == [["python", "manage.py", "migrate"], ["python", "manage.py", "load_vocabularies"],
                     ["python", "manage.py", "collectstatic"], ["python", "manage.py", "storage_init"]]
    for name in ("web", "worker", "sync"):
        assert "migrate" not in command_words(services[name]), name  # replicas never migrate
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_elasticsearch_image_is_not_older_than_the_client(compose):
    """A client talks to a server of its own minor or a later one; the image was 8.15 for a client ≥ 8.18."""
    image = compose["services"]["elasticsearch"]["image"]
    match = re.fullmatch(r"elasticsearch:(\d+)\.(\d+)\.(\d+)", image)
    assert match, image
    server = (int(match[1]), int(match[2]))
    client = tuple(int(part) for part in metadata.version("elasticsearch").split(".")[:2])
    pinned = re.search(r'"elasticsearch>=(\d+)\.(\d+)', (ROOT / "pyproject.toml").read_text())
    assert pinned, "pyproject.toml pins the elasticsearch client"
    assert server[0] == client[0] and server >= client, (image, client)
    assert server >= (int(pinned[1]), int(pinned[2])) >= (8, 18)


def test_nginx_does_not_mount_the_volume_holding_the_node_key(compose):
    services = compose["services"]
    node_volumes = {v.split(":")[0] for name in NODE_SERVICES for v in compose["x-node"]["volumes"]}
    assert "node-data" in node_volumes
    nginx_sources = [v.split(":")[0] for v in services["nginx"]["volumes"]]
    assert all(source.startswith("./") for source in nginx_sources), nginx_sources  # its own files only
    assert not set(nginx_sources) & node_volumes
    assert "/srv/exchange/data" not in (DEPLOY / "nginx.conf").read_text()


def test_every_substitution_is_set_by_env_example(compose, env_example):
    """``docker compose --env-file deploy/.env`` refused to start from env.example (POSTGRES_PASSWORD
    missing): every variable compose.yaml substitutes has a value there."""
    text = (DEPLOY / "compose.yaml").read_text()
    names = {m["name"] for m in SUBSTITUTION.finditer(text)}
    assert {"POSTGRES_PASSWORD", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"} <= names
    missing = sorted(name for name in names if not env_example.get(name))
    assert not missing, missing
    required = {"SECRET_KEY", "ALLOWED_HOSTS", "EXCHANGE_BASE_URL", "S3_BUCKET", "S3_ENDPOINT_URL",
                "S3_PUBLIC_ENDPOINT_URL", "REDIS_URL", "ELASTICSEARCH_URL", "TRUSTED_PROXIES"}
    assert not required - {name for name, value in env_example.items() if value}
    assert "minio" not in env_example["S3_PUBLIC_ENDPOINT_URL"]  # browsers cannot resolve the internal host
    assert len(env_example["S3_SECRET_ACCESS_KEY"]) >= 8  # MinIO refuses a shorter root password


def test_trusted_proxies_is_the_stacks_network(compose, env_example):
    subnet = ipaddress.ip_network(compose["networks"]["default"]["ipam"]["config"][0]["subnet"])
    trusted = [ipaddress.ip_network(entry) for entry in env_example["TRUSTED_PROXIES"].split(",")]
    assert any(subnet.subnet_of(network) for network in trusted if network.version == subnet.version)


def test_nginx_speaks_http11_to_the_upstreams_and_lets_prometheus_in(compose):
    site = (DEPLOY / "nginx.conf").read_text()
    upstream_locations = site.count("proxy_pass http://")
    assert site.count("proxy_http_version 1.1;") >= 3 and upstream_locations == 3  # server level + 2 locations
    assert site.count('proxy_set_header Connection "";') == site.count("proxy_http_version 1.1;")
    metrics = site[site.index("location = /metrics"):]
    metrics = metrics[:metrics.index("}")]
    for network in ("127.0.0.1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"):
        assert f"allow {network};" in metrics, network
    assert "deny all;" in metrics and "proxy_set_header Host $server_name;" in metrics
    assert "proxy_set_header X-Request-ID $request_id;" in site and "$request_id" in site.split("server {")[0]


def test_gunicorn_keeps_idle_connections_longer_than_nginx(monkeypatch, tmp_path):
    """nginx must give up an idle upstream connection before gunicorn closes it: otherwise it sends a request
    on a connection just closed, and a POST is not retried (502). gunicorn's default keep-alive is 2 s."""
    site = (DEPLOY / "nginx.conf").read_text()
    upstream = re.search(r"upstream exchange_web \{([^}]*)\}", site).group(1)
    nginx_idle = re.search(r"keepalive_timeout (\d+)s;", upstream)
    nginx_seconds = int(nginx_idle.group(1)) if nginx_idle else 60  # nginx's default
    monkeypatch.delenv("GUNICORN_KEEPALIVE", raising=False)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # else reading the config sets one for this process
    config: dict = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), config)  # noqa: S102
    assert config.get("keepalive", 2) > nginx_seconds


def test_production_settings_do_not_preload_hsts(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "shell", "-c",
         "from django.conf import settings as s; print(s.SECURE_HSTS_PRELOAD, s.SECURE_HSTS_SECONDS)"],
        env=node_env(tmp_path, EXCHANGE_ENV="production", SECRET_KEY="x" * 60, ALLOWED_HOSTS="node.example.edu.cn"),
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False 31536000"


def test_the_web_healthcheck_passes_on_a_ready_node_in_production(compose, env_example, tmp_path):
    """The container healthcheck, run as compose runs it, against a node in production mode whose only
    allowed host is the public name from env.example: it passes (it used to ask for 127.0.0.1, a host
    the node refuses, and the redirect to HTTPS, so the web container was never healthy)."""
    check = compose["services"]["web"]["healthcheck"]["test"]
    assert check[0] == "CMD"
    data_dir = tmp_path / "node"
    production = {"EXCHANGE_ENV": "production", "SECRET_KEY": "s" * 60, "ALLOWED_HOSTS": env_example["ALLOWED_HOSTS"]}
    manage(data_dir, "migrate", "--noinput", "-v0", **production)
    manage(data_dir, "collectstatic", "--noinput", "-v0", **production)  # as the one-shot job does
    port = servers.free_port()
    env = node_env(data_dir, **production, GUNICORN_BIND=f"127.0.0.1:{port}")
    server = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "runserver", "--noreload", "--skip-checks",
                               f"127.0.0.1:{port}"], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        servers.wait_for_port(port, timeout=60, proc=server)
        argv = [sys.executable if word == "python" else word for word in check[1:]]
        probe = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert probe.returncode == 0, probe.stderr
        # The node still refuses the address as a Host, and redirects other paths to HTTPS.
        direct = subprocess.run([sys.executable, "-c", (
            "import urllib.request, urllib.error\n"
            f"try: urllib.request.urlopen('http://127.0.0.1:{port}/readyz')\n"
            "except urllib.error.HTTPError as e: print(e.code)\n")], capture_output=True, text=True, timeout=60)
        assert direct.stdout.strip() == "400"
    finally:
        servers.stop(server)


def test_a_gunicorn_worker_warms_the_search_index_before_taking_requests(monkeypatch, tmp_path, settings):
    """post_worker_init builds the process's in-memory state of the embedded index (its columns and
    vocabulary), so the first request a new worker takes does not wait for it; a backend that cannot be
    warmed does not stop the worker."""
    from catalog.sampledata import generate
    from catalog.search import sqlite_store
    from catalog.search.documents import record_document
    from catalog.search.embedded import EmbeddedBackend

    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    settings.CATALOG_SEARCH_BACKEND = "catalog.search.embedded.EmbeddedBackend"
    backend = EmbeddedBackend(tmp_path / "search")
    backend.index_documents([record_document(r, origin_node="cn-44") for r in generate(30, seed=5)])
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # else reading the config sets one for this process
    config: dict = {}
    exec(compile((DEPLOY / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), config)  # noqa: S102
    live = str(backend.current_path())
    monkeypatch.setattr(sqlite_store, "_states", {})
    config["post_worker_init"](None)
    assert [path for path, _ in sqlite_store._states] == [live]
    settings.CATALOG_SEARCH_DIR = tmp_path / "nothing-here"
    (tmp_path / "nothing-here").write_text("not a directory")
    config["post_worker_init"](None)  # logged, not raised
