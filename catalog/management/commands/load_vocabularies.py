from django.core.management.base import BaseCommand

from catalog.vocab import vocabularies_load


class Command(BaseCommand):
    help = "Load (or refresh) the controlled vocabularies, regions and licences from catalog/data."

    def handle(self, *args, **options):
        counts = vocabularies_load()
        if options["verbosity"] > 0:
            self.stdout.write(self.style.SUCCESS(
                "Loaded " + ", ".join(f"{name}: {count}" for name, count in sorted(counts.items()))))
