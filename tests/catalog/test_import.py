"""import_corpus: keeps ids, publishes, creates publishers, idempotent, reports bad lines."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.importer import import_records
from catalog.models import Resource, ResourceFile, ResourceGroupObjectPermission, RightsStatement
from catalog.permissions import can_edit, can_review
from catalog.remote import local_published_records, resource_record
from catalog.sampledata import generate
from exchange.models import Organisation
from exchange.roles import Role
from exchange.services import user_create
from federation.models import OutboxEntry
from tests import factories

SHARED_GENERATOR = Path(__file__).resolve().parents[3] / "shared" / "data" / "generate_corpus.py"


def write_corpus(path: Path, records) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def test_import_keeps_ids_publishes_and_is_idempotent(db, tmp_path, capsys):
    records = list(generate(60, seed=7))
    corpus = write_corpus(tmp_path / "c.jsonl", records)
    call_command("import_corpus", str(corpus), "--no-progress", "--free-for", "rural,poor")
    assert "created 60, already present 0, refused 0" in capsys.readouterr().out
    assert set(map(str, Resource.objects.values_list("id", flat=True))) == {r["id"] for r in records}
    assert not Resource.objects.exclude(status="published").exists()
    assert ResourceFile.objects.count() == 60
    assert set(Organisation.objects.filter(kind="publisher").values_list("name", flat=True)) >= \
        {r["publisher"] for r in records}
    priced = Resource.objects.filter(rights__price__gt=0).first()
    if priced is not None:
        assert priced.rights.free_for == ["poor", "rural"]
    snapshot = sorted(Resource.objects.values_list("id", "version", "updated_at"))
    call_command("import_corpus", str(corpus), "--no-progress")
    assert "created 0, already present 60, refused 0" in capsys.readouterr().out
    assert sorted(Resource.objects.values_list("id", "version", "updated_at")) == snapshot


def test_bad_lines_are_reported_with_line_numbers_and_skipped(db, tmp_path, capsys):
    good = list(generate(3, seed=1))
    lines = [
        json.dumps(good[0], ensure_ascii=False),
        "{not json",
        json.dumps({**good[1], "subject": "炼金术"}, ensure_ascii=False),
        json.dumps({**good[1], "id": "nope"}, ensure_ascii=False),
        json.dumps({k: v for k, v in good[2].items() if k != "title"}, ensure_ascii=False),
        "",
        json.dumps(good[2], ensure_ascii=False),
    ]
    corpus = tmp_path / "bad.jsonl"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    call_command("import_corpus", str(corpus), "--no-progress")
    out, err = capsys.readouterr()
    assert "created 2, already present 0, refused 4" in out
    assert "line 2: not JSON" in err
    assert "line 3: subject:" in err
    assert "line 4: id 'nope' is not a UUID" in err
    assert "line 5: missing title" in err


@pytest.mark.skipif(not SHARED_GENERATOR.exists(), reason="../shared/data/generate_corpus.py is not beside the repo")
def test_imports_the_shared_generator_format(db, tmp_path, capsys):
    """The importer reads the shared corpus generator's records unchanged (format compatibility)."""
    out = tmp_path / "shared.jsonl"
    subprocess.run([sys.executable, str(SHARED_GENERATOR), "--n", "300", "--seed", "3", "--out", str(out)],
                   check=True)
    call_command("import_corpus", str(out), "--no-progress", "--metadata-only")
    assert "created 300, already present 0, refused 0" in capsys.readouterr().out
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    resource = Resource.objects.get(pk=first["id"])
    assert (resource.title, resource.subject, resource.rights.license_id) == (
        first["title"], first["subject"], first["license"])


def test_missing_file_is_a_clear_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_corpus", "/nonexistent/corpus.jsonl", "--no-progress")


def test_sample_generator_cli_runs_without_shared(tmp_path):
    """The product's own generator needs nothing outside the repository."""
    out = tmp_path / "s.jsonl"
    subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", "10", "--seed", "2", "--out", str(out)],
                   check=True, cwd=Path(__file__).resolve().parents[2])
    assert len(out.read_text(encoding="utf-8").splitlines()) == 10


def _records_of(publishers: list[str], n: int, *, seed: int) -> list[dict]:
    return [{**record, "publisher": publishers[i % len(publishers)]}
            for i, record in enumerate(generate(n, seed=seed))]


def test_imported_resources_give_publisher_and_province_reviewers_their_rights(users):
    """Imported resources carry the object rights a single upload gives: the publisher's members edit them,
    the province bureau's reviewers review them; other publishers and other provinces' reviewers do not.
    A publisher the import creates gets them too."""
    records = _records_of(["本省出版社", "导入新建出版社"], 8, seed=11)
    report = import_records([json.dumps(r, ensure_ascii=False) for r in records], with_files=False, index=False)
    assert report.created == 8
    newcomer = user_create(username="newcomer", password="test-pass-newcomer",
                           organisation=Organisation.objects.get(name="导入新建出版社"), roles=[Role.PUBLISHER])
    for record in records:
        resource = Resource.objects.get(pk=record["id"])
        own = users["publisher"] if record["publisher"] == "本省出版社" else newcomer
        other = newcomer if own is users["publisher"] else users["publisher"]
        assert can_edit(own, resource) and not can_edit(other, resource)
        assert not can_edit(users["other_publisher"], resource)
        assert can_review(users["reviewer"], resource) and not can_review(users["other_reviewer"], resource)
    assert ResourceGroupObjectPermission.objects.count() == 2 * 8  # one edit and one review right each


def test_import_queries_per_batch_do_not_grow_with_its_records(db):
    """A batch's queries are a fixed number, however many records it holds (no per-record or per-chunk
    INSERT, lookup or right): importing 300 new records costs what importing 30 costs, signing included."""
    publishers = ["出版社甲", "出版社乙", "出版社丙"]
    warm = _records_of(publishers, 3, seed=21)  # the publishers exist, as in any import after the first batch
    import_records([json.dumps(r, ensure_ascii=False) for r in warm], with_files=False, index=False)
    counts = []
    for n, seed in ((30, 22), (300, 23)):
        lines = [json.dumps(r, ensure_ascii=False) for r in _records_of(publishers, n, seed=seed)]
        with CaptureQueriesContext(connection) as queries:
            report = import_records(lines, with_files=False, index=False, batch_size=500)
        assert report.created == n
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert OutboxEntry.objects.count() == 333



def test_an_import_batch_reads_its_resources_by_key_not_by_status(db):
    """Each batch reads its new resources back (to sign them, to push them to followers). With ``status`` in
    the WHERE clause SQLite's planner chose the status index and read every published row: a batch's cost grew
    with the catalog (0.5 s per 500 ids at 100k records against 2 ms by key). Every read of catalog_resource an
    import makes goes by key or by another index, never by the status index; checked with SQLite's plan."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's query planner (PostgreSQL plans with table statistics; this lane checks SQLite's)")
    import_records([json.dumps(r, ensure_ascii=False) for r in generate(5, seed=30)], with_files=False, index=False)
    lines = [json.dumps(r, ensure_ascii=False) for r in generate(40, seed=31)]
    with CaptureQueriesContext(connection) as queries:
        import_records(lines, with_files=False, index=False)
    reads = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")
             and '"catalog_resource"' in q["sql"]]
    assert reads
    with connection.cursor() as cursor:
        for sql in reads:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plan = " | ".join(str(row[-1]) for row in cursor.fetchall())
            assert "status" not in plan, (sql[:300], plan)

def test_local_published_records_are_the_resource_records(orgs):
    """The records the import signs (read without model instances) are exactly ``resource_record``'s, for
    resources with several files, rights with every member set, keywords, and an id clash (record id ≠ key);
    drafts, remote copies and another origin's resources are left out."""
    publisher = orgs["publisher"]
    rich = factories.ResourceFactory(publisher=publisher, price=5, free_for=["rural", "poor"],
                                     territory=["440100", "440000"], audience="students",
                                     embargo_until=dt.date(2031, 1, 2), keywords=["有理数", "数轴"])
    factories.store_file(rich, "练习.docx", b"second file", mime="application/msword")
    RightsStatement.objects.filter(resource=rich).update(term_end=dt.date(2032, 3, 4), grant_days=30,
                                                         derived_from=uuid.uuid4())
    clash = factories.ResourceFactory(publisher=publisher, record_id=uuid.uuid4(), with_file=False)
    plain = factories.ResourceFactory(publisher=publisher)
    draft = factories.ResourceFactory(publisher=publisher, status=Resource.Status.DRAFT)
    remote = factories.ResourceFactory(publisher=publisher, is_remote=True)
    foreign = factories.ResourceFactory(publisher=publisher, origin_node="cn-11")
    ids = [str(r.pk) for r in (rich, clash, plain, draft, remote, foreign)]
    records = local_published_records(resource_ids=ids, origin=settings.EXCHANGE_NODE_ID)
    expected = sorted((rich, clash, plain), key=lambda r: r.pk)
    assert [(r.origin_node, r.record_id, r.version) for r in records] == [
        (settings.EXCHANGE_NODE_ID, r.record_id, r.version) for r in expected]
    for item, resource in zip(records, expected, strict=True):
        assert item.record == resource_record(Resource.objects.get(pk=resource.pk))
    assert len(records[[r.pk for r in expected].index(rich.pk)].record["files"]) == 2
