"""A small, fast XML writer for OAI-PMH responses.

Responses are written as text rather than built as a tree: a full harvest serialises hundreds of
thousands of records, and appending escaped strings is several times faster than building and
serialising an element tree. Everything that reaches the output passes through :func:`text` or
:func:`attr`, which escape markup and drop the characters XML 1.0 cannot carry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import TracebackType

# Characters outside the XML 1.0 Char production (control characters, lone surrogates, U+FFFE/F).
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)


def clean(value: object) -> str:
    """``value`` as a string with the characters XML cannot represent removed."""
    return _NOT_XML_CHAR.sub("", str(value))


def text(value: object) -> str:
    """Escape ``value`` for element content."""
    return clean(value).translate(_TEXT_ESCAPES)


def attr(value: object) -> str:
    """Escape ``value`` for a double-quoted attribute value."""
    return clean(value).translate(_ATTR_ESCAPES)


def _attrs(attrs: Mapping[str, object] | None) -> str:
    if not attrs:
        return ""
    return "".join(f' {name}="{attr(value)}"' for name, value in attrs.items() if value is not None)


class XmlWriter:
    """Accumulates an XML document. ``with w.tag("header"):`` wraps nested content."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[str] = []

    def declaration(self) -> None:
        self._parts.append('<?xml version="1.0" encoding="UTF-8"?>\n')

    def open(self, name: str, attrs: Mapping[str, object] | None = None) -> None:
        self._parts.append(f"<{name}{_attrs(attrs)}>")

    def close(self, name: str) -> None:
        self._parts.append(f"</{name}>")

    def element(self, name: str, value: object, attrs: Mapping[str, object] | None = None) -> None:
        """``<name attrs>value</name>``; nothing at all when ``value`` is None or empty."""
        if value is None or value == "":
            return
        self._parts.append(f"<{name}{_attrs(attrs)}>{text(value)}</{name}>")

    def empty(self, name: str, attrs: Mapping[str, object] | None = None) -> None:
        self._parts.append(f"<{name}{_attrs(attrs)}/>")

    def extend(self, other: XmlWriter) -> None:
        """Append everything ``other`` has written (already escaped)."""
        self._parts.extend(other._parts)

    def tag(self, name: str, attrs: Mapping[str, object] | None = None) -> _Tag:
        return _Tag(self, name, attrs)

    def getvalue(self) -> str:
        return "".join(self._parts)


class _Tag:
    __slots__ = ("_attrs", "_name", "_writer")

    def __init__(self, writer: XmlWriter, name: str, attrs: Mapping[str, object] | None) -> None:
        self._writer, self._name, self._attrs = writer, name, attrs

    def __enter__(self) -> XmlWriter:
        self._writer.open(self._name, self._attrs)
        return self._writer

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._writer.close(self._name)
