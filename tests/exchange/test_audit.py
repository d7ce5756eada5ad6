"""The audit log is hash-chained: any changed, removed or inserted row is detected."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from exchange.audit import audit_record, audit_verify
from exchange.models import AuditEvent


@pytest.fixture
def chain(db):
    for n in range(5):
        audit_record(action="test.event", actor="tester", object_type="thing", object_id=n, data={"n": n, "名": "值"})
    return list(AuditEvent.objects.order_by("seq"))


def raw(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_intact_chain_verifies(chain, capsys):
    assert audit_verify() == []
    call_command("audit_verify", "--no-progress")
    assert "audit chain intact: 5 events" in capsys.readouterr().out


def test_changed_row_is_detected(chain):
    raw("UPDATE exchange_auditevent SET actor = %s WHERE seq = %s", ["mallory", chain[2].seq])
    problems = audit_verify()
    assert [(p.seq, p.problem) for p in problems] == [(chain[2].seq, "content changed (hash mismatch)")]
    with pytest.raises(CommandError, match="audit chain BROKEN"):
        call_command("audit_verify", "--no-progress")


def test_removed_row_is_detected(chain):
    raw("DELETE FROM exchange_auditevent WHERE seq = %s", [chain[1].seq])
    problems = audit_verify()
    assert any("sequence gap" in p.problem for p in problems)
    assert any("link broken" in p.problem for p in problems)


def test_removed_tail_is_detected(chain):
    raw("DELETE FROM exchange_auditevent WHERE seq = %s", [chain[-1].seq])
    assert any("chain head" in p.problem for p in audit_verify())


def test_inserted_row_is_detected(chain):
    """A forged row slipped in (even with a self-consistent hash) breaks the next row's link."""
    last = chain[-1]
    raw("UPDATE exchange_auditevent SET seq = seq + 100 WHERE seq = %s", [last.seq])
    raw("INSERT INTO exchange_auditevent (seq, created_at, actor_id, actor, action, object_type, object_id, data, ip,"
        " prev_hash, hash) VALUES (%s, %s, '', 'x', 'forged', '', '', '{}', '', %s, %s)",
        [last.seq, last.created_at, chain[-2].hash, "f" * 64])
    assert audit_verify() != []


def test_rows_refuse_update_and_delete_through_the_orm(chain):
    event = chain[0]
    event.action = "changed"
    with pytest.raises(RuntimeError, match="append-only"):
        event.save()
    with pytest.raises(RuntimeError, match="append-only"):
        event.delete()


def test_one_clock_reading_per_event_even_across_a_second_boundary(db, monkeypatch):
    """An event's time is one reading of the clock, truncated to the millisecond: a clock that ticks
    from .999700 to the next second between two readings must not store (and hash) a time almost a
    second earlier than when the event happened. The stored time is the hashed one (the chain verifies)."""
    import datetime as dt

    from django.utils import timezone

    readings = iter([dt.datetime(2025, 3, 1, 4, 0, 0, 999_700, tzinfo=dt.UTC),
                     dt.datetime(2025, 3, 1, 4, 0, 1, 300, tzinfo=dt.UTC)])
    last = dt.datetime(2025, 3, 1, 4, 0, 1, 300, tzinfo=dt.UTC)
    monkeypatch.setattr(timezone, "now", lambda: next(readings, last))

    event = audit_record(action="test.clock", actor="tester")

    assert event.created_at == dt.datetime(2025, 3, 1, 4, 0, 0, 999_000, tzinfo=dt.UTC)
    stored = AuditEvent.objects.get(seq=event.seq)
    assert stored.created_at == event.created_at
    assert audit_verify() == []
