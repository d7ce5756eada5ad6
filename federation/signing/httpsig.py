"""Signed node-to-node HTTP: the protocol v1 profile of RFC 9421 with RFC 9530 content digests.

Every federation request carries::

    Content-Digest: sha-256=:<base64 SHA-256 of the body>:          (empty body for GET)
    Signature-Input: sig1=("@method" "@target-uri" "content-digest");created=<unix s>;keyid="<kid>";nonce="<random>";alg="ed25519"
    Signature: sig1=:<base64 Ed25519 signature>:

and every response is bound to the request it answers (RFC 9421 §2.4)::

    Signature-Input: sig1=("@status" "content-digest" "@method";req "@target-uri";req "signature";req;key="sig1");created=…;keyid="…";alg="ed25519"

A response therefore cannot be replayed to another request: it covers the request's own signature,
which covers that request's unique nonce. Requests are refused when ``created`` is more than
``max_skew`` seconds from the verifier's clock, or when their nonce was already seen for the key;
nonces are recorded only after the signature verifies, so unsigned junk cannot fill the nonce store.

``@target-uri`` is the absolute URL the client used. A verifier behind a reverse proxy must pass
the externally visible URL (in Django, ``request.build_absolute_uri()`` with the proxy headers
configured), or every signature will fail.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from federation.signing.errors import (
    DigestMismatchError,
    ReplayedRequestError,
    SignatureExpiredError,
    SignatureInvalidError,
    SignatureMissingError,
    UnknownKeyError,
)
from federation.signing.identifiers import require_aware
from federation.signing.sigbase import ComponentError, HttpMessage, signature_base
from federation.signing.structured import (
    BareItem,
    InnerList,
    Item,
    StructuredFieldError,
    parse_dictionary,
    serialize_dictionary,
    serialize_member,
)

SIGNATURE_LABEL = "sig1"
ALGORITHM = "ed25519"
DEFAULT_MAX_SKEW = 300
#: Components every request signature must cover (extra headers may be covered too).
REQUEST_COMPONENTS: tuple[Item, ...] = (Item("@method"), Item("@target-uri"), Item("content-digest"))
#: Components every response signature must cover, binding it to the request's method, URI and signature.
RESPONSE_COMPONENTS: tuple[Item, ...] = (
    Item("@status"),
    Item("content-digest"),
    Item("@method", {"req": True}),
    Item("@target-uri", {"req": True}),
    Item("signature", {"req": True, "key": SIGNATURE_LABEL}),
)
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_ALLOWED_PARAMS = frozenset({"created", "expires", "keyid", "nonce", "alg"})
_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda data: hashlib.sha256(data).digest(),
    "sha-512": lambda data: hashlib.sha512(data).digest(),
}

ResolveKey = Callable[[str], Ed25519PublicKey]
NonceSeen = Callable[[str, str, datetime], bool]
Headers = Mapping[str, str]


def content_digest(body: bytes) -> str:
    """Return the RFC 9530 ``Content-Digest`` value of ``body``: ``sha-256=:<base64>:``."""
    return serialize_dictionary({"sha-256": Item(hashlib.sha256(body).digest())})


def sign_request(
    *,
    method: str,
    url: str,
    headers: Headers,
    body: bytes,
    key: Ed25519PrivateKey,
    kid: str,
    created: datetime | None = None,
    nonce: str | None = None,
    extra_components: Sequence[str] = (),
) -> dict[str, str]:
    """Sign a request; return the ``Content-Digest``, ``Signature-Input`` and ``Signature`` headers to add.

    ``extra_components`` names further headers of ``headers`` to cover (e.g. ``"content-type"``).
    Any ``Content-Digest`` already in ``headers`` is replaced by the digest of ``body``.
    """
    digest = content_digest(body)
    message = HttpMessage.request(method, url, {**_without_digest(headers), "content-digest": digest})
    covered = [*REQUEST_COMPONENTS, *(Item(name.lower()) for name in extra_components)]
    params: dict[str, BareItem] = {
        "created": _timestamp(created),
        "keyid": kid,
        "nonce": nonce if nonce is not None else secrets.token_urlsafe(24),
        "alg": ALGORITHM,
    }
    return {"Content-Digest": digest, **_sign(covered, params, message, None, key)}


def verify_request(
    *,
    method: str,
    url: str,
    headers: Headers,
    body: bytes,
    resolve_key: ResolveKey,
    nonce_seen: NonceSeen,
    now: datetime | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
) -> str:
    """Verify a signed request and return the signer's key id.

    ``resolve_key(kid)`` returns the peer's public key or raises UnknownKeyError (a ``KeyError`` is
    treated the same). ``nonce_seen(kid, nonce, expires_at)`` returns True when the nonce was already
    recorded for the key, and records it otherwise; it may forget it after ``expires_at``, when the
    ``created`` check alone refuses the request.

    Raises SignatureMissingError, SignatureInvalidError (malformed, wrong ``alg``, required component
    not covered, bad signature), SignatureExpiredError, UnknownKeyError, DigestMismatchError or
    ReplayedRequestError.
    """
    message = HttpMessage.request(method, url, headers)
    kid, params = _verify(message, None, REQUEST_COMPONENTS, resolve_key, now, max_skew)
    _check_digest(message, body)
    nonce = params.get("nonce")
    if not isinstance(nonce, str) or not _NONCE_RE.fullmatch(nonce):
        raise SignatureInvalidError("requests must carry a nonce of 16-128 base64url characters")
    expires_at = datetime.fromtimestamp(int(params["created"]), UTC) + timedelta(seconds=max_skew)
    if nonce_seen(kid, nonce, expires_at):
        raise ReplayedRequestError(details={"keyid": kid})
    return kid


def sign_response(
    *,
    status: int,
    headers: Headers,
    body: bytes,
    request_method: str,
    request_url: str,
    request_headers: Headers,
    key: Ed25519PrivateKey,
    kid: str,
    created: datetime | None = None,
) -> dict[str, str]:
    """Sign a response to a signed request; return ``Content-Digest``, ``Signature-Input``, ``Signature``.

    ``request_headers`` are the headers of the request being answered, including its ``Signature``.
    """
    digest = content_digest(body)
    message = HttpMessage.response(status, {**_without_digest(headers), "content-digest": digest})
    request = HttpMessage.request(request_method, request_url, request_headers)
    params: dict[str, BareItem] = {"created": _timestamp(created), "keyid": kid, "alg": ALGORITHM}
    return {"Content-Digest": digest, **_sign(list(RESPONSE_COMPONENTS), params, message, request, key)}


def verify_response(
    *,
    status: int,
    headers: Headers,
    body: bytes,
    request_method: str,
    request_url: str,
    request_headers: Headers,
    resolve_key: ResolveKey,
    now: datetime | None = None,
    max_skew: int = DEFAULT_MAX_SKEW,
) -> str:
    """Verify that a response was signed by a known peer for *this* request; return the peer's key id.

    ``request_headers`` are the headers the client sent, including the ``Signature`` it computed.
    Raises the same errors as :func:`verify_request`, except ReplayedRequestError.
    """
    message = HttpMessage.response(status, headers)
    request = HttpMessage.request(request_method, request_url, request_headers)
    kid, _ = _verify(message, request, RESPONSE_COMPONENTS, resolve_key, now, max_skew)
    _check_digest(message, body)
    return kid


def _sign(
    covered: list[Item],
    params: dict[str, BareItem],
    message: HttpMessage,
    request: HttpMessage | None,
    key: Ed25519PrivateKey,
) -> dict[str, str]:
    signature = key.sign(signature_base(covered, params, message, request))
    return {
        "Signature-Input": serialize_dictionary({SIGNATURE_LABEL: InnerList(covered, params)}),
        "Signature": serialize_dictionary({SIGNATURE_LABEL: Item(signature)}),
    }


def _verify(
    message: HttpMessage,
    request: HttpMessage | None,
    required: Sequence[Item],
    resolve_key: ResolveKey,
    now: datetime | None,
    max_skew: int,
) -> tuple[str, dict[str, BareItem]]:
    """Check one ``sig1`` signature of ``message`` against our profile; return its key id and params."""
    covered, params, signature = _parse_signature(message)
    kid = _check_params(params, now, max_skew)
    identifiers = {serialize_member(item) for item in covered}
    missing = [serialize_member(item) for item in required if serialize_member(item) not in identifiers]
    if missing:
        raise SignatureInvalidError(f"signature does not cover {', '.join(missing)}")
    try:
        public_key = resolve_key(kid)
    except KeyError as exc:
        raise UnknownKeyError(details={"keyid": kid}) from exc
    try:
        base = signature_base(covered, params, message, request)
    except ComponentError as exc:
        raise SignatureInvalidError(f"cannot rebuild the signature base: {exc}") from exc
    try:
        public_key.verify(signature, base)
    except InvalidSignature as exc:
        raise SignatureInvalidError("signature does not verify", details={"keyid": kid}) from exc
    return kid, params


def _parse_signature(message: HttpMessage) -> tuple[list[Item], dict[str, BareItem], bytes]:
    raw_input = message.headers.get("signature-input")
    raw_signature = message.headers.get("signature")
    if raw_input is None or raw_signature is None:
        raise SignatureMissingError("Signature-Input and Signature headers are required")
    try:
        inputs = parse_dictionary(raw_input)
        signatures = parse_dictionary(raw_signature)
    except StructuredFieldError as exc:
        raise SignatureInvalidError(f"malformed signature headers: {exc}") from exc
    if SIGNATURE_LABEL not in inputs or SIGNATURE_LABEL not in signatures:
        raise SignatureMissingError(f"no signature labelled {SIGNATURE_LABEL}")
    signature_input = inputs[SIGNATURE_LABEL]
    signature = signatures[SIGNATURE_LABEL]
    if not isinstance(signature_input, InnerList):
        raise SignatureInvalidError("Signature-Input member must be an inner list")
    if (
        not isinstance(signature, Item)
        or not isinstance(signature.value, bytes)
        or len(signature.value) != 64
    ):
        raise SignatureInvalidError("Signature member must be a 64-byte byte sequence")
    return signature_input.items, signature_input.params, signature.value


def _check_params(params: Mapping[str, BareItem], now: datetime | None, max_skew: int) -> str:
    unknown = set(params) - _ALLOWED_PARAMS
    if unknown:
        raise SignatureInvalidError(f"unsupported signature parameters {sorted(unknown)}")
    alg = params.get("alg")
    if alg != ALGORITHM or type(alg) is not str:
        raise SignatureInvalidError(f'alg must be "{ALGORITHM}"')
    kid = params.get("keyid")
    if type(kid) is not str or not kid:
        raise SignatureInvalidError("keyid must be a non-empty string")
    created = params.get("created")
    if type(created) is not int:
        raise SignatureInvalidError("created must be an integer")
    current = _timestamp(now)
    if abs(current - created) > max_skew:
        raise SignatureExpiredError(details={"created": created, "now": current, "max_skew": max_skew})
    expires = params.get("expires")
    if expires is not None and (type(expires) is not int or current > expires):
        raise SignatureExpiredError("signature has passed its expires time")
    return kid


def _check_digest(message: HttpMessage, body: bytes) -> None:
    raw = message.headers.get("content-digest")
    if raw is None:
        raise DigestMismatchError("Content-Digest header is required")
    try:
        members = parse_dictionary(raw)
    except StructuredFieldError as exc:
        raise DigestMismatchError("Content-Digest is malformed") from exc
    if "sha-256" not in members:
        raise DigestMismatchError("Content-Digest must include sha-256")
    for algorithm, member in members.items():
        if algorithm not in _DIGESTS:
            continue
        if not isinstance(member, Item) or not isinstance(member.value, bytes):
            raise DigestMismatchError(f"Content-Digest {algorithm} is malformed")
        if not hmac.compare_digest(member.value, _DIGESTS[algorithm](body)):
            raise DigestMismatchError(f"Content-Digest {algorithm} does not match the body")


def _without_digest(headers: Headers) -> dict[str, str]:
    return {name: value for name, value in headers.items() if name.lower() != "content-digest"}


def _timestamp(moment: datetime | None) -> int:
    """Unix seconds of ``moment`` (default: now). Naive datetimes are refused: their zone is a guess."""
    if moment is None:
        return int(datetime.now(UTC).timestamp())
    return int(require_aware(moment).timestamp())
