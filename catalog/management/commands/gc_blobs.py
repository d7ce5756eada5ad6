from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from catalog.blobs import blobs_collect, previews_collect


class Command(BaseCommand):
    help = ("Delete stored blobs that no resource file references (left by a failed upload or a crash), then the "
            "previews of contents whose source file is gone from the node. A blob (or preview) is kept while an "
            "upload claimed it, a preview job ran for it, or it was written within the grace period "
            "(CATALOG_BLOB_GRACE_SECONDS unless --min-age-hours is given).")

    def add_arguments(self, parser):
        parser.add_argument("--min-age-hours", type=float, default=None,
                            help="grace period in hours (default: CATALOG_BLOB_GRACE_SECONDS)")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--no-progress", action="store_true")

    def _bar(self, desc: str, disable: bool):
        bar = tqdm(total=0, unit="obj", desc=desc, disable=disable, file=self.stderr._out)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        return bar, progress

    def handle(self, *args, min_age_hours, dry_run, no_progress, **options):
        grace = settings.CATALOG_BLOB_GRACE_SECONDS if min_age_hours is None else int(min_age_hours * 3600)
        verb = "would remove" if dry_run else "removed"
        bar, progress = self._bar("gc blobs", no_progress)
        with bar:
            removed = blobs_collect(grace_seconds=grace, dry_run=dry_run, progress=progress)
        for key in removed:
            self.stdout.write(f"{verb} {key}")
        self.stdout.write(self.style.SUCCESS(f"{len(removed)} unreferenced blob(s)"))
        bar, progress = self._bar("gc previews", no_progress)
        with bar:
            previews = previews_collect(grace_seconds=grace, dry_run=dry_run, progress=progress, blobs_removed=removed)
        for sha in previews:
            self.stdout.write(f"{verb} previews of {sha}")
        self.stdout.write(self.style.SUCCESS(f"{len(previews)} orphaned preview set(s)"))
