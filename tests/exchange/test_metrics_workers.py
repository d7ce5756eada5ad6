"""``/metrics`` counts what every gunicorn worker did, whichever worker answers the scrape: gunicorn as
deployed (``deploy/gunicorn.conf.py``, two workers). Each worker is made to serve requests for certain
(one is held busy by a request that has not finished arriving), then several scrapes must all give the
total — and keep giving it after a worker has been replaced. Per-worker counters gave each worker's own
count: a different figure at every scrape."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests import servers
from tests.node_processes import gunicorn, seed_node

pytestmark = pytest.mark.slow
PATH = "/no-such-page-for-metrics"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("metrics-workers") / "template"
    seed_node(directory)
    return directory


def not_found_count(url: str) -> float:
    text = requests.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=30).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == "exchange_http_requests_total"
               and sample.labels == {"method": "GET", "view": "unmatched", "status": "404"})


def held_request(port: int) -> socket.socket:
    """A request whose headers have not all arrived: the (sync) worker that took it waits on it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
    return sock


def finish(sock: socket.socket) -> None:
    sock.sendall(b"Connection: close\r\n\r\n")
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 404"), reply[:200]


def workers_of(master: int) -> set[int]:
    children = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                children.add(int(entry.name))
    return children


def test_counts_of_every_worker_add_up_in_one_scrape(seeded, tmp_path):
    data_dir = tmp_path / "node"
    shutil.copytree(seeded, data_dir)
    port = servers.free_port()
    with gunicorn(data_dir, port, "gunicorn.log") as node:
        first, second = held_request(port), held_request(port)  # both workers take one and wait
        finish(first)  # its worker is free again; the other still waits for `second`
        for _ in range(7):
            assert requests.get(f"{node.url}{PATH}", headers={"Connection": "close"}, timeout=30).status_code == 404
        finish(second)  # now the other worker has served a request too
        expected = 9
        assert [not_found_count(node.url) for _ in range(6)] == [expected] * 6

        # A replaced worker's counts stay counted (max_requests recycles workers in production).
        before = workers_of(node.proc.pid)
        assert len(before) == 2, before
        victim = min(before)
        os.kill(victim, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = workers_of(node.proc.pid)
            if victim not in now and len(now) == 2:
                break
            time.sleep(0.1)
        servers.wait_for_http(f"{node.url}/healthz")
        assert [not_found_count(node.url) for _ in range(4)] == [expected] * 4
