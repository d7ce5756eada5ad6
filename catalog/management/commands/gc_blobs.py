from django.conf import settings
from django.core.management.base import BaseCommand

from catalog.blobs import blobs_collect


class Command(BaseCommand):
    help = ("Delete stored blobs that no resource file references (left by a failed upload or a crash). A blob "
            "is kept while an upload claimed it, or without a claim wrote it, within the grace period "
            "(CATALOG_BLOB_GRACE_SECONDS unless --min-age-hours is given).")

    def add_arguments(self, parser):
        parser.add_argument("--min-age-hours", type=float, default=None,
                            help="grace period in hours (default: CATALOG_BLOB_GRACE_SECONDS)")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args, min_age_hours, dry_run, **options):
        grace = settings.CATALOG_BLOB_GRACE_SECONDS if min_age_hours is None else int(min_age_hours * 3600)
        removed = blobs_collect(grace_seconds=grace, dry_run=dry_run)
        for key in removed:
            self.stdout.write(f"{'would remove' if dry_run else 'removed'} {key}")
        self.stdout.write(self.style.SUCCESS(f"{len(removed)} unreferenced blob(s)"))
