"""Errors raised by the federation signing primitives.

Every failure to authenticate a peer, a record or a certificate is a distinct :class:`ExchangeError`
with a stable ``code``, so the one exception handler renders it, sync logs can count it, and a peer's
operator can tell "my clock is off" from "my key is not enrolled" without reading our logs.
"""

from __future__ import annotations

from exchange.errors import ExchangeError


class KeyInvalidError(ExchangeError):
    """A key (PEM file or JWK) is malformed, is not Ed25519, or its ``kid`` is not its thumbprint."""

    code = "key_invalid"
    http_status = 400
    default_message = "The key is malformed or not an Ed25519 key."


class UnknownKeyError(ExchangeError):
    """No trusted public key is known for the given key id (and origin, for envelopes)."""

    code = "unknown_key"
    http_status = 401
    default_message = "The signing key is not known to this node."


class CanonicalJsonError(ExchangeError):
    """A value cannot be serialized as RFC 8785 canonical JSON under the protocol's rules (no floats)."""

    code = "canonical_json_invalid"
    http_status = 422
    default_message = "The value cannot be serialized as canonical JSON."


class SignatureMissingError(ExchangeError):
    """A request or response carries no ``Signature``/``Signature-Input`` for the expected label."""

    code = "signature_missing"
    http_status = 401
    default_message = "The message is not signed."


class SignatureInvalidError(ExchangeError):
    """An HTTP message signature is malformed, uses the wrong algorithm, covers too little, or does not verify."""

    code = "signature_invalid"
    http_status = 401
    default_message = "The message signature is not valid."


class SignatureExpiredError(ExchangeError):
    """The signature's ``created`` time lies outside the accepted clock window (too old or in the future)."""

    code = "signature_expired"
    http_status = 401
    default_message = "The message signature is outside the accepted time window."


class ReplayedRequestError(ExchangeError):
    """The signature's nonce was already seen for this key: the request is a replay."""

    code = "replayed_request"
    http_status = 401
    default_message = "The request was already received."


class DigestMismatchError(ExchangeError):
    """The ``Content-Digest`` header is missing, malformed, or does not match the body received."""

    code = "digest_mismatch"
    http_status = 400
    default_message = "The content digest does not match the body."


class EnvelopeMalformedError(ExchangeError):
    """A record envelope does not have the exact v1 structure (fields, types, id binding)."""

    code = "envelope_malformed"
    http_status = 422
    default_message = "The record envelope is malformed."


class EnvelopeTooLargeError(EnvelopeMalformedError):
    """An envelope heavier than the protocol allows (``MAX_ENVELOPE_BYTES``), or carrying members this
    version does not know that weigh more than ``MAX_UNKNOWN_MEMBERS_BYTES``. Receivers skip such an
    envelope alone (it never blocks a feed); origins never sign one."""

    code = "envelope_too_large"
    http_status = 413
    default_message = "The record envelope is larger than the protocol allows."


class EnvelopeSignatureError(ExchangeError):
    """A well-formed record envelope whose signature does not verify with the origin's key."""

    code = "envelope_signature_invalid"
    http_status = 422
    default_message = "The record envelope signature is not valid."


class JwsInvalidError(ExchangeError):
    """A compact JWS is malformed, uses another algorithm or type, or its signature does not verify."""

    code = "jws_invalid"
    http_status = 401
    default_message = "The signed token is not valid."


class CertificateInvalidError(ExchangeError):
    """A node certificate is malformed, not signed by a trusted hub key, or issued by another hub."""

    code = "certificate_invalid"
    http_status = 401
    default_message = "The node certificate is not valid."


class CertificateNotYetValidError(ExchangeError):
    """A node certificate's ``nbf`` lies in the future."""

    code = "certificate_not_yet_valid"
    http_status = 401
    default_message = "The node certificate is not valid yet."


class CertificateExpiredError(ExchangeError):
    """A node certificate's ``exp`` has passed."""

    code = "certificate_expired"
    http_status = 401
    default_message = "The node certificate has expired."


class CertificateRevokedError(ExchangeError):
    """A node certificate's serial appears on the hub's revocation list."""

    code = "certificate_revoked"
    http_status = 403
    default_message = "The node certificate has been revoked."


class RevocationListInvalidError(ExchangeError):
    """A revocation list is malformed or not signed by a trusted hub key."""

    code = "revocation_list_invalid"
    http_status = 422
    default_message = "The revocation list is not valid."


class RevocationListStaleError(ExchangeError):
    """A revocation list is not newer than the one already held, so it must not replace it."""

    code = "revocation_list_stale"
    http_status = 409
    default_message = "The revocation list is older than the current one."


class NegativeListInvalidError(ExchangeError):
    """A national negative list is malformed or not signed by a trusted hub key."""

    code = "negative_list_invalid"
    http_status = 422
    default_message = "The negative list is not valid."
