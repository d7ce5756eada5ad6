"""Serving files behind the links this node signs (when the blob store cannot presign URLs).

``GET /files/<token>`` streams the file with HTTP Range support (RFC 9110: ``206 Partial Content`` with
``Content-Range``, ``If-Range`` against the ETag, ``416`` for a range outside the file), so interrupted
downloads resume. Before any byte is sent the link's signature and expiry are checked and ``decide()``
is asked again for the user the link was issued to, so a withdrawal or an upheld takedown stops links
already handed out.
"""

from __future__ import annotations

from urllib.parse import quote

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.http import http_date
from django.views.decorators.http import require_http_methods

from catalog.storage import get_blob_store
from catalog.usage import resource_file_with_resource
from exchange.api import json_error
from exchange.errors import ExchangeError
from licensing.decisions import Action, decide
from licensing.errors import (
    AccessRefusedError,
    DownloadLinkInvalidError,
    FileUnavailableError,
    RangeNotSatisfiableError,
)
from licensing.links import UnsatisfiableRange, file_token_read, open_range, parse_range, stream_bytes


def _error(exc: ExchangeError, **headers: str) -> JsonResponse:
    response = json_error(exc.code, exc.message, exc.http_status, exc.details)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    response["Cache-Control"] = "no-store"
    return response


@login_not_required
@require_http_methods(["GET", "HEAD"])
def signed_file_download(request: HttpRequest, token: str) -> HttpResponse:
    """Permission: the holder of a valid, unexpired link; the user it was issued to must still be
    active and allowed to download the resource by ``decide()``."""
    try:
        claims = file_token_read(token)
        file = resource_file_with_resource(claims.file_id)
        user = get_user_model().objects.filter(pk=claims.user_id, is_active=True).select_related(
            "organisation").first()
        if file is None or user is None:
            raise DownloadLinkInvalidError()
        decision = decide(user, file.resource, Action.DOWNLOAD)
        if not decision.allowed:
            raise AccessRefusedError(decision)
    except ExchangeError as exc:
        return _error(exc)

    size, etag = file.size, f'"{file.sha256}"'
    last_modified = http_date(file.created_at.timestamp())
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": last_modified,
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(file.original_name)}",
        "Cache-Control": "private, no-store",
    }
    range_header = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if range_header and if_range and if_range.strip() not in (etag, last_modified):
        range_header = None  # the client's copy is of another version: send the whole file
    try:
        byte_range = parse_range(range_header, size)
    except UnsatisfiableRange:
        return _error(RangeNotSatisfiableError(details={"size": size}), Content_Range=f"bytes */{size}",
                      Accept_Ranges="bytes")

    length = byte_range.length if byte_range else size
    status = 206 if byte_range else 200
    store = get_blob_store()
    if not store.exists(file.storage_key):  # lost from the store since the link was issued: say so, no 500
        return _error(FileUnavailableError(details={"file": str(file.pk)}))
    if request.method == "HEAD":
        response: HttpResponse = HttpResponse(status=status, content_type=file.mime)
    else:
        handle = open_range(store, file.storage_key, byte_range) if byte_range else store.open(file.storage_key)
        response = StreamingHttpResponse(stream_bytes(handle, length), status=status, content_type=file.mime)
    for name, value in headers.items():
        response[name] = value
    response["Content-Length"] = str(length)
    if byte_range:
        response["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    return response
