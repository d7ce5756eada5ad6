"""Publisher upload through the API: metadata, rights and files validated; nothing half-stored."""

from __future__ import annotations

import hashlib
import io
import json
import struct

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from catalog.models import Resource, ResourceFile
from catalog.storage import blob_key, get_blob_store
from exchange.models import AuditEvent
from tests.factories import METADATA, RIGHTS, pdf_bytes, pptx_bytes

MP4_HEADER = struct.pack(">I4s4sI", 24, b"ftyp", b"isom", 512) + b"isomiso2" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def deposit(client, files, metadata=None, rights=None, checksums=None):
    data = {"metadata": json.dumps(metadata or METADATA, ensure_ascii=False),
            "rights": json.dumps(rights or RIGHTS, ensure_ascii=False), "files": files}
    if checksums is not None:
        data["checksums"] = json.dumps(checksums)
    return client.post("/api/v1/resources", data, format="multipart")


def upload(name: str, body: bytes, content_type: str = "application/octet-stream") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, body, content_type=content_type)


def stored_blob_count(settings) -> int:
    root = settings.CATALOG_BLOB_ROOT / "sha256"
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def test_publisher_deposits_pdf_pptx_and_mp4(api_as, users):
    """A multi-file deposit stores each file content-addressed with sha256, sniffed type and size."""
    pdf, pptx = pdf_bytes("教案"), pptx_bytes("课件")
    response = deposit(api_as(users["publisher"]), [
        upload("教案.pdf", pdf), upload("课件.pptx", pptx, "text/plain"), upload("微课.mp4", MP4_HEADER)])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft" and body["version"] == 1
    assert body["rights"]["license"] == "CC-BY-4.0"
    files = {f["original_name"]: f for f in body["files"]}
    assert files["教案.pdf"]["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert files["课件.pptx"]["mime"] == (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation")  # not the client's text/plain
    assert files["微课.mp4"]["mime"] == "video/mp4"
    store = get_blob_store()
    for f in body["files"]:
        assert store.exists(blob_key(f["sha256"]))
    assert AuditEvent.objects.filter(action="resource.create", object_id=body["id"]).exists()


def test_renamed_executable_is_refused_and_nothing_is_stored(api_as, users, settings):
    """An .exe renamed to .pdf is refused by content; the valid file sent with it is not kept either."""
    response = deposit(api_as(users["publisher"]), [upload("ok.pdf", pdf_bytes()), upload("课件.pdf", EXE)])
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "file_type_not_allowed"
    assert Resource.objects.count() == 0 and ResourceFile.objects.count() == 0
    assert stored_blob_count(settings) == 0


@pytest.mark.parametrize(
    ("name", "body", "status", "code"),
    [
        ("image.pdf", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, 415, "file_type_mismatch"),
        ("page.txt", b"<!DOCTYPE html><script>alert(1)</script>", 415, "file_type_not_allowed"),
        ("run.sh.txt", b"#!/bin/sh\nrm -rf /\n", 415, "file_type_not_allowed"),
        ("empty.pdf", b"", 400, "file_empty"),
        ("broken.docx", b"PK\x03\x04garbage", 415, "file_type_not_allowed"),
    ],
)
def test_bad_files_get_a_clear_error(api_as, users, name, body, status, code):
    response = deposit(api_as(users["publisher"]), [upload(name, body)])
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert Resource.objects.count() == 0


def test_checksum_mismatch_is_refused(api_as, users, settings):
    response = deposit(api_as(users["publisher"]), [upload("a.pdf", pdf_bytes())], checksums={"a.pdf": "0" * 64})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "checksum_mismatch" and error["details"]["expected"] == "0" * 64
    assert stored_blob_count(settings) == 0


def test_matching_checksum_is_accepted(api_as, users):
    body = pdf_bytes("x")
    response = deposit(api_as(users["publisher"]), [upload("a.pdf", body)],
                       checksums={"a.pdf": hashlib.sha256(body).hexdigest()})
    assert response.status_code == 201


def test_size_limit(api_as, users, settings):
    settings.CATALOG_MAX_UPLOAD_BYTES = 100
    response = deposit(api_as(users["publisher"]), [upload("big.pdf", pdf_bytes() + b"\x00" * 200)])
    assert response.status_code == 413
    assert response.json()["error"] == {
        "code": "file_too_large", "message": "big.pdf is larger than the limit of 100 bytes.",
        "details": {"file": "big.pdf", "max_bytes": 100}}


def test_awkward_file_names_are_sanitised(api_as, users):
    """Characters some file systems refuse are replaced; the name is otherwise kept."""
    response = deposit(api_as(users["publisher"]), [upload('第一章 <课件>: "定稿"?.pdf', pdf_bytes())])
    assert response.status_code == 201
    assert response.json()["files"][0]["original_name"] == "第一章 _课件__ _定稿__.pdf"


def test_file_names_with_control_characters_are_refused(api_as, users, settings):
    """A name with a control character is refused, not repaired (tests/adversarial has the full corpus)."""
    response = deposit(api_as(users["publisher"]), [upload("第一章\x07<课件>.pdf", pdf_bytes())])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "file_name_invalid"
    assert response.json()["error"]["details"]["reason"] == "control_character"
    assert Resource.objects.count() == 0 and stored_blob_count(settings) == 0


def test_unknown_vocabulary_and_bad_rights_are_reported_per_field(api_as, users):
    response = deposit(api_as(users["publisher"]), [upload("a.pdf", pdf_bytes())],
                       metadata={**METADATA, "subject": "炼金术", "grade": "十三年级"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_vocabulary_term"
    assert set(error["details"]) == {"subject", "grade"}

    response = deposit(api_as(users["publisher"]), [upload("a.pdf", pdf_bytes())],
                       rights={"license": "WTFPL", "territory": ["999999"], "free_for": ["rich"], "price": -1})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "rights_invalid"
    assert {"license", "territory", "free_for", "price"} <= set(error["details"])


def test_malformed_metadata_json(api_as, users):
    response = api_as(users["publisher"]).post(
        "/api/v1/resources", {"metadata": "{not json", "rights": "{}"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


@pytest.mark.parametrize("who", [None, "teacher", "reviewer"])
def test_only_publishers_deposit(api_as, users, who):
    response = deposit(api_as(users[who] if who else None), [upload("a.pdf", pdf_bytes())])
    assert response.status_code == (401 if who is None else 403)
    assert response.json()["error"]["code"] in {"not_authenticated", "permission_denied"}


def test_storage_failure_mid_deposit_leaves_no_row_and_a_collectable_blob(api_as, users, settings, monkeypatch):
    """A crash while writing rows (after blobs were stored) rolls back; the stored blob stays, claimed
    by the failed upload (another upload of the same bytes may be about to use it), until the
    collector finds it unreferenced after the grace period (tests/catalog/test_blob_gc.py)."""
    from django.core.management import call_command

    from catalog import services
    from catalog.models import BlobLease

    def boom(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "grant_object_rights", boom)
    client = api_as(users["publisher"])
    client.raise_request_exception = False
    body = pdf_bytes("crash")
    response = deposit(client, [upload("a.pdf", body)])
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert Resource.objects.count() == 0 and ResourceFile.objects.count() == 0
    key = blob_key(hashlib.sha256(body).hexdigest())
    assert get_blob_store().exists(key) and BlobLease.objects.filter(key=key).exists()
    call_command("gc_blobs", stdout=io.StringIO())
    assert get_blob_store().exists(key)  # within the grace period
    call_command("gc_blobs", "--min-age-hours", "0", stdout=io.StringIO())
    assert stored_blob_count(settings) == 0 and not BlobLease.objects.exists()


def test_add_files_to_draft(api_as, users):
    client = api_as(users["publisher"])
    resource_id = deposit(client, [upload("a.pdf", pdf_bytes("a"))]).json()["id"]
    response = client.post(f"/api/v1/resources/{resource_id}/files",
                           {"files": [upload("b.pptx", pptx_bytes("b"))]}, format="multipart")
    assert response.status_code == 201
    detail = client.get(f"/api/v1/resources/{resource_id}").json()
    assert [f["original_name"] for f in detail["files"]] == ["a.pdf", "b.pptx"]
    assert detail["version"] == 2


def test_same_bytes_are_stored_once(api_as, users, settings):
    client = api_as(users["publisher"])
    body = pdf_bytes("same")
    assert deposit(client, [upload("a.pdf", body)]).status_code == 201
    assert deposit(client, [upload("b.pdf", body)]).status_code == 201
    assert stored_blob_count(settings) == 1
    assert ResourceFile.objects.count() == 2


def test_sniffing_handles_streams_larger_than_memory_threshold(api_as, users):
    big = pdf_bytes("big") + b"%" + b"0" * (3 * 1024 * 1024)  # > FILE_UPLOAD_MAX_MEMORY_SIZE: a temp file upload
    response = deposit(api_as(users["publisher"]), [upload("big.pdf", big)])
    assert response.status_code == 201
    assert response.json()["files"][0]["size"] == len(big)
    assert io.BytesIO(big).read(5) == b"%PDF-"
