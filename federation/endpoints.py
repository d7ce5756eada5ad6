"""Protocol v1 endpoints (``/federation/v1/…``) and ``/.well-known/exchange-node``.

Every endpoint except the well-known document takes only signed requests from certified nodes
and signs its answers (:func:`federation.transport.federation_endpoint`); errors use the node's one
JSON error shape. Each view validates input, calls one service and serialises the result.
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from exchange.errors import InvalidInputError
from federation import hub, identity, outbox, receipts, takedowns, trust
from federation.errors import NotAHubError, PeerNotAllowedError
from federation.files import open_served_file
from federation.jobs import pull_requested
from federation.models import Peer
from federation.signing import (
    CanonicalJsonError,
    KeyInvalidError,
    UnknownKeyError,
    jwk_to_public_key,
    key_id,
    parse_json,
)
from federation.transport import federation_endpoint, json_response, sign_file_response

HUB = frozenset({"hub"})
#: Nodes below the hub: provinces, cities and counties.
MEMBERS = frozenset({"province", "city", "county"})


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        data = parse_json(request.body or b"{}")
    except CanonicalJsonError as exc:
        raise InvalidInputError("The body must be a JSON object.", details={"body": [exc.message]}) from exc
    if not isinstance(data, dict):
        raise InvalidInputError("The body must be a JSON object.")
    return data


def _peer(request: HttpRequest) -> trust.PeerIdentity:
    return request.federation_peer  # type: ignore[attr-defined]


@login_not_required
@require_GET
def well_known(request: HttpRequest) -> HttpResponse:
    """Permission: public. This node's id, role, region, base URL, keys, certificate (chain) and endpoints."""
    return json_response(trust.well_known_document())


@federation_endpoint(methods=("GET",))
def changes(request: HttpRequest) -> HttpResponse:
    """Permission: certified nodes. A page of the change feed: ``since``, ``limit``, ``set`` (repeatable),
    ``levels=1`` (the caller verifies certificate chains), ``echo=1`` (also the caller's own subtree's
    envelopes: recovery). What a caller gets depends on where it stands in the tree (PROTOCOL.md §6.1)."""
    try:
        since = int(request.GET.get("since") or 0)
    except ValueError as exc:
        raise InvalidInputError("since must be a whole number.", details={"since": ["A whole number."]}) from exc
    if since < 0:
        raise InvalidInputError("since must be ≥ 0.", details={"since": ["≥ 0"]})
    sets = outbox.parse_sets(request.GET.getlist("set"))
    scope = outbox.feed_scope(reader=_peer(request).node_id, levels=request.GET.get("levels") == "1",
                              echo=request.GET.get("echo") == "1")
    page = outbox.feed_page(since=since, limit=outbox.clamp_limit(request.GET.get("limit")), sets=sets, scope=scope)
    return HttpResponse(page.to_json_bytes(), content_type="application/json")


@federation_endpoint(methods=("POST",))
def poke(request: HttpRequest) -> HttpResponse:
    """Permission: a node this node pulls. Ask this node to pull the caller's feed now."""
    peer = _peer(request)
    pulled = Peer.objects.filter(node_id=peer.node_id, pull=True, status=Peer.Status.ACTIVE).exists()
    if not pulled:
        raise PeerNotAllowedError("This node does not pull the caller's feed.", details={"node_id": peer.node_id})
    pull_requested(node_id=peer.node_id)
    return json_response({"accepted": True, "node_id": identity.node_id()}, status=202)


@federation_endpoint(methods=("GET",))
def file_content(request: HttpRequest, sha256: str) -> HttpResponse:
    """Permission: certified nodes. The bytes of a file of one of this node's published resources."""
    from federation.errors import FileNotServedError

    served = open_served_file(sha256.lower(), requester=_peer(request).node_id)
    if served is None:
        raise FileNotServedError(details={"sha256": sha256})
    row, path, temporary = served
    handle = open(path, "rb")  # noqa: SIM115 - FileResponse closes it
    if temporary:
        os.unlink(path)  # the open handle keeps the bytes until the response is sent
    size = os.fstat(handle.fileno()).st_size
    response = FileResponse(handle, content_type=row.mime or "application/octet-stream")
    response["Content-Length"] = str(size)
    sign_file_response(request, response, handle, size)
    handle.seek(0)
    response.federation_signed = True  # type: ignore[attr-defined]
    return response


@federation_endpoint(methods=("POST",))
def receipts_view(request: HttpRequest) -> HttpResponse:
    """Permission: certified nodes. Take a signed grant receipt (as the resource's origin or the hub)."""
    token = _body(request).get("receipt")
    if not isinstance(token, str):
        raise InvalidInputError(details={"receipt": ["A compact JWS."]})
    received, created = receipts.receipt_receive(token=token, sender=_peer(request))
    return json_response({"receipt": str(received.receipt_id), "stored": created}, status=201 if created else 200)


@federation_endpoint(methods=("POST",), roles=MEMBERS)
def takedowns_view(request: HttpRequest) -> HttpResponse:
    """Permission: certified nodes below the hub (hub only). A takedown notice about a resource of another
    origin, forwarded for the hub's operators to decide."""
    if not identity.is_hub():
        raise NotAHubError()
    notice, created = takedowns.forwarded_receive(body=_body(request), sender=_peer(request))
    return json_response({"notice": notice.pk, "stored": created}, status=201 if created else 200)


@federation_endpoint(methods=("POST",), roles=HUB)
def takedown_decision(request: HttpRequest) -> HttpResponse:
    """Permission: the hub (provinces only). The hub's decision on a notice this node forwarded."""
    if identity.is_hub():
        raise PeerNotAllowedError()
    notice = takedowns.decision_receive(body=_body(request), sender=_peer(request))
    return json_response({"notice": notice.pk, "status": notice.status})


def _from_neighbour(request: HttpRequest) -> str:
    """The caller, when it is the hub, this node's parent or one of its children; else PeerNotAllowedError."""
    sender = _peer(request).node_id
    parent = trust.parent_peer()
    if (sender == trust.hub_id() or (parent is not None and parent.node_id == sender)
            or Peer.objects.filter(node_id=sender, relation=Peer.Relation.CHILD).exists()):
        return sender
    raise PeerNotAllowedError("Only this node's parent and children push to it.", details={"node_id": sender})


@federation_endpoint(methods=("GET", "POST"))
def revocations(request: HttpRequest) -> HttpResponse:
    """Permission: GET certified nodes; POST this node's parent or children (or the hub). The signed
    revocation lists: the hub's (``revocations``) and every issuer's this node holds (``revocation_lists``)."""
    if request.method == "GET":
        return json_response(hub.revocation_lists_document())
    sender = _from_neighbour(request)
    body = _body(request)
    token, more = body.get("revocations"), body.get("revocation_lists") or []
    if not (isinstance(token, str) or token is None) or not isinstance(more, list) or not (token or more) or not all(
            isinstance(t, str) for t in more):
        raise InvalidInputError(details={"revocations": ["A compact JWS (and revocation_lists: a list of them)."]})
    from federation.jobs import push_revocations_on_commit
    from federation.signing import RevocationListStaleError

    number = newly = None
    if token:
        try:
            number, newly = trust.revocation_list_apply(token, received_from=sender)
        except RevocationListStaleError:
            pass
    changed = trust.revocation_lists_apply(more, received_from=sender)
    if number is None and not changed:
        return json_response({"applied": False})
    push_revocations_on_commit(exclude=sender)  # passed on along the tree, once (an older list is stale)
    return json_response({"applied": True, "number": number, "newly_revoked_keys": newly, "issuers": changed})


@federation_endpoint(methods=("POST",))
def certificate_push(request: HttpRequest) -> HttpResponse:
    """Permission: this node's parent (the hub for a province). Deliver this node's freshly issued certificate."""
    parent = trust.parent_peer()
    if identity.is_hub() or parent is None or _peer(request).node_id != parent.node_id:
        raise PeerNotAllowedError()
    token = _body(request).get("certificate")
    if not isinstance(token, str):
        raise InvalidInputError(details={"certificate": ["A compact JWS."]})
    cert = trust.certificate_store(token)
    if cert.node_id != identity.node_id():
        raise InvalidInputError("The certificate is not for this node.")
    Peer.objects.filter(pk=parent.pk).update(status=Peer.Status.ACTIVE, pull=True)
    return json_response({"stored": True, "not_after": cert.not_after.isoformat()})


def _self_signed_enrolment(request: HttpRequest):
    """Enrolment requests are signed with the key they enrol (proof of possession)."""

    def resolve(kid: str):
        try:
            body = parse_json(request.body or b"{}")
            public = jwk_to_public_key(body.get("jwk"))
        except (CanonicalJsonError, KeyInvalidError, AttributeError) as exc:
            raise UnknownKeyError("the request must carry the JWK it is signed with") from exc
        if key_id(public) != kid:
            raise UnknownKeyError("the request is not signed with the key it enrols", details={"keyid": kid})
        return public, trust.PeerIdentity(str(body.get("node_id") or ""), str(body.get("role") or ""), kid)

    return resolve


def _enrolment_answer(enrolment: Any) -> dict[str, Any]:
    from federation.models import IssuedCertificate

    answer: dict[str, Any] = {"node_id": enrolment.node_id, "status": enrolment.status,
                              "fingerprint": enrolment.fingerprint, "kid": enrolment.kid, "certificate": None}
    if enrolment.status == enrolment.Status.APPROVED:
        cert = (IssuedCertificate.objects.filter(node_id=enrolment.node_id, kid=enrolment.kid,
                                                 revoked_at__isnull=True).order_by("-not_after").first())
        answer["certificate"] = cert.token if cert else None
        # How far the hub has read the node's feed: a node rebuilding itself continues its feed after it.
        answer["feed_cursor"] = Peer.objects.filter(node_id=enrolment.node_id).values_list("cursor", flat=True).first()
    return answer


@federation_endpoint(methods=("POST",), parent_only=True, resolve=_self_signed_enrolment)
def enrolments(request: HttpRequest) -> HttpResponse:
    """Permission: any node, signed with the key it enrols (served by the hub and by certified provinces
    and cities, for nodes inside their region). Ask to join the federation as this node's child."""
    body = _body(request)
    enrolment = hub.enrolment_receive(
        node_id=str(body.get("node_id") or ""), role=str(body.get("role") or ""),
        region=str(body.get("region") or ""), base_url=str(body.get("base_url") or ""),
        name=str(body.get("name") or ""), jwk=body.get("jwk"), signer_kid=_peer(request).kid,
    )
    status = 200 if enrolment.status == enrolment.Status.APPROVED else 202
    return json_response(_enrolment_answer(enrolment), status=status)


@federation_endpoint(methods=("GET",), parent_only=True, resolve=lambda request: hub.enrolment_resolver)
def enrolment_detail(request: HttpRequest, node_id: str) -> HttpResponse:
    """Permission: the enrolling node itself (served by parents). Its enrolment status and certificate."""
    if _peer(request).node_id != node_id:
        raise PeerNotAllowedError("A node may only read its own enrolment.")
    return json_response(_enrolment_answer(hub.enrolment_get(node_id=node_id, kid=_peer(request).kid)))


@federation_endpoint(methods=("POST",), parent_only=True, roles=MEMBERS)
def certificates_renew(request: HttpRequest) -> HttpResponse:
    """Permission: this node's enrolled children (served by parents). A fresh certificate, optionally for a
    new key."""
    body = _body(request)
    proof = body.get("proof")
    issued = hub.certificate_renew(peer=_peer(request), jwk=body.get("jwk"),
                                   proof=proof if isinstance(proof, str) else None)
    return json_response({"certificate": issued.token, "not_after": issued.not_after.isoformat()})


@federation_endpoint(methods=("GET",))
def nodes(request: HttpRequest) -> HttpResponse:
    """Permission: certified nodes. This node's directory: the nodes it certified, every certificate and
    revocation list it holds, how the pulls of its subtree stand."""
    return json_response(hub.directory_document())
