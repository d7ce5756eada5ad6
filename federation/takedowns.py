"""Takedown notices across nodes: a notice filed at a province about another province's resource is
forwarded to the national hub, whose operators decide it; the decision comes back to the filing
node, and an upheld notice becomes the hub's signed takedown order (``outbox.national_takedown_append``)
that every node applies.

``takedown_event`` is the ``LICENSING_TAKEDOWN_HOOKS`` entry. Both messages are signed requests
(RFC 9421) between certified nodes; each side records when the other acknowledged
(``exchanged_at``) and the sync tick retries until it has.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from catalog.models import RecordTakedown, Resource
from catalog.permissions import can_reinstate_national
from catalog.takedowns import resource_reinstate
from exchange.errors import InvalidInputError, PermissionDeniedError
from federation import identity, trust
from federation.errors import NotAHubError, TakedownNotStandingError
from federation.models import Peer
from federation.outbox import national_reinstatement_append
from federation.signing.identifiers import is_canonical_uuid
from federation.transport import build_url, signed_request

logger = logging.getLogger("federation.takedowns")
FORWARD_PATH = "/federation/v1/takedowns"
DECISION_PATH = "/federation/v1/takedowns/decision"


def takedown_event(*, notice: Any, event: str) -> None:
    """Hook: forward a new notice about a remote resource to the hub (provinces), or send the decision
    on a forwarded notice back to the node it came from (hub) — after the transaction commits."""
    from federation.jobs import run_soon

    if event == "filed" and not identity.is_hub() and notice.resource.is_remote:
        notice.forwarded_to = trust.hub_id()
        notice.save(update_fields=["forwarded_to"])
        transaction.on_commit(lambda: run_soon("federation.takedowns.notice_forward", key=f"takedown:{notice.pk}",
                                               notice_id=notice.pk))
    elif event == "decided" and identity.is_hub() and notice.forwarded_from:
        transaction.on_commit(lambda: run_soon("federation.takedowns.decision_send", key=f"takedown:{notice.pk}",
                                               notice_id=notice.pk))


def _post(node_id: str, path: str, body: dict[str, Any]) -> bool:
    peer = Peer.objects.filter(node_id=node_id).exclude(base_url="").first()
    if peer is None:
        return False
    try:
        signed_request("POST", build_url(peer.base_url, path), json_body=body, expect_node=node_id)
    except Exception as exc:  # noqa: BLE001 - retried by the sync tick
        logger.info("takedown message not delivered", extra={"peer": node_id, "path": path, "error": str(exc)})
        return False
    return True


def notice_forward(*, notice_id: int) -> bool:
    """Job (filing node): send one notice to the hub; True once the hub has it."""
    from licensing.models import TakedownNotice

    notice = TakedownNotice.objects.select_related("resource").filter(pk=notice_id, exchanged_at__isnull=True).first()
    if notice is None or not notice.forwarded_to:
        return notice is None
    body = {"notice": notice.pk, "resource": str(notice.resource.record_id), "origin": notice.resource.origin_node,
            "grounds": notice.grounds, "statement": notice.statement, "claimant": notice.claimant,
            "filed_at": notice.filed_at.isoformat()}
    if not _post(notice.forwarded_to, FORWARD_PATH, body):
        return False
    TakedownNotice.objects.filter(pk=notice.pk).update(exchanged_at=timezone.now())
    return True


def decision_send(*, notice_id: int) -> bool:
    """Job (hub): send the decision on a forwarded notice back to the node that filed it."""
    from licensing.models import TakedownNotice

    notice = (TakedownNotice.objects.filter(pk=notice_id, exchanged_at__isnull=True).exclude(forwarded_from="")
              .exclude(status=TakedownNotice.Status.OPEN).first())
    if notice is None:
        return True
    body = {"notice": notice.remote_ref, "upheld": notice.status == TakedownNotice.Status.UPHELD,
            "note": notice.decision_note}
    if not _post(notice.forwarded_from, DECISION_PATH, body):
        return False
    TakedownNotice.objects.filter(pk=notice.pk).update(exchanged_at=timezone.now())
    return True


def takedowns_deliver_pending(*, limit: int = 100) -> int:
    """Sync tick: retry forwards (provinces) and decisions (hub) the other side has not acknowledged."""
    from licensing.models import TakedownNotice

    pending = TakedownNotice.objects.filter(exchanged_at__isnull=True)
    if identity.is_hub():
        ids = pending.exclude(forwarded_from="").exclude(status=TakedownNotice.Status.OPEN)
        send = decision_send
    else:
        ids = pending.exclude(forwarded_to="")
        send = notice_forward
    attempted = list(ids.values_list("pk", flat=True)[:limit])
    for notice_id in attempted:
        send(notice_id=notice_id)
    return len(attempted)


def forwarded_receive(*, body: dict[str, Any], sender: trust.PeerIdentity) -> tuple[Any, bool]:
    """(Hub) A province forwards a notice. Raises InvalidInputError / ResourceNotFoundError."""
    from datetime import datetime

    from catalog.errors import ResourceNotFoundError
    from licensing.services import takedown_receive_forwarded

    try:
        ref, resource_id, origin = body["notice"], str(body["resource"]), str(body.get("origin") or "")
        filed_at = datetime.fromisoformat(str(body["filed_at"]))
        if type(ref) is not int or ref < 1 or filed_at.tzinfo is None:
            raise ValueError("notice must be a positive integer and filed_at an aware timestamp")
        grounds, statement, claimant = str(body["grounds"]), str(body["statement"]), str(body.get("claimant") or "")
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"A forwarded notice needs notice, resource, grounds, statement and filed_at: {exc}") from exc
    resource = (Resource.objects.filter(origin_node=origin, record_id=resource_id).first()
                if is_canonical_uuid(resource_id) and origin else None)
    if resource is None:
        raise ResourceNotFoundError(details={"resource": resource_id, "origin": origin})
    return takedown_receive_forwarded(node_id=sender.node_id, remote_ref=ref, resource=resource, grounds=grounds,
                                      statement=statement, claimant=claimant, filed_at=filed_at)


def decision_receive(*, body: dict[str, Any], sender: trust.PeerIdentity) -> Any:
    """(Filing node) The hub's decision on a notice this node forwarded."""
    from licensing.services import takedown_decided_elsewhere

    ref, upheld = body.get("notice"), body.get("upheld")
    if type(ref) is not int or type(upheld) is not bool:
        raise InvalidInputError("A decision names the notice (integer) and upheld (boolean).")
    return takedown_decided_elsewhere(notice_id=ref, decided_by_node=sender.node_id, upheld=upheld,
                                      note=str(body.get("note") or ""))



def national_reinstate(*, origin: str, record_id: str, actor: Any, note: str) -> str:
    """(Hub) A hub operator lifts the hub's standing takedown of a record: this node's copy is public
    again where it was public when taken down (or got a newer version since), and the hub signs a
    ``reinstate`` order every node applies. Raises NotAHubError, PermissionDeniedError (not a hub
    operator), InvalidInputError (no note) or TakedownNotStandingError (nothing this hub ordered stands)."""
    if not identity.is_hub():
        raise NotAHubError()
    if not isinstance(actor, str) and not can_reinstate_national(actor):  # a string: the operator's shell
        raise PermissionDeniedError("Only hub operators reinstate records taken down by national order.")
    if not (note or "").strip():
        raise InvalidInputError("A reinstatement needs a reason.", details={"note": ["This field is required."]})
    me = identity.node_id()
    with transaction.atomic():
        outcome = resource_reinstate(origin=origin, record_id=record_id, actor=actor, lifted_by=me, note=note.strip())
        if outcome != "reinstated":
            raise TakedownNotStandingError(details={"origin": origin, "record_id": record_id, "outcome": outcome})
        fact = RecordTakedown.objects.get(origin=origin, record_id=record_id)
        resource = Resource.objects.filter(origin_node=origin, record_id=record_id).first() or Resource(
            origin_node=origin, record_id=record_id, stage="", subject="")
        national_reinstatement_append(resource=resource, version=fact.order_version, note=note.strip())
    return outcome
