"""``manage.py send_feed_digests``: e-mail each teacher who asked for it the new resources not sent yet."""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from exchange.jobs import enqueue
from spaces.feeds import digest_recipients


class Command(BaseCommand):
    help = ("Send the e-mail digest of new resources (资源推送) to every teacher who asked for it and has unsent "
            "items: one job per teacher (``spaces.jobs.feed_digest_send``, on rq when REDIS_URL is set, "
            "in-process otherwise), through Django's e-mail backend (the console on embedded defaults). "
            "Run it from cron, e.g. daily.")

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true", help="No progress bar")

    def handle(self, *args, no_progress: bool = False, **options):
        users = digest_recipients()
        for user_id in tqdm(users, desc="digests", unit="teacher", disable=no_progress, file=self.stderr):
            enqueue("spaces.jobs.feed_digest_send", user_id=user_id, base_url=settings.EXCHANGE_BASE_URL)
        self.stdout.write(json.dumps({"teachers": len(users)}))
