"""Background jobs: rq on Redis when ``REDIS_URL`` is set, otherwise run in-process.

Jobs are referenced by dotted path and take ids, never model instances, so the same call works
in-process and on an rq worker. ``enqueue_on_commit`` is how services schedule side effects: the
job only runs once the data it reads is committed.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger("exchange.jobs")


class JobQueue(Protocol):
    def enqueue(self, func_path: str, **kwargs: Any) -> None: ...

    def ping(self) -> None: ...


class InProcessQueue:
    """Runs the job now, in this process. Failures are logged, never raised into the caller, the
    same as a job failing on a worker."""

    def enqueue(self, func_path: str, **kwargs: Any) -> None:
        try:
            import_string(func_path)(**kwargs)
        except Exception:
            logger.exception("in-process job failed", extra={"job": func_path})

    def ping(self) -> None:
        return None


class RQQueue:
    def __init__(self) -> None:
        from redis import Redis
        from rq import Queue

        self.connection = Redis.from_url(settings.REDIS_URL)
        self.queue = Queue(settings.RQ_QUEUE_NAME, connection=self.connection)

    def enqueue(self, func_path: str, **kwargs: Any) -> None:
        self.queue.enqueue(func_path, kwargs=kwargs, retry=_retry(), job_timeout=600)

    def ping(self) -> None:
        self.connection.ping()


def _retry():
    from rq import Retry

    return Retry(max=3, interval=[5, 30, 120])


@cache
def _queue_for(path: str) -> JobQueue:
    return import_string(path)()


def get_queue() -> JobQueue:
    return _queue_for(settings.EXCHANGE_JOB_QUEUE)


def enqueue(func_path: str, **kwargs: Any) -> None:
    get_queue().enqueue(func_path, **kwargs)


def enqueue_on_commit(func_path: str, **kwargs: Any) -> None:
    transaction.on_commit(lambda: enqueue(func_path, **kwargs))


def check_queue() -> None:
    get_queue().ping()


def queue_metrics():
    """Metrics read at scrape time (``exchange.metrics``): jobs by state in the rq queue — queued
    (waiting for a worker), started, scheduled (retries waiting for their time), deferred, failed (out of
    retries, kept in rq's failed registry) — and the workers listening. Nothing without Redis: in-process
    jobs have no queue."""
    from prometheus_client.core import GaugeMetricFamily

    queue = get_queue()
    if not isinstance(queue, RQQueue):
        return []
    from rq import Worker
    from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    q = queue.queue
    jobs = GaugeMetricFamily("exchange_jobs", "Jobs in the rq queue by state", labels=["queue", "state"])
    jobs.add_metric([q.name, "queued"], q.count)
    for state, registry in (("started", StartedJobRegistry), ("scheduled", ScheduledJobRegistry),
                            ("deferred", DeferredJobRegistry), ("failed", FailedJobRegistry)):
        jobs.add_metric([q.name, state], registry(queue=q).get_job_count(cleanup=False))
    workers = GaugeMetricFamily("exchange_job_workers", "rq workers listening on the queue", labels=["queue"])
    workers.add_metric([q.name], Worker.count(queue=q))
    return [jobs, workers]
