"""``/metrics`` gives an operator the figures of the node: requests and latency by view, search latency,
queue depth and failed jobs, the review backlog, index work pending, and sync lag and errors per peer
(``exchange.metrics``). The same figures across worker processes are in ``test_metrics_workers.py``."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from catalog.models import IndexPending, Resource
from exchange import jobs
from federation.models import Peer
from tests.factories import ResourceFactory


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.content.decode())
            for sample in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_and_timed_by_view(client, db):
    before = scrape(client)
    client.get("/healthz")
    client.get("/healthz")
    client.get("/no-such-page-at-all")
    after = scrape(client)
    assert value(after, "exchange_http_requests_total", method="GET", view="healthz", status="200") - value(
        before, "exchange_http_requests_total", method="GET", view="healthz", status="200") == 2
    assert value(after, "exchange_http_requests_total", method="GET", view="unmatched", status="404") - value(
        before, "exchange_http_requests_total", method="GET", view="unmatched", status="404") == 1
    assert value(after, "exchange_http_request_duration_seconds_count", method="GET", view="healthz") - value(
        before, "exchange_http_request_duration_seconds_count", method="GET", view="healthz") == 2


def test_search_latency_is_measured(client, db, settings, tmp_path):
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    before = value(scrape(client), "exchange_search_duration_seconds_count", kind="search")
    assert client.get("/api/v1/search", {"q": "有理数"}).status_code == 200
    assert value(scrape(client), "exchange_search_duration_seconds_count", kind="search") == before + 1


def test_review_backlog_pending_index_work_and_sync_per_peer(client, orgs):
    ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.SUBMITTED,
                    submitted_at=timezone.now() - dt.timedelta(hours=3), with_file=False)
    ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.APPROVED, with_file=False)
    ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.SUBMITTED, is_remote=True,
                    origin_node="cn-11", with_file=False)  # another province's: not this node's backlog
    IndexPending.objects.create(resource_id=uuid.uuid4(), created_at=timezone.now())
    now = timezone.now()
    Peer.objects.create(node_id="cn-11", role=Peer.Role.PROVINCE, status=Peer.Status.ACTIVE, pull=True,
                        base_url="https://cn-11.example", cursor=5, remote_head=9, last_success_at=now - dt.timedelta(
                            seconds=600), consecutive_failures=2, last_error_code="peer_unreachable")
    Peer.objects.create(node_id="cn-hub", role=Peer.Role.HUB, status=Peer.Status.ACTIVE, pull=True,
                        base_url="https://hub.example", cursor=7, remote_head=7, last_success_at=now)
    samples = scrape(client)
    assert value(samples, "exchange_review_backlog", status="submitted") == 1
    assert value(samples, "exchange_review_backlog", status="approved") == 1
    assert 3 * 3600 - 5 <= value(samples, "exchange_review_oldest_waiting_seconds") < 3 * 3600 + 300
    assert value(samples, "exchange_search_index_pending") >= 1
    assert 600 <= value(samples, "exchange_federation_peer_lag_seconds", peer="cn-11") < 900
    assert value(samples, "exchange_federation_peer_behind_entries", peer="cn-11") == 4
    assert value(samples, "exchange_federation_peer_consecutive_failures", peer="cn-11") == 2
    assert value(samples, "exchange_federation_peer_last_error", peer="cn-11", code="peer_unreachable") == 1
    assert value(samples, "exchange_federation_peer_behind_entries", peer="cn-hub") == 0
    assert ("exchange_federation_peer_last_error", (("code", "peer_unreachable"), ("peer", "cn-hub"))) not in samples
    for collector in ("exchange.jobs.queue_metrics", "catalog.metrics.collect", "federation.metrics.collect"):
        assert value(samples, "exchange_metrics_collector_up", collector=collector) == 1


def failing_job(**kwargs):
    raise RuntimeError("job failed")


@pytest.fixture
def rq_queue(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.EXCHANGE_JOB_QUEUE = "exchange.jobs.RQQueue"
    settings.RQ_QUEUE_NAME = f"test-metrics-{uuid.uuid4().hex[:8]}"
    jobs._queue_for.cache_clear()
    yield jobs.get_queue()
    jobs._queue_for.cache_clear()


def test_queue_depth_retries_and_failed_jobs(client, db, rq_queue):
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    queue = rq_queue.queue
    failed = Job.create("tests.exchange.test_metrics.failing_job", connection=rq_queue.connection, origin=queue.name)
    failed.save()
    FailedJobRegistry(queue=queue).add(failed, exc_string="RuntimeError: job failed")  # out of retries
    queue.enqueue_in(dt.timedelta(hours=1), "tests.exchange.test_metrics.failing_job")  # as a retry waits
    jobs.enqueue("tests.exchange.test_metrics.failing_job")
    jobs.enqueue("tests.exchange.test_metrics.failing_job")
    samples = scrape(client)
    assert value(samples, "exchange_jobs", queue=queue.name, state="queued") == 2
    assert value(samples, "exchange_jobs", queue=queue.name, state="scheduled") == 1
    assert value(samples, "exchange_jobs", queue=queue.name, state="failed") == 1
    assert value(samples, "exchange_job_workers", queue=queue.name) == 0


def test_a_failing_collector_is_reported_and_the_rest_still_served(client, db, settings):
    settings.EXCHANGE_METRICS_COLLECTORS = ["tests.exchange.test_metrics.failing_job", "catalog.metrics.collect"]
    samples = scrape(client)
    assert value(samples, "exchange_metrics_collector_up", collector="tests.exchange.test_metrics.failing_job") == 0
    assert value(samples, "exchange_metrics_collector_up", collector="catalog.metrics.collect") == 1
    assert ("exchange_review_backlog", (("status", "submitted"),)) in samples
