"""Canonical JSON (RFC 8785, JCS): the exact bytes that record envelopes and tokens sign and hash.

Two nodes must produce identical bytes for the same record, whatever their JSON library, key order or
whitespace. JCS fixes all of that: keys sorted by UTF-16 code units, no whitespace, one string
escaping, integers as plain decimals.

Protocol rule: **no floating-point numbers.** Records carry no floats (prices are whole vouchers,
sizes are bytes, versions are counters), and JCS float formatting (ECMAScript number-to-string) is
where independent implementations disagree; an integral float such as ``1.0`` is refused too, so a
value never changes type between signer and verifier. Integers must lie in JCS's interoperable range
±(2**53 - 1). Strings must be valid Unicode (no lone surrogates); object keys must be strings.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from federation.signing.errors import CanonicalJsonError

#: Deeper nesting is refused: records are shallow, and a bound keeps cyclic input from hanging.
MAX_DEPTH = 64


def canonical_json(obj: Any) -> bytes:
    """Serialize ``obj`` as RFC 8785 canonical JSON bytes (UTF-8).

    Raises CanonicalJsonError when ``obj`` holds a float, a non-string key, an integer outside
    ±(2**53 - 1), an invalid Unicode string, or any type other than dict/list/tuple/str/int/bool/None.

    For the values this protocol allows, JCS output is exactly what the standard library's C encoder
    writes with sorted keys, no whitespace and no ASCII escaping (the same short escapes and
    lowercase ``\\u00xx`` for other control characters, integers in plain decimal) — except for key
    order when a key holds a character outside the Basic Multilingual Plane (JCS sorts UTF-16 code
    units, Python code points). Such objects go through the reference implementation instead.
    The test suite checks both paths against it.
    """
    if _check(obj, 0):
        try:
            return rfc8785.dumps(obj)
        except rfc8785.CanonicalizationError as exc:
            raise CanonicalJsonError(f"{_NOT} {exc}") from exc
    try:
        return _ENCODER.encode(obj).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CanonicalJsonError(f"{_NOT} invalid Unicode string ({exc.reason})") from exc


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False)
_MAX_INT = 2**53 - 1
_NOT = "not serializable as canonical JSON:"
_EXACT = (str, int, dict, list, tuple)
_SCALARS = frozenset({str, bool, type(None)})


def parse_json(data: bytes | str) -> Any:
    """Parse JSON text strictly: UTF-8 only, no duplicate object keys, no NaN/Infinity.

    Duplicate keys are refused because two parsers may keep different values for them, which would
    let a signed document mean one thing to the verifier and another to the consumer. Nesting deeper
    than MAX_DEPTH is refused too (deeper than the interpreter's recursion limit, the parser itself
    gives up with RecursionError, which must not escape as a server error).
    Raises CanonicalJsonError on any violation.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CanonicalJsonError(f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise CanonicalJsonError(f"invalid JSON: nested deeper than {MAX_DEPTH} levels") from exc
    _check_depth(value)
    return value


def _check_depth(value: Any) -> None:
    """Refuse containers nested deeper than MAX_DEPTH (iteratively: the check cannot recurse too deep)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise CanonicalJsonError(f"invalid JSON: nested deeper than {MAX_DEPTH} levels")
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))


def _check(obj: Any, depth: int) -> bool:
    """Refuse what canonical JSON may not hold (see the module docstring) and nesting deeper than
    MAX_DEPTH; return True when some object key lies outside the Basic Multilingual Plane."""
    if depth > MAX_DEPTH:
        raise CanonicalJsonError(f"nested deeper than {MAX_DEPTH} levels (or cyclic)")
    kind = type(obj)
    if kind is str or kind is bool or obj is None:
        return False
    if kind not in _EXACT:  # subclasses (enums, lazy strings …) are checked as their JSON type
        kind = next((base for base in _EXACT if isinstance(obj, base)), kind)
        if kind is str:
            return False
    if kind is int:
        if -_MAX_INT <= obj <= _MAX_INT:
            return False
        raise CanonicalJsonError(f"{_NOT} integer {obj} is outside the interoperable range ±(2**53 - 1)")
    astral = False
    if kind is dict:
        for key, value in obj.items():
            if type(key) is not str and not isinstance(key, str):
                raise CanonicalJsonError(f"{_NOT} object keys must be strings, not {type(key).__name__}")
            if not key.isascii() and max(key) > "\uffff":
                astral = True
            if type(value) not in _SCALARS:  # scalars inline: records are mostly strings
                astral = _check(value, depth + 1) or astral
        return astral
    if kind is list or kind is tuple:
        for value in obj:
            if type(value) not in _SCALARS:
                astral = _check(value, depth + 1) or astral
        return astral
    if isinstance(obj, float):
        raise CanonicalJsonError("floating-point numbers are not allowed in signed documents")
    raise CanonicalJsonError(f"{_NOT} {kind.__name__} is not a JSON type")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate object key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
