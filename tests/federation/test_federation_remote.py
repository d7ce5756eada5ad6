"""catalog.remote: applying records from other nodes (highest version wins, tombstones, conflicts)."""

from __future__ import annotations

import uuid

import pytest

from catalog.models import License, Resource, ResourceFile
from catalog.remote import (
    RemoteChange,
    catalog_digest,
    clash_key,
    remote_file_mark_available,
    remote_resource_apply,
    remote_resources_apply,
    resource_record,
)
from tests import factories
from tests.federation.federation_support import record

pytestmark = pytest.mark.django_db


def apply(payload, version=1, kind="upsert", origin="cn-11", reason=""):
    return remote_resource_apply(envelope_payload=payload, origin=origin, version=version, kind=kind, reason=reason)


def test_upsert_creates_a_read_only_published_copy_with_rights_and_file_hashes():
    rec = record()
    assert apply(rec).outcome == "created"
    resource = Resource.objects.get(pk=rec["id"])
    assert resource.is_remote and resource.origin_node == "cn-11" and resource.status == "published"
    assert resource.publisher is None and resource.publisher_name == "外省出版社"
    assert resource.rights.license_id == "CC-BY-4.0" and resource.rights.holder == "外省出版社"
    [file] = resource.files.all()
    assert (file.sha256, file.size, file.mime, file.available_locally) == ("ab" * 32, 1234, "application/pdf", False)
    assert resource_record(resource) == rec


def test_applying_is_idempotent_and_keeps_the_highest_version():
    rec = record()
    apply(rec, version=2)
    assert apply(rec, version=2).outcome == "stale"
    assert apply(record(rec["id"], title="旧版本标题"), version=1).outcome == "stale"
    assert Resource.objects.get(pk=rec["id"]).title == rec["title"]
    newer = record(rec["id"], title="新版本标题", files=[])
    assert apply(newer, version=3).outcome == "updated"
    resource = Resource.objects.get(pk=rec["id"])
    assert (resource.title, resource.version, resource.files.count()) == ("新版本标题", 3, 0)
    assert Resource.objects.count() == 1


def test_tombstone_withdraws_and_an_older_copy_does_not_come_back():
    rec = record()
    apply(rec, version=1)
    tomb = {"id": rec["id"], "reason": "takedown_upheld", "stage": "初中", "subject": "数学"}
    assert apply(tomb, version=2, kind="tombstone", reason="takedown_upheld").outcome == "withdrawn"
    resource = Resource.objects.get(pk=rec["id"])
    assert resource.status == "withdrawn" and resource.review_note == "takedown_upheld"
    assert apply(rec, version=1).outcome == "stale"
    assert Resource.objects.get(pk=rec["id"]).status == "withdrawn"


def test_tombstone_of_an_unknown_record_is_absent():
    assert apply({"id": str(uuid.uuid4()), "reason": "withdrawn_by_publisher"}, kind="tombstone").outcome == "absent"
    assert not Resource.objects.exists()


def test_ids_are_scoped_by_origin_a_clash_keeps_both_records_and_is_reported(orgs, settings):
    """Squatting: another node that publishes an id first never takes the record of that id from its
    genuine origin, here or anywhere: both are kept, under different local keys, and the clash is named."""
    local = factories.ResourceFactory(publisher=orgs["publisher"])
    outcome = apply(record(str(local.pk), title="冒用本地编号"), version=99)
    assert (outcome.outcome, outcome.clash) == ("created", local.origin_node)
    local.refresh_from_db()
    assert not local.is_remote and local.version == 1 and local.title != "冒用本地编号"
    copy = Resource.objects.get(origin_node="cn-11", record_id=local.pk)
    assert copy.pk == clash_key("cn-11", str(local.pk)) and copy.title == "冒用本地编号"

    squatted = record()
    assert apply(squatted, origin="cn-12").outcome == "created"  # cn-12 publishes cn-11's id first
    genuine = apply(record(squatted["id"], title="真正的记录"), origin="cn-11", version=5)
    assert (genuine.outcome, genuine.clash) == ("created", "cn-12")
    assert apply(record(squatted["id"], title="真正的记录 第二版"), origin="cn-11", version=6).outcome == "updated"
    both = {r.origin_node: r for r in Resource.objects.filter(record_id=squatted["id"])}
    assert set(both) == {"cn-11", "cn-12"}
    assert (both["cn-11"].title, both["cn-11"].version) == ("真正的记录 第二版", 6)
    assert resource_record(both["cn-11"])["id"] == squatted["id"]  # peers see the origin's id, not the local key
    tomb = {"id": squatted["id"], "reason": "withdrawn_by_publisher"}
    assert apply(tomb, origin="cn-12", version=2, kind="tombstone").outcome == "withdrawn"
    assert Resource.objects.get(pk=both["cn-11"].pk).status == "published"  # one origin's withdrawal is its own

    mine = apply(record(str(local.pk)), origin=settings.EXCHANGE_NODE_ID, version=7)
    assert mine.outcome == "conflict"  # a peer's copy of this node's own record changes nothing here


def test_the_catalog_digest_does_not_depend_on_local_keys(orgs):
    """Two nodes holding the same records give the same digest, even when a clash made their local keys differ."""
    first, second = record(), record()
    second_other = record(second["id"], title="另一来源")
    apply(first)
    apply(second, origin="cn-11")
    apply(second_other, origin="cn-12")
    here = catalog_digest()
    Resource.objects.all().delete()
    apply(second_other, origin="cn-12")  # arrives first on the other node: the keys swap
    apply(second, origin="cn-11")
    apply(first)
    assert catalog_digest() == here and here["count"] == 3


@pytest.mark.parametrize("bad", [
    {"title": ""}, {"stage": 7}, {"rights": None}, {"rights": {"holder": "x", "year": 2024}},
    {"files": [{"sha256": "nothex", "size": 1, "mime": "application/pdf", "name": "a.pdf"}]},
    {"title": "x" * 301},
])
def test_invalid_records_are_reported_and_skipped(bad):
    outcomes = remote_resources_apply(changes=[
        RemoteChange(origin="cn-11", version=1, kind="upsert", payload=record(**bad)),
        RemoteChange(origin="cn-11", version=1, kind="upsert", payload=record()),
    ])
    assert [o.outcome for o in outcomes] == ["invalid", "created"]
    assert outcomes[0].error and Resource.objects.count() == 1


def test_a_batch_keeps_only_the_newest_version_of_each_record():
    rec = record()
    outcomes = remote_resources_apply(changes=[
        RemoteChange(origin="cn-11", version=1, kind="upsert", payload=rec),
        RemoteChange(origin="cn-11", version=2, kind="tombstone", payload={"id": rec["id"], "reason": "x"}),
    ])
    assert [o.outcome for o in outcomes] == ["superseded", "absent"]


def test_unknown_licences_are_added_conservatively():
    rec = record(rights=record()["rights"] | {"license": "LicenseRef-province-11"})
    assert apply(rec).outcome == "created"
    licence = License.objects.get(id="LicenseRef-province-11")
    assert not licence.is_open and licence.attribution_required


def test_files_already_stored_are_available_and_marking_covers_every_row(orgs):
    local = factories.ResourceFactory(publisher=orgs["publisher"])
    sha = local.files.get().sha256
    files = [{"sha256": sha, "size": 10, "mime": "application/pdf", "name": "a.pdf", "position": 0,
              "duration_seconds": None}]
    rec = record(files=files)
    apply(rec)
    assert ResourceFile.objects.get(resource_id=rec["id"]).available_locally
    other = record()
    apply(other)
    assert remote_file_mark_available(sha256="ab" * 32) == 1


def test_catalog_digest_compares_public_records():
    first, second = record(), record()
    apply(first)
    apply(second)
    digest = catalog_digest()
    assert digest["count"] == 2 and catalog_digest(origin="cn-11") == digest
    assert catalog_digest(origin="cn-12")["count"] == 0
    apply(record(first["id"], title="改"), version=2)
    assert catalog_digest()["sha256"] != digest["sha256"]


def test_a_record_without_dates_is_dated_when_its_origin_signed_it_on_every_node():
    """Not by the receiver's clock: two nodes applying it at different times must hold the same record."""
    import datetime as dt

    rec = record()
    for name in ("created_at", "updated_at", "published_at"):
        del rec[name]
    signed = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)
    remote_resources_apply(changes=[RemoteChange(origin="cn-11", version=1, kind="upsert", payload=rec,
                                                 issued_at=signed)])
    held = Resource.objects.get(pk=rec["id"])
    assert held.created_at == held.published_at == signed
    assert resource_record(held)["published_at"] == "2025-03-01T08:00:00Z"
