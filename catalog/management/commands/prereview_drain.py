"""``manage.py prereview_drain``: work off negative-list re-checks and pre-review submitted resources whose
pre-review is missing or stale (what a lost job left undone)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from catalog.prereview.jobs import prereview_drain


class Command(BaseCommand):
    help = ("Re-check published resources for negative-list entries added or changed since (pending re-checks), "
            "then pre-review submitted resources without a current pre-review. Federation ticks do the same.")

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(prereview_drain()))
