"""``manage.py rqworker``: an rq worker for this node's job queue, with Django set up.

The plain ``rq worker`` command does not configure Django, so every job (indexing, pokes, pulls,
receipts) would fail on the first model it touches; run this instead. Needs ``REDIS_URL``.

Every worker also runs rq's scheduler (one of them at a time holds its lock): a failed job is retried
after an interval (``exchange.jobs``), and only the scheduler puts it back on the queue when that
interval is over — without it a job that failed once would wait in the scheduled registry for ever.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from exchange.jobs import RQQueue, get_queue


class Command(BaseCommand):
    help = "Run an rq worker on this node's job queue (REDIS_URL, RQ_QUEUE_NAME) with Django configured."

    def add_arguments(self, parser):
        parser.add_argument("--burst", action="store_true", help="Exit once the queue is empty.")
        parser.add_argument("--simple", action="store_true",
                            help="Run jobs in this process instead of a forked child per job (faster for "
                                 "many short jobs; a job that crashes the interpreter takes the worker along).")
        parser.add_argument("--name", default=None, help="Worker name (default: rq's host.pid).")
        parser.add_argument("--without-scheduler", action="store_true",
                            help="Do not run rq's scheduler in this worker (some other worker must, or retries "
                                 "never run).")

    def handle(self, *args, burst, simple, name, without_scheduler, **options):
        from rq import SimpleWorker, Worker

        if not settings.REDIS_URL:
            raise CommandError("REDIS_URL is not set: jobs run in-process, there is nothing for a worker to do.")
        queue = get_queue()
        if not isinstance(queue, RQQueue):
            raise CommandError(f"EXCHANGE_JOB_QUEUE is {settings.EXCHANGE_JOB_QUEUE}, not the rq queue.")
        connections.close_all()  # a forked job must never share this process's database connection
        worker_class = SimpleWorker if simple else Worker
        worker = worker_class([queue.queue], connection=queue.connection, name=name)
        self.stdout.write(f"rq worker {worker.name} on queue {queue.queue.name} ({'simple' if simple else 'forking'})")
        worker.work(burst=burst, logging_level="WARNING", with_scheduler=not without_scheduler)
