"""Files of remote resources travel lazily: fetched from the origin when first needed.

``ensure_local(resource_file)`` (registered as ``CATALOG_REMOTE_FILE_FETCHER``) fetches the bytes
from the resource's origin node with a signed request (``GET /federation/v1/files/{sha256}``),
streams them to a temporary file while hashing, checks the sha256 and size against the values in
the origin's signed record, stores them content-addressed in the blob store and marks every file
row with that content as available. The origin serves only files of its own published resources.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable

from django.conf import settings

from catalog.models import ResourceFile
from catalog.recovery import own_files_missing
from catalog.remote import cached_published_file, local_published_file, remote_file_mark_available
from catalog.storage import blob_key, get_blob_store
from exchange.errors import ExchangeError
from federation.errors import RemoteFileChecksumError, RemoteFileUnavailableError, UnknownPeerError
from federation.models import Peer
from federation.transport import build_url, signed_request

logger = logging.getLogger("federation.files")


def ensure_local(resource_file: ResourceFile) -> ResourceFile:
    """Make sure the file's bytes are in this node's blob store; return the (refreshed) row.

    Local files, and remote ones already fetched, return at once. Call it outside a database
    transaction (it waits on the network). Raises RemoteFileUnavailableError (origin unknown,
    unreachable, or refusing) or RemoteFileChecksumError (the bytes are not the signed ones)."""
    store = get_blob_store()
    key = blob_key(resource_file.sha256)
    if resource_file.available_locally and store.exists(key):
        return resource_file
    if store.exists(key):  # the same content arrived with another resource
        remote_file_mark_available(sha256=resource_file.sha256)
        resource_file.refresh_from_db()
        return resource_file
    origin = resource_file.resource.origin_node
    peer = Peer.objects.filter(node_id=origin).exclude(base_url="").first()
    if peer is None:
        raise RemoteFileUnavailableError(f"the origin node {origin} is not known here",
                                         details={"origin": origin, "cause": UnknownPeerError.code})
    _fetch_into_store(resource_file, peer=peer)
    resource_file.refresh_from_db()
    logger.info("remote file fetched", extra={"origin": origin, "sha256": resource_file.sha256})
    return resource_file


def _fetch_into_store(resource_file: ResourceFile, *, peer: Peer) -> None:
    """GET the bytes from ``peer`` (signed both ways), check sha256 and size, store them content-addressed
    and mark every row of that content available. Raises RemoteFileUnavailableError or
    RemoteFileChecksumError."""
    key = blob_key(resource_file.sha256)
    fd, tmp = tempfile.mkstemp(prefix="remote-", dir=settings.FILE_UPLOAD_TEMP_DIR)
    try:
        with os.fdopen(fd, "w+b") as handle:
            try:
                signed_request("GET", build_url(peer.base_url, f"/federation/v1/files/{resource_file.sha256}"),
                               expect_node=peer.node_id, stream_to=handle,
                               max_bytes=max(resource_file.size, settings.CATALOG_MAX_UPLOAD_BYTES))
            except ExchangeError as exc:
                raise RemoteFileUnavailableError(f"{peer.node_id}: {exc.message}",
                                                 details={"origin": peer.node_id, "cause": exc.code}) from exc
            handle.seek(0)
            digest, size = hashlib.sha256(), 0
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != resource_file.sha256 or size != resource_file.size:
            raise RemoteFileChecksumError(details={"origin": peer.node_id, "expected": resource_file.sha256,
                                                   "actual": digest.hexdigest(), "size": size})
        get_blob_store().put_file(key, tmp, content_type=resource_file.mime)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    remote_file_mark_available(sha256=resource_file.sha256)


def open_served_file(sha256: str, *, requester: str | None = None) -> tuple[ResourceFile, str, bool] | None:
    """The file row, a local path holding its bytes, and whether that path is a temporary copy the
    caller must remove; None when this node does not serve that content to ``requester``.

    A node serves the files of its own published resources to any certified node; and a copy it holds
    of another origin's published file back to that origin, which may have lost it (disaster recovery:
    the bytes are checked against the origin's own signed record on arrival)."""
    row = local_published_file(sha256=sha256)
    if row is None and requester:
        row = cached_published_file(sha256=sha256, origin=requester)
    if row is None:
        return None
    store = get_blob_store()
    key = blob_key(sha256)
    if not store.exists(key):
        return None
    local_path = getattr(store, "path", None)
    if local_path is not None:
        path = str(local_path(key))
        return (row, path, False) if os.path.isfile(path) else None
    fd, tmp = tempfile.mkstemp(prefix="serve-", dir=settings.FILE_UPLOAD_TEMP_DIR)
    with os.fdopen(fd, "wb") as out, store.open(key) as src:
        shutil.copyfileobj(src, out, 1024 * 1024)
    return row, tmp, True


def own_files_fetch(*, from_node: str, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """(Recovery) fetch the bytes of this node's own published files that are missing here from
    ``from_node`` (the hub keeps copies of files its users fetched), each checked against its sha256
    and size. Returns counts: ``fetched``, ``missing`` (no node had them: the publisher must upload again)."""
    peer = Peer.objects.filter(node_id=from_node).exclude(base_url="").first()
    if peer is None:
        raise UnknownPeerError(details={"node_id": from_node})
    counts = {"fetched": 0, "missing": 0}
    done: set[str] = set()
    for row in own_files_missing():
        if row.sha256 in done:
            continue
        done.add(row.sha256)
        try:
            _fetch_into_store(row, peer=peer)
            counts["fetched"] += 1
        except (RemoteFileUnavailableError, RemoteFileChecksumError):
            counts["missing"] += 1
        if progress:
            progress(1)
    return counts
