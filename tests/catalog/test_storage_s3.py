"""The S3 blob store against a real S3 HTTP API (moto in server mode, started by a fixture)."""

from __future__ import annotations

import io
import json
import urllib.request
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from catalog.storage import blob_key
from tests.factories import METADATA, RIGHTS, pdf_bytes


def test_upload_lands_in_s3_content_addressed(api_as, users, s3_store):
    body = pdf_bytes("s3")
    response = api_as(users["publisher"]).post("/api/v1/resources", {
        "metadata": json.dumps(METADATA), "rights": json.dumps(RIGHTS),
        "files": [SimpleUploadedFile("a.pdf", body)]}, format="multipart")
    assert response.status_code == 201, response.json()
    key = blob_key(response.json()["files"][0]["sha256"])
    assert s3_store.exists(key) and s3_store.size(key) == len(body)
    with s3_store.open(key) as fh:
        assert fh.read() == body
    assert [k for k, _ in s3_store.iter_keys()] == [key]


def test_a_failed_uploads_blob_is_left_to_the_collector_in_s3(api_as, users, s3_store, monkeypatch):
    """A failed upload deletes nothing (another upload of the same bytes may be about to use the blob,
    tests/catalog/test_blob_gc.py); the collector removes the unreferenced blob after the grace period."""
    from catalog import services
    from catalog.blobs import blobs_collect

    monkeypatch.setattr(services, "grant_object_rights", lambda *a, **k: 1 / 0)
    client = api_as(users["publisher"])
    client.raise_request_exception = False
    response = client.post("/api/v1/resources", {
        "metadata": json.dumps(METADATA), "rights": json.dumps(RIGHTS),
        "files": [SimpleUploadedFile("a.pdf", pdf_bytes("gone"))]}, format="multipart")
    assert response.status_code == 500
    assert len(list(s3_store.iter_keys())) == 1
    assert blobs_collect() == []  # within the grace period
    assert len(blobs_collect(grace_seconds=0)) == 1
    assert list(s3_store.iter_keys()) == []


def test_presigned_url_downloads_the_bytes(s3_store, tmp_path):
    path = tmp_path / "f.pdf"
    path.write_bytes(pdf_bytes("presign"))
    key = blob_key("ab" * 32)
    assert s3_store.put_file(key, str(path), content_type="application/pdf") is True
    assert s3_store.put_file(key, str(path), content_type="application/pdf") is False  # already there
    url = s3_store.presigned_url(key, filename="课件.pdf", content_type="application/pdf", expires=60)
    with urllib.request.urlopen(url) as response:  # noqa: S310 - loopback moto server
        assert response.read() == path.read_bytes()
    s3_store.ping()
    s3_store.delete(key)
    assert not s3_store.exists(key)


def test_presigned_urls_name_the_public_endpoint_not_the_internal_one(s3_store, settings, tmp_path):
    """The node reaches the store at an internal address (``http://minio:9000`` in the compose stack) that
    no browser can resolve; links are presigned for ``S3_PUBLIC_ENDPOINT_URL`` — and they serve the bytes
    there (the signature covers the host, so the link is made for the public host, not rewritten)."""
    from urllib.parse import urlsplit

    from catalog.storage import get_blob_store, reset_blob_store_cache

    internal = urlsplit(settings.S3_ENDPOINT_URL)
    public = f"http://localhost:{internal.port}"  # the same server under another name, as a proxy would be
    settings.S3_PUBLIC_ENDPOINT_URL = public
    reset_blob_store_cache()
    store = get_blob_store()
    path = tmp_path / "f.pdf"
    path.write_bytes(pdf_bytes("public endpoint"))
    key = blob_key("cd" * 32)
    store.put_file(key, str(path), content_type="application/pdf")  # through the internal address
    url = store.presigned_url(key, filename="课件.pdf", content_type="application/pdf", expires=60)
    assert url.startswith(f"{public}/"), url
    assert internal.hostname not in url
    with urllib.request.urlopen(url) as response:  # noqa: S310 - loopback moto server
        assert response.read() == path.read_bytes()


def test_storage_init_creates_the_bucket_once(s3_endpoint, settings):
    """``manage.py storage_init`` (run by the deployment's one-shot migrate service) creates a missing
    bucket; run again it changes nothing."""
    from catalog.storage import get_blob_store, reset_blob_store_cache

    settings.S3_BUCKET, settings.S3_ENDPOINT_URL = f"exchange-init-{uuid.uuid4().hex[:8]}", s3_endpoint
    settings.S3_PUBLIC_ENDPOINT_URL = s3_endpoint
    settings.S3_ACCESS_KEY_ID, settings.S3_SECRET_ACCESS_KEY = "test-access", "test-secret"
    settings.CATALOG_BLOB_STORE = "catalog.storage.S3BlobStore"
    reset_blob_store_cache()
    store = get_blob_store()
    try:
        with pytest.raises(Exception, match="Not Found|NoSuchBucket|404"):
            store.ping()
        out = io.StringIO()
        call_command("storage_init", stdout=out)
        assert "created" in out.getvalue()
        store.ping()
        again = io.StringIO()
        call_command("storage_init", stdout=again)
        assert "ready" in again.getvalue()
    finally:
        reset_blob_store_cache()
