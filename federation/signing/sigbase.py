"""The RFC 9421 signature base: the exact bytes an HTTP message signature signs.

This module knows HTTP Message Signatures §2 — component identifiers, derived components, the
``;req`` and ``;key`` parameters, and the ``@signature-params`` line — and nothing about our
protocol's policy (which components, which algorithm, clocks, nonces); that lives in
:mod:`federation.signing.httpsig`. Keeping the two apart lets the RFC's own test vectors check this
module unmodified.

Target URIs are compared in a normalized form (RFC 3986 §6.2.2–6.2.3: lowercase scheme and host,
default port dropped, empty path as ``/``, fragment dropped) because client libraries and proxies
rewrite those parts freely; the path and query are signed exactly as sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit

from federation.signing.structured import (
    BareItem,
    InnerList,
    Item,
    StructuredFieldError,
    Token,
    parse_dictionary,
    serialize_member,
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_DERIVED = frozenset(
    {"@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query", "@status"}
)
_COMPONENT_PARAMS = frozenset({"req", "key"})


class ComponentError(ValueError):
    """A covered component cannot be computed for this message (absent header, unsupported name …)."""


@dataclass(frozen=True)
class HttpMessage:
    """The parts of an HTTP request or response a signature can cover.

    ``headers`` are normalized on construction: names lowercased, values stripped of surrounding
    whitespace, repeated fields (a list value, or names differing only in case) joined with ``", "``
    as RFC 9421 §2.1 prescribes.
    """

    headers: Mapping[str, str] = field(default_factory=dict)
    method: str | None = None
    target_uri: str | None = None
    status: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "headers", normalize_headers(self.headers))

    @classmethod
    def request(cls, method: str, target_uri: str, headers: Mapping[str, str | Sequence[str]]) -> HttpMessage:
        return cls(headers=normalize_headers(headers), method=method.upper(), target_uri=target_uri)

    @classmethod
    def response(cls, status: int, headers: Mapping[str, str | Sequence[str]]) -> HttpMessage:
        return cls(headers=normalize_headers(headers), status=status)


def normalize_headers(headers: Mapping[str, str | Sequence[str]]) -> dict[str, str]:
    """Lowercase field names and combine field values per RFC 9421 §2.1."""
    combined: dict[str, list[str]] = {}
    for name, value in headers.items():
        values: Iterable[str] = [value] if isinstance(value, str) else value
        combined.setdefault(name.lower(), []).extend(v.strip(" \t") for v in values)
    return {name: ", ".join(values) for name, values in combined.items()}


def normalize_target_uri(url: str) -> str:
    """Return the absolute target URI in the normalized form described in the module docstring."""
    parts = _split(url)
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme.lower()}://{_authority(parts)}{path}{query}"


def signature_base(
    covered: Sequence[Item],
    params: Mapping[str, BareItem],
    message: HttpMessage,
    request: HttpMessage | None = None,
) -> bytes:
    """Build the signature base (RFC 9421 §2.5) for ``covered`` components of ``message``.

    ``request`` is the related request, needed when ``message`` is a response whose signature covers
    components with the ``;req`` parameter (§2.4). Raises ComponentError when a component is invalid,
    repeated, or absent from the message.
    """
    lines: list[str] = []
    seen: set[str] = set()
    for component in covered:
        identifier = serialize_component(component)
        if identifier in seen:
            raise ComponentError(f"component {identifier} is covered twice")
        seen.add(identifier)
        value = component_value(component, message, request)
        if "\n" in value or "\r" in value:
            raise ComponentError(f"component {identifier} contains a line break")
        lines.append(f"{identifier}: {value}")
    signature_params = serialize_member(InnerList(list(covered), dict(params)))
    lines.append(f'"@signature-params": {signature_params}')
    try:
        return "\n".join(lines).encode("ascii")
    except UnicodeEncodeError as exc:
        raise ComponentError("signature base must be ASCII (percent-encode URIs)") from exc


def serialize_component(component: Item) -> str:
    """Serialize a component identifier, e.g. ``"signature";req;key="sig1"``."""
    name = component.value
    if not isinstance(name, str) or isinstance(name, Token) or not name or name != name.lower():
        raise ComponentError(f"component names are lowercase strings, got {name!r}")
    try:
        return serialize_member(component)
    except StructuredFieldError as exc:
        raise ComponentError(str(exc)) from exc


def component_value(component: Item, message: HttpMessage, request: HttpMessage | None = None) -> str:
    """Return the value of one covered component (RFC 9421 §2.1–§2.4)."""
    name = str(component.value)
    unknown = set(component.params) - _COMPONENT_PARAMS
    if unknown:
        raise ComponentError(f"unsupported component parameters {sorted(unknown)}")
    source = message
    if component.params.get("req") is True:
        if request is None or message.status is None:
            raise ComponentError(";req is only valid on a response signed together with its request")
        source = request
    elif "req" in component.params:
        raise ComponentError(";req must be a bare boolean")
    if name.startswith("@"):
        if "key" in component.params:
            raise ComponentError(";key applies to dictionary fields only")
        return _derived_value(name, source)
    raw = source.headers.get(name)
    if raw is None:
        raise ComponentError(f"header {name!r} is absent")
    if "key" not in component.params:
        return raw
    return _dictionary_member(raw, component.params["key"], name)


def _derived_value(name: str, message: HttpMessage) -> str:
    if name not in _DERIVED:
        raise ComponentError(f"unsupported derived component {name}")
    if name == "@status":
        if message.status is None:
            raise ComponentError("@status is only defined for responses")
        return f"{message.status:03d}"
    if message.method is None or message.target_uri is None:
        raise ComponentError(f"{name} is only defined for requests")
    if name == "@method":
        return message.method
    parts = _split(message.target_uri)
    path = parts.path or "/"
    derived = {
        "@target-uri": lambda: normalize_target_uri(message.target_uri or ""),
        "@authority": lambda: _authority(parts),
        "@scheme": lambda: parts.scheme.lower(),
        "@request-target": lambda: path + (f"?{parts.query}" if parts.query else ""),
        "@path": lambda: path,
        "@query": lambda: f"?{parts.query}",
    }
    return derived[name]()


def _dictionary_member(raw: str, key: BareItem, name: str) -> str:
    if not isinstance(key, str) or isinstance(key, Token):
        raise ComponentError(";key must be a string")
    try:
        members = parse_dictionary(raw)
    except StructuredFieldError as exc:
        raise ComponentError(f"header {name!r} is not a structured dictionary") from exc
    if key not in members:
        raise ComponentError(f"header {name!r} has no member {key!r}")
    return serialize_member(members[key])


def _split(url: str) -> SplitResult:
    parts = urlsplit(url)
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise ComponentError(f"target URI must be an absolute http(s) URI, got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ComponentError("target URI must not carry credentials")
    return parts


def _authority(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ComponentError("invalid port in target URI") from exc
    if port is None or port == _DEFAULT_PORTS[parts.scheme.lower()]:
        return host
    return f"{host}:{port}"
