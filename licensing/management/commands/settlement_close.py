"""``manage.py settlement_close --month YYYY-MM``: mark a month's settlement final."""

from django.core.management.base import BaseCommand, CommandError

from exchange.errors import ExchangeError
from licensing.settlement import settlement_month_close


class Command(BaseCommand):
    help = ("Close a month whose settlement is final: grant receipts for it that arrive later are flagged late and "
            "counted in the month they arrive.")

    def add_arguments(self, parser):
        parser.add_argument("--month", required=True, help="YYYY-MM (a month that is over)")
        parser.add_argument("--note", default="", help="why / reference of the payout (audited)")

    def handle(self, *args, month, note, **options):
        try:
            close = settlement_month_close(month=month, actor="operator (cli)", note=note)
        except ExchangeError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(self.style.SUCCESS(f"settlement {close.month:%Y-%m} closed at {close.closed_at:%Y-%m-%d %H:%M}"))
