"""OAI-PMH datestamps: UTC, at day or second granularity (``YYYY-MM-DD``, ``YYYY-MM-DDThh:mm:ssZ``)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from federation.oai.errors import BadArgumentError

GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ONE_SECOND = dt.timedelta(seconds=1)
ONE_DAY = dt.timedelta(days=1)


def format_datestamp(value: dt.datetime) -> str:
    """A datetime as a UTC datestamp at second granularity (fractions are truncated)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_day(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class Datestamp:
    """A ``from``/``until`` argument: the instant it names and the granularity it was given in."""

    value: dt.datetime
    day: bool

    @property
    def lower_bound(self) -> dt.datetime:
        """Inclusive lower bound when used as ``from``."""
        return self.value

    @property
    def upper_bound(self) -> dt.datetime:
        """Exclusive upper bound when used as ``until`` (the named second or day is included)."""
        return self.value + (ONE_DAY if self.day else ONE_SECOND)


def parse_datestamp(name: str, raw: str) -> Datestamp:
    """Parse a ``from`` or ``until`` argument. Raises BadArgumentError on any other syntax."""
    try:
        if _DAY.match(raw):
            return Datestamp(dt.datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=dt.UTC), day=True)
        if _SECONDS.match(raw):
            return Datestamp(
                dt.datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC), day=False
            )
    except ValueError:
        pass
    raise BadArgumentError(
        f"The {name} argument {raw!r} is not a UTC datestamp in the form YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ."
    )


def date_range(raw_from: str | None, raw_until: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``from``/``until`` arguments as an inclusive lower and exclusive upper bound.

    Raises BadArgumentError when a value is malformed, the two use different granularities, or
    ``from`` is later than ``until``."""
    start = parse_datestamp("from", raw_from) if raw_from is not None else None
    end = parse_datestamp("until", raw_until) if raw_until is not None else None
    if start and end:
        if start.day != end.day:
            raise BadArgumentError("The from and until arguments must have the same granularity.")
        if start.value > end.value:
            raise BadArgumentError("The from argument must be less than or equal to the until argument.")
    return (start.lower_bound if start else None), (end.upper_bound if end else None)
