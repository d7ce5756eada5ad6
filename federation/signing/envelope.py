"""Signed record envelopes: how a record travels from its origin to every node, unaltered.

An envelope is a JSON object with exactly these members::

    {"v": 1, "kind": "upsert", "origin": "cn-44", "id": "<record uuid>", "version": 7,
     "issued_at": "2025-03-01T08:00:00Z", "kid": "<origin key id>", "payload": {<record>},
     "sig": "<base64url Ed25519 signature>"}

``sig`` signs the RFC 8785 canonical JSON of all the other members, so the signature covers the
origin, id, version and kind as well as the record. Relays (the hub) store and forward the object
unchanged; every receiver verifies it with the key of the node named in ``origin``, so a relay can
neither alter a province's record nor pass off its own record as another node's.

Signed bytes start with ``{`` while HTTP signature bases start with ``"`` and JWS signing inputs
with base64url text, so a node key signing all three can never have one signature reused as another.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from federation.signing.canonical import canonical_json, parse_json
from federation.signing.encoding import b64url_decode, b64url_encode
from federation.signing.errors import (
    CanonicalJsonError,
    EnvelopeMalformedError,
    EnvelopeSignatureError,
    EnvelopeTooLargeError,
    UnknownKeyError,
)
from federation.signing.identifiers import (
    format_timestamp,
    is_canonical_uuid,
    is_key_id,
    is_node_id,
    parse_timestamp,
)
from federation.signing.keys import SigningKey, key_id

ENVELOPE_FORMAT = 1
ENVELOPE_KINDS = frozenset({"upsert", "tombstone", "takedown", "rights", "reinstate"})
ENVELOPE_FIELDS = frozenset({"v", "kind", "origin", "id", "version", "issued_at", "kid", "payload", "sig"})
#: The most one envelope may weigh (its canonical bytes, signature included): far below a feed page
#: (16 MiB) and a response (64 MiB), so a relay can always serve every envelope it accepted.
MAX_ENVELOPE_BYTES = 256 * 1024
#: Payload members this version does not know (a later v1 addition) may weigh this much together.
MAX_UNKNOWN_MEMBERS_BYTES = 4096
#: Payload members of v1, per kind (a record; a withdrawal; the hub's orders).
RECORD_MEMBERS = frozenset({
    "id", "title", "description", "keywords", "stage", "subject", "grade", "edition", "volume", "chapter",
    "section", "resource_type", "language", "textbook_id", "publisher", "province", "created_at",
    "updated_at", "published_at", "rights", "files"})
TOMBSTONE_MEMBERS = frozenset({"id", "reason", "stage", "subject", "withdrawn_at"})
ORDER_MEMBERS = TOMBSTONE_MEMBERS | {"target_origin", "target_version", "note", "reinstated_at"}
PAYLOAD_MEMBERS = {"upsert": RECORD_MEMBERS, "rights": RECORD_MEMBERS, "tombstone": TOMBSTONE_MEMBERS,
                   "takedown": ORDER_MEMBERS, "reinstate": ORDER_MEMBERS}

ResolveOriginKey = Callable[[str, str], Ed25519PublicKey]


@dataclass(frozen=True)
class VerifiedEnvelope:
    """An envelope whose structure and origin signature have been checked.

    ``envelope`` is a private copy of the object as received (``payload`` is its member, not a
    copy: neither is to be changed); ``canonical`` is its canonical JSON, the bytes to store and relay,
    and ``content_hash`` their SHA-256.
    """

    kind: str
    origin: str
    id: str
    version: int
    issued_at: datetime
    kid: str
    payload: dict[str, Any]
    envelope: dict[str, Any]
    content_hash: str
    canonical: bytes


def sign_envelope(
    *,
    record: Mapping[str, Any],
    kind: str,
    origin: str,
    version: int,
    signing_key: SigningKey,
    issued_at: datetime | None = None,
) -> dict[str, Any]:
    """Wrap ``record`` (which must carry its ``id``) in an envelope signed by the origin's key.

    Raises EnvelopeMalformedError when an argument would produce an envelope receivers refuse
    (unknown kind, bad node id or uuid, non-positive version, floats in the record …).
    """
    envelope, _ = sign_envelope_canonical(record=record, kind=kind, origin=origin, version=version,
                                          signing_key=signing_key, issued_at=issued_at)
    return envelope


def sign_envelope_canonical(
    *,
    record: Mapping[str, Any],
    kind: str,
    origin: str,
    version: int,
    signing_key: SigningKey,
    issued_at: datetime | None = None,
) -> tuple[dict[str, Any], bytes]:
    """:func:`sign_envelope`, also returning the signed envelope's canonical bytes (what
    :func:`envelope_to_bytes` gives: the form stored, hashed and relayed) without serialising it again."""
    try:
        timestamp = format_timestamp(issued_at or datetime.now(UTC))
    except ValueError as exc:
        raise EnvelopeMalformedError(str(exc)) from exc
    unsigned: dict[str, Any] = {
        "v": ENVELOPE_FORMAT,
        "kind": kind,
        "origin": origin,
        "id": record.get("id") if isinstance(record, dict) else None,
        "version": version,
        "issued_at": timestamp,
        "kid": signing_key.kid,
        "payload": record,
    }
    placeholder = b64url_encode(bytes(64))
    try:
        signing_input, canonical, _, _ = _check_structure({**unsigned, "sig": placeholder})
    except EnvelopeMalformedError as exc:
        if isinstance(exc.__cause__, CanonicalJsonError):  # only the record can be: the rest is built here
            raise EnvelopeMalformedError(f"record is not canonical JSON: {exc.message}") from exc.__cause__
        raise
    sig = b64url_encode(signing_key.sign(signing_input))
    # A signature has the placeholder's length and alphabet, so the envelope's canonical bytes are the
    # checked ones with the signature's text in the placeholder's place (the "sig" member comes just
    # before the integer members "v" and "version"; see _check_structure).
    member = b',"sig":"%s"' % placeholder.encode("ascii")
    cut = canonical.rindex(member)
    canonical = canonical[:cut] + b',"sig":"%s"' % sig.encode("ascii") + canonical[cut + len(member):]
    # The envelope as every receiver parses it (JSON types only: tuples become lists, subclasses their
    # type). Canonical bytes of a Python object hold no duplicate keys, no NaN and no nesting beyond
    # MAX_DEPTH (canonical_json refused those), so the plain parser gives what the strict one would.
    return json.loads(canonical), canonical


def verify_envelope(envelope: Mapping[str, Any], *, resolve_key: ResolveOriginKey) -> VerifiedEnvelope:
    """Check ``envelope``'s structure, then its signature with the origin's key.

    ``resolve_key(origin, kid)`` returns the public key the origin node signs with under ``kid``, or
    raises UnknownKeyError (a ``KeyError`` is treated the same). Raises EnvelopeMalformedError,
    UnknownKeyError (also when the resolved key's thumbprint is not ``kid``) or EnvelopeSignatureError.
    """
    canonical, content_hash, issued_at = check_envelope(envelope, resolve_key=resolve_key)
    # A private copy of exactly what was verified.
    return verified_envelope(json.loads(canonical), canonical=canonical, content_hash=content_hash, issued_at=issued_at)


def check_envelope(envelope: Mapping[str, Any], *, resolve_key: ResolveOriginKey) -> tuple[bytes, str, datetime]:
    """What :func:`verify_envelope` checks, without building its result: returns the envelope's
    canonical bytes, their SHA-256 and ``issued_at`` (verification workers send back only these)."""
    signing_input, canonical, issued_at, signature = _check_structure(envelope)
    origin, kid = envelope["origin"], envelope["kid"]
    try:
        public_key = resolve_key(origin, kid)
    except KeyError as exc:
        raise UnknownKeyError(details={"origin": origin, "kid": kid}) from exc
    thumbprint, verifier = _verifier_of(public_key)
    if thumbprint != kid:
        raise UnknownKeyError("resolved key does not match kid", details={"origin": origin, "kid": kid})
    try:
        verifier.verify(signing_input, signature)
    except BadSignatureError as exc:
        raise EnvelopeSignatureError(details={"origin": origin, "id": envelope["id"]}) from exc
    return canonical, hashlib.sha256(canonical).hexdigest(), issued_at


def verified_envelope(envelope: dict[str, Any], *, canonical: bytes, content_hash: str, issued_at: datetime
                      ) -> VerifiedEnvelope:
    """The VerifiedEnvelope of an envelope :func:`check_envelope` accepted. ``envelope`` must be the
    object checked or an exact copy of it (such as the parent's own object, of which a worker
    checked a pickled copy), and is kept, not copied: nothing may change it afterwards."""
    return VerifiedEnvelope(
        kind=envelope["kind"],
        origin=envelope["origin"],
        id=envelope["id"],
        version=envelope["version"],
        issued_at=issued_at,
        kid=envelope["kid"],
        payload=envelope["payload"],
        envelope=envelope,
        content_hash=content_hash,
        canonical=canonical,
    )


_verifiers: dict[bytes, tuple[str, VerifyKey]] = {}


def _verifier_of(public_key: Ed25519PublicKey) -> tuple[str, VerifyKey]:
    """The key's RFC 7638 thumbprint and a libsodium verifier for it, remembered per key (a page
    holds thousands of envelopes of one key; libsodium verifies Ed25519 about a third faster)."""
    raw = public_key.public_bytes_raw()
    known = _verifiers.get(raw)
    if known is None:
        if len(_verifiers) >= 4096:
            _verifiers.clear()
        known = _verifiers[raw] = (key_id(public_key), VerifyKey(raw))
    return known


def envelope_hash(envelope: Mapping[str, Any]) -> str:
    """Return the SHA-256 hex digest of the whole envelope's canonical JSON (signature included).

    Raises EnvelopeMalformedError when the envelope is not canonical-JSON serializable.
    """
    return hashlib.sha256(envelope_to_bytes(envelope)).hexdigest()


def envelope_to_bytes(envelope: Mapping[str, Any]) -> bytes:
    """Serialize an envelope as canonical JSON: the form to store, hash and compare."""
    try:
        return canonical_json(dict(envelope))
    except CanonicalJsonError as exc:
        raise EnvelopeMalformedError(exc.message) from exc


def envelope_from_bytes(data: bytes) -> dict[str, Any]:
    """Parse an envelope stored by :func:`envelope_to_bytes`; refuse any other spelling of it.

    Only the canonical bytes are accepted, so stored bytes and their content hash always agree.
    The result still needs :func:`verify_envelope`. Raises EnvelopeMalformedError.
    """
    try:
        envelope = parse_json(data)
    except CanonicalJsonError as exc:
        raise EnvelopeMalformedError(exc.message) from exc
    if not isinstance(envelope, dict):
        raise EnvelopeMalformedError("an envelope is a JSON object")
    if envelope_to_bytes(envelope) != data:
        raise EnvelopeMalformedError("envelope bytes are not in canonical form")
    return envelope


def _check_structure(envelope: Mapping[str, Any]) -> tuple[bytes, bytes, datetime, bytes]:
    """Refuse anything but an exact v1 envelope. Return the canonical bytes its signature covers,
    the canonical bytes of the whole envelope (what is stored, hashed and relayed), issued_at and
    the signature."""

    if not isinstance(envelope, Mapping):
        raise EnvelopeMalformedError("an envelope is a JSON object")
    if set(envelope) != ENVELOPE_FIELDS:
        missing, extra = ENVELOPE_FIELDS - set(envelope), set(envelope) - ENVELOPE_FIELDS
        details = {"missing": sorted(missing), "extra": sorted(map(str, extra))}
        raise EnvelopeMalformedError("envelope members differ from v1", details=details)
    if type(envelope["v"]) is not int or envelope["v"] != ENVELOPE_FORMAT:
        raise EnvelopeMalformedError(f"unsupported envelope format {envelope['v']!r}")
    if envelope["kind"] not in ENVELOPE_KINDS or type(envelope["kind"]) is not str:
        raise EnvelopeMalformedError(f"unknown envelope kind {envelope['kind']!r}")
    if not is_node_id(envelope["origin"]):
        raise EnvelopeMalformedError("origin is not a node id")
    if not is_canonical_uuid(envelope["id"]):
        raise EnvelopeMalformedError("id is not a canonical lowercase UUID")
    if type(envelope["version"]) is not int or envelope["version"] < 1:
        raise EnvelopeMalformedError("version must be a positive integer")
    try:
        issued_at = parse_timestamp(envelope["issued_at"])
    except ValueError as exc:
        raise EnvelopeMalformedError(f"issued_at: {exc}") from exc
    if not is_key_id(envelope["kid"]):
        raise EnvelopeMalformedError("kid is not an RFC 7638 thumbprint")
    payload = envelope["payload"]
    if not isinstance(payload, dict) or payload.get("id") != envelope["id"]:
        raise EnvelopeMalformedError("payload must be an object whose id equals the envelope id")
    sig = envelope["sig"]
    try:
        signature = b64url_decode(sig)
        if len(signature) != 64:
            raise ValueError("wrong length")
    except ValueError as exc:
        raise EnvelopeMalformedError("sig is not a base64url Ed25519 signature") from exc
    try:
        canonical = canonical_json(dict(envelope))
    except CanonicalJsonError as exc:
        raise EnvelopeMalformedError(exc.message) from exc
    if len(canonical) > MAX_ENVELOPE_BYTES:
        raise EnvelopeTooLargeError(details={"bytes": len(canonical), "max_bytes": MAX_ENVELOPE_BYTES,
                                             "origin": envelope["origin"], "id": envelope["id"]})
    unknown = {k: v for k, v in payload.items() if k not in PAYLOAD_MEMBERS[envelope["kind"]]}
    if unknown and len(canonical_json(unknown)) > MAX_UNKNOWN_MEMBERS_BYTES:
        raise EnvelopeTooLargeError("The envelope carries unknown members heavier than the protocol allows.",
                                    details={"members": sorted(unknown)[:20], "max_bytes": MAX_UNKNOWN_MEMBERS_BYTES,
                                             "origin": envelope["origin"], "id": envelope["id"]})
    # Members sort as id, issued_at, kid, kind, origin, payload, sig, v, version, and only integers
    # follow "sig": the canonical bytes without "sig" are those bytes with that one member cut out
    # (the same bytes canonical_json gives for the envelope without "sig", without serialising twice).
    member, tail = b',"sig":"' + sig.encode("ascii") + b'"', b',"v":%d,"version":%d}' % (ENVELOPE_FORMAT,
                                                                                        envelope["version"])
    if not canonical.endswith(member + tail):  # pragma: no cover - guarded by the checks above
        raise EnvelopeMalformedError("envelope does not serialise as a v1 envelope")
    return canonical[: -len(member) - len(tail)] + tail, canonical, issued_at, signature
