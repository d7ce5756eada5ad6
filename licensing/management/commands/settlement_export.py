"""``manage.py settlement_export``: the settlement report of a period as CSV (all publishers)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from exchange.errors import ExchangeError
from licensing.settlement import Period, SettlementScope, settlement_csv, settlement_report


class Command(BaseCommand):
    help = "Write the settlement report (per publisher: downloads, grants, vouchers spent) of a period as CSV."

    def add_arguments(self, parser):
        parser.add_argument("--month", help="YYYY-MM (default: this month)")
        parser.add_argument("--start", help="YYYY-MM-DD, with --end")
        parser.add_argument("--end", help="YYYY-MM-DD inclusive, with --start")
        parser.add_argument("--publisher", type=int, action="append", help="only this publisher id (repeatable)")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")

    def handle(self, *args, month, start, end, publisher, output, **options):
        try:
            period = Period.parse(month=month, start=start, end=end)
        except ExchangeError as exc:
            raise CommandError(f"{exc.code}: {exc.details}") from exc
        rows = settlement_report(period=period, scope=SettlementScope(everything=True), publisher_ids=publisher)
        text = settlement_csv(period=period, rows=rows)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"{len(rows)} publisher(s), {period.start} – {period.end} → {output}")
        else:
            self.stdout.write(text, ending="")
