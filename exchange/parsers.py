"""The API's JSON parser: the standard one with bounds (see :mod:`exchange.inputs`).

DRF reads a JSON body through ``request.body``, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bounds its
size (``request_too_large``); this parser bounds what the bytes may hold: nesting depth
(``API_JSON_MAX_DEPTH``), NaN/Infinity, numbers beyond 64 bits and NUL characters are a
``malformed_request``, like any other JSON that does not parse.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from exchange.inputs import InputBoundsError, loads_bounded


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        raw = stream.read()
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ParseError(f"JSON parse error - the body is not valid {encoding}.") from exc
        try:
            return loads_bounded(text, max_depth=settings.API_JSON_MAX_DEPTH)
        except InputBoundsError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
