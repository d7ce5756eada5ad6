"""Federation background work: pokes, poke-triggered pulls, pushes from the hub, and the periodic tick.

``run_soon`` hands a job to rq when ``REDIS_URL`` is set. Without Redis it runs the job in a
background thread of this process (``FEDERATION_BACKGROUND``), coalescing by key: a poke must
never hold up the request that caused it (a publisher's request, or a peer's poke), and chained
synchronous pokes (province → hub → province → hub) could otherwise starve a single-worker node
of the very worker that must answer. A key that is already running is run once more when it
finishes, so no poke is lost. With ``FEDERATION_BACKGROUND=False`` jobs run inline (tests).

``sync_tick`` is the scheduled backstop (an rq-schedulable job; ``manage.py federation sync --loop``
runs it in embedded mode): pull peers that are due, renew this node's certificate, refresh the
parent's directory (other nodes' certificates), revocation lists and national negative list, and the
children's directories, deliver pending receipts, purge nonces, retire keys, backfill the feed, drain
index work left pending, work off negative-list re-checks.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from catalog.search.indexing import index_pending_drain
from exchange.jobs import enqueue
from federation import identity
from federation.models import Peer

logger = logging.getLogger("federation.jobs")
_state_lock = threading.Lock()
_running: dict[str, bool] = {}  # key → run again when done


def _uses_rq() -> bool:
    return bool(settings.REDIS_URL) and settings.EXCHANGE_JOB_QUEUE.endswith("RQQueue")


def _run(func_path: str, kwargs: dict[str, Any]) -> None:
    try:
        import_string(func_path)(**kwargs)
    except Exception:
        logger.exception("federation job failed", extra={"job": func_path})


def _thread_main(key: str, func_path: str, kwargs: dict[str, Any]) -> None:
    try:
        while True:
            close_old_connections()
            _run(func_path, kwargs)
            with _state_lock:
                if _running.get(key):
                    _running[key] = False
                    continue
                _running.pop(key, None)
                return
    finally:
        close_old_connections()


def run_soon(func_path: str, *, key: str, **kwargs: Any) -> None:
    """Run a job soon, off the caller's thread (rq, or a coalescing background thread)."""
    if _uses_rq():
        enqueue(func_path, **kwargs)
        return
    if not settings.FEDERATION_BACKGROUND:
        _run(func_path, kwargs)
        return
    with _state_lock:
        if key in _running:
            _running[key] = True
            return
        _running[key] = False
    threading.Thread(target=_thread_main, args=(key, func_path, kwargs), name=f"federation:{key}",
                     daemon=True).start()


def wait_idle(timeout: float = 30.0) -> bool:
    """Wait until no background federation job runs in this process (tests, command shutdown)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _state_lock:
            if not _running:
                return True
        time.sleep(0.02)
    return False


# --- pokes -----------------------------------------------------------------------------------

def _pullers(exclude: str | None = None) -> list[str]:
    """Nodes that pull this node: its parent and its active children (on the hub: the provinces)."""
    from federation import trust

    return trust.neighbours(exclude=exclude)


def poke_pullers_on_commit(*, exclude: str | None = None) -> None:
    """After the current transaction commits, poke the nodes that pull this node's feed."""

    def send() -> None:
        for node_id in _pullers(exclude):
            run_soon("federation.jobs.poke_peer", key=f"poke:{node_id}", node_id=node_id)

    transaction.on_commit(send)


def poke_peer(*, node_id: str) -> bool:
    """Send one signed poke to ``node_id``; failures are logged (the scheduled pull is the backstop)."""
    from federation.outbox import outbox_head
    from federation.transport import build_url, signed_request

    peer = Peer.objects.filter(node_id=node_id).first()
    if peer is None or not peer.base_url:
        return False
    try:
        signed_request("POST", build_url(peer.base_url, "/federation/v1/poke"),
                       json_body={"node_id": identity.node_id(), "head": outbox_head()},
                       expect_node=node_id, timeout=settings.FEDERATION_POKE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - a lost poke only delays sync to the next tick
        logger.info("poke failed", extra={"peer": node_id, "error": str(exc)})
        return False
    return True


def pull_requested(*, node_id: str) -> None:
    """A peer poked us: remember it (the sync loop sees it too) and pull it soon."""
    Peer.objects.filter(node_id=node_id).update(pull_requested_at=timezone.now())
    run_soon("federation.jobs.pull_peer_job", key=f"pull:{node_id}", node_id=node_id)


def pull_peer_job(*, node_id: str) -> None:
    """Job: pull one peer's feed (takes an id, calls the sync service)."""
    from federation.sync import pull_peer

    pull_peer(node_id=node_id)


# --- pushes from the hub -----------------------------------------------------------------------

def push_certificate(*, node_id: str, serial: str) -> bool:
    """(Parent) deliver a freshly issued certificate to its child (it also fetches it itself)."""
    from federation.models import IssuedCertificate
    from federation.transport import build_url, signed_request

    cert = IssuedCertificate.objects.filter(serial=serial, node_id=node_id).first()
    peer = Peer.objects.filter(node_id=node_id).first()
    if cert is None or peer is None or not peer.base_url:
        return False
    try:
        signed_request("POST", build_url(peer.base_url, "/federation/v1/certificate"),
                       json_body={"certificate": cert.token}, expect_node=node_id,
                       timeout=settings.FEDERATION_POKE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        logger.info("certificate push failed", extra={"peer": node_id, "error": str(exc)})
        return False
    return True


def push_revocations_on_commit(*, exclude: str | None = None) -> None:
    """After commit, push the revocation lists this node holds to its parent and children (but the one
    they came from): a revocation travels the whole tree, each node passing on what was new to it."""

    def send() -> None:
        for node_id in _pullers(exclude):
            run_soon("federation.jobs.push_revocations", key=f"revocations:{node_id}", node_id=node_id)

    transaction.on_commit(send)


def push_revocations(*, node_id: str) -> bool:
    """Deliver the revocation lists this node holds (the hub's and every other issuer's) to one neighbour."""
    from federation.hub import revocation_lists_document
    from federation.transport import build_url, signed_request

    peer = Peer.objects.filter(node_id=node_id).first()
    document = revocation_lists_document()
    if peer is None or not peer.base_url or not (document["revocations"] or document["revocation_lists"]):
        return False
    try:
        signed_request("POST", build_url(peer.base_url, "/federation/v1/revocations"),
                       json_body=document, expect_node=node_id, timeout=settings.FEDERATION_POKE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        logger.info("revocation push failed", extra={"peer": node_id, "error": str(exc)})
        return False
    return True


# --- the periodic tick ------------------------------------------------------------------------

def _step(name: str, func: Any, report: dict[str, Any]) -> None:
    try:
        report[name] = func()
    except Exception as exc:  # noqa: BLE001 - one failing chore must not stop the others
        logger.warning("federation tick step failed", extra={"step": name, "error": str(exc)})
        report[name] = {"error": getattr(exc, "code", exc.__class__.__name__), "message": str(exc)}


def sync_tick(*, pull_interval: int | None = None) -> dict[str, Any]:
    """Job: one round of scheduled federation upkeep; returns what each step did."""
    from catalog.prereview.jobs import prereview_drain
    from federation import enrolment, negative_list, receipts, takedowns, trust
    from federation.outbox import outbox_backfill
    from federation.sync import pull_peers_due
    from federation.transport import nonces_purge

    report: dict[str, Any] = {}
    identity.node_key_ensure()
    if not identity.is_hub() and trust.parent_peer() is not None:
        _step("certificate", enrolment.certificate_renew_if_due, report)
        _step("revocations", enrolment.revocations_refresh, report)
        _step("feed_position", enrolment.feed_position_check, report)
        # Certificates of nodes enrolled (or keys rotated) since: without them this node refuses their
        # signed requests (a file asked of it) until it happens to pull a record they signed.
        _step("directory", enrolment.directory_refresh, report)
        _step("negative_list", negative_list.negative_list_refresh, report)
    if trust.children():
        # The certificates of the nodes below each child, so that every node can verify them.
        _step("children_directories", enrolment.children_directories_refresh, report)
    _step("backfill", outbox_backfill, report)
    _step("index", index_pending_drain, report)  # index work a crash or a lost job left pending
    _step("pull", lambda: [r.__dict__ for r in pull_peers_due(interval=pull_interval)], report)
    _step("receipts", receipts.receipts_deliver_pending, report)
    _step("takedowns", takedowns.takedowns_deliver_pending, report)
    _step("nonces", nonces_purge, report)
    _step("keys", identity.node_keys_retire_due, report)
    # negative-list re-checks and pre-reviews a lost job left undone
    _step("prereview", prereview_drain, report)
    return report
