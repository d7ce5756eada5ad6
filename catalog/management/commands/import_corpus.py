import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from catalog.importer import import_records


class Command(BaseCommand):
    help = ("Import a JSONL corpus (the sample generator's record format) as published resources. "
            "Keeps record ids; running it twice changes nothing; bad lines are reported and skipped.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSONL file, or - for standard input")
        parser.add_argument("--free-for", default="",
                            help="School categories that use priced records free, e.g. rural,poor")
        parser.add_argument("--metadata-only", action="store_true",
                            help="Store no file per record (benchmarks)")
        parser.add_argument("--placeholder-files", action="store_true",
                            help="Store a tiny placeholder file per record instead of a real sample document, "
                                 "and make no previews of them (bulk benchmarks)")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--no-index", action="store_true", help="Skip search indexing (run rebuild_index later)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, file, free_for, metadata_only, placeholder_files, batch_size, no_index, no_progress,
               **options):
        try:
            stream = sys.stdin if file == "-" else open(file, encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        total = None
        if file != "-":
            with open(file, encoding="utf-8") as counter:
                total = sum(1 for line in counter if line.strip())
        bar = tqdm(total=total, unit="rec", desc="import", disable=no_progress, file=self.stderr._out)
        try:
            with stream:
                report = import_records(
                    stream, free_for=[c for c in free_for.split(",") if c], with_files=not metadata_only,
                    batch_size=batch_size, progress=bar.update, index=not no_index,
                    placeholder_files=placeholder_files,
                )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        for line_no, message in report.errors:
            self.stderr.write(f"line {line_no}: {message} (skipped)")
        style = self.style.WARNING if report.errors else self.style.SUCCESS
        self.stdout.write(style(
            f"created {report.created}, already present {report.skipped_existing}, refused {len(report.errors)}"))
