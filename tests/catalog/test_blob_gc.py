"""A failed upload never deletes a blob another upload is about to reference, and the collector only
removes blobs that nothing references and no upload claimed within the grace period.

The races are staged deterministically with two real uploads in two threads: a gate on the blob
store's ``put_file`` (and, for the collector, ``delete``) holds each thread at the moment that
matters. The same tests run against the local store and the S3 store on the moto server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import threading
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import services
from catalog.blobs import blobs_collect
from catalog.models import BlobLease, Resource, ResourceFile
from catalog.storage import blob_key, get_blob_store
from tests import factories
from tests.factories import METADATA, RIGHTS, pdf_bytes

WAIT = 30  # seconds a gate waits for the other thread before the test gives up (never reached when correct)


@pytest.fixture
def users(committed_db, province):
    """The demo users in a committed (transactional) database: the uploads run in threads."""
    return factories.demo_users(factories.demo_organisations(province))


@pytest.fixture(params=["local", "s3"])
def store(request):
    if request.param == "s3":
        return request.getfixturevalue("s3_store")
    return get_blob_store()


def deposit(user, body: bytes, name: str = "a.pdf"):
    client = APIClient()
    client.force_authenticate(user=user)
    client.raise_request_exception = False
    return client.post("/api/v1/resources", {
        "metadata": json.dumps(METADATA, ensure_ascii=False), "rights": json.dumps(RIGHTS, ensure_ascii=False),
        "files": [SimpleUploadedFile(name, body)]}, format="multipart")


class Gate:
    """Hold the thread named ``who`` right after ``method`` of the store returns, until released."""

    def __init__(self, store, method: str, who: str, monkeypatch) -> None:
        self.reached, self.release = threading.Event(), threading.Event()
        original: Callable = getattr(store, method)

        def gated(*args, **kwargs):
            result = original(*args, **kwargs)
            if threading.current_thread().name == who:
                self.reached.set()
                assert self.release.wait(WAIT), f"{who} was never released"
            return result

        monkeypatch.setattr(store, method, gated)


def in_thread(name: str, target: Callable[[], object]) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run():
        try:
            out["result"] = target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            out["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, out


def test_a_failed_upload_does_not_delete_the_blob_a_concurrent_upload_references(users, store, monkeypatch):
    """Upload A stores the bytes and then fails; upload B of the same bytes found the blob present
    (so did not write it) before A failed, and commits its row after. B's row must find its blob."""
    body = pdf_bytes("shared")
    key = blob_key(hashlib.sha256(body).hexdigest())
    gate_a = Gate(store, "put_file", "upload-a", monkeypatch)
    original_grant = services.grant_object_rights

    def grant_or_fail(*args, **kwargs):  # the fault: A's row-writing transaction fails
        if threading.current_thread().name == "upload-a":
            raise RuntimeError("database went away")
        return original_grant(*args, **kwargs)

    monkeypatch.setattr(services, "grant_object_rights", grant_or_fail)

    thread_a, out_a = in_thread("upload-a", lambda: deposit(users["publisher"], body, "a.pdf"))
    assert gate_a.reached.wait(WAIT)  # A has stored the blob
    gate_b = Gate(store, "put_file", "upload-b", monkeypatch)
    thread_b, out_b = in_thread("upload-b", lambda: deposit(users["publisher"], body, "b.pdf"))
    assert gate_b.reached.wait(WAIT)  # B has found it stored
    gate_a.release.set()
    thread_a.join(WAIT)
    assert out_a["result"].status_code == 500  # A failed after storing
    gate_b.release.set()
    thread_b.join(WAIT)
    assert out_b["result"].status_code == 201, out_b
    row = ResourceFile.objects.get(resource_id=out_b["result"].json()["id"])
    assert row.storage_key == key
    assert store.exists(key), "B's row references a blob that A's failure deleted"
    assert Resource.objects.count() == 1


def test_the_collector_keeps_a_failed_uploads_blob_for_the_grace_period_then_removes_it(users, store, monkeypatch):
    body = pdf_bytes("orphan")
    key = blob_key(hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(services, "grant_object_rights", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    assert deposit(users["publisher"], body).status_code == 500
    assert store.exists(key) and BlobLease.objects.filter(key=key).exists()
    assert blobs_collect() == [] and store.exists(key)  # claimed moments ago
    assert blobs_collect(dry_run=True, grace_seconds=0) == [key] and store.exists(key)
    assert blobs_collect(grace_seconds=0) == [key]
    assert not store.exists(key) and not BlobLease.objects.exists()


def test_the_collector_never_removes_a_referenced_blob_and_forgets_its_expired_lease(users, store):
    body = pdf_bytes("kept")
    key = blob_key(hashlib.sha256(body).hexdigest())
    assert deposit(users["publisher"], body).status_code == 201
    assert blobs_collect(grace_seconds=0) == []
    assert store.exists(key) and not BlobLease.objects.exists()


def test_an_upload_renews_the_claim_on_a_stale_unreferenced_blob(users, store, monkeypatch):
    """A blob left by an old failed upload, its lease long expired, is claimed afresh by a new upload
    of the same bytes, so the collector running between that upload's claim and its commit keeps it."""
    body = pdf_bytes("stale")
    key = blob_key(hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(services, "grant_object_rights", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    assert deposit(users["publisher"], body).status_code == 500
    monkeypatch.undo()
    BlobLease.objects.filter(key=key).update(renewed_at=timezone.now() - dt.timedelta(days=30))

    gate = Gate(store, "put_file", "upload", monkeypatch)
    thread, out = in_thread("upload", lambda: deposit(users["publisher"], body))
    assert gate.reached.wait(WAIT)  # claimed and found stored; its row not yet written
    assert blobs_collect() == []
    gate.release.set()
    thread.join(WAIT)
    assert out["result"].status_code == 201
    assert store.exists(key)


def test_an_upload_claiming_a_blob_the_collector_is_removing_waits_and_stores_it_again(users, store, monkeypatch):
    """The collector decides and deletes under the lease's lock: an upload of the same bytes that
    claims the key meanwhile waits for it, then finds the blob gone and writes it again."""
    body = pdf_bytes("contended")
    key = blob_key(hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(services, "grant_object_rights", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    assert deposit(users["publisher"], body).status_code == 500
    monkeypatch.undo()

    gate = Gate(store, "delete", "collector", monkeypatch)
    collector, collected = in_thread("collector", lambda: blobs_collect(grace_seconds=0))
    assert gate.reached.wait(WAIT)  # the blob is deleted; the collector still holds the lease's lock
    upload, uploaded = in_thread("upload", lambda: deposit(users["publisher"], body))
    upload.join(2)  # it cannot finish while the collector holds the lock (if it could, the blob would be lost)
    gate.release.set()
    collector.join(WAIT)
    upload.join(WAIT)
    assert collected["result"] == [key]
    assert uploaded["result"].status_code == 201, uploaded
    assert store.exists(key)


def test_gc_blobs_command_reports_and_honours_min_age(users, store, monkeypatch):
    body = pdf_bytes("command")
    key = blob_key(hashlib.sha256(body).hexdigest())
    monkeypatch.setattr(services, "grant_object_rights", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("x")))
    assert deposit(users["publisher"], body).status_code == 500
    out = io.StringIO()
    call_command("gc_blobs", stdout=out)
    assert "0 unreferenced" in out.getvalue() and store.exists(key)
    out = io.StringIO()
    call_command("gc_blobs", "--min-age-hours", "0", stdout=out)
    assert f"removed {key}" in out.getvalue() and not store.exists(key)
