"""Strict base64url (RFC 4648 §5, unpadded) used by JWKs, JWS and record envelope signatures.

Decoding is strict on purpose: padding, whitespace, characters outside the alphabet and non-zero
trailing bits are refused, so each byte string has exactly one accepted text form and a signature
cannot be "changed" into another spelling that still decodes to the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import re

_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """Encode bytes as unpadded base64url text."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode unpadded base64url text; raise ``ValueError`` unless ``text`` is its one canonical form."""
    if not isinstance(text, str) or not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not unpadded base64url") from exc
    if b64url_encode(data) != text:
        raise ValueError("non-canonical base64url (stray trailing bits)")
    return data
