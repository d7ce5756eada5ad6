"""Node certificates and revocation lists issued by the hub, the federation's trust anchor.

A **node certificate** is a compact JWS (``typ: exchange-node-cert+jwt``) signed by a hub key, with
JWT-style claims::

    {"iss": hub id, "sub": node id, "jti": serial, "iat", "nbf", "exp": unix seconds,
     "role": "hub" | "province", "region": region code, "cnf": {"jwk": node public JWK}}

``cnf.jwk`` (RFC 7800) binds the node's Ed25519 key to its identity: a peer that presents a valid
certificate and signs with that key is that node. Certificates are short-lived; an early withdrawal
goes on the hub's **revocation list** (``typ: exchange-revocations+jwt``)::

    {"iss": hub id, "number": n, "iat": unix seconds, "revoked": [serial, ...]}

``number`` grows with every list the hub issues, so a node keeps the highest it has seen and refuses
an older list (which would quietly un-revoke certificates). Unknown extra claims are ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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
NODE_ROLES = frozenset({"hub", "province"})


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
) -> str:
    """Sign a certificate for ``node_id``'s key; return it as a compact JWS.

    ``serial`` defaults to a random UUID. Raises InvalidInputError for a bad node id, role, region or
    validity period, and KeyInvalidError for a JWK that is not a public Ed25519 key.
    """
    if not is_node_id(hub_id) or not is_node_id(node_id):
        raise InvalidInputError("hub_id and node_id must be node ids")
    if role not in NODE_ROLES:
        raise InvalidInputError(f"role must be one of {sorted(NODE_ROLES)}")
    if not isinstance(region, str) or not region:
        raise InvalidInputError("region must be a non-empty string")
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
    return jws_sign(claims, key=hub_key, kid=hub_kid, typ=CERTIFICATE_TYPE)


def verify_certificate(
    token: str,
    *,
    hub_public_keys: Mapping[str, Ed25519PublicKey],
    now: datetime,
    revoked: Container[str],
    hub_id: str | None = None,
) -> NodeCertificate:
    """Verify a node certificate against the trusted hub keys (by ``kid``) at time ``now``.

    ``hub_id``, when given, must be the issuer. ``revoked`` holds revoked serials (a
    :class:`RevocationList` works). Raises CertificateInvalidError (malformed, unknown or wrong
    signing key, other issuer), CertificateRevokedError, CertificateNotYetValidError or
    CertificateExpiredError.
    """
    try:
        _, claims = jws_verify(token, resolve_key=hub_public_keys.__getitem__, typ=CERTIFICATE_TYPE)
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
    )


def issue_revocation_list(
    *,
    hub_key: Ed25519PrivateKey,
    hub_kid: str,
    hub_id: str,
    serials: Iterable[str],
    number: int,
    issued_at: datetime,
) -> str:
    """Sign the list of revoked certificate serials as revocation list ``number`` (a positive integer).

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
    """Verify a revocation list against the trusted hub keys; ``hub_id``, when given, must be its issuer.

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
