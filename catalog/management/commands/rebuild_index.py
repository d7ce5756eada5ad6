"""``manage.py rebuild_index``: rebuild the search index with zero downtime."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from tqdm import tqdm

from catalog.models import Resource
from catalog.search.indexing import BATCH_SIZE, get_backend, rebuild_index


class Command(BaseCommand):
    help = ("Index every published resource into a new search index and swap it in atomically (Elasticsearch: "
            "alias swap; embedded: new SQLite file). Searches keep using the old index until the swap; changes "
            "made meanwhile are carried over.")

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--no-progress", action="store_true")
        parser.add_argument("--if-outdated", action="store_true",
                            help="only when the live index was built by code that reads it differently (embedded: "
                                 "another analysis or file layout); else say so and exit")

    def handle(self, *args, batch_size, no_progress, if_outdated, **options):
        backend = get_backend()
        if if_outdated and not backend.is_outdated():
            self.stdout.write(f"the {backend.name} index is current: not rebuilt")
            return
        total = Resource.objects.filter(status=Resource.Status.PUBLISHED).count()
        bar = tqdm(total=total, unit="doc", desc=f"rebuild_index ({backend.name})", disable=no_progress,
                   file=self.stderr._out)
        try:
            indexed = rebuild_index(backend=backend, batch_size=max(1, batch_size), progress=bar.update)
        finally:
            bar.close()
        self.stdout.write(self.style.SUCCESS(
            f"indexed {indexed} published resources into a new {backend.name} index and swapped it in"))
