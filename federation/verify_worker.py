"""Envelope verification in worker processes (``FEDERATION_VERIFY_WORKERS``).

Pure protocol code, no Django: the parent resolves every (origin, kid) of a page to raw public key
bytes first (trust decisions stay in :mod:`federation.trust`), workers check structure and signatures
with :func:`federation.signing.check_envelope` — what the inline path's ``verify_envelope`` calls —
and send back only the canonical bytes, their hash and ``issued_at`` of each envelope; the parent
pairs them with its own copy of the envelopes (the objects it sent), so no record crosses twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from exchange.errors import ExchangeError
from federation.signing import EnvelopeTooLargeError, UnknownKeyError, check_envelope

Failure = tuple[int, str, str, str, dict[str, Any]]  # index, error module, class name, message, details
#: canonical bytes, their SHA-256, issued_at — or the error of an envelope skipped alone (too large)
Checked = tuple[bytes, str, datetime] | EnvelopeTooLargeError


def verify_chunk(
    envelopes: list[Any], keys: dict[tuple[str, str], bytes], offset: int
) -> tuple[list[Checked], Failure | None]:
    """Check ``envelopes`` in order with the given keys; stop at the first failure and describe it (an
    envelope too large is not a failure of the page: its error takes its place in the results)."""
    public = {pair: Ed25519PublicKey.from_public_bytes(raw) for pair, raw in keys.items()}

    def resolve(origin: str, kid: str) -> Ed25519PublicKey:
        try:
            return public[(origin, kid)]
        except KeyError:
            raise UnknownKeyError(details={"origin": origin, "kid": kid}) from None

    verified = []
    for index, envelope in enumerate(envelopes):
        try:
            verified.append(check_envelope(envelope, resolve_key=resolve))
        except EnvelopeTooLargeError as exc:
            verified.append(exc)
        except ExchangeError as exc:
            failure = (offset + index, type(exc).__module__, type(exc).__qualname__, exc.message, exc.details)
            return verified, failure
    return verified, None
