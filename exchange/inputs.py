"""Bounds on what a request may carry: JSON nesting and numbers, whole numbers, calendar dates, text.

Every value a client sends ends up in Python arithmetic, a date computation or a database column, and
each of those has limits a client can reach on purpose: JSON nested ten thousand deep exhausts the
parser's recursion, an integer of 10**30 overflows a 64-bit column, the year 1 or 9999 overflows a
time-zone conversion, a NUL character is refused by PostgreSQL. The helpers here refuse such input
up front with ``ValueError`` (the callers turn it into their 4xx error), so nothing a client sends
reaches those limits.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from exchange.errors import InvalidInputError

#: Calendar dates a person means (rights terms, embargoes, settlement periods). Further out,
#: time-zone conversions and date arithmetic overflow.
MIN_DATE = dt.date(1900, 1, 1)
MAX_DATE = dt.date(2999, 12, 31)
#: Free text (notes, reasons, statements) is at most this long unless a column says otherwise.
MAX_NOTE_LENGTH = 5000
#: The largest integer a signed 64-bit column holds; JSON numbers beyond it are refused.
INT64_MAX = 2**63 - 1
#: The largest value of Django's IntegerField/PositiveIntegerField on every supported database.
INT32_MAX = 2**31 - 1


class InputBoundsError(ValueError):
    """A value is outside what this node accepts (too deep, too large, not representable)."""


def _refuse_constant(name: str) -> Any:
    raise InputBoundsError(f"{name} is not valid JSON")


def loads_bounded(data: bytes | str, *, max_depth: int) -> Any:
    """Parse JSON text, refusing what no endpoint accepts: invalid UTF-8, NaN/Infinity, numbers that
    overflow (floats beyond the double range, integers beyond 64 bits), NUL characters in strings
    (PostgreSQL cannot store them) and nesting deeper than ``max_depth``. Raises InputBoundsError.

    The standard parser recurses once per nesting level; JSON nested deeper than the interpreter's
    recursion limit raises RecursionError inside it, which is refused here like any other excess."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise InputBoundsError(f"JSON nested deeper than {max_depth} levels") from exc
    except InputBoundsError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many integer digits
        raise InputBoundsError(f"invalid JSON: {exc}") from exc
    check_json_value(value, max_depth=max_depth)
    return value


def check_json_value(value: Any, *, max_depth: int) -> None:
    """Check a parsed JSON value against the bounds of :func:`loads_bounded` (iteratively, so the
    check itself cannot exhaust the stack). Raises InputBoundsError."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise InputBoundsError(f"JSON nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_scalar(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        else:
            _check_scalar(item)


def _check_scalar(item: Any) -> None:
    if isinstance(item, str):
        if "\x00" in item:
            raise InputBoundsError("strings must not contain NUL characters")
    elif isinstance(item, bool) or item is None:
        return
    elif isinstance(item, int):
        if not -INT64_MAX <= item <= INT64_MAX:
            raise InputBoundsError("an integer is outside the 64-bit range")
    elif isinstance(item, float) and not math.isfinite(item):
        raise InputBoundsError("a number is outside the floating-point range")


def whole_number(value: Any, *, minimum: int, maximum: int) -> int:
    """``value`` (an int, an integral float or a string of digits) as an int in [minimum, maximum].
    Raises ValueError for anything else, including booleans and non-finite floats."""
    if isinstance(value, bool):
        raise ValueError("not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ValueError("not a whole number")
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value.strip()) <= 20:
        number = int(value.strip())
    else:
        raise ValueError("not a whole number")
    if not minimum <= number <= maximum:
        raise ValueError(f"not between {minimum} and {maximum}")
    return number


def calendar_date(value: Any) -> dt.date:
    """``value`` (a date or YYYY-MM-DD) as a date between MIN_DATE and MAX_DATE. Raises ValueError."""
    if isinstance(value, dt.datetime):
        raise ValueError("a date, not a timestamp")
    date = value if isinstance(value, dt.date) else dt.date.fromisoformat(value) if isinstance(value, str) else None
    if date is None:
        raise ValueError("not a date")
    if not MIN_DATE <= date <= MAX_DATE:
        raise ValueError(f"not between {MIN_DATE.isoformat()} and {MAX_DATE.isoformat()}")
    return date


def plain_text(value: Any, *, max_length: int) -> str:
    """``value`` as a stripped string of at most ``max_length`` characters without NUL. Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("not a string")
    if "\x00" in value:
        raise ValueError("contains a NUL character")
    value = value.strip()
    if len(value) > max_length:
        raise ValueError(f"longer than {max_length} characters")
    return value


def clean_text(value: Any, *, field: str, max_length: int = MAX_NOTE_LENGTH) -> str:
    """:func:`plain_text` for a service's text argument (None counts as empty). Raises
    InvalidInputError naming ``field``."""
    try:
        return plain_text("" if value is None else value, max_length=max_length)
    except ValueError as exc:
        raise InvalidInputError(f"{field} must be text of at most {max_length} characters without NUL.",
                                details={field: [f"A string of at most {max_length} characters."]}) from exc
