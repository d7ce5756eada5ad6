"""Structured Field Values for HTTP (RFC 8941): the parts HTTP Message Signatures need.

``Signature-Input``, ``Signature`` and ``Content-Digest`` are Dictionary fields, and the
``@signature-params`` line of a signature base is the serialization of an Inner List with parameters.
Signing and verifying must agree byte for byte, so parsing and serializing follow the RFC's
algorithms (§4.1, §4.2) exactly rather than splitting on commas and semicolons. Serializing a parsed
value gives its one canonical text form.

Python types: Integer → ``int``, Decimal → ``decimal.Decimal``, String → ``str``, Token → :class:`Token`,
Byte Sequence → ``bytes``, Boolean → ``bool``.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal

_KEY_FIRST = string.ascii_lowercase + "*"
_KEY_CHARS = string.ascii_lowercase + string.digits + "_-.*"
_TCHAR = "!#$%&'*+-.^_`|~" + string.digits + string.ascii_letters
_TOKEN_CHARS = _TCHAR + ":/"
_BASE64_RE = re.compile(r"[A-Za-z0-9+/=]*")
_NUMBER_RE = re.compile(r"-?[0-9]+(\.[0-9]*)?")
_MAX_INTEGER = 999_999_999_999_999


class Token(str):
    """An sf-token: an unquoted identifier such as ``sha-256`` or ``foo/bar``."""


BareItem = int | Decimal | str | bytes | bool


@dataclass(frozen=True)
class Item:
    """A bare item with its parameters (ordered)."""

    value: BareItem
    params: dict[str, BareItem] = field(default_factory=dict)


@dataclass(frozen=True)
class InnerList:
    """A parenthesised list of items with its own parameters (ordered)."""

    items: list[Item]
    params: dict[str, BareItem] = field(default_factory=dict)


Member = Item | InnerList


class StructuredFieldError(ValueError):
    """Raised when a field value is not a valid Structured Field, or a value cannot be serialized."""


# ---------------------------------------------------------------- serializing (RFC 8941 §4.1)


def serialize_dictionary(members: dict[str, Member]) -> str:
    """Serialize an ordered mapping of keys to items or inner lists as an sf-dictionary."""
    parts = []
    for key, member in members.items():
        _check_key(key)
        if isinstance(member, Item) and member.value is True:
            parts.append(key + serialize_params(member.params))
        else:
            parts.append(f"{key}={serialize_member(member)}")
    return ", ".join(parts)


def serialize_member(member: Member) -> str:
    """Serialize an item or an inner list, with parameters."""
    if isinstance(member, InnerList):
        inner = " ".join(serialize_member(item) for item in member.items)
        return f"({inner}){serialize_params(member.params)}"
    return serialize_bare_item(member.value) + serialize_params(member.params)


def serialize_params(params: dict[str, BareItem]) -> str:
    """Serialize parameters as ``;key=value`` pairs (``;key`` alone for Boolean true)."""
    out = []
    for key, value in params.items():
        _check_key(key)
        out.append(f";{key}" if value is True else f";{key}={serialize_bare_item(value)}")
    return "".join(out)


def serialize_bare_item(value: BareItem) -> str:
    """Serialize one bare item. Raises StructuredFieldError on values outside the RFC's domain."""
    if isinstance(value, bool):
        return "?1" if value else "?0"
    if isinstance(value, int):
        if abs(value) > _MAX_INTEGER:
            raise StructuredFieldError("integer out of range")
        return str(value)
    if isinstance(value, Decimal):
        rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)
        if abs(rounded) >= 10**12:
            raise StructuredFieldError("decimal out of range")
        text = format(rounded, "f").rstrip("0")
        return text + "0" if text.endswith(".") else text
    if isinstance(value, Token):
        if not value or not (value[0].isascii() and (value[0].isalpha() or value[0] == "*")):
            raise StructuredFieldError("invalid token")
        if any(ch not in _TOKEN_CHARS for ch in value):
            raise StructuredFieldError("invalid token")
        return str(value)
    if isinstance(value, str):
        if any(not (0x20 <= ord(ch) <= 0x7E) for ch in value):
            raise StructuredFieldError("strings must be printable ASCII")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bytes):
        return ":" + base64.b64encode(value).decode("ascii") + ":"
    raise StructuredFieldError(f"cannot serialize {type(value).__name__}")


def _check_key(key: str) -> None:
    if not key or key[0] not in _KEY_FIRST or any(ch not in _KEY_CHARS for ch in key):
        raise StructuredFieldError(f"invalid key {key!r}")


# ---------------------------------------------------------------- parsing (RFC 8941 §4.2)


def parse_dictionary(text: str) -> dict[str, Member]:
    """Parse an sf-dictionary field value. Raises StructuredFieldError when it is not one."""
    parser = _Parser(text)
    parser.skip(" ")
    result = parser.dictionary()
    parser.skip(" ")
    if not parser.at_end():
        raise StructuredFieldError("trailing characters")
    return result


class _Parser:
    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text.isascii():
            raise StructuredFieldError("field value must be ASCII")
        self.text = text
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip(self, chars: str) -> None:
        while not self.at_end() and self.text[self.pos] in chars:
            self.pos += 1

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise StructuredFieldError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def dictionary(self) -> dict[str, Member]:
        members: dict[str, Member] = {}
        while not self.at_end():
            key = self.key()
            if self.peek() == "=":
                self.pos += 1
                members[key] = self.inner_list() if self.peek() == "(" else self.item()
            else:
                members[key] = Item(True, self.params())
            self.skip(" \t")
            if self.at_end():
                break
            self.expect(",")
            self.skip(" \t")
            if self.at_end():
                raise StructuredFieldError("trailing comma")
        return members

    def inner_list(self) -> InnerList:
        self.expect("(")
        items: list[Item] = []
        while not self.at_end():
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(items, self.params())
            items.append(self.item())
            if self.peek() not in (" ", ")"):
                raise StructuredFieldError("inner list items must be separated by spaces")
        raise StructuredFieldError("unterminated inner list")

    def item(self) -> Item:
        value = self.bare_item()
        return Item(value, self.params())

    def params(self) -> dict[str, BareItem]:
        params: dict[str, BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            value: BareItem = True
            if self.peek() == "=":
                self.pos += 1
                value = self.bare_item()
            params[key] = value
        return params

    def key(self) -> str:
        start = self.pos
        if self.peek() == "" or self.peek() not in _KEY_FIRST:
            raise StructuredFieldError(f"invalid key at {start}")
        while self.peek() != "" and self.peek() in _KEY_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def bare_item(self) -> BareItem:
        char = self.peek()
        if char == "-" or char.isdigit():
            return self.number()
        if char == '"':
            return self.string()
        if char == "*" or (char.isascii() and char.isalpha()):
            return self.token()
        if char == ":":
            return self.byte_sequence()
        if char == "?":
            return self.boolean()
        raise StructuredFieldError(f"unexpected {char!r} at {self.pos}")

    def number(self) -> int | Decimal:
        match = _NUMBER_RE.match(self.text, self.pos)
        if match is None:
            raise StructuredFieldError(f"invalid number at {self.pos}")
        text = match.group(0)
        digits = text.lstrip("-")
        self.pos = match.end()
        if match.group(1) is None:
            if len(digits) > 15:
                raise StructuredFieldError("integer too long")
            return int(text)
        whole, frac = digits.split(".")
        if len(whole) > 12 or not 1 <= len(frac) <= 3:
            raise StructuredFieldError("invalid decimal")
        return Decimal(text)

    def string(self) -> str:
        self.expect('"')
        out = []
        while not self.at_end():
            char = self.text[self.pos]
            self.pos += 1
            if char == "\\":
                escaped = self.peek()
                if escaped not in ('"', "\\") or escaped == "":
                    raise StructuredFieldError("invalid escape in string")
                out.append(escaped)
                self.pos += 1
            elif char == '"':
                return "".join(out)
            elif not 0x20 <= ord(char) <= 0x7E:
                raise StructuredFieldError("invalid character in string")
            else:
                out.append(char)
        raise StructuredFieldError("unterminated string")

    def token(self) -> Token:
        start = self.pos
        self.pos += 1
        while self.peek() != "" and self.peek() in _TOKEN_CHARS:
            self.pos += 1
        return Token(self.text[start : self.pos])

    def byte_sequence(self) -> bytes:
        self.expect(":")
        end = self.text.find(":", self.pos)
        if end < 0:
            raise StructuredFieldError("unterminated byte sequence")
        encoded = self.text[self.pos : end]
        self.pos = end + 1
        if not _BASE64_RE.fullmatch(encoded):
            raise StructuredFieldError("invalid base64 in byte sequence")
        try:
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error as exc:
            raise StructuredFieldError("invalid base64 in byte sequence") from exc

    def boolean(self) -> bool:
        self.expect("?")
        char = self.peek()
        if char not in ("0", "1") or char == "":
            raise StructuredFieldError("invalid boolean")
        self.pos += 1
        return char == "1"
