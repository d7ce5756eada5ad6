"""Index work survives a lost job and a failed index write, on both search backends: a change
records what the index must learn in its own transaction, and the federation tick (or any later
drain) brings the index in line; a failed write leaves the work pending and a replay is harmless."""

from __future__ import annotations

import uuid

import pytest

from catalog.models import IndexPending, Resource
from catalog.search import SearchRequest, get_backend, search
from catalog.search.indexing import index_pending_drain, index_resources, index_verify
from catalog.services import resource_withdraw_for_takedown
from tests import factories

BACKENDS = {
    "embedded": "catalog.search.embedded.EmbeddedBackend",
    "elasticsearch": "catalog.search.elastic.ElasticsearchBackend",
}


class LostJobs:
    """A job queue that accepts jobs and never runs them (a worker that died, a Redis that lost them)."""

    def enqueue(self, func_path, **kwargs) -> None:
        return None

    def ping(self) -> None:
        return None


@pytest.fixture(params=list(BACKENDS))
def backend(request, settings, tmp_path):
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    settings.ELASTICSEARCH_INDEX_PREFIX = f"test-{uuid.uuid4().hex[:12]}"
    if request.param == "elasticsearch":
        settings.ELASTICSEARCH_URL = request.getfixturevalue("elasticsearch_url")
    settings.CATALOG_SEARCH_BACKEND = BACKENDS[request.param]
    backend = get_backend()
    yield backend
    backend.drop()


def _ids(q: str) -> set[str]:
    return {hit["id"] for hit in search(user=None, request=SearchRequest(q=q, page_size=50))["results"]}


@pytest.fixture
def two_indexed(backend, orgs, province):
    kept = factories.ResourceFactory(publisher=orgs["publisher"], title="勾股定理 探究课件")
    gone = factories.ResourceFactory(publisher=orgs["publisher"], title="平行四边形 判定 学案")
    index_resources(resource_ids=[str(kept.pk), str(gone.pk)])
    assert _ids("勾股定理") == {str(kept.pk)} and _ids("平行四边形") == {str(gone.pk)}
    return kept, gone


def test_changes_whose_index_jobs_were_lost_are_indexed_by_the_next_tick(
        two_indexed, users, settings, django_capture_on_commit_callbacks):
    """An edit and a takedown commit, but their indexing jobs are lost: the index still shows the old
    state until the next federation tick, which brings it in line (the edit found by its new title,
    the withdrawn resource no longer found)."""
    from federation.jobs import sync_tick

    kept, gone = two_indexed
    settings.EXCHANGE_JOB_QUEUE = "tests.adversarial.test_index_outbox.LostJobs"
    with django_capture_on_commit_callbacks(execute=True):
        factories.revise(kept, publisher=users["publisher"], reviewer=users["reviewer"],
                         metadata={"title": "勾股定理 逆定理 微课"})
    with django_capture_on_commit_callbacks(execute=True):
        resource_withdraw_for_takedown(resource=Resource.objects.get(pk=gone.pk), actor=None, note="lost job")
    assert _ids("逆定理") == set() and _ids("平行四边形") == {str(gone.pk)}, "the jobs were lost"

    sync_tick()
    assert _ids("逆定理") == {str(kept.pk)}
    assert _ids("平行四边形") == set()
    report = index_verify()
    assert report["ok"] and report["pending"] == 0, report


def test_a_failed_index_write_leaves_the_work_pending_and_a_replay_is_harmless(two_indexed, users, backend,
                                                                              monkeypatch):
    kept, gone = two_indexed
    resource_withdraw_for_takedown(resource=Resource.objects.get(pk=gone.pk), actor=None, note="write fails")
    factories.revise(Resource.objects.get(pk=kept.pk), publisher=users["publisher"], reviewer=users["reviewer"],
                     rights={"license": "ALL-RIGHTS-RESERVED", "price": 3})
    assert IndexPending.objects.count() == 2  # on_commit never ran: the test's transaction is still open

    def unavailable(ids):
        raise ConnectionError("search backend down")

    monkeypatch.setattr(backend, "delete_documents", unavailable)
    with pytest.raises(ConnectionError):
        index_pending_drain(backend=backend)
    assert IndexPending.objects.count() == 2, "nothing is forgotten when the write fails"
    monkeypatch.undo()

    assert index_pending_drain(backend=backend) == 2
    assert index_pending_drain(backend=backend) == 0
    from catalog.search.indexing import index_pending_record

    index_pending_record([kept.pk, gone.pk, kept.pk])  # replayed work changes nothing
    assert index_pending_drain(backend=backend) == 2
    report = index_verify(backend=backend)
    assert report["ok"] and report["published"] == report["indexed"] == 1, report
    assert backend.stored_documents([str(kept.pk)])[str(kept.pk)]["price"] == 3


def test_an_import_that_creates_nothing_still_drains_what_an_interrupted_one_left(backend, orgs):
    """An import killed after a batch committed left its rows pending; re-running it creates nothing
    (every id exists) and must still index them."""
    import json

    from catalog.importer import import_records
    from catalog.search.indexing import index_pending_record

    resource = factories.ResourceFactory(publisher=orgs["publisher"], title="一元二次方程 复习课件")
    index_pending_record([resource.pk])  # as the killed run's batch left it: committed, not indexed
    line = json.dumps({"id": str(resource.pk), "title": resource.title, "stage": "初中", "subject": "数学",
                       "resource_type": "课件", "publisher": orgs["publisher"].name, "license": "CC-BY-4.0",
                       "created_at": "2024-09-01T00:00:00Z"}, ensure_ascii=False)
    report = import_records([line], with_files=False)
    assert report.created == 0 and report.skipped_existing == 1
    assert _ids("一元二次方程") == {str(resource.pk)}
    assert not IndexPending.objects.exists()
