"""A lesson package travels between two nodes: exported as a real zip from this node (cn-44, the test
database) and imported with ``manage.py import_package`` by another node (cn-11: its own process and SQLite
database) that holds the same records as synced copies (applied through ``catalog.remote``, the catalog side
of federation sync) but not their files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog.remote import resource_record
from tests.factories import ResourceFactory
from tests.node_processes import manage

pytestmark = [pytest.mark.django_db, pytest.mark.nodes]

SEED_B = """
import json
from catalog.remote import RemoteChange, remote_resources_apply
from exchange.roles import Role
from exchange.services import roles_ensure, user_create
from tests import factories
roles_ensure()
orgs = factories.demo_organisations("110000")
user_create(username="teacher_b", password="test-pass-teacher-b", organisation=orgs["city_school"],
            roles=[Role.TEACHER])
records = json.load(open({records!r}))
outcomes = remote_resources_apply(changes=[RemoteChange(origin="cn-44", version=1, kind="upsert", payload=r)
                                           for r in records])
print(json.dumps([o.outcome for o in outcomes]))
"""

REPORT_B = """
import json
from catalog.models import ResourceFile
from catalog.storage import get_blob_store
from spaces.models import Collection
c = Collection.objects.get()
items = [(i.resource.title, i.step, str(i.resource.record_id), i.resource.is_remote) for i in c.items.order_by("position")]
files = [(f.sha256, f.available_locally, get_blob_store().exists(f.storage_key)) for f in ResourceFile.objects.order_by("sha256")]
print(json.dumps({"owner": c.owner.username, "visibility": c.visibility, "title": c.title, "items": items, "files": files}))
"""


def test_a_package_zip_from_one_node_is_imported_by_another(api_as, users, orgs, tmp_path: Path):
    open_maths = ResourceFactory(publisher=orgs["publisher"], title="有理数 课件")
    lesson_plan = ResourceFactory(publisher=orgs["publisher"], title="有理数 教案", license="CC-BY-ND-4.0")
    local_only = ResourceFactory(publisher=orgs["publisher"], title="本省校本练习")  # never synced to cn-11
    teacher = api_as(users["teacher"])
    cid = teacher.post("/api/v1/collections", {"title": "有理数 第一课时"}, format="json").json()["id"]
    for resource, step in ((lesson_plan, "导入"), (open_maths, "新授"), (local_only, "练习")):
        teacher.post(f"/api/v1/collections/{cid}/items", {"resource": str(resource.pk), "step": step}, format="json")
    response = teacher.post(f"/api/v1/collections/{cid}/package")
    assert response.status_code == 200
    package = tmp_path / "lesson.zip"
    package.write_bytes(b"".join(response.streaming_content))
    records = tmp_path / "records.json"
    records.write_text(json.dumps([resource_record(r) for r in (open_maths, lesson_plan)], ensure_ascii=False))

    node_b = tmp_path / "node-b"
    node_b.mkdir()
    env = {"EXCHANGE_NODE_ID": "cn-11", "EXCHANGE_NODE_REGION": "110000"}
    manage(node_b, "migrate", "--noinput", "-v0", **env)
    manage(node_b, "load_vocabularies", **env)
    applied = manage(node_b, "shell", "-c", SEED_B.format(records=str(records)), **env)
    assert json.loads(applied.strip().splitlines()[-1]) == ["created", "created"]

    out = manage(node_b, "import_package", str(package), "--user", "teacher_b", **env)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["title"] == "有理数 第一课时"
    assert len(result["added"]) == 2 and result["files_stored"] == 2
    assert [(u["title"], u["reason"], u["origin"]) for u in result["unresolved"]] == [
        ("本省校本练习", "unknown_here", "cn-44")]

    report = json.loads(manage(node_b, "shell", "-c", REPORT_B, **env).strip().splitlines()[-1])
    assert (report["owner"], report["visibility"], report["title"]) == ("teacher_b", "private", "有理数 第一课时")
    assert report["items"] == [["有理数 教案", "导入", str(lesson_plan.pk), True],
                               ["有理数 课件", "新授", str(open_maths.pk), True]]
    expected = sorted(f.sha256 for r in (open_maths, lesson_plan) for f in r.files.all())
    assert [f[0] for f in report["files"]] == expected
    assert all(available and stored for _, available, stored in report["files"])
