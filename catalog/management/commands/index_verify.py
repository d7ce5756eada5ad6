"""``manage.py index_verify``: compare the live search index with the catalog."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from catalog.search.indexing import index_pending_drain, index_verify


class Command(BaseCommand):
    help = ("Check that every published resource is in the search index in its current state and that no "
            "other resource (withdrawn, draft, deleted) is. Prints a JSON report; exit 1 on any difference "
            "(run index_drain, or rebuild_index).")

    def add_arguments(self, parser):
        parser.add_argument("--drain", action="store_true", help="Drain pending index work first")

    def handle(self, *args, drain, **options):
        if drain:
            index_pending_drain(wait=600.0)
        report = index_verify()
        self.stdout.write(json.dumps(report, ensure_ascii=False))
        if not report["ok"]:
            raise CommandError("search index differs from the catalog")
