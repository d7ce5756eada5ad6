"""Compact JWS (RFC 7515) signed with Ed25519 (``alg: EdDSA``, RFC 8037).

The hub signs node certificates and revocation lists as compact JWS so they are self-contained
strings a node can store, forward and show to peers. Only ``EdDSA`` is accepted, whatever the
header says (no algorithm negotiation, so no "alg: none" or key-confusion downgrade); ``crit``
extensions are refused because this code understands none; keys come only from the caller's trust
store, never from ``jwk``/``jku``/``x5u`` header members. Header and payload are emitted as RFC 8785
canonical JSON, and every token states its ``typ`` (RFC 8725 §3.11) so one kind of token can never be
accepted as another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from federation.signing.canonical import canonical_json, parse_json
from federation.signing.encoding import b64url_decode, b64url_encode
from federation.signing.errors import CanonicalJsonError, JwsInvalidError, UnknownKeyError

JWS_ALGORITHM = "EdDSA"


def jws_sign(payload: Mapping[str, Any], *, key: Ed25519PrivateKey, kid: str, typ: str) -> str:
    """Return ``payload`` signed as a compact JWS with header ``{"alg": "EdDSA", "kid", "typ"}``.

    Raises CanonicalJsonError when the payload holds floats or other non-canonical values.
    """
    header = {"alg": JWS_ALGORITHM, "kid": kid, "typ": typ}
    signing_input = f"{b64url_encode(canonical_json(header))}.{b64url_encode(canonical_json(dict(payload)))}"
    signature = key.sign(signing_input.encode("ascii"))
    return f"{signing_input}.{b64url_encode(signature)}"


def jws_verify(
    token: str,
    *,
    resolve_key: Callable[[str], Ed25519PublicKey],
    typ: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS whose key is named by its ``kid``; return ``(header, payload)``.

    ``resolve_key(kid)`` returns a trusted public key or raises UnknownKeyError (or ``KeyError``).
    When ``typ`` is given the header's ``typ`` must equal it. Raises JwsInvalidError or
    UnknownKeyError.
    """
    header = jws_header(token)
    if typ is not None and header.get("typ") != typ:
        raise JwsInvalidError(f"expected a token of type {typ!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JwsInvalidError("header kid must be a non-empty string")
    try:
        public_key = resolve_key(kid)
    except KeyError as exc:
        raise UnknownKeyError(details={"kid": kid}) from exc
    _, payload_bytes = jws_verify_compact(token, public_key)
    try:
        payload = parse_json(payload_bytes)
    except CanonicalJsonError as exc:
        raise JwsInvalidError("payload is not JSON") from exc
    if not isinstance(payload, dict):
        raise JwsInvalidError("payload must be a JSON object")
    return header, payload


def jws_verify_compact(token: str, public_key: Ed25519PublicKey) -> tuple[dict[str, Any], bytes]:
    """Verify a compact EdDSA JWS against one given key; return its header and raw payload bytes.

    This is the signature check alone, for callers that already know the key. Raises JwsInvalidError.
    """
    header = jws_header(token)
    signing_input, _, encoded_signature = token.rpartition(".")
    try:
        signature = b64url_decode(encoded_signature)
        payload = b64url_decode(signing_input.partition(".")[2])
    except ValueError as exc:
        raise JwsInvalidError("token parts are not base64url") from exc
    try:
        public_key.verify(signature, signing_input.encode("ascii"))
    except InvalidSignature as exc:
        raise JwsInvalidError("signature does not verify", details={"kid": header.get("kid")}) from exc
    return header, payload


def jws_header(token: str) -> dict[str, Any]:
    """Decode and check a token's protected header **without** verifying its signature.

    Useful to pick the key to verify with. Raises JwsInvalidError when the token is not three
    base64url parts, the header is not a JSON object, ``alg`` is not ``EdDSA``, or ``crit`` is present.
    """
    if not isinstance(token, str) or not token.isascii() or token.count(".") != 2:
        raise JwsInvalidError("a compact JWS has three dot-separated parts")
    try:
        header = parse_json(b64url_decode(token.partition(".")[0]))
    except (ValueError, CanonicalJsonError) as exc:
        raise JwsInvalidError("header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise JwsInvalidError("header must be a JSON object")
    if header.get("alg") != JWS_ALGORITHM:
        raise JwsInvalidError(f"alg must be {JWS_ALGORITHM}")
    if "crit" in header:
        raise JwsInvalidError("critical header extensions are not supported")
    return header
