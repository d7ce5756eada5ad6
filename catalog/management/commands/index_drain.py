"""``manage.py index_drain``: bring the search index in line with every change recorded as pending."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from catalog.search.indexing import index_pending_drain, index_pending_stats


class Command(BaseCommand):
    help = ("Index (or remove from the index) every resource whose change is recorded as pending — work a "
            "crash or a lost job left behind — and delete those records once the index holds it. "
            "Federation ticks, the readiness probe and every commit drain too; this is the manual way.")

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=600.0,
                            help="Seconds to wait for a drain already running (default 600)")

    def handle(self, *args, wait, **options):
        done = index_pending_drain(wait=wait)
        self.stdout.write(json.dumps({"drained": done, **index_pending_stats()}))
