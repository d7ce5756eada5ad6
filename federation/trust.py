"""Whom this node trusts, and with which keys: the one place that turns a key id into a peer.

The hub is the trust anchor. Every other node pins the hub's keys when it enrols (after the operator
compared the fingerprint out of band) and learns every other node's keys from node certificates: signed
by the hub, or by the node's certified parent, whose certificate is signed by its own parent … up to the
hub — a **chain**, each link certifying only inside its own scope (``signing.check_chain_links``). The
directories nodes serve carry the certificates; revocation lists come from every issuer.

* ``request_key`` — the key a signed request or response is verified with: a pinned hub key, or a
  key with a valid, unrevoked certificate. Expired and revoked certificates are refused with their
  own error codes.
* ``envelope_key`` — the key a record envelope is verified with: any key ever certified for the
  envelope's origin and never revoked, provided the envelope was issued while the key was valid
  (rotated-out keys keep vouching for what they signed).
* ``certificate_store`` / ``revocation_list_apply`` / ``directory_apply`` — taking in signed
  certificates and revocation lists; each is verified against its issuer's key, and that key's chain
  against the pinned hub keys, before anything is stored.
* ``parent_peer`` / ``neighbours`` / ``subtree`` — this node's place in the tree of nodes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exchange.audit import audit_record
from federation import identity
from federation.errors import EnvelopeKeyNotValidError
from federation.models import IssuerRevocationList, NodeKey, Peer, PeerKey, RevocationState
from federation.signing import (
    MAX_CHAIN_LENGTH,
    CertificateExpiredError,
    CertificateInvalidError,
    CertificateNotYetValidError,
    CertificateRevokedError,
    JwsInvalidError,
    KeyInvalidError,
    NodeCertificate,
    RevocationListStaleError,
    UnknownKeyError,
    check_chain_links,
    fingerprint,
    jwk_to_public_key,
    jws_header,
    jws_verify,
    key_id,
    parse_json,
    public_key_to_jwk,
    scope_of_region,
    verify_certificate,
    verify_revocation_list,
)
from federation.signing.encoding import b64url_decode

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


def revoked_serials(issuer: str | None = None) -> frozenset[str]:
    """Serials revoked by ``issuer`` (default: the hub), from the newest list of it held here."""
    if issuer is None or issuer == hub_id():
        state = RevocationState.objects.filter(id=1).first()
    else:
        state = IssuerRevocationList.objects.filter(issuer=issuer).first()
    return frozenset(state.serials) if state else frozenset()


# --- this node's place in the tree -----------------------------------------------------------------

def own_scope() -> str:
    """The GB/T 2260 prefix this node acts within: "" (the nation) on the hub, "44" on Guangdong's node,
    "4401" on Guangzhou's, "440106" on Tianhe's."""
    return "" if identity.is_hub() else scope_of_region(settings.EXCHANGE_NODE_REGION)


def may_certify() -> bool:
    """Whether this node may certify child nodes: the hub, and a certified node above county level."""
    return identity.is_hub() or (len(own_scope()) < 6 and identity.own_certificate() is not None)


def relays() -> bool:
    """Whether this node relays what it reads into its own feed, for the nodes below (and above) it: the
    hub, and a node that has certified children. A node without children (a province of a two-level
    federation, a county) relays nothing; it starts when it approves its first child, re-reading its
    parent's feed from the start (``hub.enrolment_approve``)."""
    return identity.is_hub() or Peer.objects.filter(relation=Peer.Relation.CHILD).exists()


def parent_peer() -> Peer | None:
    """The node that certified this node (the hub for a province), once enrolment has started."""
    if identity.is_hub():
        return None
    return (Peer.objects.filter(relation=Peer.Relation.PARENT).first()
            or Peer.objects.filter(node_id=hub_id(), role=Peer.Role.HUB).first())


def children() -> list[Peer]:
    """The nodes this node certified (any status)."""
    return list(Peer.objects.filter(relation=Peer.Relation.CHILD))


def neighbours(*, exclude: str | None = None) -> list[str]:
    """Nodes next to this one in the tree that are active and reachable: its parent and its children —
    the nodes that pull its feed, and that it pushes revocations and negative lists to."""
    rows = Peer.objects.filter(status=Peer.Status.ACTIVE).exclude(base_url="")
    if identity.is_hub():
        rows = rows.filter(relation=Peer.Relation.CHILD)
    else:
        parent = parent_peer()
        rows = rows.filter(relation=Peer.Relation.CHILD) | rows.filter(node_id=parent.node_id if parent else "")
    return [node for node in rows.values_list("node_id", flat=True) if node != exclude]


def subtree(node_id: str) -> set[str]:
    """``node_id`` and every node certified below it, as far as this node knows (issuers of certificates)."""
    issued_by: dict[str, list[str]] = {}
    for node, issuer in Peer.objects.exclude(certified_by="").values_list("node_id", "certified_by"):
        issued_by.setdefault(issuer, []).append(node)
    found, todo = {node_id}, [node_id]
    while todo:
        for child in issued_by.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def depth_one_nodes() -> set[str]:
    """The hub and the nodes it certified itself: what a node speaking only the two-level protocol
    can verify."""
    return {hub_id(), *Peer.objects.filter(certified_by=hub_id()).values_list("node_id", flat=True)}


def hub_pin(*, document: Mapping[str, Any], base_url: str, expected_fingerprint: str | None,
            trust_on_first_use: bool = False, parent: bool = True) -> list[str]:
    """(Province) pin the hub's key from its (unsigned) well-known document — only the key a person
    confirmed. With ``expected_fingerprint`` (read out by the hub's operator) exactly the key with that
    fingerprint is pinned; every other hub key is taken only with a signature by a pinned key (rotation
    endorsements, the signed directory). Without it, nothing is pinned unless ``trust_on_first_use``: then
    the hub's active key alone, loudly (warning log and audit event). When hub keys are already pinned,
    the document must list one of them (a changed document is never trusted on its word). ``parent``
    False: the hub is not this node's parent (a city or county pins it through its parent's document)
    and is not pulled.

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
            defaults={"role": Peer.Role.HUB, "base_url": base_url.rstrip("/"), "pull": parent,
                      "relation": Peer.Relation.PARENT if parent else Peer.Relation.OTHER,
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


# --- certificate chains -------------------------------------------------------------------------

def _unverified_issuer(token: str) -> tuple[str, str]:
    """The ``iss`` claim and header ``kid`` of a certificate, read before it is verified (only to find
    the keys to verify it with: the claims are checked against those after the signature)."""
    try:
        header = jws_header(token)
        claims = parse_json(b64url_decode(token.split(".")[1]))
    except Exception as exc:  # noqa: BLE001 - anything malformed is an invalid certificate
        raise CertificateInvalidError(f"malformed certificate: {exc}") from exc
    if not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise CertificateInvalidError("a certificate names its issuer")
    return claims["iss"], str(header.get("kid") or "")


def _issuer_keys(issuer: str, kid: str) -> tuple[Mapping[str, Ed25519PublicKey], str | None]:
    """The keys ``issuer`` may have signed a certificate with, and the certificate of that key (None: the
    issuer is the hub, the root). Raises UnknownKeyError when the issuer's key is not known (yet)."""
    if issuer == hub_id():
        return hub_public_keys(), None
    if issuer == identity.node_id():
        own = NodeKey.objects.filter(kid=kid).exclude(certificate="").first()
        if own is None:
            raise UnknownKeyError("this node has no certificate for the key the certificate names",
                                  details={"issuer": issuer, "kid": kid})
        return {kid: jwk_to_public_key(own.public_jwk)}, own.certificate
    row = PeerKey.objects.filter(peer_id=issuer, kid=kid, anchor=False).exclude(certificate="").first()
    if row is None:
        raise UnknownKeyError("the issuer's certificate is not known here", details={"issuer": issuer, "kid": kid})
    return {kid: jwk_to_public_key(row.public_jwk)}, row.certificate


def certificate_chain(token: str) -> list[NodeCertificate]:
    """Verify a certificate and the certificates above it, as held here, up to the hub: every signature
    by the key the next certificate certifies, the last one by a pinned hub key, each scope strictly
    inside the next one's (a node certifies only inside its region). Validity periods are the caller's.
    Returns the certificates, the given one first. Raises CertificateInvalidError, UnknownKeyError (a
    certificate above it is not held here yet)."""
    certs: list[NodeCertificate] = []
    current: str | None = token
    while current is not None:
        if len(certs) == MAX_CHAIN_LENGTH:
            raise CertificateInvalidError("the certificate chain is too long")
        issuer, kid = _unverified_issuer(current)
        keys, above = _issuer_keys(issuer, kid)
        certs.append(verify_certificate(current, hub_public_keys=keys, now=None, revoked=(), hub_id=issuer))
        current = above
    check_chain_links(certs, root_id=hub_id())
    return certs


def _link_revoked(cert: NodeCertificate) -> bool:
    return cert.serial in revoked_serials(cert.issuer)


def chain_check(certs: list[NodeCertificate], *, now: datetime) -> None:
    """Whether a verified chain holds at ``now``: the node's own certificate within its validity period,
    every key above it certified at ``now`` (over the span of its certificates) and not revoked, no
    certificate of the chain on its issuer's revocation list. Raises CertificateRevokedError,
    CertificateExpiredError or CertificateNotYetValidError."""
    leaf = certs[0]
    for cert in certs:
        if _link_revoked(cert):
            raise CertificateRevokedError(details={"node_id": leaf.node_id, "revoked": cert.node_id,
                                                   "serial": cert.serial})
    if now < leaf.not_before:
        raise CertificateNotYetValidError(details={"node_id": leaf.node_id, "serial": leaf.serial})
    if now >= leaf.not_after:
        raise CertificateExpiredError(details={"node_id": leaf.node_id, "serial": leaf.serial})
    for cert in certs[1:]:
        start, end, revoked = _key_span(cert.node_id, cert.kid)
        if revoked:
            raise CertificateRevokedError(details={"node_id": leaf.node_id, "revoked": cert.node_id})
        if start is None or end is None or not start <= now < end:
            raise CertificateExpiredError("a certificate above the node's is not valid now",
                                          details={"node_id": leaf.node_id, "expired": cert.node_id})


def _key_span(node: str, kid: str) -> tuple[datetime | None, datetime | None, bool]:
    """When a key of ``node`` was certified (first certificate's start, newest one's end) and whether it
    is revoked, as held here."""
    if node == identity.node_id():
        own = NodeKey.objects.filter(kid=kid).first()
        if own is None or own.certificate_not_after is None:
            return None, None, False
        return own.created_at - timedelta(seconds=settings.FEDERATION_CLOCK_SKEW), own.certificate_not_after, False
    row = PeerKey.objects.filter(peer_id=node, kid=kid, anchor=False).select_related("peer").first()
    if row is None:
        return None, None, False
    return row.not_before, row.not_after, row.revoked or row.peer.status == Peer.Status.REVOKED


# --- resolving keys ---------------------------------------------------------------------------

def request_key(kid: str, *, now: datetime | None = None) -> tuple[Ed25519PublicKey, PeerIdentity]:
    """The public key and identity behind ``kid`` for a signed request or response: a pinned hub key, or
    a key whose certificate chain holds now (:func:`chain_check`).

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
    try:
        certs = certificate_chain(row.certificate)
    except UnknownKeyError as exc:
        raise CertificateInvalidError(f"the certificate's chain is not known here: {exc.message}") from exc
    chain_check(certs, now=now)
    cert = certs[0]
    return cert.public_key, PeerIdentity(cert.node_id, cert.role, kid)


@dataclass(frozen=True)
class EnvelopeKey:
    """The key an origin signed an envelope with, the latest time it could sign (None: no limit), and the
    nodes its certificate chain runs through (the origin first, up to the one the hub certified)."""

    public_key: Ed25519PublicKey
    valid_until: datetime | None
    chain: tuple[str, ...]


def envelope_key_of(origin: str, kid: str) -> EnvelopeKey:
    """The key ``origin`` signed an envelope with: its own (this node), a pinned hub key, or a key whose
    certificate chain was verified when it was stored and no certificate of which is revoked; it could
    sign until the earliest end of its chain's certificates.

    Raises UnknownKeyError or CertificateRevokedError."""
    if origin == identity.node_id():
        row = identity.own_key_history().get(kid)
        if row is None:
            raise UnknownKeyError(details={"origin": origin, "kid": kid})
        return EnvelopeKey(jwk_to_public_key(row.public_jwk), row.retired_at, (origin,))
    key = PeerKey.objects.filter(peer_id=origin, kid=kid).select_related("peer").first()
    if key is None:
        raise UnknownKeyError(details={"origin": origin, "kid": kid})
    if key.revoked or key.serial in revoked_serials(key.issuer or None):
        raise CertificateRevokedError(details={"origin": origin, "kid": kid})
    if key.anchor:
        return EnvelopeKey(jwk_to_public_key(key.public_jwk), key.retired_at, (origin,))
    if not key.certificate:
        raise UnknownKeyError(details={"origin": origin, "kid": kid})
    until = key.not_after
    nodes = [origin]
    for node, above_kid in key.chain or []:
        nodes.append(node)
        if node == identity.node_id():
            continue
        above = PeerKey.objects.filter(peer_id=node, kid=above_kid, anchor=False).select_related("peer").first()
        if above is None or above.revoked or above.peer.status == Peer.Status.REVOKED or (
                above.serial in revoked_serials(above.issuer or None)):
            raise CertificateRevokedError("a certificate above the origin's is revoked",
                                          details={"origin": origin, "kid": kid, "revoked": node})
        if above.not_after is not None and (until is None or above.not_after < until):
            until = above.not_after
    return EnvelopeKey(jwk_to_public_key(key.public_jwk), until, tuple(nodes))


def envelope_key(origin: str, kid: str) -> tuple[Ed25519PublicKey, datetime | None]:
    """:func:`envelope_key_of` as (key, latest time it could sign). Raises UnknownKeyError or
    CertificateRevokedError."""
    found = envelope_key_of(origin, kid)
    return found.public_key, found.valid_until


def check_envelope_time(*, origin: str, kid: str, issued_at: datetime, valid_until: datetime | None) -> None:
    """Refuse an envelope issued after its key stopped being valid (beyond the clock skew)."""
    if valid_until is not None and issued_at > valid_until + timedelta(seconds=settings.FEDERATION_CLOCK_SKEW):
        raise EnvelopeKeyNotValidError(details={"origin": origin, "kid": kid, "issued_at": issued_at.isoformat(),
                                                "key_valid_until": valid_until.isoformat()})


# --- certificates ------------------------------------------------------------------------------

def certificate_read(token: str) -> NodeCertificate:
    """Verify a certificate's signature, claims and chain up to the hub, whatever its validity period
    (historic certificates still prove which keys a node used). Raises CertificateInvalidError
    (UnknownKeyError when a certificate above it is not held here yet)."""
    return certificate_chain(token)[0]


@transaction.atomic
def certificate_store(token: str, *, base_url: str | None = None, name: str | None = None) -> NodeCertificate:
    """Take in a certificate whose chain verifies (:func:`certificate_chain`): for this node's own key,
    remember it on the key; for another node, record (or refresh) the peer, its certified key and the
    chain above it. A certificate older than the one held for the same key changes nothing.
    Raises CertificateInvalidError, UnknownKeyError (its issuer's certificate is not held here yet)."""
    certs = certificate_chain(token)
    cert = certs[0]
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
    defaults: dict[str, Any] = {"role": cert.role, "region": cert.region, "scope": cert.scope,
                                "certified_by": cert.issuer}
    url = base_url or cert.url
    if url:
        defaults["base_url"] = url.rstrip("/")
    if name is not None:
        defaults["name"] = name
    peer, created = Peer.objects.get_or_create(node_id=cert.node_id, defaults=defaults | {
        "status": Peer.Status.ACTIVE,
        "relation": Peer.Relation.CHILD if cert.issuer == identity.node_id() else Peer.Relation.OTHER})
    if not created:
        if cert.issuer == identity.node_id() and peer.relation == Peer.Relation.OTHER:
            defaults["relation"] = Peer.Relation.CHILD
        newest = PeerKey.objects.filter(peer=peer).exclude(certificate="").order_by("-not_after").first()
        if newest is not None and newest.not_after is not None and cert.not_after < newest.not_after:
            defaults.pop("certified_by")  # an older certificate does not say who certifies the node now
        changed = [f for f, v in defaults.items() if getattr(peer, f) != v]
        for f in changed:
            setattr(peer, f, defaults[f])
        if changed:
            peer.save(update_fields=changed)
    revoked = any(_link_revoked(c) for c in certs)
    chain = [[c.node_id, c.kid] for c in certs[1:]]
    key = PeerKey.objects.filter(peer=peer, kid=cert.kid).first()
    if key is None:
        PeerKey.objects.create(peer=peer, kid=cert.kid, public_jwk=cert.public_jwk, certificate=token,
                               serial=cert.serial, not_before=cert.not_before, not_after=cert.not_after,
                               revoked=revoked, issuer=cert.issuer, issuer_kid=cert.issuer_kid, scope=cert.scope,
                               chain=chain)
    elif key.not_after is None or cert.not_after > key.not_after:
        key.certificate, key.serial, key.not_after = token, cert.serial, cert.not_after
        key.not_before = min(key.not_before or cert.not_before, cert.not_before)
        key.revoked = key.revoked or revoked
        key.issuer, key.issuer_kid, key.scope, key.chain = cert.issuer, cert.issuer_kid, cert.scope, chain
        key.save(update_fields=["certificate", "serial", "not_before", "not_after", "revoked", "issuer",
                                "issuer_kid", "scope", "chain"])
    if not revoked and peer.status == Peer.Status.REVOKED and cert.not_after > timezone.now():
        # Re-enrolled with a new key after a revocation: the node is trusted again (old keys stay revoked).
        peer.status = Peer.Status.ACTIVE
        peer.save(update_fields=["status"])
    return cert


def certificates_store_all(tokens: list[str], *, hints: Mapping[str, Mapping[str, Any]] | None = None
                           ) -> dict[str, int]:
    """Take in many certificates in any order (a directory's): those whose issuer's certificate comes
    later in the list are tried again once it is in. Certificates already held are skipped. Returns counts
    (``certificates`` taken in, ``invalid`` refused: bad signature, outside the issuer's scope, or an
    issuer nobody certified)."""
    hints = hints or {}
    held = set(PeerKey.objects.exclude(certificate="").values_list("certificate", flat=True))
    held |= set(NodeKey.objects.exclude(certificate="").values_list("certificate", flat=True))
    pending = list(dict.fromkeys(t for t in tokens if isinstance(t, str) and t and t not in held))
    counts = {"certificates": 0, "invalid": 0}
    progress = True
    while pending and progress:
        progress, waiting = False, []
        for token in pending:
            try:
                node = _unverified_subject(token)
                hint = hints.get(node, {})
                certificate_store(token, base_url=hint.get("base_url") or None, name=hint.get("name"))
            except UnknownKeyError:
                waiting.append(token)
                continue
            except (CertificateInvalidError, KeyInvalidError):
                counts["invalid"] += 1
                continue
            counts["certificates"] += 1
            progress = True
        pending = waiting
    counts["invalid"] += len(pending)
    return counts


def _unverified_subject(token: str) -> str:
    try:
        claims = parse_json(b64url_decode(token.split(".")[1]))
    except Exception:  # noqa: BLE001
        return ""
    return str(claims.get("sub") or "") if isinstance(claims, dict) else ""


# --- revocations ------------------------------------------------------------------------------

def _issuer_list_keys(issuer: str) -> dict[str, Ed25519PublicKey]:
    """The keys a revocation list of ``issuer`` may be signed with: the pinned hub keys for the hub, else
    the issuer's keys whose certificate chains hold now."""
    if issuer == hub_id():
        return hub_public_keys()
    keys = {}
    for row in PeerKey.objects.filter(peer_id=issuer, anchor=False, revoked=False).exclude(certificate=""):
        try:
            public, _ = request_key(row.kid)
        except (UnknownKeyError, CertificateInvalidError, CertificateRevokedError, CertificateExpiredError,
                CertificateNotYetValidError):
            continue
        keys[row.kid] = public
    return keys


@transaction.atomic
def revocation_list_apply(token: str, *, received_from: str) -> tuple[int, int]:
    """Take in a revocation list newer than the one held of its issuer — the hub's, signed by a pinned hub
    key, or another issuer's, signed by that issuer's certified key — remember it and refuse every key
    whose certificate from that issuer it lists (and so every key certified below it).
    Returns (list number, keys newly revoked). Raises RevocationListInvalidError or
    RevocationListStaleError (not newer, or this node's own list)."""
    from federation.signing import RevocationListInvalidError

    try:
        issuer, _ = _unverified_issuer(token)
    except CertificateInvalidError as exc:
        raise RevocationListInvalidError(exc.message) from exc
    if issuer == identity.node_id():
        raise RevocationListStaleError("this node's own revocation list", details={"issuer": issuer})
    revocations = verify_revocation_list(token, _issuer_list_keys(issuer), hub_id=issuer)
    if issuer == hub_id():
        state: Any = RevocationState.objects.select_for_update().get_or_create(id=1)[0]
        issued_by = [hub_id(), ""]
    else:
        state = IssuerRevocationList.objects.select_for_update().get_or_create(issuer=issuer)[0]
        issued_by = [issuer]
    revocations.ensure_newer_than(state.number or None)
    state.number, state.token = revocations.number, token
    state.serials, state.issued_at = sorted(revocations.serials), revocations.issued_at
    state.save()
    listed = PeerKey.objects.filter(serial__in=list(revocations.serials), issuer__in=issued_by)
    newly = list(listed.filter(revoked=False).values_list("peer_id", "kid"))
    listed.update(revoked=True)
    nodes = sorted({peer_id for peer_id, _ in newly})
    for node in nodes:
        if not PeerKey.objects.filter(peer_id=node, revoked=False).exists():
            Peer.objects.filter(node_id=node).update(status=Peer.Status.REVOKED, pull=False)
    audit_record(action="federation.revocations_received", actor=received_from, object_type="revocation_list",
                 object_id=str(revocations.number),
                 data={"issuer": issuer, "serials": len(revocations.serials), "newly_revoked_nodes": nodes})
    return revocations.number, len(newly)


def revocation_lists_held() -> list[str]:
    """Every revocation list this node holds (the hub's first), to serve in its directory."""
    tokens = [state.token for state in RevocationState.objects.filter(id=1).exclude(token="")]
    tokens += list(IssuerRevocationList.objects.exclude(token="").order_by("issuer").values_list("token", flat=True))
    return tokens


def revocation_lists_apply(tokens: list[Any], *, received_from: str) -> list[str]:
    """Take in every list newer than the one held of its issuer; returns the issuers whose list changed.
    Stale and invalid lists are skipped (an issuer nobody certified signs nothing trusted)."""
    from federation.signing import RevocationListInvalidError

    changed = []
    for token in tokens:
        if not isinstance(token, str) or not token:
            continue
        try:
            revocation_list_apply(token, received_from=received_from)
        except (RevocationListStaleError, RevocationListInvalidError):
            continue
        changed.append(_unverified_issuer(token)[0])
    return changed


# --- directories ------------------------------------------------------------------------------

def directory_apply(body: Mapping[str, Any], *, received_from: str) -> dict[str, int]:
    """Take in a node's directory: from the hub also new hub keys (continuity: the response carrying them
    was signed by a pinned hub key; no other node's word adds a hub key); from any node the revocation
    lists and every certificate whose chain verifies here, and how the edges of its subtree stand.
    Returns counts. Invalid certificates are skipped (and counted), never stored."""
    counts = {"certificates": 0, "invalid": 0, "hub_keys": 0, "revocation_lists": 0}
    hub = body.get("hub") or {}
    with transaction.atomic():
        peer = Peer.objects.filter(node_id=hub_id()).first()
        if received_from == hub_id() and peer is not None and isinstance(hub.get("keys"), list):
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
    lists = ([token] if isinstance(token, str) and token else []) + [
        t for t in body.get("revocation_lists") or [] if isinstance(t, str)]
    # Certificates first (a list is signed by its issuer's certified key), then lists, then the
    # certificates again: a list may come from an issuer whose certificate only this directory brings.
    tokens: list[str] = [t for t in body.get("certificates") or [] if isinstance(t, str)]
    hints: dict[str, dict[str, Any]] = {}
    for node in body.get("nodes") or []:
        if isinstance(node, dict):
            tokens += [t for t in node.get("certificates") or [] if isinstance(t, str)]
            if isinstance(node.get("node_id"), str):
                hints[node["node_id"]] = {"base_url": node.get("base_url") if isinstance(node.get("base_url"), str)
                                          else None, "name": node.get("name") if isinstance(node.get("name"), str)
                                          else None}
    stored = certificates_store_all(tokens, hints=hints)
    counts["revocation_lists"] = len(revocation_lists_apply(lists, received_from=received_from))
    counts["certificates"], counts["invalid"] = stored["certificates"], stored["invalid"]
    _edges_apply(body.get("edges"), received_from=received_from)
    return counts


def _edges_apply(edges: Any, *, received_from: str) -> None:
    """Remember how the pulls inside ``received_from``'s subtree stand, as it reported them (monitoring
    only: shown on the operators' tree page, never used to decide anything)."""
    if not isinstance(edges, list):
        return
    below = subtree(received_from)
    for edge in edges[:5000]:
        if not isinstance(edge, dict) or edge.get("parent") not in below or edge.get("child") not in below:
            continue
        if edge.get("parent") == identity.node_id():
            continue  # this node knows its own pulls first hand
        report = {k: edge.get(k) for k in ("parent", "lag_entries", "last_success_at", "last_error_code",
                                           "status") if isinstance(edge.get(k), str | int | type(None))}
        report["reported_by"] = received_from
        Peer.objects.filter(node_id=edge["child"]).update(edge_report=report)


# --- this node's public document ------------------------------------------------------------------

def own_chain() -> list[str]:
    """This node's newest certificate and the certificates above it, up to the one the hub signed (what a
    child verifies its parent with, from the parent's public document)."""
    own = identity.own_certificate()
    if own is None:
        return []
    tokens = [own.certificate]
    current = own.certificate
    for _ in range(MAX_CHAIN_LENGTH):
        issuer, kid = _unverified_issuer(current)
        if issuer == hub_id():
            break
        try:
            _, above = _issuer_keys(issuer, kid)
        except UnknownKeyError:
            break
        if above is None:
            break
        tokens.append(above)
        current = above
    return tokens


def well_known_document() -> dict[str, Any]:
    """The public ``/.well-known/exchange-node`` document, with (below the hub) this node's certificate
    chain and the hub's pinned keys: a child verifies the chain against the hub key whose fingerprint
    its operator was given, never against this document's word."""
    document = identity.well_known_document()
    if not identity.is_hub():
        document["chain"] = own_chain()
        document["scope"] = own_scope()
        hub = document.setdefault("hub", {})
        hub["keys"] = [row.public_jwk for row in PeerKey.objects.filter(
            peer_id=hub_id(), anchor=True, revoked=False, retired_at__isnull=True)]
        hub_peer = Peer.objects.filter(node_id=hub_id()).first()
        if hub_peer is not None and hub_peer.base_url:
            hub["base_url"] = hub_peer.base_url
        parent = parent_peer()
        document["parent"] = parent.node_id if parent is not None else None
    else:
        document["scope"] = ""
    return document


def nodes_within(prefix: str) -> set[str]:
    """The nodes whose scope lies inside GB/T 2260 prefix ``prefix`` (this node included when it does)."""
    found = set(Peer.objects.filter(scope__startswith=prefix).exclude(scope="").values_list("node_id", flat=True))
    if not identity.is_hub() and own_scope().startswith(prefix):
        found.add(identity.node_id())
    return found
