"""Reads of federation state for operators (``federation status`` and the peers API)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import Max
from django.utils import timezone

from federation import identity, trust
from federation.models import Enrolment, IdClash, NodeKey, OutboxEntry, Peer, PeerKey, RemoteRecord
from federation.outbox import outbox_head
from federation.signing import MAX_CHAIN_LENGTH


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def operator_nodes() -> set[str] | None:
    """The nodes this node's operators see (the one rule for the peers API, ``federation status``, the tree and
    the operator pages): this node's own subtree, its parent and the hub. ``None`` on the hub, whose subtree
    is the whole federation (provinces of before, certified without a scope, included). Nodes this node knows
    only from directories — other provinces, other cities of its province — are not shown."""
    if identity.is_hub():
        return None
    parent = trust.parent_peer()
    return trust.subtree(identity.node_id()) | {trust.hub_id()} | ({parent.node_id} if parent else set())


def peer_status_list(*, every_peer: bool = False) -> list[dict[str, Any]]:
    """The peers this node's operators see (``operator_nodes``) with their sync position, lag, last success
    and error, and certificate expiry. ``every_peer``: every peer this node holds, directory entries of other
    subtrees included (``federation status --all``, for whoever runs commands on the node's own host)."""
    now = timezone.now()
    expiry = {row["peer_id"]: row["not_after"] for row in
              PeerKey.objects.filter(revoked=False, anchor=False).values("peer_id").annotate(not_after=Max("not_after"))}
    shown = None if every_peer else operator_nodes()
    peers = Peer.objects.all().order_by("role", "node_id")
    if shown is not None:
        peers = peers.filter(node_id__in=shown)
    out = []
    for peer in peers:
        lag_seconds = None
        if peer.pull:
            reference = peer.last_success_at
            lag_seconds = int((now - reference).total_seconds()) if reference else None
        out.append({
            "node_id": peer.node_id, "role": peer.role, "region": peer.region, "status": peer.status,
            "base_url": peer.base_url, "pull": peer.pull, "sets": peer.sets, "cursor": peer.cursor,
            "remote_head": peer.remote_head, "lag_entries": max(peer.remote_head - peer.cursor, 0) if peer.pull else None,
            "lag_seconds": lag_seconds, "applied_total": peer.applied_total,
            "last_attempt_at": _iso(peer.last_attempt_at), "last_success_at": _iso(peer.last_success_at),
            "last_error_code": peer.last_error_code or None, "last_error": peer.last_error or None,
            "last_error_at": _iso(peer.last_error_at),
            "certificate_not_after": _iso(expiry.get(peer.node_id)),
            "anchor": peer.role == Peer.Role.HUB and not identity.is_hub(),
        })
    return out


def identity_status() -> dict[str, Any]:
    """This node: id, role, keys and fingerprints, its certificate expiry, feed head and counts."""
    own = identity.own_certificate()
    return {
        "node_id": identity.node_id(), "role": identity.node_role(), "region": settings.EXCHANGE_NODE_REGION,
        "base_url": settings.EXCHANGE_BASE_URL, "hub_url": settings.FEDERATION_HUB_URL or None,
        "keys": [{"kid": row.kid, "fingerprint": row.fingerprint, "status": row.status,
                  "certificate_not_after": _iso(row.certificate_not_after), "retire_at": _iso(row.retire_at)}
                 for row in NodeKey.objects.exclude(status=NodeKey.Status.RETIRED)],
        "certificate_not_after": _iso(own.certificate_not_after) if own else None,
        "outbox_head": outbox_head(),
        "outbox_entries_own": OutboxEntry.objects.filter(origin=identity.node_id()).count(),
        "remote_records": RemoteRecord.objects.count(),
        "pending_enrolments": Enrolment.objects.filter(status=Enrolment.Status.PENDING).count()
        if identity.is_hub() else None,
        "id_clashes": IdClash.objects.count(),
    }


def id_clash_list(*, limit: int = 50) -> list[IdClash]:
    """Records whose id another record already held here, newest first (squatting shows up here)."""
    return list(IdClash.objects.all()[:limit])


def enrolment_list(*, status: str | None = None) -> list[Enrolment]:
    qs = Enrolment.objects.all().order_by("status", "node_id")
    return list(qs.filter(status=status) if status else qs)


def node_tree() -> dict[str, Any]:
    """This node's subtree for its operators: this node, then every node certified below it (depth first),
    each with who certified it and how the pull of it by its parent stands (first hand for this node's own
    children, as the child's parent reported it in its directory below that); and this node's own parent.
    Nodes outside the subtree are not shown: every operator sees only the nodes below their own."""
    me = identity.node_id()
    peers = {peer.node_id: peer for peer in Peer.objects.all()}
    below: dict[str, list[str]] = {}
    for peer in peers.values():
        if peer.certified_by:
            below.setdefault(peer.certified_by, []).append(peer.node_id)
    parent = trust.parent_peer()
    rows: list[dict[str, Any]] = [{
        "node_id": me, "depth": 0, "role": identity.node_role(), "region": settings.EXCHANGE_NODE_REGION,
        "scope": trust.own_scope(), "certified_by": parent.node_id if parent else "", "status": "active", "edge": None,
    }]

    listed = {me}

    def walk(node: str, depth: int) -> None:
        for child in sorted(below.get(node, [])):
            peer = peers[child]
            if child in listed or depth > MAX_CHAIN_LENGTH:
                continue
            listed.add(child)
            if node == me:
                edge = {"lag_entries": max(peer.remote_head - peer.cursor, 0) if peer.pull else None,
                        "last_success_at": _iso(peer.last_success_at), "last_error_code": peer.last_error_code or None,
                        "first_hand": True}
            else:
                report = peer.edge_report or {}
                edge = {"lag_entries": report.get("lag_entries"), "last_success_at": report.get("last_success_at"),
                        "last_error_code": report.get("last_error_code"), "first_hand": False,
                        "reported_by": report.get("reported_by")} if report else None
            rows.append({"node_id": child, "depth": depth, "role": peer.role, "region": peer.region,
                         "scope": peer.scope, "certified_by": node, "status": peer.status, "edge": edge})
            walk(child, depth + 1)

    walk(me, 1)
    return {"parent": parent.node_id if parent else None, "nodes": rows}
