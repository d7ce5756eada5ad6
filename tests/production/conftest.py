"""The production-topology lane (``make test-production``; part of ``make test``): a hub and two
provinces as real processes on real backends, started once for the session (``stack.py``).

It runs when selected (``pytest tests/production``, or ``EXCHANGE_PRODUCTION_LANE=1``); a plain ``pytest``
over the whole suite skips it with that reason, as the SQLite and PostgreSQL lanes do. A missing piece
(PostgreSQL server binaries, redis-server, nginx, moto_server, noida-db) skips the lane with its reason —
except where ``EXCHANGE_REQUIRE_PRODUCTION_LANE=1`` (``.ci/run`` sets it): there it fails.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import servers
from tests.production.stack import (
    Backends,
    ProdNode,
    certified_peer,
    enrol,
    node_env,
    postgres_databases,
    start_nodes,
    stop_nodes,
    wait_until,
)
from tests.requirements import unavailable

HERE = Path(__file__).resolve().parent


def _selected(config: pytest.Config) -> bool:
    if os.environ.get("EXCHANGE_PRODUCTION_LANE") == "1":
        return True
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    lane = [item for item in items if HERE in Path(str(item.fspath)).resolve().parents]
    for item in lane:
        item.add_marker(pytest.mark.production)
    if not _selected(config):
        skip = pytest.mark.skip(reason="the production-topology lane runs on its own: make test-production "
                                       "(or pytest tests/production)")
        for item in lane:
            item.add_marker(skip)


def missing_pieces() -> list[str]:
    reasons = [servers.postgres_missing_reason(), servers.redis_missing_reason(), servers.nginx_missing_reason()]
    for tool, package in (("moto_server", "moto[server]"), ("noida-db", "noida-db")):
        if not (Path(sys.executable).parent / tool).exists() and shutil.which(tool) is None:
            reasons.append(f"{tool} not found (test extra {package})")
    return [reason for reason in reasons if reason]


@dataclass
class Stack:
    hub: ProdNode
    p11: ProdNode
    p44: ProdNode  # behind nginx
    backends: Backends
    nginx_dir: Path
    files_url: str  # nginx's object-store site (cn-44's S3_PUBLIC_ENDPOINT_URL)
    http_port: int

    @property
    def nodes(self) -> list[ProdNode]:
        return [self.hub, self.p11, self.p44]


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Iterator[Stack]:
    missing = missing_pieces()
    if missing:
        message = "production-topology lane: " + "; ".join(missing)
        unavailable(message)
    base = tmp_path_factory.mktemp("production")
    nodes: list[ProdNode] = []
    with contextlib.ExitStack() as exits:
        postgres = exits.enter_context(postgres_databases(["cn_hub", "cn_11", "cn_44"]))
        redis = exits.enter_context(servers.redis_server()).rsplit("/", 1)[0]
        s3 = exits.enter_context(servers.s3_server())
        elasticsearch = exits.enter_context(servers.elasticsearch_server())
        hub_port, p11_port, p44_port, https_port, http_port, files_port = servers.free_ports(6)
        nginx_dir = base / "nginx"
        nginx_dir.mkdir()
        s3_port = int(s3.rsplit(":", 1)[1])
        config = servers.nginx_config(nginx_dir, upstream_port=p44_port, https_port=https_port, http_port=http_port,
                                      files_port=files_port, files_upstream_port=s3_port, server_name="localhost",
                                      certificate_names=["127.0.0.1"])
        backends = Backends(postgres=postgres, redis=redis, s3=s3, elasticsearch=elasticsearch,
                            ca_bundle=nginx_dir / "fullchain.pem")
        hub = ProdNode("cn-hub", "hub", hub_port, base / "cn-hub", f"http://127.0.0.1:{hub_port}", "127.0.0.1")
        p11 = ProdNode("cn-11", "province", p11_port, base / "cn-11", f"http://127.0.0.1:{p11_port}", "127.0.0.1")
        p44 = ProdNode("cn-44", "province", p44_port, base / "cn-44", f"https://localhost:{https_port}", "localhost",
                       ca_bundle=backends.ca_bundle)
        plain_http = {"SECURE_SSL_REDIRECT": "false"}  # no TLS proxy in front of these two
        hub.env = node_env(hub, backends, database="cn_hub", redis_db=0, hub_url="", **plain_http)
        p11.env = node_env(p11, backends, database="cn_11", redis_db=1, hub_url=hub.public_url,
                           S3_PUBLIC_ENDPOINT_URL=f"http://localhost:{s3_port}", **plain_http)
        p44.env = node_env(p44, backends, database="cn_44", redis_db=2, hub_url=hub.public_url,
                           S3_PUBLIC_ENDPOINT_URL=f"https://localhost:{files_port}", TRUSTED_PROXIES="127.0.0.1",
                           CSRF_TRUSTED_ORIGINS=p44.public_url)
        nodes = [hub, p11, p44]
        exits.callback(stop_nodes, nodes)
        start_nodes(nodes)
        exits.enter_context(servers.nginx_server(config, port=https_port))
        for province in (p11, p44):
            enrol(province, hub)
        # cn-44 enrolled after cn-11: each learns the other's certificate from the hub's directory on its
        # sync loop's tick, or it would refuse the other's signed requests (a file asked of it).
        for province, other in ((p11, p44), (p44, p11)):
            wait_until(lambda province=province, other=other: certified_peer(province, other.node_id),
                       timeout=60, what=f"{province.node_id} to hold {other.node_id}'s certificate")
        yield Stack(hub=hub, p11=p11, p44=p44, backends=backends, nginx_dir=nginx_dir,
                    files_url=f"https://localhost:{files_port}", http_port=http_port)
