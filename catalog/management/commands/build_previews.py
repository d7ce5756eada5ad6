from django.core.management.base import BaseCommand

from catalog.previews.services import preview_build_missing


class Command(BaseCommand):
    help = ("Render the previews (cover, page thumbnails, PDF of office files) of stored files that have none "
            "yet; with --again also retry those that failed (e.g. after installing LibreOffice).")

    def add_arguments(self, parser):
        parser.add_argument("--again", action="store_true", help="Also retry failed previews")
        parser.add_argument("--limit", type=int, default=0, help="At most this many files (0: all)")

    def handle(self, *args, again, limit, **options):
        counts = preview_build_missing(again=again, limit=limit or None)
        self.stdout.write(", ".join(f"{status} {n}" for status, n in sorted(counts.items())) or "nothing to do")
