"""Disaster recovery from the federation: a province that lost its data rebuilds its catalog from the hub.

The hub relays every province's signed envelopes unchanged, so it holds everything a province ever
published. ``recover`` (``manage.py federation recover``), run on a node that has enrolled again — with
its old key from a backup, or with a new key the hub's operator approved as a replacement — learns its
own key history from the hub's signed directory (certificates of its old keys), re-reads the hub's
whole feed, restores its own records as local resources (verified with that key history; they go back
into its own feed byte for byte) and every other origin's as remote copies, continues its feed after
the point the hub had read it to, and fetches back the bytes of its files that the hub holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from catalog.remote import catalog_digest
from exchange.audit import audit_record
from federation import enrolment, identity, trust
from federation.errors import NotEnrolledError
from federation.files import own_files_fetch
from federation.models import Peer
from federation.outbox import outbox_continue_after
from federation.sync import PullResult, pull_peer


@dataclass
class RecoveryReport:
    """What a recovery did."""

    pull: dict[str, Any] = field(default_factory=dict)
    restored: int = 0
    files: dict[str, int] = field(default_factory=dict)
    feed_continues_after: int = 0
    digest_own: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def _wait_for_running_pull(node_id: str) -> None:
    """Wait (within a pull's lease) until no pull of ``node_id`` is under way."""
    limit = time.monotonic() + 2 * settings.FEDERATION_REQUEST_DEADLINE + 60
    while time.monotonic() < limit:
        until = Peer.objects.filter(node_id=node_id).values_list("pulling_until", flat=True).first()
        if until is None or until < timezone.now():
            return
        time.sleep(0.5)


def _pull_restoring(node_id: str) -> PullResult:
    while True:
        result = pull_peer(node_id=node_id, restore_own=True)
        if not result.busy:
            return result
        _wait_for_running_pull(node_id)


def recover(*, actor: Any = "operator (cli)", progress: Callable[[int], None] | None = None) -> RecoveryReport:
    """Rebuild this node's catalog from the hub (see the module docstring). Idempotent: running it again
    restores nothing twice. Raises NotEnrolledError when the node holds no certificate from the hub."""
    hub_id = trust.hub_id()
    if identity.is_hub() or identity.own_certificate() is None or not Peer.objects.filter(node_id=hub_id).exists():
        raise NotEnrolledError("Enrol with the hub (and be approved) before recovering from it.")
    report = RecoveryReport()
    enrolment.directory_refresh()  # certificates of this node's old keys: its own key history
    status = enrolment.enrolment_status_raw()
    report.feed_continues_after = outbox_continue_after(int(status.get("feed_cursor") or 0))
    audit_record(action="federation.recovery_started", actor=actor, object_type="peer", object_id=hub_id,
                 data={"feed_cursor": report.feed_continues_after})
    # No ordinary pull of the hub (scheduled, or answering a poke) may read the feed meanwhile: it would
    # skip this node's own envelopes and move the cursor past them.
    Peer.objects.filter(node_id=hub_id).update(pull=False)
    try:
        _wait_for_running_pull(hub_id)
        Peer.objects.filter(node_id=hub_id).update(cursor=0, sets=[])
        result = _pull_restoring(hub_id)
        report.restored = result.restored
        while result.ok and result.cursor < result.head:  # a pull yields after its budget
            result = _pull_restoring(hub_id)
            report.restored += result.restored
    finally:
        Peer.objects.filter(node_id=hub_id).update(pull=True)
    report.pull = dict(result.__dict__)
    if not result.ok:
        report.error = f"{result.error_code}: {result.error}"
        return report
    report.files = own_files_fetch(from_node=hub_id, progress=progress)
    report.digest_own = catalog_digest(origin=identity.node_id())
    audit_record(action="federation.recovered", actor=actor, object_type="peer", object_id=hub_id,
                 data={"restored": report.restored, "files": report.files, "digest": report.digest_own})
    return report
