"""A parent's trust services: the register of its child nodes, certificates, revocations and the directory.

The hub is the parent of the provinces; a certified province may be the parent of its cities, a
certified city of its counties (``trust.may_certify``), each only inside its own scope. A child asks to
enrol (``enrolment_receive``, signed with the key it enrols); the parent's operator compares the key's
fingerprint with the one the child's operator reads out, then approves (``enrolment_approve``): the
parent issues a short-lived node certificate (with the child's scope, signed by the parent's own
certified key, never outliving the parent's certificate) and starts pulling the child. Children renew
their certificate before it expires (``certificate_renew``, also how a rotated key gets certified: the
old certified key vouches for the new one, which proves possession). ``node_revoke`` revokes every
certificate of a child — and with it every node below it — issues the parent's new signed revocation
list and pushes it along the tree. Every step is audited.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exchange.audit import audit_record
from federation import identity, trust
from federation.errors import (
    EnrolmentInvalidError,
    EnrolmentNotFoundError,
    EnrolmentStateError,
    FingerprintMismatchError,
    NotAHubError,
    NotAParentError,
    PeerNotAllowedError,
)
from federation.models import (
    Enrolment,
    IssuedCertificate,
    IssuerRevocationList,
    Peer,
    PeerKey,
    RevocationState,
)
from federation.signing import (
    SCOPE_ROLES,
    KeyInvalidError,
    fingerprint,
    is_node_id,
    issue_certificate,
    issue_revocation_list,
    jwk_to_public_key,
    jws_verify_compact,
    key_id,
    parse_json,
    public_key_to_jwk,
    scope_contains,
    scope_of_region,
)

KEY_PROOF_TYPE = "exchange-key-proof+jwt"


def _require_hub() -> None:
    if not identity.is_hub():
        raise NotAHubError()


def _require_parent() -> None:
    if not trust.may_certify():
        raise NotAParentError()


def _child_region_problems(role: str, region: str) -> list[str]:
    """Why a node of ``role`` in ``region`` may not be this node's child ([] when it may): the region must
    be a current GB/T 2260 code strictly inside this node's scope, and the role the one its level gives."""
    from exchange.selectors import region_get

    try:
        scope = scope_of_region(region)
    except Exception:  # noqa: BLE001 - InvalidInputError: not six digits
        return ["A six-digit GB/T 2260 region code."]
    mine = trust.own_scope()
    if len(scope) <= len(mine) or not scope_contains(mine, scope):
        return [f"Region {region} is not inside this node's region ({mine or 'the nation'})."]
    if SCOPE_ROLES.get(len(scope)) != role:
        return [f"A node of region {region} enrols as {SCOPE_ROLES.get(len(scope))!r}."]
    known = region_get(region)
    if known is None or known.retired:
        return [f"Region {region} is not a current GB/T 2260 code."]
    return []


def _clean_jwk(jwk: Any) -> dict[str, str]:
    try:
        return public_key_to_jwk(jwk_to_public_key(jwk))
    except KeyInvalidError as exc:
        raise EnrolmentInvalidError(f"jwk: {exc.message}", details={"jwk": [exc.message]}) from exc


def _kid_taken_by_other(kid: str, node_id: str) -> bool:
    return (PeerKey.objects.filter(kid=kid).exclude(peer_id=node_id).exists()
            or Enrolment.objects.filter(kid=kid).exclude(node_id=node_id).exists()
            or identity.own_key_history().get(kid) is not None)


@transaction.atomic
def enrolment_receive(
    *, node_id: str, role: str, region: str, base_url: str, name: str, jwk: Any, signer_kid: str,
) -> Enrolment:
    """Register (or refresh) a province's request to enrol with ``jwk``; the request was signed with it.

    A request is one (node id, key): re-sending it with the same key refreshes it; a request with
    another key never replaces it but is listed beside it (the operator approves the one whose
    fingerprint the province's operator reads out). Raises EnrolmentInvalidError for a malformed
    request (a region outside this node's scope included) and EnrolmentStateError when the node is
    already enrolled with another key (renew instead) or this key was revoked."""
    _require_parent()
    problems: dict[str, list[str]] = {}
    if not is_node_id(node_id) or node_id in (identity.node_id(), trust.hub_id()):
        problems["node_id"] = ["A node id (lowercase letters, digits, hyphens) other than this node's."]
    if role not in SCOPE_ROLES.values():
        problems["role"] = ["province, city or county."]
    region_problems = _child_region_problems(role, region) if isinstance(region, str) else ["A region code."]
    if region_problems:
        problems["region"] = region_problems
    parts = urlsplit(base_url if isinstance(base_url, str) else "")
    if parts.scheme not in ("http", "https") or not parts.netloc or len(base_url) > 300:
        problems["base_url"] = ["An absolute http(s) URL."]
    if problems:
        raise EnrolmentInvalidError(details=problems)
    clean = _clean_jwk(jwk)
    kid = clean["kid"]
    if kid != signer_kid:
        raise EnrolmentInvalidError("The request must be signed with the key it enrols.",
                                    details={"jwk": ["Not the signing key."]})
    if _kid_taken_by_other(kid, node_id):
        raise EnrolmentInvalidError("This key is already used by another node.", details={"jwk": ["In use."]})
    requests_ = {row.kid: row for row in Enrolment.objects.select_for_update().filter(node_id=node_id)}
    approved = next((row for row in requests_.values() if row.status == Enrolment.Status.APPROVED), None)
    if approved is not None and approved.kid == kid:
        return approved
    # Another key for an approved node: a node that lost its key asks for a replacement. It is listed as
    # a pending request like any other; only an operator who confirmed its fingerprint and explicitly
    # replaces the key approves it (``enrolment_approve(replace_key=True)``). A node that still has its
    # key rotates through renewal instead.
    existing = requests_.get(kid)
    if existing is not None and existing.status == Enrolment.Status.REVOKED:
        raise EnrolmentStateError("This key was revoked; enrol with a new key.", details={"status": existing.status})
    now = timezone.now()
    fields = {"role": role, "region": region, "base_url": base_url.rstrip("/"), "name": (name or "")[:200],
              "public_jwk": clean, "fingerprint": fingerprint(jwk_to_public_key(clean))}
    if existing is not None:  # the same key asks again: its own request, refreshed
        for name_, value in fields.items():
            setattr(existing, name_, value)
        existing.status, existing.requested_at, existing.decided_at, existing.decided_by = (
            Enrolment.Status.PENDING, now, None, None)
        existing.save()
        enrolment = existing
    else:
        enrolment = Enrolment.objects.create(node_id=node_id, kid=kid, status=Enrolment.Status.PENDING,
                                             requested_at=now, **fields)
    competing = sorted(row.fingerprint for row in requests_.values()
                       if row.kid != kid and row.status == Enrolment.Status.PENDING)
    audit_record(action="federation.enrolment_requested", actor=node_id, object_type="enrolment",
                 object_id=node_id, data={"fingerprint": enrolment.fingerprint, "base_url": enrolment.base_url,
                                          "region": region, "competing_requests": competing,
                                          "replaces_approved_key": approved.fingerprint if approved else None})
    return enrolment


def enrolment_get(*, node_id: str | None = None, enrolment_id: int | None = None, kid: str | None = None
                  ) -> Enrolment:
    """One request: by id, or a node's request with ``kid`` (else its approved one, else its newest).
    Raises EnrolmentNotFoundError."""
    qs = Enrolment.objects.all()
    if enrolment_id is not None:
        enrolment = qs.filter(pk=enrolment_id).first()
    elif kid is not None:
        enrolment = qs.filter(node_id=node_id, kid=kid).first()
    else:
        rows = list(qs.filter(node_id=node_id).order_by("-requested_at"))
        enrolment = next((r for r in rows if r.status == Enrolment.Status.APPROVED), rows[0] if rows else None)
    if enrolment is None:
        raise EnrolmentNotFoundError(details={"node_id": node_id, "id": enrolment_id})
    return enrolment


def _certificate_issue(*, node_id: str, role: str, region: str, jwk: dict[str, str], base_url: str = ""
                       ) -> IssuedCertificate:
    """Sign a certificate for a child's key with this node's certified key: the child's scope is its
    region's, and (below the hub) it ends no later than this node's own certificate."""
    key = identity.signing_key()
    now = timezone.now()
    not_before = now - timedelta(seconds=settings.FEDERATION_CLOCK_SKEW)
    not_after = now + timedelta(seconds=settings.FEDERATION_CERT_LIFETIME_SECONDS)
    if not identity.is_hub():
        own = identity.own_certificate()
        if own is None or own.kid != key.kid:
            raise NotAParentError("This node signs with a key that holds no certificate.")
        not_after = min(not_after, own.certificate_not_after)
    serial = str(uuid.uuid4())
    token = issue_certificate(hub_key=key.private_key, hub_kid=key.kid, hub_id=identity.node_id(), node_id=node_id,
                              role=role, region=region, node_public_jwk=jwk, not_before=not_before,
                              not_after=not_after, serial=serial, scope=scope_of_region(region),
                              url=base_url or None)
    return IssuedCertificate.objects.create(
        serial=serial, node_id=node_id, kid=jwk["kid"], token=token, issued_at=now,
        not_before=datetime.fromtimestamp(int(not_before.timestamp()), UTC),
        not_after=datetime.fromtimestamp(int(not_after.timestamp()), UTC),
    )


def enrolment_approve(*, node_id: str, fingerprint_seen: str, actor: Any, replace_key: bool = False
                      ) -> IssuedCertificate:
    """Approve the pending request of ``node_id`` whose key has the fingerprint the operator compared
    out of band: issue the node's certificate, start pulling it, and supersede the node's other
    requests. For a node approved with another key (it lost it), ``replace_key`` must say so: the old
    key is superseded, not revoked, so what it signed stays valid. Raises EnrolmentNotFoundError,
    EnrolmentStateError or FingerprintMismatchError (audited, and the audit event is kept)."""
    _require_parent()
    requests_ = list(Enrolment.objects.filter(node_id=node_id))
    if requests_ and not any(trust.fingerprints_equal(fingerprint_seen, r.fingerprint) for r in requests_):
        audit_record(action="federation.enrolment_fingerprint_mismatch", actor=actor, object_type="enrolment",
                     object_id=node_id, data={"given": fingerprint_seen,
                                              "requests": sorted(r.fingerprint for r in requests_)})
        raise FingerprintMismatchError(details={"node_id": node_id})
    return _enrolment_approve(node_id=node_id, fingerprint_seen=fingerprint_seen, actor=actor, replace_key=replace_key)


@transaction.atomic
def _enrolment_approve(*, node_id: str, fingerprint_seen: str, actor: Any, replace_key: bool) -> IssuedCertificate:
    requests_ = list(Enrolment.objects.select_for_update().filter(node_id=node_id))
    if not requests_:
        raise EnrolmentNotFoundError(details={"node_id": node_id})
    enrolment = next((r for r in requests_ if trust.fingerprints_equal(fingerprint_seen, r.fingerprint)), None)
    if enrolment is None:  # the requests changed meanwhile
        raise FingerprintMismatchError(details={"node_id": node_id})
    if enrolment.status != Enrolment.Status.PENDING:
        raise EnrolmentStateError(f"The enrolment is {enrolment.status}.", details={"status": enrolment.status})
    replaced = [r for r in requests_ if r.status == Enrolment.Status.APPROVED]
    if replaced and not replace_key:
        raise EnrolmentStateError("The node is enrolled with another key. If its operator confirms it lost that "
                                  "key, approve this one as its replacement (replace_key).",
                                  details={"status": "approved", "approved_fingerprint": replaced[0].fingerprint})
    issued = _certificate_issue(node_id=node_id, role=enrolment.role, region=enrolment.region,
                                jwk=enrolment.public_jwk, base_url=enrolment.base_url)
    now = timezone.now()
    enrolment.status, enrolment.decided_at = Enrolment.Status.APPROVED, now
    enrolment.decided_by = actor if getattr(actor, "pk", None) else None
    enrolment.save(update_fields=["status", "decided_at", "decided_by"])
    superseded = [r for r in requests_ if r.pk != enrolment.pk and r.status in (Enrolment.Status.PENDING,
                                                                                  Enrolment.Status.APPROVED)]
    Enrolment.objects.filter(pk__in=[r.pk for r in superseded]).update(
        status=Enrolment.Status.SUPERSEDED, decided_at=now, note="another key of this node was approved")
    first_child = not identity.is_hub() and not trust.children()
    trust.certificate_store(issued.token, base_url=enrolment.base_url, name=enrolment.name)
    Peer.objects.filter(node_id=node_id).update(status=Peer.Status.ACTIVE, pull=True, relation=Peer.Relation.CHILD)
    parent = trust.parent_peer()
    if first_child and parent is not None:
        # From now on this node relays what it reads for its children: read the parent's feed again from
        # the start, so that the child gets what this node applied before it had children.
        Peer.objects.filter(pk=parent.pk).update(cursor=0)
    audit_record(action="federation.enrolment_approved", actor=actor, object_type="enrolment", object_id=node_id,
                 data={"fingerprint": enrolment.fingerprint, "serial": issued.serial,
                       "not_after": issued.not_after.isoformat(),
                       "superseded": sorted(r.fingerprint for r in superseded),
                       "replaced_key": replaced[0].fingerprint if replaced else None})
    from federation.jobs import run_soon

    transaction.on_commit(lambda: run_soon("federation.jobs.push_certificate", key=f"cert:{node_id}",
                                           node_id=node_id, serial=issued.serial))
    return issued


def _check_key_proof(*, token: str, jwk: dict[str, str], node_id: str) -> None:
    """The new key signs ``{"sub": node id, "aud": hub id, "iat": now}``: proof the node holds it."""
    from federation.signing import JwsInvalidError

    try:
        header, payload = jws_verify_compact(token, jwk_to_public_key(jwk))
        claims = parse_json(payload)
    except (JwsInvalidError, ValueError, TypeError) as exc:
        raise EnrolmentInvalidError("The key proof does not verify with the new key.") from exc
    now = int(timezone.now().timestamp())
    if (header.get("typ") != KEY_PROOF_TYPE or not isinstance(claims, dict) or claims.get("sub") != node_id
            or claims.get("aud") != identity.node_id() or type(claims.get("iat")) is not int
            or abs(now - claims["iat"]) > settings.FEDERATION_CLOCK_SKEW):
        raise EnrolmentInvalidError("The key proof names another node, hub or time.")


@transaction.atomic
def certificate_renew(*, peer: trust.PeerIdentity, jwk: Any = None, proof: str | None = None) -> IssuedCertificate:
    """Issue a fresh certificate to an enrolled child calling with its certified key; for a
    new key (rotation) ``proof`` must be signed by that key. Raises PeerNotAllowedError (not an
    enrolled child) or EnrolmentInvalidError."""
    _require_parent()
    enrolment = Enrolment.objects.select_for_update().filter(node_id=peer.node_id,
                                                             status=Enrolment.Status.APPROVED).first()
    if enrolment is None or peer.role == "hub":
        raise PeerNotAllowedError(details={"node_id": peer.node_id})
    clean = _clean_jwk(jwk) if jwk is not None else enrolment.public_jwk
    if clean["kid"] != peer.kid:
        if not proof:
            raise EnrolmentInvalidError("A new key needs a proof signed by it.", details={"proof": ["Required."]})
        _check_key_proof(token=proof, jwk=clean, node_id=peer.node_id)
        if _kid_taken_by_other(clean["kid"], peer.node_id):
            raise EnrolmentInvalidError("This key is already used by another node.")
        enrolment.public_jwk, enrolment.kid = clean, clean["kid"]
        enrolment.fingerprint = fingerprint(jwk_to_public_key(clean))
        enrolment.save(update_fields=["public_jwk", "kid", "fingerprint"])
        audit_record(action="federation.node_key_rotated", actor=peer.node_id, object_type="enrolment",
                     object_id=peer.node_id, data={"previous": peer.kid, "kid": clean["kid"],
                                                   "fingerprint": enrolment.fingerprint})
    issued = _certificate_issue(node_id=peer.node_id, role=enrolment.role, region=enrolment.region, jwk=clean,
                                base_url=enrolment.base_url)
    trust.certificate_store(issued.token, base_url=enrolment.base_url, name=enrolment.name)
    audit_record(action="federation.certificate_renewed", actor=peer.node_id, object_type="certificate",
                 object_id=issued.serial, data={"kid": issued.kid, "not_after": issued.not_after.isoformat()})
    return issued


def _revocation_list_issue() -> RevocationState | IssuerRevocationList:
    """Sign this node's new revocation list: every certificate it issued and revoked. The hub's is the
    national list (``RevocationState``); a parent's own list covers the certificates it issued."""
    if identity.is_hub():
        state: RevocationState | IssuerRevocationList = RevocationState.objects.select_for_update().get_or_create(
            id=1)[0]
    else:
        state = IssuerRevocationList.objects.select_for_update().get_or_create(issuer=identity.node_id())[0]
    serials = sorted(IssuedCertificate.objects.filter(revoked_at__isnull=False).values_list("serial", flat=True))
    key = identity.signing_key()
    now = timezone.now()
    state.number += 1
    state.token = issue_revocation_list(hub_key=key.private_key, hub_kid=key.kid, hub_id=identity.node_id(),
                                        serials=serials, number=state.number, issued_at=now)
    state.serials, state.issued_at = serials, now
    state.save()
    return state


@transaction.atomic
def node_revoke(*, node_id: str, actor: Any, reason: str = "") -> RevocationState | IssuerRevocationList:
    """Revoke every certificate this node issued to ``node_id`` (its child), stop trusting and pulling it,
    issue this node's new signed revocation list and push it along the tree after commit: every node
    then refuses the child and every node certified below it. Raises EnrolmentNotFoundError (not a child
    of this node) or NotAParentError."""
    if not identity.is_hub() and identity.own_certificate() is None:
        raise NotAParentError()
    if not Enrolment.objects.select_for_update().filter(node_id=node_id).exists():
        raise EnrolmentNotFoundError(details={"node_id": node_id})
    now = timezone.now()
    Enrolment.objects.filter(node_id=node_id).exclude(status=Enrolment.Status.SUPERSEDED).update(
        status=Enrolment.Status.REVOKED, note=reason[:2000])
    serials = list(IssuedCertificate.objects.filter(node_id=node_id).values_list("serial", flat=True))
    IssuedCertificate.objects.filter(node_id=node_id, revoked_at__isnull=True).update(revoked_at=now)
    PeerKey.objects.filter(peer_id=node_id).update(revoked=True)
    Peer.objects.filter(node_id=node_id).update(status=Peer.Status.REVOKED, pull=False)
    state = _revocation_list_issue()
    below = sorted(trust.subtree(node_id) - {node_id})
    audit_record(action="federation.node_revoked", actor=actor, object_type="enrolment", object_id=node_id,
                 data={"reason": reason, "serials": serials, "revocation_list": state.number,
                       "cut_off_below": below})
    from federation.jobs import push_revocations_on_commit

    push_revocations_on_commit()
    return state


def revocation_list_current() -> str:
    """(Hub) the current signed revocation list (issued empty on first use)."""
    _require_hub()
    state = RevocationState.objects.filter(id=1).first()
    if state is None or not state.token:
        with transaction.atomic():
            state = _revocation_list_issue()  # type: ignore[assignment]
    return state.token


def revocation_lists_document() -> dict[str, Any]:
    """Every revocation list this node holds: the hub's as ``revocations`` (on the hub, issued on first
    use) and every list, the hub's first, as ``revocation_lists``."""
    hub_list = revocation_list_current() if identity.is_hub() else (
        RevocationState.objects.filter(id=1).values_list("token", flat=True).first() or None)
    return {"revocations": hub_list, "revocation_lists": trust.revocation_lists_held()}


def _edges() -> list[dict[str, Any]]:
    """How this node's pulls of its children stand, and what its children reported of theirs."""
    out = []
    for peer in Peer.objects.filter(relation=Peer.Relation.CHILD):
        out.append({"parent": identity.node_id(), "child": peer.node_id, "status": peer.status,
                    "lag_entries": max(peer.remote_head - peer.cursor, 0) if peer.pull else None,
                    "last_success_at": peer.last_success_at.isoformat() if peer.last_success_at else None,
                    "last_error_code": peer.last_error_code or None})
    below = trust.subtree(identity.node_id())
    for peer in Peer.objects.exclude(edge_report={}).filter(node_id__in=below):
        report = dict(peer.edge_report)
        report.pop("reported_by", None)
        out.append({**report, "child": peer.node_id})
    return out


def directory_document() -> dict[str, Any]:
    """This node's directory: every node it certified, with its latest certificate per key (the hub's
    provinces as before); every certificate it holds, of any level (``certificates``: a receiver takes
    in those whose chain verifies); every revocation list it holds; how the pulls of its subtree stand
    (``edges``). On the hub also its published keys. What a node needs to verify any origin's envelopes."""
    nodes = []
    for peer in Peer.objects.filter(relation=Peer.Relation.CHILD).exclude(status=Peer.Status.PENDING):
        latest: dict[str, IssuedCertificate] = {}
        for cert in IssuedCertificate.objects.filter(node_id=peer.node_id).order_by("not_after"):
            latest[cert.kid] = cert
        nodes.append({"node_id": peer.node_id, "role": peer.role, "region": peer.region, "name": peer.name,
                      "base_url": peer.base_url, "status": peer.status,
                      "certificates": [c.token for c in latest.values()]})
    certificates = [row.certificate for row in identity.published_keys() if row.certificate]
    certificates += list(PeerKey.objects.filter(anchor=False).exclude(certificate="")
                         .order_by("peer_id", "kid").values_list("certificate", flat=True))
    document: dict[str, Any] = {
        "node_id": identity.node_id(),
        "nodes": nodes,
        "certificates": certificates,
        **revocation_lists_document(),
        "edges": _edges(),
    }
    if identity.is_hub():
        document["hub"] = {"node_id": identity.node_id(), "base_url": settings.EXCHANGE_BASE_URL,
                           "keys": [row.public_jwk for row in identity.published_keys()]}
    return document


def enrolment_resolver(kid: str) -> tuple[Any, trust.PeerIdentity]:
    """Resolve a key for enrolment status requests: certified keys, else a pending/approved enrolment's key."""
    from federation.signing import UnknownKeyError

    try:
        return trust.request_key(kid)
    except UnknownKeyError:
        enrolment = Enrolment.objects.filter(kid=kid).exclude(status=Enrolment.Status.REVOKED).first()
        if enrolment is None:
            raise
        public = jwk_to_public_key(enrolment.public_jwk)
        if key_id(public) != kid:
            raise
        return public, trust.PeerIdentity(enrolment.node_id, enrolment.role, kid)
