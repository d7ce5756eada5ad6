"""Jobs: in-process by default, rq on a real Redis server when REDIS_URL is set."""

from __future__ import annotations

import pytest
from django.db import transaction

from exchange import jobs
from exchange.models import AuditEvent


def record_call(**kwargs):
    from exchange.audit import audit_record

    audit_record(action="test.job", actor="job", data=kwargs)


def failing_job(**kwargs):
    raise RuntimeError("job failed")


@pytest.fixture
def rq_queue(settings, redis_url):
    settings.REDIS_URL = redis_url
    settings.EXCHANGE_JOB_QUEUE = "exchange.jobs.RQQueue"
    settings.RQ_QUEUE_NAME = "test-queue"
    jobs._queue_for.cache_clear()
    queue = jobs.get_queue()
    queue.queue.empty()
    yield queue
    jobs._queue_for.cache_clear()


def test_in_process_job_runs_only_after_commit(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            jobs.enqueue_on_commit("tests.exchange.test_jobs.record_call", value=1)
        assert not AuditEvent.objects.filter(action="test.job").exists()
    assert len(callbacks) == 1
    assert AuditEvent.objects.get(action="test.job").data == {"value": 1}


def test_in_process_job_failure_is_logged_not_raised(db, caplog):
    jobs.InProcessQueue().enqueue("tests.exchange.test_jobs.failing_job")
    assert "in-process job failed" in caplog.text


@pytest.mark.usefixtures("committed_db")
def test_rq_job_runs_on_a_worker(rq_queue):
    from rq import SimpleWorker

    jobs.enqueue("tests.exchange.test_jobs.record_call", value=42)
    assert rq_queue.queue.count == 1
    assert not AuditEvent.objects.filter(action="test.job").exists()
    SimpleWorker([rq_queue.queue], connection=rq_queue.connection).work(burst=True)
    assert AuditEvent.objects.get(action="test.job").data == {"value": 42}


def test_rq_queue_ping(rq_queue):
    rq_queue.ping()


def touch_file(*, path: str) -> None:
    """Writes the id of the process that ran the job."""
    import os
    from pathlib import Path

    Path(path).write_text(str(os.getpid()))


@pytest.mark.usefixtures("committed_db")
def test_rqworker_command_runs_jobs_with_django_configured(rq_queue):
    """``manage.py rqworker --simple --burst`` runs a job that uses the ORM (the plain ``rq worker``
    command cannot: it never sets Django up)."""
    from django.core.management import call_command

    jobs.enqueue("tests.exchange.test_jobs.record_call", value=7)
    call_command("rqworker", "--burst", "--simple")
    assert AuditEvent.objects.get(action="test.job").data == {"value": 7}
    assert rq_queue.queue.count == 0


def test_rqworker_command_forks_a_child_per_job(rq_queue, tmp_path):
    import os

    from django.core.management import call_command

    jobs.enqueue("tests.exchange.test_jobs.touch_file", path=str(tmp_path / "ran"))
    call_command("rqworker", "--burst")
    assert int((tmp_path / "ran").read_text()) != os.getpid()  # ran, and not in the worker's own process


def _sleeping_in_get_message(thread) -> bool:
    import sys

    frame = sys._current_frames().get(thread.ident)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return "get_message" in names and names[0] == "wait"


def test_a_worker_stops_without_waiting_out_its_command_listener(rq_queue):
    """A worker's teardown does not wait for the thread that listens for rq's commands (stop, kill) to
    wake up: that thread sleeps up to 60 s between reads, and once it has seen the unsubscribe it sleeps
    on. redis-py 8.2's ``PubSubWorkerThread.stop()`` joins the thread without a bound, so every worker
    (``manage.py rqworker``, burst or not, and each SIGTERM in production) took 60 s to stop; rq bounds
    its own join at 1 s. The listener is put into that sleep here, then the worker tears down."""
    import time

    from rq import Worker

    worker = Worker([rq_queue.queue], connection=rq_queue.connection)
    worker.subscribe()
    listener = worker.pubsub_thread
    worker.pubsub.unsubscribe()
    deadline = time.monotonic() + 30
    while not (not worker.pubsub.subscribed and _sleeping_in_get_message(listener)):
        assert time.monotonic() < deadline, "the listener never went to sleep after the unsubscribe"
        time.sleep(0.01)
    worker.unsubscribe()
    assert listener.is_alive(), "teardown waited for the listener's sleep to end"


def test_rqworker_command_refuses_without_redis(settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.REDIS_URL = ""
    with pytest.raises(CommandError, match="REDIS_URL is not set"):
        call_command("rqworker", "--burst")
