"""The collector removes the previews of contents whose source file is gone from the node, and only those:
never while a file row names the content, its blob is stored, an upload claimed its bytes or a preview job
is at work on it within the grace period. The previews are rendered for real (an image's thumbnail, no
external program needed); the same tests run against the local store and the S3 store on the moto server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tempfile
import threading

import pytest
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

import catalog.blobs
import catalog.previews.services
from catalog.blobs import BlobToStore, blobs_claim, blobs_collect, blobs_store, previews_collect
from catalog.models import BlobLease, FilePreview
from catalog.previews.services import preview_build, preview_key
from catalog.storage import blob_key, get_blob_store
from tests import factories
from tests.catalog.test_blob_gc import WAIT, Gate, in_thread
from tests.factories import ResourceFactory, store_file

PNG = "image/png"


@pytest.fixture
def users(committed_db, province):
    return factories.demo_users(factories.demo_organisations(province))


@pytest.fixture(params=["local", "s3"])
def store(request):
    if request.param == "s3":
        return request.getfixturevalue("s3_store")
    return get_blob_store()


def png(seed: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), ((seed * 37) % 256, (seed * 91) % 256, 120)).save(out, "PNG")
    return out.getvalue()


def store_blob(body: bytes) -> str:
    """Store ``body`` the way an upload does (claim, then write) without a file row; its sha256."""
    sha = hashlib.sha256(body).hexdigest()
    fd, tmp = tempfile.mkstemp()
    with os.fdopen(fd, "wb") as handle:
        handle.write(body)
    try:
        blobs_store([BlobToStore(sha256=sha, path=tmp, content_type=PNG)], previews=False)
    finally:
        os.unlink(tmp)
    return sha


def rendered(sha: str) -> FilePreview:
    preview = preview_build(sha256=sha, mime=PNG)
    assert preview.status == FilePreview.Status.READY and preview.has_cover
    return preview


def cover_stored(store, sha: str) -> bool:
    return store.exists(preview_key(sha, "cover.png"))


class LaterClock:
    """The node's clock (the collector's, claims', preview jobs') two hours on from the real one, so what was
    written in the test so far is older than a one-hour grace period (the stores keep their own write times,
    which a test cannot set on S3)."""

    def __init__(self) -> None:
        self.shift = dt.timedelta(hours=2)

    def now(self) -> dt.datetime:
        return timezone.now() + self.shift


@pytest.fixture
def later(monkeypatch):
    clock = LaterClock()
    monkeypatch.setattr(catalog.blobs, "timezone", clock)
    monkeypatch.setattr(catalog.previews.services, "timezone", clock)
    return clock


GRACE = 3600


def test_gc_blobs_removes_the_previews_of_a_content_whose_file_is_gone_after_the_grace_period(users, store):
    """An upload's blob that no file references (a failed upload) and its previews: kept while young, then the
    command removes the blob and the previews with it (dry run first: reports, removes nothing)."""
    sha = store_blob(png(1))
    rendered(sha)
    out = io.StringIO()
    call_command("gc_blobs", "--no-progress", stdout=out)
    assert "0 orphaned preview set(s)" in out.getvalue()
    assert cover_stored(store, sha) and FilePreview.objects.filter(sha256=sha).exists()

    out = io.StringIO()
    call_command("gc_blobs", "--min-age-hours", "0", "--dry-run", "--no-progress", stdout=out)
    assert f"would remove previews of {sha}" in out.getvalue()
    assert cover_stored(store, sha) and store.exists(blob_key(sha))

    out = io.StringIO()
    call_command("gc_blobs", "--min-age-hours", "0", "--no-progress", stdout=out)
    assert f"removed {blob_key(sha)}" in out.getvalue()
    assert f"removed previews of {sha}" in out.getvalue()
    assert not store.exists(blob_key(sha))
    assert not cover_stored(store, sha)
    assert list(store.iter_keys("previews/")) == []
    assert not FilePreview.objects.filter(sha256=sha).exists()
    assert not BlobLease.objects.exists()


def test_previews_of_a_content_a_file_still_names_are_kept(users, store):
    """A live file's content keeps its previews, also when its blob is missing from the store (a file row of
    a remote record not fetched, a damaged store): only a content no row names is gone."""
    resource = ResourceFactory(publisher=users["publisher"].organisation, with_file=False)
    body = png(2)
    file = store_file(resource, "图.png", body, mime=PNG)
    rendered(file.sha256)
    store.delete(blob_key(file.sha256))
    assert previews_collect(grace_seconds=0) == []
    assert cover_stored(store, file.sha256) and FilePreview.objects.filter(sha256=file.sha256).exists()

    resource.files.all().delete()
    assert previews_collect(grace_seconds=0) == [file.sha256]
    assert not cover_stored(store, file.sha256)


def test_previews_of_a_stored_blob_are_kept_until_the_blob_is_collected(users, store):
    sha = store_blob(png(3))
    rendered(sha)
    assert previews_collect(grace_seconds=0) == []  # the source is still in the store
    assert cover_stored(store, sha)
    assert blobs_collect(grace_seconds=0) == [blob_key(sha)]
    assert previews_collect(grace_seconds=0) == [sha]
    assert not cover_stored(store, sha)


def test_a_recent_claim_keeps_the_previews_of_a_content_without_a_file(users, store, later):
    """An upload that claimed the bytes within the grace period (its row and its preview job are on their way)
    keeps the content's previews, though no row names it yet and its blob is not (yet) in the store."""
    sha = store_blob(png(4))
    rendered(sha)
    FilePreview.objects.filter(sha256=sha).update(updated_at=later.now() - dt.timedelta(days=1))
    store.delete(blob_key(sha))  # gone (an earlier collection); no row names the content
    blobs_claim([blob_key(sha)])  # an upload of the same bytes, now
    assert previews_collect(grace_seconds=GRACE) == []
    assert cover_stored(store, sha), "previews removed while an upload of the same bytes had just claimed them"
    BlobLease.objects.filter(key=blob_key(sha)).update(renewed_at=later.now() - dt.timedelta(days=1))
    assert previews_collect(grace_seconds=GRACE) == [sha]  # that upload is long over and left nothing
    assert not cover_stored(store, sha)


def test_a_preview_job_at_work_keeps_its_content(users, store, monkeypatch, later):
    """A preview job rendering a content again (``build_previews --again``) marks its row when it starts, so
    the collector running meanwhile (the renditions on the store are old, the source blob gone) keeps the
    content; otherwise the job would finish on a row that no longer exists and leave unlisted renditions."""
    sha = store_blob(png(5))
    rendered(sha)
    BlobLease.objects.filter(key=blob_key(sha)).update(renewed_at=later.now() - dt.timedelta(days=1))
    FilePreview.objects.filter(sha256=sha).update(updated_at=later.now() - dt.timedelta(days=1))
    gate = Gate(store, "put_file", "preview-job", monkeypatch)
    job, out = in_thread("preview-job", lambda: preview_build(sha256=sha, mime=PNG, again=True))
    assert gate.reached.wait(WAIT)  # the job is writing its renditions
    store.delete(blob_key(sha))
    try:
        removed = previews_collect(grace_seconds=GRACE)
    finally:
        gate.release.set()
        job.join(WAIT)
    assert removed == []
    assert out.get("result") is not None and out["result"].status == FilePreview.Status.READY, out
    assert cover_stored(store, sha)


def test_an_upload_claiming_bytes_whose_previews_are_being_collected_waits_and_renders_them_again(
        users, store, monkeypatch, settings):
    """The collector decides and deletes holding the source blob's lease: an upload of the same bytes that
    claims it meanwhile waits, then stores the blob, and its preview job renders the previews afresh."""
    body = png(6)
    sha = store_blob(body)
    rendered(sha)
    assert blobs_collect(grace_seconds=0) == [blob_key(sha)]
    gate = Gate(store, "delete", "collector", monkeypatch)
    collector, collected = in_thread("collector", lambda: previews_collect(grace_seconds=0))
    assert gate.reached.wait(WAIT)  # a rendition is deleted; the collector holds the lease
    claimed = threading.Event()

    def upload():
        store_blob(body)
        claimed.set()

    uploader, uploaded = in_thread("upload", upload)
    assert not claimed.wait(1)  # it cannot claim while the collector holds the lease
    gate.release.set()
    collector.join(WAIT)
    uploader.join(WAIT)
    assert collected.get("result") == [sha], collected
    assert "error" not in uploaded, uploaded
    assert store.exists(blob_key(sha)) and not FilePreview.objects.filter(sha256=sha).exists()
    assert rendered(sha).status == FilePreview.Status.READY  # the upload's preview job
    assert cover_stored(store, sha)
