"""Concurrent writers keep the audit chain intact (the chain head row serialises them)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from exchange.audit import audit_record, audit_verify
from exchange.models import AuditEvent

pytestmark = pytest.mark.usefixtures("committed_db")


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="needs PostgreSQL row locks; runs in the PostgreSQL lane of make test")
def test_parallel_writers_produce_one_valid_chain():
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                audit_record(action="test.parallel", actor=f"w{n}", data={"i": i})
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert AuditEvent.objects.filter(action="test.parallel").count() == 90
    assert audit_verify() == []
