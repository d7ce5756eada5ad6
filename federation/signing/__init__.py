"""Cryptographic primitives of federation protocol v1: the one place signatures are made and checked.

- :mod:`.keys` — Ed25519 keys, PEM files, JWKs, RFC 7638 key ids, human fingerprints;
- :mod:`.canonical` — RFC 8785 canonical JSON (no floats), strict JSON parsing;
- :mod:`.envelope` — origin-signed record envelopes that relays pass on unchanged;
- :mod:`.httpsig` — RFC 9421 HTTP message signatures with RFC 9530 ``Content-Digest``
  (built on :mod:`.sigbase` and :mod:`.structured`);
- :mod:`.jws` and :mod:`.certificates` — hub-issued node certificates and revocation lists.

Pure Python: nothing here imports Django, so the sync engine, management commands and tests can use
it without settings. Policy that needs storage (which keys are trusted, which nonces were seen) is
passed in as callables.
"""

from federation.signing.canonical import canonical_json, parse_json
from federation.signing.certificates import (
    CERTIFICATE_TYPE,
    NODE_ROLES,
    REVOCATION_LIST_TYPE,
    NodeCertificate,
    RevocationList,
    issue_certificate,
    issue_revocation_list,
    verify_certificate,
    verify_revocation_list,
)
from federation.signing.envelope import (
    ENVELOPE_FIELDS,
    ENVELOPE_FORMAT,
    ENVELOPE_KINDS,
    MAX_ENVELOPE_BYTES,
    VerifiedEnvelope,
    check_envelope,
    envelope_from_bytes,
    envelope_hash,
    envelope_to_bytes,
    sign_envelope,
    verified_envelope,
    verify_envelope,
)
from federation.signing.errors import (
    CanonicalJsonError,
    CertificateExpiredError,
    CertificateInvalidError,
    CertificateNotYetValidError,
    CertificateRevokedError,
    DigestMismatchError,
    EnvelopeMalformedError,
    EnvelopeSignatureError,
    EnvelopeTooLargeError,
    JwsInvalidError,
    KeyInvalidError,
    NegativeListInvalidError,
    ReplayedRequestError,
    RevocationListInvalidError,
    RevocationListStaleError,
    SignatureExpiredError,
    SignatureInvalidError,
    SignatureMissingError,
    UnknownKeyError,
)
from federation.signing.httpsig import (
    DEFAULT_MAX_SKEW,
    SIGNATURE_LABEL,
    content_digest,
    sign_request,
    sign_response,
    verify_request,
    verify_response,
)
from federation.signing.identifiers import format_timestamp, is_node_id, parse_timestamp
from federation.signing.jws import jws_header, jws_sign, jws_verify, jws_verify_compact
from federation.signing.keys import (
    SigningKey,
    fingerprint,
    generate_private_key,
    jwk_to_public_key,
    key_id,
    load_private_key,
    public_key_to_jwk,
    save_private_key,
)
from federation.signing.negative_list import (
    NEGATIVE_LIST_TYPE,
    SignedNegativeList,
    issue_negative_list,
    verify_negative_list,
)

__all__ = [
    "check_envelope",
    "CERTIFICATE_TYPE",
    "DEFAULT_MAX_SKEW",
    "ENVELOPE_FIELDS",
    "ENVELOPE_FORMAT",
    "ENVELOPE_KINDS",
    "MAX_ENVELOPE_BYTES",
    "NEGATIVE_LIST_TYPE",
    "NODE_ROLES",
    "REVOCATION_LIST_TYPE",
    "SIGNATURE_LABEL",
    "CanonicalJsonError",
    "CertificateExpiredError",
    "CertificateInvalidError",
    "CertificateNotYetValidError",
    "CertificateRevokedError",
    "DigestMismatchError",
    "EnvelopeMalformedError",
    "EnvelopeSignatureError",
    "EnvelopeTooLargeError",
    "JwsInvalidError",
    "KeyInvalidError",
    "NegativeListInvalidError",
    "NodeCertificate",
    "ReplayedRequestError",
    "RevocationList",
    "RevocationListInvalidError",
    "RevocationListStaleError",
    "SignatureExpiredError",
    "SignatureInvalidError",
    "SignatureMissingError",
    "SignedNegativeList",
    "SigningKey",
    "UnknownKeyError",
    "VerifiedEnvelope",
    "canonical_json",
    "content_digest",
    "envelope_from_bytes",
    "envelope_hash",
    "envelope_to_bytes",
    "fingerprint",
    "format_timestamp",
    "generate_private_key",
    "is_node_id",
    "issue_certificate",
    "issue_negative_list",
    "issue_revocation_list",
    "jwk_to_public_key",
    "jws_header",
    "jws_sign",
    "jws_verify",
    "jws_verify_compact",
    "key_id",
    "load_private_key",
    "parse_json",
    "parse_timestamp",
    "public_key_to_jwk",
    "save_private_key",
    "sign_envelope",
    "sign_request",
    "sign_response",
    "verify_certificate",
    "verified_envelope",
    "verify_envelope",
    "verify_negative_list",
    "verify_request",
    "verify_response",
    "verify_revocation_list",
]
