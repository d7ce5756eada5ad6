"""The hub's trust services: the register of provinces, certificates, revocations and the directory.

A province asks to enrol (``enrolment_receive``, signed with the key it enrols); a hub operator
compares the key's fingerprint with the one the province's operator reads out, then approves
(``enrolment_approve``): the hub issues a short-lived node certificate and starts pulling the
province. Provinces renew their certificate before it expires (``certificate_renew``, also how a
rotated key gets certified: the old certified key vouches for the new one, which proves possession).
``node_revoke`` revokes every certificate of a node, issues a new signed revocation list and pushes
it to the provinces. Every step is audited.
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
    PeerNotAllowedError,
)
from federation.models import Enrolment, IssuedCertificate, Peer, PeerKey, RevocationState
from federation.signing import (
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
)

KEY_PROOF_TYPE = "exchange-key-proof+jwt"


def _require_hub() -> None:
    if not identity.is_hub():
        raise NotAHubError()


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
    request and EnrolmentStateError when the node is already enrolled with another key (renew
    instead) or this key was revoked."""
    _require_hub()
    problems: dict[str, list[str]] = {}
    if not is_node_id(node_id) or node_id == identity.node_id():
        problems["node_id"] = ["A node id (lowercase letters, digits, hyphens) other than the hub's."]
    if role != "province":
        problems["role"] = ["Only provinces enrol with the hub."]
    if not isinstance(region, str) or not region or len(region) > 12:
        problems["region"] = ["A GB/T 2260 region code."]
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


def _certificate_issue(*, node_id: str, role: str, region: str, jwk: dict[str, str]) -> IssuedCertificate:
    key = identity.signing_key()
    now = timezone.now()
    not_before = now - timedelta(seconds=settings.FEDERATION_CLOCK_SKEW)
    not_after = now + timedelta(seconds=settings.FEDERATION_CERT_LIFETIME_SECONDS)
    serial = str(uuid.uuid4())
    token = issue_certificate(hub_key=key.private_key, hub_kid=key.kid, hub_id=identity.node_id(), node_id=node_id,
                              role=role, region=region, node_public_jwk=jwk, not_before=not_before,
                              not_after=not_after, serial=serial)
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
    _require_hub()
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
                                jwk=enrolment.public_jwk)
    now = timezone.now()
    enrolment.status, enrolment.decided_at = Enrolment.Status.APPROVED, now
    enrolment.decided_by = actor if getattr(actor, "pk", None) else None
    enrolment.save(update_fields=["status", "decided_at", "decided_by"])
    superseded = [r for r in requests_ if r.pk != enrolment.pk and r.status in (Enrolment.Status.PENDING,
                                                                                  Enrolment.Status.APPROVED)]
    Enrolment.objects.filter(pk__in=[r.pk for r in superseded]).update(
        status=Enrolment.Status.SUPERSEDED, decided_at=now, note="another key of this node was approved")
    trust.certificate_store(issued.token, base_url=enrolment.base_url, name=enrolment.name)
    Peer.objects.filter(node_id=node_id).update(status=Peer.Status.ACTIVE, pull=True)
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
    """Issue a fresh certificate to an enrolled province calling with its certified key; for a
    new key (rotation) ``proof`` must be signed by that key. Raises PeerNotAllowedError (not an
    enrolled province) or EnrolmentInvalidError."""
    _require_hub()
    enrolment = Enrolment.objects.select_for_update().filter(node_id=peer.node_id,
                                                             status=Enrolment.Status.APPROVED).first()
    if enrolment is None or peer.role != "province":
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
    issued = _certificate_issue(node_id=peer.node_id, role=enrolment.role, region=enrolment.region, jwk=clean)
    trust.certificate_store(issued.token, base_url=enrolment.base_url, name=enrolment.name)
    audit_record(action="federation.certificate_renewed", actor=peer.node_id, object_type="certificate",
                 object_id=issued.serial, data={"kid": issued.kid, "not_after": issued.not_after.isoformat()})
    return issued


def _revocation_list_issue() -> RevocationState:
    state, _ = RevocationState.objects.select_for_update().get_or_create(id=1)
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
def node_revoke(*, node_id: str, actor: Any, reason: str = "") -> RevocationState:
    """Revoke every certificate of ``node_id``, stop trusting and pulling it, issue the new signed
    revocation list and push it to the provinces after commit. Raises EnrolmentNotFoundError."""
    _require_hub()
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
    audit_record(action="federation.node_revoked", actor=actor, object_type="enrolment", object_id=node_id,
                 data={"reason": reason, "serials": serials, "revocation_list": state.number})
    from federation.jobs import push_revocations_on_commit

    push_revocations_on_commit()
    return state


def revocation_list_current() -> str:
    """(Hub) the current signed revocation list (issued empty on first use)."""
    _require_hub()
    state = RevocationState.objects.filter(id=1).first()
    if state is None or not state.token:
        with transaction.atomic():
            state = _revocation_list_issue()
    return state.token


def directory_document() -> dict[str, Any]:
    """(Hub) every enrolled node with its latest certificate per key, the hub's published keys and
    the current revocation list: what a province needs to verify any origin's envelopes."""
    _require_hub()
    nodes = []
    for peer in Peer.objects.filter(role=Peer.Role.PROVINCE).exclude(status=Peer.Status.PENDING):
        latest: dict[str, IssuedCertificate] = {}
        for cert in IssuedCertificate.objects.filter(node_id=peer.node_id).order_by("not_after"):
            latest[cert.kid] = cert
        nodes.append({"node_id": peer.node_id, "role": peer.role, "region": peer.region, "name": peer.name,
                      "base_url": peer.base_url, "status": peer.status,
                      "certificates": [c.token for c in latest.values()]})
    return {
        "hub": {"node_id": identity.node_id(), "base_url": settings.EXCHANGE_BASE_URL,
                "keys": [row.public_jwk for row in identity.published_keys()]},
        "nodes": nodes,
        "revocations": revocation_list_current(),
    }


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
