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
from collections.abc import Mapping, Sequence
from typing import Any

import rfc8785

from federation.signing.errors import CanonicalJsonError

#: Deeper nesting is refused: records are shallow, and a bound keeps cyclic input from hanging.
MAX_DEPTH = 64


def canonical_json(obj: Any) -> bytes:
    """Serialize ``obj`` as RFC 8785 canonical JSON bytes (UTF-8).

    Raises CanonicalJsonError when ``obj`` holds a float, a non-string key, an integer outside
    ±(2**53 - 1), an invalid Unicode string, or any type other than dict/list/tuple/str/int/bool/None.
    """
    _reject_floats(obj)
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalJsonError(f"not serializable as canonical JSON: {exc}") from exc


def parse_json(data: bytes | str) -> Any:
    """Parse JSON text strictly: UTF-8 only, no duplicate object keys, no NaN/Infinity.

    Duplicate keys are refused because two parsers may keep different values for them, which would
    let a signed document mean one thing to the verifier and another to the consumer.
    Raises CanonicalJsonError on any violation.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CanonicalJsonError(f"invalid JSON: {exc}") from exc


def _reject_floats(obj: Any, depth: int = 0) -> None:
    """Refuse any float at any depth (see the module docstring), and nesting deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise CanonicalJsonError(f"nested deeper than {MAX_DEPTH} levels (or cyclic)")
    if isinstance(obj, float):
        raise CanonicalJsonError("floating-point numbers are not allowed in signed documents")
    if isinstance(obj, Mapping):
        for value in obj.values():
            _reject_floats(value, depth + 1)
    elif isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        for value in obj:
            _reject_floats(value, depth + 1)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate object key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
