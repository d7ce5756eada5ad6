"""Whom this node trusts, and with which keys: the one place that turns a key id into a peer.

The hub is the trust anchor. A province pins the hub's keys when it enrols (after the operator
compared the fingerprint out of band) and learns every other node's keys from hub-signed node
certificates (the hub's directory). The hub knows provinces' keys from the certificates it issues.

* ``request_key`` — the key a signed request or response is verified with: a pinned hub key, or a
  key with a valid, unrevoked certificate. Expired and revoked certificates are refused with their
  own error codes.
* ``envelope_key`` — the key a record envelope is verified with: any key ever certified for the
  envelope's origin and never revoked, provided the envelope was issued while the key was valid
  (rotated-out keys keep vouching for what they signed).
* ``certificate_store`` / ``revocation_list_apply`` / ``directory_apply`` — taking in hub-signed
  documents; each is verified against the pinned hub keys before anything is stored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exchange.audit import audit_record
from federation import identity
from federation.errors import EnvelopeKeyNotValidError
from federation.models import NodeKey, Peer, PeerKey, RevocationState
from federation.signing import (
    CERTIFICATE_TYPE,
    CertificateInvalidError,
    CertificateRevokedError,
    JwsInvalidError,
    KeyInvalidError,
    NodeCertificate,
    UnknownKeyError,
    fingerprint,
    jwk_to_public_key,
    jws_verify,
    key_id,
    public_key_to_jwk,
    verify_certificate,
    verify_revocation_list,
)

logger = logging.getLogger("federation.trust")


@dataclass(frozen=True)
class PeerIdentity:
    """Who signed a request or response: a node id, its role and the key id it used."""

    node_id: str
    role: str
    kid: str
    anchor: bool = False


# --- hub keys ----------------------------------------------------------------------------------

def hub_id() -> str:
    return identity.node_id() if identity.is_hub() else settings.FEDERATION_HUB_ID


def hub_public_keys() -> dict[str, Ed25519PublicKey]:
    """Keys that sign certificates and revocation lists: the hub's own (on the hub), or the anchors
    pinned at enrolment (on a province)."""
    if identity.is_hub():
        return identity.own_public_keys()
    rows = PeerKey.objects.filter(peer_id=hub_id(), anchor=True, revoked=False, retired_at__isnull=True)
    return {row.kid: jwk_to_public_key(row.public_jwk) for row in rows}


def revoked_serials() -> frozenset[str]:
    state = RevocationState.objects.filter(id=1).first()
    return frozenset(state.serials) if state else frozenset()


def hub_pin(*, document: Mapping[str, Any], base_url: str, expected_fingerprint: str | None,
            trust_on_first_use: bool = False) -> list[str]:
    """(Province) pin the hub's key from its (unsigned) well-known document — only the key a person
    confirmed. With ``expected_fingerprint`` (read out by the hub's operator) exactly the key with that
    fingerprint is pinned; every other hub key is taken only with a signature by a pinned key (rotation
    endorsements, the signed directory). Without it, nothing is pinned unless ``trust_on_first_use``: then
    the hub's active key alone, loudly (warning log and audit event). When hub keys are already pinned,
    the document must list one of them (a changed document is never trusted on its word).

    Returns the fingerprints of the keys pinned for the hub. Raises FingerprintMismatchError (no key
    with that fingerprint, or an unconfirmed document), CertificateInvalidError (not the hub)."""
    from federation.errors import FingerprintMismatchError

    if document.get("role") != "hub" or document.get("node_id") != hub_id():
        raise CertificateInvalidError(f"{base_url} is not hub {hub_id()}",
                                      details={"node_id": document.get("node_id"), "role": document.get("role")})
    listed: list[tuple[Ed25519PublicKey, dict[str, Any]]] = []
    for item in document.get("keys") or []:
        if not isinstance(item, dict) or item.get("status") == NodeKey.Status.RETIRED:
            continue
        try:
            listed.append((jwk_to_public_key(item.get("jwk")), item))
        except KeyInvalidError:
            continue
    published = [fingerprint(key) for key, _ in listed]
    pinned = {row.kid: row for row in PeerKey.objects.filter(peer_id=hub_id(), anchor=True, revoked=False)}
    if expected_fingerprint:
        chosen = [(key, item) for key, item in listed if _norm(fingerprint(key)) == _norm(expected_fingerprint)]
        if not chosen:
            raise FingerprintMismatchError(details={"expected": expected_fingerprint, "published": published})
        how = "fingerprint"
    elif pinned:
        if not any(key_id(key) in pinned for key, _ in listed):
            raise FingerprintMismatchError(
                "The hub's document lists none of the keys pinned for it: confirm the new key's fingerprint "
                "with the hub's operator (--hub-fingerprint).", details={"published": published})
        chosen, how = [], "already pinned"
    elif trust_on_first_use:
        chosen = [(key, item) for key, item in listed if item.get("status") == NodeKey.Status.ACTIVE][:1]
        if not chosen:
            raise FingerprintMismatchError("The hub publishes no active key.", details={"published": published})
        how = "trust on first use"
    else:
        raise FingerprintMismatchError(
            "Refusing to trust the hub's key unconfirmed: give the fingerprint its operator reads out "
            "(--hub-fingerprint), or --trust-on-first-use knowingly.", details={"published": published})
    with transaction.atomic():
        peer, created = Peer.objects.update_or_create(
            node_id=hub_id(),
            defaults={"role": Peer.Role.HUB, "base_url": base_url.rstrip("/"), "pull": True,
                      "region": str(document.get("region") or ""), "name": str(document.get("name") or "")},
        )
        if created and settings.FEDERATION_SETS:
            peer.sets = list(settings.FEDERATION_SETS)
            peer.save(update_fields=["sets"])
        for public, _item in chosen:
            PeerKey.objects.update_or_create(peer=peer, kid=key_id(public), defaults={
                "public_jwk": public_key_to_jwk(public), "anchor": True, "retired_at": None})
        prints = [fingerprint(jwk_to_public_key(row.public_jwk)) for row in
                  PeerKey.objects.filter(peer=peer, anchor=True, revoked=False, retired_at__isnull=True)]
        if chosen:
            action = "federation.hub_pinned_tofu" if how == "trust on first use" else "federation.hub_pinned"
            audit_record(action=action, actor=identity.node_id(), object_type="peer", object_id=peer.node_id,
                         data={"base_url": peer.base_url, "pinned": [fingerprint(k) for k, _ in chosen],
                               "published": published, "how": how})
    if how == "trust on first use":
        logger.warning("hub key pinned on first use, without a confirmed fingerprint: compare it with the hub "
                       "operator now", extra={"hub": hub_id(), "fingerprint": prints})
    return prints


def _norm(fp: str) -> str:
    return "".join(fp.split()).upper()


def fingerprints_equal(a: str, b: str) -> bool:
    return _norm(a) == _norm(b)


def hub_keys_from_document(document: Mapping[str, Any], *, received_from: str) -> list[str]:
    """(Province) pin hub keys the hub's well-known document lists with an endorsement signed by a
    key already pinned (key continuity across rotations, chains included). Returns the new key ids;
    keys without a valid endorsement are ignored."""
    if document.get("node_id") != hub_id() or document.get("role") != "hub":
        return []
    peer = Peer.objects.filter(node_id=hub_id()).first()
    if peer is None:
        return []
    added: list[str] = []
    candidates = [item for item in document.get("keys") or [] if isinstance(item, dict) and item.get("endorsement")]
    progress = True
    while progress:
        progress = False
        pinned = {row.kid: jwk_to_public_key(row.public_jwk)
                  for row in PeerKey.objects.filter(peer=peer, anchor=True, revoked=False)}
        for item in candidates:
            try:
                public = jwk_to_public_key(item.get("jwk"))
                if key_id(public) in pinned:
                    continue
                header, claims = jws_verify(item["endorsement"], resolve_key=pinned.__getitem__,
                                            typ=identity.KEY_ENDORSEMENT_TYPE)
                endorsed = jwk_to_public_key(claims.get("jwk"))
            except (KeyInvalidError, JwsInvalidError, UnknownKeyError):
                continue  # not endorsed by a pinned key: ignored
            kid = key_id(public)
            if claims.get("sub") != hub_id() or key_id(endorsed) != kid:
                continue
            PeerKey.objects.update_or_create(peer=peer, kid=kid, defaults={
                "public_jwk": public_key_to_jwk(public), "anchor": True, "retired_at": None})
            audit_record(action="federation.hub_key_added", actor=received_from, object_type="peer_key",
                         object_id=kid, data={"endorsed_by": header.get("kid")})
            added.append(kid)
            progress = True
    return added


# --- resolving keys ---------------------------------------------------------------------------

def request_key(kid: str, *, now: datetime | None = None) -> tuple[Ed25519PublicKey, PeerIdentity]:
    """The public key and identity behind ``kid`` for a signed request or response.

    Raises UnknownKeyError (no such key, or a retired anchor), CertificateRevokedError,
    CertificateExpiredError, CertificateNotYetValidError or CertificateInvalidError."""
    now = now or timezone.now()
    rows = list(PeerKey.objects.filter(kid=kid).select_related("peer"))
    if not rows:
        raise UnknownKeyError(details={"keyid": kid})
    row = rows[0]
    peer = row.peer
    if row.revoked or peer.status == Peer.Status.REVOKED:
        raise CertificateRevokedError(details={"node_id": peer.node_id, "keyid": kid})
    if row.anchor:
        if row.retired_at is not None:
            raise UnknownKeyError("this hub key has been retired", details={"keyid": kid})
        return jwk_to_public_key(row.public_jwk), PeerIdentity(peer.node_id, peer.role, kid, anchor=True)
    if not row.certificate:
        raise UnknownKeyError("no certificate for this key", details={"keyid": kid})
    cert = verify_certificate(row.certificate, hub_public_keys=hub_public_keys(), now=now,
                              revoked=revoked_serials(), hub_id=hub_id())
    return cert.public_key, PeerIdentity(cert.node_id, cert.role, kid)


def envelope_key(origin: str, kid: str) -> tuple[Ed25519PublicKey, datetime | None]:
    """The key ``origin`` signed an envelope with, and the latest time it could sign (None: no limit).

    Raises UnknownKeyError or CertificateRevokedError."""
    if origin == identity.node_id():
        row = identity.own_key_history().get(kid)
        if row is None:
            raise UnknownKeyError(details={"origin": origin, "kid": kid})
        return jwk_to_public_key(row.public_jwk), row.retired_at
    key = PeerKey.objects.filter(peer_id=origin, kid=kid).select_related("peer").first()
    if key is None:
        raise UnknownKeyError(details={"origin": origin, "kid": kid})
    if key.revoked:
        raise CertificateRevokedError(details={"origin": origin, "kid": kid})
    if key.anchor:
        return jwk_to_public_key(key.public_jwk), key.retired_at
    if not key.certificate:
        raise UnknownKeyError(details={"origin": origin, "kid": kid})
    return jwk_to_public_key(key.public_jwk), key.not_after


def check_envelope_time(*, origin: str, kid: str, issued_at: datetime, valid_until: datetime | None) -> None:
    """Refuse an envelope issued after its key stopped being valid (beyond the clock skew)."""
    if valid_until is not None and issued_at > valid_until + timedelta(seconds=settings.FEDERATION_CLOCK_SKEW):
        raise EnvelopeKeyNotValidError(details={"origin": origin, "kid": kid, "issued_at": issued_at.isoformat(),
                                                "key_valid_until": valid_until.isoformat()})


# --- certificates ------------------------------------------------------------------------------

def certificate_read(token: str) -> NodeCertificate:
    """Verify a certificate's hub signature and claims, whatever its validity period (historic
    certificates still prove which keys a node used). Raises CertificateInvalidError."""
    keys = hub_public_keys()
    try:
        _, claims = jws_verify(token, resolve_key=keys.__getitem__, typ=CERTIFICATE_TYPE)
    except Exception as exc:  # JwsInvalidError, UnknownKeyError
        raise CertificateInvalidError(f"not signed by a trusted hub key: {exc}") from exc
    nbf = claims.get("nbf")
    if type(nbf) is not int:
        raise CertificateInvalidError("nbf must be an integer")
    return verify_certificate(token, hub_public_keys=keys, now=datetime.fromtimestamp(nbf, UTC), revoked=(),
                              hub_id=hub_id())


@transaction.atomic
def certificate_store(token: str, *, base_url: str | None = None, name: str | None = None) -> NodeCertificate:
    """Take in a hub-signed certificate: for this node's own key, remember it on the key; for
    another node, record (or refresh) the peer and its certified key. A certificate older than the
    one held for the same key changes nothing. Raises CertificateInvalidError."""
    cert = certificate_read(token)
    if cert.node_id == identity.node_id():
        row = NodeKey.objects.filter(kid=cert.kid).first()
        if row is None:
            # A key this node used before it lost its data (or before a re-key): the hub certified it, so
            # what it signed is this node's own. Kept as a retired, public-only key of its history.
            public = jwk_to_public_key(cert.public_jwk)
            NodeKey.objects.create(kid=cert.kid, public_jwk=public_key_to_jwk(public), fingerprint=fingerprint(public),
                                   status=NodeKey.Status.RETIRED, private_key_path="", created_at=cert.not_before,
                                   retire_at=cert.not_after, retired_at=cert.not_after, certificate=token,
                                   certificate_serial=cert.serial, certificate_not_after=cert.not_after)
            audit_record(action="federation.own_key_learned", actor=cert.issuer, object_type="node_key",
                         object_id=cert.kid, data={"serial": cert.serial, "not_after": cert.not_after.isoformat()})
            return cert
        if row.certificate_not_after is None or cert.not_after > row.certificate_not_after:
            row.certificate, row.certificate_serial, row.certificate_not_after = token, cert.serial, cert.not_after
            row.save(update_fields=["certificate", "certificate_serial", "certificate_not_after"])
            audit_record(action="federation.certificate_received", actor=cert.issuer, object_type="node_key",
                         object_id=cert.kid, data={"serial": cert.serial, "not_after": cert.not_after.isoformat()})
        return cert
    defaults: dict[str, Any] = {"role": cert.role, "region": cert.region}
    if base_url:
        defaults["base_url"] = base_url.rstrip("/")
    if name is not None:
        defaults["name"] = name
    peer, created = Peer.objects.get_or_create(node_id=cert.node_id, defaults=defaults | {"status": Peer.Status.ACTIVE})
    if not created:
        changed = [f for f, v in defaults.items() if getattr(peer, f) != v]
        for f in changed:
            setattr(peer, f, defaults[f])
        if changed:
            peer.save(update_fields=changed)
    revoked = cert.serial in revoked_serials()
    key = PeerKey.objects.filter(peer=peer, kid=cert.kid).first()
    if key is None:
        PeerKey.objects.create(peer=peer, kid=cert.kid, public_jwk=cert.public_jwk, certificate=token,
                               serial=cert.serial, not_before=cert.not_before, not_after=cert.not_after,
                               revoked=revoked)
    elif key.not_after is None or cert.not_after > key.not_after:
        key.certificate, key.serial, key.not_after = token, cert.serial, cert.not_after
        key.not_before = min(key.not_before or cert.not_before, cert.not_before)
        key.revoked = key.revoked or revoked
        key.save(update_fields=["certificate", "serial", "not_before", "not_after", "revoked"])
    if not revoked and peer.status == Peer.Status.REVOKED and cert.not_after > timezone.now():
        # Re-enrolled with a new key after a revocation: the node is trusted again (old keys stay revoked).
        peer.status = Peer.Status.ACTIVE
        peer.save(update_fields=["status"])
    return cert


# --- revocations ------------------------------------------------------------------------------

@transaction.atomic
def revocation_list_apply(token: str, *, received_from: str) -> tuple[int, int]:
    """(Province) take in a hub-signed revocation list newer than the one held: remember it and
    refuse every key whose certificate it lists. Returns (list number, keys newly revoked).
    Raises RevocationListInvalidError or RevocationListStaleError."""
    revocations = verify_revocation_list(token, hub_public_keys(), hub_id=hub_id())
    state, _ = RevocationState.objects.select_for_update().get_or_create(id=1)
    revocations.ensure_newer_than(state.number or None)
    state.number, state.token = revocations.number, token
    state.serials, state.issued_at = sorted(revocations.serials), revocations.issued_at
    state.save()
    newly = list(PeerKey.objects.filter(serial__in=list(revocations.serials), revoked=False)
                 .values_list("peer_id", "kid"))
    PeerKey.objects.filter(serial__in=list(revocations.serials)).update(revoked=True)
    nodes = sorted({peer_id for peer_id, _ in newly})
    for node in nodes:
        if not PeerKey.objects.filter(peer_id=node, revoked=False).exists():
            Peer.objects.filter(node_id=node).update(status=Peer.Status.REVOKED, pull=False)
    audit_record(action="federation.revocations_received", actor=received_from, object_type="revocation_list",
                 object_id=str(revocations.number),
                 data={"serials": len(revocations.serials), "newly_revoked_nodes": nodes})
    return revocations.number, len(newly)


# --- the hub's directory ------------------------------------------------------------------------

def directory_apply(body: Mapping[str, Any], *, received_from: str) -> dict[str, int]:
    """(Province) take in the hub's directory: new hub keys (continuity: the response carrying them
    was signed by a pinned hub key), the revocation list, and every node's certificates.
    Returns counts. Invalid certificates are skipped (and counted), never stored."""
    from federation.signing import RevocationListStaleError

    counts = {"certificates": 0, "invalid": 0, "hub_keys": 0}
    hub = body.get("hub") or {}
    with transaction.atomic():
        peer = Peer.objects.filter(node_id=hub_id()).first()
        if peer is not None and isinstance(hub.get("keys"), list):
            listed = set()
            for jwk in hub["keys"]:
                public = jwk_to_public_key(jwk)
                kid = jwk.get("kid") or fingerprint(public)
                listed.add(kid)
                _, created = PeerKey.objects.update_or_create(
                    peer=peer, kid=kid,
                    defaults={"public_jwk": {k: jwk[k] for k in ("kty", "crv", "x", "kid") if k in jwk},
                              "anchor": True, "retired_at": None},
                )
                counts["hub_keys"] += int(created)
                if created:
                    audit_record(action="federation.hub_key_added", actor=received_from, object_type="peer_key",
                                 object_id=kid)
            if listed:
                PeerKey.objects.filter(peer=peer, anchor=True, retired_at__isnull=True).exclude(
                    kid__in=listed).update(retired_at=timezone.now())
    token = body.get("revocations")
    if isinstance(token, str) and token:
        try:
            revocation_list_apply(token, received_from=received_from)
        except RevocationListStaleError:
            pass
    for node in body.get("nodes") or []:
        if not isinstance(node, dict):
            continue
        for cert_token in node.get("certificates") or []:
            try:
                certificate_store(cert_token, base_url=node.get("base_url") or None, name=node.get("name"))
                counts["certificates"] += 1
            except CertificateInvalidError:
                counts["invalid"] += 1
    return counts
