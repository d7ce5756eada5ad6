"""Short-lived signed download links for files the node serves itself (no object-store presigning).

A link's token is signed with the node's ``SECRET_KEY`` (``django.core.signing``, salted for this
purpose) over the file id, the user it was issued to and its expiry time; a token changed in any
character fails the signature check, and an expired one is refused even with a valid signature.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from licensing.errors import DownloadLinkExpiredError, DownloadLinkInvalidError

SALT = "licensing.download-link.v1"


@dataclass(frozen=True)
class LinkClaims:
    file_id: str
    user_id: int
    expires_at: dt.datetime


def link_ttl_seconds() -> int:
    return int(settings.LICENSING_DOWNLOAD_URL_TTL)


def file_token_make(*, file_id: Any, user_id: int, expires_at: dt.datetime) -> str:
    return signing.dumps({"f": str(file_id), "u": user_id, "e": int(expires_at.timestamp())}, salt=SALT)


def file_token_read(token: str, *, now: dt.datetime | None = None) -> LinkClaims:
    """The claims of a valid, unexpired token. Raises DownloadLinkInvalidError for a token that was not
    issued by this node as it is (tampered, truncated, another salt) and DownloadLinkExpiredError once
    its time is up."""
    try:
        data = signing.loads(token, salt=SALT)
        claims = LinkClaims(file_id=str(data["f"]), user_id=int(data["u"]),
                            expires_at=dt.datetime.fromtimestamp(int(data["e"]), tz=dt.UTC))
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise DownloadLinkInvalidError() from exc
    if (now or timezone.now()) >= claims.expires_at:
        raise DownloadLinkExpiredError(details={"expired_at": claims.expires_at.isoformat()})
    return claims


def file_url(token: str, *, base_url: str | None = None) -> str:
    """The link for ``token`` under ``base_url`` (the address the client reached the node at), or under
    ``EXCHANGE_BASE_URL`` when there is none (a link made outside a request)."""
    return (base_url or settings.EXCHANGE_BASE_URL).rstrip("/") + reverse("licensing-file", kwargs={"token": token})


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class UnsatisfiableRange(Exception):
    """The Range header is well-formed but selects no byte of the file (→ 416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a ``Range`` header asks for (RFC 9110 §14), or None to send the whole
    file (no header, another unit, several ranges or a malformed header: a server may ignore those).
    Raises UnsatisfiableRange when the range starts past the end of the file or asks for zero bytes."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or (first == last == ""):
        return None
    if first == "":  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise UnsatisfiableRange()
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: last before first
    if start >= size:
        raise UnsatisfiableRange()
    return ByteRange(start, min(int(last), size - 1) if last else size - 1)


STREAM_CHUNK = 256 * 1024


def open_range(store, key: str, byte_range: ByteRange) -> IO[bytes]:
    """A handle positioned at ``byte_range.start`` (a ranged GET on S3, a seek on local files)."""
    if hasattr(store, "open_range"):
        return store.open_range(key, byte_range.start, byte_range.end)
    handle = store.open(key)
    handle.seek(byte_range.start)
    return handle


def stream_bytes(handle: IO[bytes], length: int, *, chunk: int = STREAM_CHUNK) -> Iterator[bytes]:
    """Yield ``length`` bytes of ``handle`` in chunks, closing it at the end (or when the client goes)."""
    try:
        remaining = length
        while remaining > 0:
            data = handle.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        handle.close()
