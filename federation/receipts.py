"""Signed grant receipts: how a paid grant decided at a teacher's home node reaches the resource's
origin and the hub for settlement.

``report_grant`` (a ``LICENSING_GRANT_HOOKS`` entry) runs inside the transaction that creates the
grant: it signs a receipt (compact JWS, ``typ: exchange-grant-receipt+jwt``, by this node's key)
and stores it in ``OutgoingReceipt``; after commit it is delivered with a signed
``POST /federation/v1/receipts`` to each target, and the sync tick retries until every target has
it. Receivers verify the JWS against the sender's certified key and store it once
(idempotent by issuer and receipt id).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from exchange.audit import audit_record
from federation import identity, trust
from federation.errors import ReceiptInvalidError
from federation.models import OutgoingReceipt, Peer, ReceivedReceipt
from federation.signing import JwsInvalidError, jws_header, jws_sign, jws_verify_compact, parse_json
from federation.transport import build_url, signed_request

logger = logging.getLogger("federation.receipts")
RECEIPT_TYPE = "exchange-grant-receipt+jwt"


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())


def report_grant(*, grant: Any) -> OutgoingReceipt | None:
    """Record a signed receipt for a paid grant (price > 0) for delivery to the resource's origin
    and the hub, after the caller's transaction commits. Free grants need no settlement: None.

    ``grant`` is a ``licensing.models.Grant`` (id, resource, scope, price, organisation,
    starts_at, ends_at, created_at). Idempotent per grant."""
    if not grant.price:
        return None
    resource = grant.resource
    me = identity.node_id()
    targets = []
    if resource.origin_node != me:
        targets.append(resource.origin_node)
    hub = trust.hub_id()
    if hub != me and hub not in targets:
        targets.append(hub)
    if not targets:
        return None
    grant_ref = f"{me}:{grant.pk}"
    existing = OutgoingReceipt.objects.filter(grant_ref=grant_ref).first()
    if existing is not None:
        return existing
    receipt_id = uuid.uuid4()
    organisation = grant.organisation
    claims = {
        "jti": str(receipt_id), "iss": me, "iat": _seconds(timezone.now()), "grant": str(grant.pk),
        "resource": str(resource.pk), "origin": resource.origin_node, "resource_version": int(resource.version),
        "scope": grant.scope, "price": int(grant.price), "currency": "voucher",
        "buyer": {"organisation": organisation.name, "region": organisation.region_id,
                  "categories": sorted(organisation.categories or [])},
        "starts_at": _seconds(grant.starts_at), "ends_at": _seconds(grant.ends_at),
        "granted_at": _seconds(grant.created_at),
    }
    key = identity.signing_key()
    token = jws_sign(claims, key=key.private_key, kid=key.kid, typ=RECEIPT_TYPE)
    receipt = OutgoingReceipt.objects.create(id=receipt_id, grant_ref=grant_ref, token=token, targets=targets,
                                             created_at=timezone.now())
    audit_record(action="federation.receipt_issued", actor=me, object_type="grant", object_id=str(grant.pk),
                 data={"receipt": str(receipt_id), "targets": targets, "price": claims["price"]})
    transaction.on_commit(lambda: _deliver_soon(receipt.pk))
    return receipt


def _deliver_soon(receipt_id: uuid.UUID) -> None:
    from federation.jobs import run_soon

    run_soon("federation.receipts.receipt_deliver", key=f"receipt:{receipt_id}", receipt_id=str(receipt_id))


def receipt_deliver(*, receipt_id: str) -> list[str]:
    """Job: deliver one receipt to the targets that do not have it yet; returns those still missing."""
    receipt = OutgoingReceipt.objects.filter(pk=receipt_id).first()
    if receipt is None:
        return []
    missing = [node for node in receipt.targets if node not in receipt.delivered]
    errors = []
    for node_id in missing:
        peer = Peer.objects.filter(node_id=node_id).exclude(base_url="").first()
        if peer is None:
            errors.append(f"{node_id}: unknown peer")
            continue
        try:
            signed_request("POST", build_url(peer.base_url, "/federation/v1/receipts"),
                           json_body={"receipt": receipt.token}, expect_node=node_id)
        except Exception as exc:  # noqa: BLE001 - retried by the tick
            errors.append(f"{node_id}: {exc}")
            continue
        receipt.delivered = [*receipt.delivered, node_id]
    receipt.attempts += 1
    receipt.last_error = "; ".join(errors)[:2000]
    if all(node in receipt.delivered for node in receipt.targets):
        receipt.delivered_at = timezone.now()
    receipt.save(update_fields=["delivered", "attempts", "last_error", "delivered_at"])
    return [node for node in receipt.targets if node not in receipt.delivered]


def receipts_deliver_pending(*, limit: int = 200) -> int:
    """Retry receipts not yet delivered everywhere; returns how many were attempted."""
    pending = list(OutgoingReceipt.objects.filter(delivered_at__isnull=True).values_list("pk", flat=True)[:limit])
    for receipt_id in pending:
        receipt_deliver(receipt_id=str(receipt_id))
    return len(pending)


def received_sales(*, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Settlement source (``LICENSING_REMOTE_SALES``): paid grants other nodes reported, granted in
    [start, end), per resource — for this node's own resources, or on the hub for every node's."""
    received = ReceivedReceipt.objects.filter(granted_at__gte=start, granted_at__lt=end)
    if not identity.is_hub():
        received = received.filter(origin=identity.node_id())
    return list(received.values("resource_id").annotate(grants=Count("id"), vouchers=Sum("price")).order_by())


def receipt_receive(*, token: str, sender: trust.PeerIdentity) -> tuple[ReceivedReceipt, bool]:
    """Verify and store a receipt sent by ``sender`` (who must also be its signer and issuer).
    Returns (receipt, created). Raises ReceiptInvalidError."""
    try:
        header = jws_header(token)
    except JwsInvalidError as exc:
        raise ReceiptInvalidError(exc.message) from exc
    if header.get("typ") != RECEIPT_TYPE or header.get("kid") != sender.kid:
        raise ReceiptInvalidError("A receipt is signed by the node that sends it.")
    public, _ = trust.request_key(sender.kid)
    try:
        _, payload = jws_verify_compact(token, public)
        claims = parse_json(payload)
    except (JwsInvalidError, ValueError) as exc:
        raise ReceiptInvalidError("The receipt signature does not verify.") from exc
    try:
        receipt_id = uuid.UUID(str(claims["jti"]))
        resource_id = uuid.UUID(str(claims["resource"]))
        price, granted_at = claims["price"], claims["granted_at"]
        if claims.get("iss") != sender.node_id or type(price) is not int or price < 0 or type(granted_at) is not int:
            raise ValueError("iss, price or granted_at")
        me = identity.node_id()
        if claims.get("origin") != me and not identity.is_hub():
            raise ValueError("this node is neither the origin nor the hub")
    except (KeyError, ValueError, TypeError) as exc:
        raise ReceiptInvalidError(f"Receipt claims are invalid: {exc}") from exc
    try:
        with transaction.atomic():
            received = ReceivedReceipt.objects.create(
                receipt_id=receipt_id, issuer=sender.node_id, resource_id=resource_id,
                origin=str(claims.get("origin")), price=price,
                granted_at=datetime.fromtimestamp(granted_at, UTC), token=token, claims=claims,
                received_at=timezone.now())
            audit_record(action="federation.receipt_received", actor=sender.node_id, object_type="receipt",
                         object_id=str(receipt_id), data={"resource": str(resource_id), "price": price})
    except IntegrityError:
        return ReceivedReceipt.objects.get(issuer=sender.node_id, receipt_id=receipt_id), False
    return received, True
