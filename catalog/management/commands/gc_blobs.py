import time

from django.core.management.base import BaseCommand

from catalog.models import ResourceFile
from catalog.storage import get_blob_store


class Command(BaseCommand):
    help = ("Delete stored blobs that no resource file references (left by a crash between storing a "
            "file and committing its row). Only blobs older than --min-age-hours are touched.")

    def add_arguments(self, parser):
        parser.add_argument("--min-age-hours", type=float, default=6.0)
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, min_age_hours, dry_run, **options):
        store = get_blob_store()
        cutoff = time.time() - min_age_hours * 3600
        removed = 0
        for key, mtime in store.iter_keys():
            if mtime > cutoff or ResourceFile.objects.filter(storage_key=key).exists():
                continue
            removed += 1
            if not dry_run:
                store.delete(key)
            self.stdout.write(f"{'would remove' if dry_run else 'removed'} {key}")
        self.stdout.write(self.style.SUCCESS(f"{removed} unreferenced blob(s)"))
