"""``manage.py storage_init``: create what the blob store needs (the S3 bucket) when it is missing.

Run once per deployment before the web processes start (``deploy/compose.yaml`` runs it in the one-shot
``migrate`` service); running it again changes nothing. ``--wait`` retries while the store is not
answering yet (an object store container still starting).
"""

import time

from django.core.management.base import BaseCommand, CommandError

from catalog.storage import get_blob_store


class Command(BaseCommand):
    help = "Create the S3 bucket (or local blob directory) when it is missing; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--wait", type=float, default=0.0,
                            help="seconds to keep retrying while the store does not answer (default: no retry)")

    def handle(self, *args, wait: float, **options):
        store = get_blob_store()
        deadline = time.monotonic() + wait
        while True:
            try:
                created = store.ensure()
                break
            except Exception as exc:  # noqa: BLE001 - any failure to reach the store is retried, then reported
                if time.monotonic() >= deadline:
                    raise CommandError(f"the blob store cannot be prepared: {exc.__class__.__name__}: {exc}") from exc
                time.sleep(1.0)
        name = getattr(store, "bucket", None) or getattr(store, "root", "")
        self.stdout.write(f"blob store {name}: {'created' if created else 'ready'}")
