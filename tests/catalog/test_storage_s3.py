"""The S3 blob store against a real S3 HTTP API (moto in server mode, started by a fixture)."""

from __future__ import annotations

import json
import urllib.request

from django.core.files.uploadedfile import SimpleUploadedFile

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
