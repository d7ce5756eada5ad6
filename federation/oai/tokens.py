"""Resumption tokens: opaque, signed (Django signing with the node's SECRET_KEY), expiring.

A token carries the whole list request (verb, metadataPrefix, set, datestamp range) and the cursor
(the last datestamp and id returned, and how many items were returned so far), so the node keeps no
harvest state: any web process can answer the next page.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.core import signing

from federation.oai.errors import BadResumptionTokenError
from federation.oai.records import Cursor

SALT = "federation.oai.resumption-token"
VERSION = 1


@dataclass(frozen=True)
class ListState:
    """Where a ListIdentifiers/ListRecords harvest stands."""

    verb: str
    metadata_prefix: str
    set_spec: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    returned: int
    last: Cursor


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value is not None else None


def encode(state: ListState) -> str:
    payload = {
        "v": VERSION,
        "verb": state.verb,
        "p": state.metadata_prefix,
        "s": state.set_spec,
        "f": _iso(state.start),
        "u": _iso(state.end),
        "n": state.returned,
        "t": _iso(state.last.datestamp),
        "i": state.last.id.hex,
    }
    return signing.dumps(payload, salt=SALT, compress=True)


def decode(token: str, *, verb: str, max_age: int) -> ListState:
    """The state a token carries. Raises BadResumptionTokenError when it is forged, damaged,
    expired, from another protocol version or issued for another verb."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise BadResumptionTokenError("The resumptionToken has expired; start the list again.") from exc
    except signing.BadSignature as exc:
        raise BadResumptionTokenError("The resumptionToken is not one this repository issued.") from exc
    try:
        if payload["v"] != VERSION:
            raise ValueError("version")
        if payload["verb"] != verb:
            raise BadResumptionTokenError(
                f"The resumptionToken was issued for {payload['verb']}, not {verb}."
            )
        last_time = _parse(payload["t"])
        if last_time is None:
            raise ValueError("cursor")
        return ListState(
            verb=payload["verb"],
            metadata_prefix=str(payload["p"]),
            set_spec=payload["s"],
            start=_parse(payload["f"]),
            end=_parse(payload["u"]),
            returned=int(payload["n"]),
            last=Cursor(last_time, uuid.UUID(hex=payload["i"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise BadResumptionTokenError("The resumptionToken is malformed.") from exc
