"""Node certificates and revocation lists: issued by the hub, the federation's trust anchor, and (for
nodes below a province) by each node's certified parent.

A **node certificate** is a compact JWS (``typ: exchange-node-cert+jwt``) signed by its issuer's key,
with JWT-style claims::

    {"iss": issuer id, "sub": node id, "jti": serial, "iat", "nbf", "exp": unix seconds,
     "role": "province" | "city" | "county", "region": region code, "cnf": {"jwk": node public JWK},
     "scope": GB/T 2260 code prefix the node acts and certifies within (optional), "url": base URL (optional)}

``cnf.jwk`` (RFC 7800) binds the node's Ed25519 key to its identity: a peer that presents a valid
certificate and signs with that key is that node. ``scope`` works like an X.509 name constraint: "44"
(Guangdong) covers 4401 (Guangzhou) and 440106 (Tianhe); a certificate without it (the hub's province
certificates of before) has the scope of its region's province. A certificate not issued by the hub is
valid only with the certificate of its issuer's key, and so on up to a hub-signed one: a **chain**
(:func:`check_chain_links`), each scope strictly inside the one above. Certificates are short-lived; an
early withdrawal goes on the issuer's **revocation list** (``typ: exchange-revocations+jwt``)::

    {"iss": issuer id, "number": n, "iat": unix seconds, "revoked": [serial, ...]}

``number`` grows with every list an issuer signs, so a node keeps the highest it has seen per issuer and
refuses an older list (which would quietly un-revoke certificates). Unknown extra claims are ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.errors import InvalidInputError
from federation.signing.errors import (
    CertificateExpiredError,
    CertificateInvalidError,
    CertificateNotYetValidError,
    CertificateRevokedError,
    JwsInvalidError,
    KeyInvalidError,
    RevocationListInvalidError,
    RevocationListStaleError,
    UnknownKeyError,
)
from federation.signing.identifiers import is_node_id, require_aware
from federation.signing.jws import jws_sign, jws_verify
from federation.signing.keys import jwk_to_public_key, public_key_to_jwk

CERTIFICATE_TYPE = "exchange-node-cert+jwt"
REVOCATION_LIST_TYPE = "exchange-revocations+jwt"
NODE_ROLES = frozenset({"hub", "province", "city", "county"})
#: The role a certificate's scope gives its node: a province, a prefecture-level city or a county.
SCOPE_ROLES = {2: "province", 4: "city", 6: "county"}
#: Certificates between a node and the hub: county → city → province → hub at most.
MAX_CHAIN_LENGTH = 3


def scope_of_region(region: str) -> str:
    """The scope a region's node acts within: its code without the trailing ``00`` pairs (440000 → "44",
    440100 → "4401", 440106 → "440106"). Raises InvalidInputError for anything but six digits."""
    if not isinstance(region, str) or len(region) != 6 or not region.isdigit() or region.startswith("00"):
        raise InvalidInputError("region must be a six-digit GB/T 2260 code")
    scope = region
    while len(scope) > 2 and scope.endswith("00"):
        scope = scope[:-2]
    return scope


def scope_contains(outer: str, inner: str) -> bool:
    """Whether ``inner`` (a scope or a region code) lies within scope ``outer`` ("" is the whole nation)."""
    return inner.startswith(outer)


def is_scope(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) in SCOPE_ROLES and value.isdigit()


@dataclass(frozen=True)
class NodeCertificate:
    """The verified claims of a node certificate. ``kid`` is the node key's RFC 7638 thumbprint."""

    node_id: str
    role: str
    region: str
    public_jwk: dict[str, str]
    kid: str
    serial: str
    not_before: datetime
    not_after: datetime
    issuer: str
    scope: str = ""
    issuer_kid: str = ""
    url: str = ""

    @property
    def public_key(self) -> Ed25519PublicKey:
        return jwk_to_public_key(self.public_jwk)


@dataclass(frozen=True)
class RevocationList:
    """A verified revocation list; ``serial in revocation_list`` tells whether a certificate is revoked."""

    issuer: str
    number: int
    issued_at: datetime
    serials: frozenset[str]

    def __contains__(self, serial: object) -> bool:
        return serial in self.serials

    def ensure_newer_than(self, current_number: int | None) -> None:
        """Raise RevocationListStaleError unless this list is strictly newer than ``current_number``."""
        if current_number is not None and self.number <= current_number:
            raise RevocationListStaleError(details={"number": self.number, "current": current_number})


def issue_certificate(
    *,
    hub_key: Ed25519PrivateKey,
    hub_kid: str,
    hub_id: str,
    node_id: str,
    role: str,
    region: str,
    node_public_jwk: Mapping[str, Any],
    not_before: datetime,
    not_after: datetime,
    serial: str | None = None,
    scope: str | None = None,
    url: str | None = None,
) -> str:
    """Sign a certificate for ``node_id``'s key; return it as a compact JWS. ``hub_*`` name the issuer:
    the hub, or the node's certified parent.

    ``serial`` defaults to a random UUID. ``scope`` (and ``url``, the node's base URL) are written when
    given: the scope must be a prefix of ``region`` of 2, 4 or 6 digits, and ``role`` the one it gives.
    Raises InvalidInputError for a bad node id, role, region, scope or validity period, and
    KeyInvalidError for a JWK that is not a public Ed25519 key.
    """
    if not is_node_id(hub_id) or not is_node_id(node_id):
        raise InvalidInputError("hub_id and node_id must be node ids")
    if role not in NODE_ROLES:
        raise InvalidInputError(f"role must be one of {sorted(NODE_ROLES)}")
    if not isinstance(region, str) or not region:
        raise InvalidInputError("region must be a non-empty string")
    if scope is not None and (not is_scope(scope) or not region.startswith(scope) or SCOPE_ROLES[len(scope)] != role):
        raise InvalidInputError("scope must be a 2, 4 or 6 digit prefix of the region, matching the role")
    start, end = _seconds(not_before), _seconds(not_after)
    if start >= end:
        raise InvalidInputError("not_before must precede not_after")
    claims = {
        "iss": hub_id,
        "sub": node_id,
        "jti": serial or str(uuid.uuid4()),
        "iat": _seconds(datetime.now(UTC)),
        "nbf": start,
        "exp": end,
        "role": role,
        "region": region,
        "cnf": {"jwk": public_key_to_jwk(jwk_to_public_key(node_public_jwk))},
    }
    if scope is not None:
        claims["scope"] = scope
    if url:
        claims["url"] = url
    return jws_sign(claims, key=hub_key, kid=hub_kid, typ=CERTIFICATE_TYPE)


def verify_certificate(
    token: str,
    *,
    hub_public_keys: Mapping[str, Ed25519PublicKey],
    now: datetime | None,
    revoked: Container[str],
    hub_id: str | None = None,
) -> NodeCertificate:
    """Verify a node certificate against its issuer's keys (by ``kid``) at time ``now``.

    ``hub_public_keys`` are the keys the issuer may have signed with (the hub's pinned keys, or the
    issuer's certified key); ``hub_id``, when given, must be the issuer. ``revoked`` holds revoked
    serials (a :class:`RevocationList` works). ``now`` None skips the validity period (a chain's upper
    links are checked against the span their keys were certified for). The scope is the ``scope`` claim,
    or for a certificate without one the two digits of its region's province; it must be a prefix of the
    region and agree with the role. Raises CertificateInvalidError (malformed, unknown or wrong signing
    key, other issuer, bad scope), CertificateRevokedError, CertificateNotYetValidError or
    CertificateExpiredError.
    """
    try:
        header, claims = jws_verify(token, resolve_key=hub_public_keys.__getitem__, typ=CERTIFICATE_TYPE)
    except (JwsInvalidError, UnknownKeyError) as exc:
        raise CertificateInvalidError(f"not signed by a trusted hub key: {exc.message}") from exc
    issuer, node_id, serial = claims.get("iss"), claims.get("sub"), claims.get("jti")
    if not is_node_id(issuer) or not is_node_id(node_id):
        raise CertificateInvalidError("iss and sub must be node ids")
    if hub_id is not None and issuer != hub_id:
        raise CertificateInvalidError(f"issued by {issuer!r}, not by {hub_id!r}")
    if not isinstance(serial, str) or not serial:
        raise CertificateInvalidError("jti must be a non-empty string")
    role, region = claims.get("role"), claims.get("region")
    if role not in NODE_ROLES or not isinstance(region, str) or not region:
        raise CertificateInvalidError("role or region is missing or invalid")
    scope = claims.get("scope", region[:2] if role == "province" else None)
    if not is_scope(scope) or not region.startswith(scope) or SCOPE_ROLES[len(scope)] != role:
        raise CertificateInvalidError("scope must be a 2, 4 or 6 digit prefix of the region matching the role",
                                      details={"node_id": node_id, "scope": scope, "region": region})
    url = claims.get("url", "")
    if not isinstance(url, str) or len(url) > 300:
        raise CertificateInvalidError("url must be a string")
    nbf, exp = claims.get("nbf"), claims.get("exp")
    if type(nbf) is not int or type(exp) is not int or nbf >= exp:
        raise CertificateInvalidError("nbf and exp must be integers with nbf < exp")
    cnf = claims.get("cnf")
    try:
        public_key = jwk_to_public_key(cnf.get("jwk") if isinstance(cnf, dict) else None)  # type: ignore[arg-type]
    except KeyInvalidError as exc:
        raise CertificateInvalidError(f"cnf.jwk: {exc.message}") from exc
    details = {"node_id": node_id, "serial": serial}
    if serial in revoked:
        raise CertificateRevokedError(details=details)
    if now is not None:
        current = _seconds(now)
        if current < nbf:
            raise CertificateNotYetValidError(details=details)
        if current >= exp:
            raise CertificateExpiredError(details=details)
    jwk = public_key_to_jwk(public_key)
    return NodeCertificate(
        node_id=node_id,
        role=role,
        region=region,
        public_jwk=jwk,
        kid=jwk["kid"],
        serial=serial,
        not_before=datetime.fromtimestamp(nbf, UTC),
        not_after=datetime.fromtimestamp(exp, UTC),
        issuer=issuer,
        scope=scope,
        issuer_kid=str(header.get("kid") or ""),
        url=url,
    )


def check_chain_links(chain: Sequence[NodeCertificate], *, root_id: str) -> None:
    """Check how the certificates of a chain (the node's first, then its issuer's, … up to the one the
    root signed) hang together: each is issued by the next one's node with the next one's key, the last
    by ``root_id``; each scope lies strictly inside the scope of the certificate above it (the root's
    scope is the whole nation), so a node certifies only inside its own region; at most
    ``MAX_CHAIN_LENGTH`` certificates. Signatures and times are the caller's (:func:`verify_certificate`).
    Raises CertificateInvalidError."""
    if not chain or len(chain) > MAX_CHAIN_LENGTH:
        raise CertificateInvalidError("a certificate chain has 1 to 3 certificates")
    for child, parent in zip(chain, chain[1:], strict=False):
        if child.issuer != parent.node_id or child.issuer_kid != parent.kid:
            raise CertificateInvalidError("a certificate is not issued by the next one's key",
                                          details={"node_id": child.node_id, "issuer": child.issuer})
        if len(child.scope) <= len(parent.scope) or not scope_contains(parent.scope, child.scope):
            raise CertificateInvalidError(
                f"{parent.node_id} (scope {parent.scope}) certified {child.node_id} outside its scope "
                f"({child.scope})", details={"issuer": parent.node_id, "issuer_scope": parent.scope,
                                              "node_id": child.node_id, "scope": child.scope})
    if chain[-1].issuer != root_id:
        raise CertificateInvalidError("the chain does not end at the hub", details={"issuer": chain[-1].issuer})


def issue_revocation_list(
    *,
    hub_key: Ed25519PrivateKey,
    hub_kid: str,
    hub_id: str,
    serials: Iterable[str],
    number: int,
    issued_at: datetime,
) -> str:
    """Sign the list of revoked certificate serials as revocation list ``number`` (a positive integer);
    ``hub_*`` name the issuer (the hub, or a parent revoking certificates it issued).

    Raises InvalidInputError for a bad hub id, number or serial.
    """
    unique = sorted(set(serials))
    if not is_node_id(hub_id):
        raise InvalidInputError("hub_id must be a node id")
    if type(number) is not int or number < 1:
        raise InvalidInputError("number must be a positive integer")
    if not all(isinstance(serial, str) and serial for serial in unique):
        raise InvalidInputError("serials must be non-empty strings")
    claims = {"iss": hub_id, "number": number, "iat": _seconds(issued_at), "revoked": unique}
    return jws_sign(claims, key=hub_key, kid=hub_kid, typ=REVOCATION_LIST_TYPE)


def verify_revocation_list(
    token: str,
    hub_public_keys: Mapping[str, Ed25519PublicKey],
    *,
    hub_id: str | None = None,
) -> RevocationList:
    """Verify a revocation list against its issuer's keys; ``hub_id``, when given, must be its issuer.

    Whether it may replace the list already held is :meth:`RevocationList.ensure_newer_than`'s call.
    Raises RevocationListInvalidError.
    """
    try:
        _, claims = jws_verify(token, resolve_key=hub_public_keys.__getitem__, typ=REVOCATION_LIST_TYPE)
    except (JwsInvalidError, UnknownKeyError) as exc:
        raise RevocationListInvalidError(f"not signed by a trusted hub key: {exc.message}") from exc
    issuer, number, iat, serials = (
        claims.get("iss"),
        claims.get("number"),
        claims.get("iat"),
        claims.get("revoked"),
    )
    if not is_node_id(issuer) or (hub_id is not None and issuer != hub_id):
        raise RevocationListInvalidError("issued by an unexpected hub")
    if type(number) is not int or number < 1 or type(iat) is not int:
        raise RevocationListInvalidError("number and iat must be integers, number positive")
    if not isinstance(serials, list) or not all(isinstance(s, str) and s for s in serials):
        raise RevocationListInvalidError("revoked must be a list of serials")
    return RevocationList(
        issuer=issuer,
        number=number,
        issued_at=datetime.fromtimestamp(iat, UTC),
        serials=frozenset(serials),
    )


def _seconds(moment: datetime) -> int:
    """Unix seconds of an aware datetime; refuses naive ones (raised as InvalidInputError)."""
    try:
        return int(require_aware(moment).timestamp())
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
