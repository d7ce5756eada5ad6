from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from exchange.audit import audit_verify
from exchange.models import AuditEvent


class Command(BaseCommand):
    help = "Recompute the audit log's hash chain; exit 1 and list every changed, removed or inserted row."

    def add_arguments(self, parser):
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, no_progress, **options):
        total = AuditEvent.objects.count()
        with tqdm(total=total, unit="ev", desc="verify", disable=no_progress, file=self.stderr._out) as bar:
            problems = audit_verify(progress=bar)
        if problems:
            for problem in problems:
                self.stderr.write(str(problem))
            raise CommandError(f"audit chain BROKEN: {len(problems)} problem(s) in {total} events")
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {total} events"))
