"""Locust clients of ``load_bench.py`` (run headless by it; on 127.0.0.1 only).

Each simulated client (a teacher of the province's demo school, API token in the plan) searches, opens
resource pages, downloads (the download API, then the file from the object-store link it gives) and buys
school grants with vouchers. Purchases never race by design: client *i* buys only from its own slice of
the paid resources, so every refusal is an error, not contention. What each client did successfully is
tallied and written to ``LOAD_TALLY`` when locust quits, for the accounting against the database.

The plan (``LOAD_PLAN``, JSON): token, search terms, free resource ids, paid resource slices.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import Counter
from typing import Any

from locust import HttpUser, between, events, task

PLAN: dict[str, Any] = json.loads(open(os.environ["LOAD_PLAN"], encoding="utf-8").read())  # noqa: SIM115
SLOTS = itertools.count()
TALLY: Counter[str] = Counter()
BOUGHT: list[list[Any]] = []  # [resource id, price] of every purchase the server confirmed (201)
DOWNLOAD_IDS: list[int] = []  # download event ids the server returned


class Teacher(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        self.slot = next(SLOTS)
        self.rng = random.Random(self.slot)
        slices = PLAN["paid_slices"]
        self.to_buy: list[list[Any]] = list(slices[self.slot % len(slices)]) if self.slot < len(slices) else []
        self.owned: list[str] = []
        self.client.headers["Authorization"] = f"Token {PLAN['token']}"

    @task(10)
    def search(self) -> None:
        q = self.rng.choice(PLAN["terms"])
        with self.client.get("/api/v1/search", params={"q": q}, name="search", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.error!r}" if response.error else f"{response.status_code}: {response.text[:200]}")
            elif not isinstance(response.json().get("results"), list):
                response.failure("no results list")

    @task(5)
    def resource_page(self) -> None:
        resource_id = self.rng.choice(PLAN["all"])
        with self.client.get(f"/resources/{resource_id}", name="resource page", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.error!r}" if response.error else f"{response.status_code}")

    @task(3)
    def download(self) -> None:
        pool = self.owned if self.owned and self.rng.random() < 0.5 else PLAN["free"]
        if not pool:
            return
        resource_id = self.rng.choice(pool)
        with self.client.post(f"/api/v1/resources/{resource_id}/download", json={}, name="download",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.error!r}" if response.error else f"{response.status_code}: {response.text[:200]}")
                return
            body = response.json()
            TALLY["downloads"] += 1
            DOWNLOAD_IDS.append(body["download"])
        for link in body["files"][:1]:
            with self.client.get(link["url"], name="file (object store)", catch_response=True,
                                 headers={"Authorization": None}) as fetched:
                if fetched.status_code != 200:
                    fetched.failure(f"{fetched.status_code}")
                else:
                    TALLY["file_fetches"] += 1

    @task(2)
    def purchase(self) -> None:
        if not self.to_buy:
            return
        resource_id, price = self.to_buy.pop()
        with self.client.post(f"/api/v1/resources/{resource_id}/grants", json={"scope": "school"},
                              name="purchase", catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.error!r}" if response.error else f"{response.status_code}: {response.text[:200]}")
                return
            TALLY["purchases"] += 1
            BOUGHT.append([resource_id, price])
            self.owned.append(resource_id)


@events.quitting.add_listener
def _write_tally(environment: Any, **_: Any) -> None:
    with open(os.environ["LOAD_TALLY"], "w", encoding="utf-8") as fh:
        json.dump({"tally": dict(TALLY), "bought": BOUGHT, "download_ids": DOWNLOAD_IDS, "clients": next(SLOTS)}, fh)
