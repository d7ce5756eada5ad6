"""Sign-in limits hold across worker processes: two real web processes of one node (``runserver``, one data
dir) count sign-in attempts together — in Redis when ``REDIS_URL`` is set, in the database otherwise — so
spreading attempts over workers (or spoofing ``X-Forwarded-For``) buys an attacker nothing. With the former
per-process memory cache each worker counted on its own."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
import redis
import requests

from tests import servers
from tests.node_processes import runserver, seed_node

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("shared-counters") / "template"
    seed_node(directory)
    return directory


@pytest.fixture(params=["database", "redis"])
def two_workers(request, seeded, tmp_path):
    """Two web processes over a copy of the seeded data dir (and, for "redis", one Redis database)."""
    data_dir = tmp_path / "node"
    shutil.copytree(seeded, data_dir)
    extra: dict[str, str] = {}
    redis_db = None
    if request.param == "redis":
        base = request.getfixturevalue("redis_url").rsplit("/", 1)[0]
        extra["REDIS_URL"] = f"{base}/7"
        redis_db = redis.Redis.from_url(extra["REDIS_URL"])
        redis_db.flushdb()
    first, second = servers.free_ports(2)
    with runserver(data_dir, first, "a.log", **extra) as a, runserver(data_dir, second, "b.log", **extra) as b:
        yield a.url, b.url, redis_db


_spoofs = (f"100.64.0.{i}" for i in itertools.count(1))


def sign_in(url: str, username: str, password: str) -> requests.Response:
    return requests.post(f"{url}/api/v1/auth/token", json={"username": username, "password": password},
                         headers={"X-Forwarded-For": next(_spoofs)}, timeout=30)


def test_two_workers_share_the_lockout_and_the_rate(two_workers):
    a, b, redis_db = two_workers
    workers = itertools.cycle([a, b])
    # A username locked out at this address after 5 failures, spread over both workers.
    assert [sign_in(next(workers), "teacher", "wrong").status_code for _ in range(4)] == [401] * 4
    locked = sign_in(next(workers), "teacher", "wrong")
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "too_many_attempts"
    assert sign_in(a, "teacher", "test-pass-teacher").json()["error"]["code"] == "too_many_attempts"
    assert sign_in(b, "teacher", "test-pass-teacher").json()["error"]["code"] == "too_many_attempts"
    # 7 attempts so far; the address's rate is 10 a minute on both workers together.
    assert [sign_in(next(workers), f"nobody-{n}", "wrong").status_code for n in range(3)] == [401] * 3
    for url in (a, b):
        throttled = sign_in(url, "rural_teacher", "test-pass-rural_teacher")
        assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "throttled"
        assert int(throttled.headers["Retry-After"]) >= 1
    if redis_db is not None:  # the counters are in Redis, where every worker and host sees them
        assert any(b"login" in key for key in redis_db.keys("*"))
