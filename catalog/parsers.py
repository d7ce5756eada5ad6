"""The upload endpoints' multipart parser: unsafe file names are refused, not quietly rewritten.

Django's multipart parser repairs a file name before anyone sees it: ``../../etc/passwd.pdf`` becomes
``passwd.pdf``, invisible characters (a right-to-left override hiding the real extension) vanish, and
a part named ``..`` is dropped silently. The API refuses such an upload instead
(``file_name_invalid``), by the same rule the upload service applies (:func:`catalog.files.file_name_problem`).
"""

from __future__ import annotations

import html

from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from catalog.files import check_file_name


class _RefusingMultiPartParser(DjangoMultiPartParser):
    def sanitize_file_name(self, file_name):
        check_file_name(html.unescape(file_name))
        return super().sanitize_file_name(file_name)


class UploadMultiPartParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = _RefusingMultiPartParser(meta, stream, request.upload_handlers,
                                              parsers.get_encoding(parser_context))
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        return parsers.DataAndFiles(data, files)
