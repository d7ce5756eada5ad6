"""The national negative list (负面清单) as the hub signs it, and its verification.

The hub's operators keep the list; every change makes a new ``version``, and the hub signs the whole
list as a compact JWS (``typ: exchange-negative-list+jwt``) that it pushes to every province and serves
to their scheduled pulls::

    {"iss": hub id, "version": n, "iat": unix seconds,
     "entries": [{"id": uuid, "term": str, "category": str, "severity": "hard" | "soft", "note": str}, ...]}

Only active entries are listed: an entry that is no longer listed is retired. ``version`` grows with every
list, so a node keeps the highest it has taken in and refuses older ones (which would bring back retired
entries and drop new ones). Unknown extra claims and entry members are ignored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.errors import InvalidInputError
from federation.signing.errors import JwsInvalidError, NegativeListInvalidError, UnknownKeyError
from federation.signing.identifiers import is_node_id, require_aware
from federation.signing.jws import jws_sign, jws_verify

NEGATIVE_LIST_TYPE = "exchange-negative-list+jwt"
#: Entries a list may carry, and the longest term, category and note.
MAX_ENTRIES = 20_000
MAX_TERM_LENGTH = 100
MAX_CATEGORY_LENGTH = 32
MAX_NOTE_LENGTH = 500
SEVERITIES = frozenset({"hard", "soft"})


@dataclass(frozen=True)
class SignedNegativeList:
    """A verified national negative list."""

    issuer: str
    version: int
    issued_at: datetime
    entries: tuple[dict[str, str], ...]


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "an entry is not an object"
    try:
        if str(uuid.UUID(str(entry.get("id")))) != entry.get("id"):
            return "an entry id is not a lowercase UUID"
    except ValueError:
        return "an entry id is not a UUID"
    term, category, severity, note = (entry.get("term"), entry.get("category"), entry.get("severity"),
                                      entry.get("note", ""))
    if not isinstance(term, str) or not term.strip() or len(term) > MAX_TERM_LENGTH or "\x00" in term:
        return "an entry's term is missing or too long"
    if not isinstance(category, str) or not category or len(category) > MAX_CATEGORY_LENGTH:
        return "an entry's category is missing or too long"
    if severity not in SEVERITIES:
        return "an entry's severity is not hard or soft"
    if not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH:
        return "an entry's note is not text or too long"
    return None


def issue_negative_list(*, hub_key: Ed25519PrivateKey, hub_kid: str, hub_id: str, version: int,
                        issued_at: datetime, entries: Iterable[Mapping[str, Any]]) -> str:
    """Sign national list ``version`` (a positive integer) with its active ``entries``.
    Raises InvalidInputError for a bad hub id, version or entry."""
    if not is_node_id(hub_id):
        raise InvalidInputError("hub_id must be a node id")
    if type(version) is not int or version < 1:
        raise InvalidInputError("version must be a positive integer")
    listed = [{"id": str(e["id"]), "term": str(e["term"]), "category": str(e["category"]),
               "severity": str(e["severity"]), "note": str(e.get("note") or "")} for e in entries]
    if len(listed) > MAX_ENTRIES:
        raise InvalidInputError(f"at most {MAX_ENTRIES} entries")
    for entry in listed:
        problem = _entry_problem(entry)
        if problem:
            raise InvalidInputError(problem)
    try:
        iat = int(require_aware(issued_at).timestamp())
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from exc
    claims = {"iss": hub_id, "version": version, "iat": iat, "entries": listed}
    return jws_sign(claims, key=hub_key, kid=hub_kid, typ=NEGATIVE_LIST_TYPE)


def verify_negative_list(token: str, hub_public_keys: Mapping[str, Ed25519PublicKey], *,
                         hub_id: str | None = None) -> SignedNegativeList:
    """Verify a national list against the trusted hub keys; ``hub_id``, when given, must be its issuer.
    Whether it may replace the list held is the receiver's call (its version must be greater).
    Raises NegativeListInvalidError."""
    try:
        _, claims = jws_verify(token, resolve_key=hub_public_keys.__getitem__, typ=NEGATIVE_LIST_TYPE)
    except (JwsInvalidError, UnknownKeyError) as exc:
        raise NegativeListInvalidError(f"not signed by a trusted hub key: {exc.message}") from exc
    issuer, version, iat, entries = claims.get("iss"), claims.get("version"), claims.get("iat"), claims.get("entries")
    if not is_node_id(issuer) or (hub_id is not None and issuer != hub_id):
        raise NegativeListInvalidError("issued by an unexpected hub")
    if type(version) is not int or version < 1 or type(iat) is not int:
        raise NegativeListInvalidError("version and iat must be integers, version positive")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise NegativeListInvalidError(f"entries must be a list of at most {MAX_ENTRIES}")
    for entry in entries:
        problem = _entry_problem(entry)
        if problem:
            raise NegativeListInvalidError(problem)
    return SignedNegativeList(issuer=issuer, version=version, issued_at=datetime.fromtimestamp(iat, UTC),
                              entries=tuple({"id": e["id"], "term": e["term"], "category": e["category"],
                                             "severity": e["severity"], "note": e.get("note", "")} for e in entries))
