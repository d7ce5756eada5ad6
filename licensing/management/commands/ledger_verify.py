"""``manage.py ledger_verify``: check the voucher ledger's double-entry invariants."""

from django.core.management.base import BaseCommand, CommandError

from licensing.models import LedgerTransaction, VoucherAccount
from licensing.selectors import ledger_verify


class Command(BaseCommand):
    help = ("Check the voucher ledger: every movement balances, every cached balance equals its entries, "
            "no school account is negative. Exit 1 and list every problem otherwise.")

    def handle(self, *args, **options):
        problems = ledger_verify()
        movements, accounts = LedgerTransaction.objects.count(), VoucherAccount.objects.count()
        if problems:
            for problem in problems:
                self.stderr.write(str(problem))
            raise CommandError(f"ledger BROKEN: {len(problems)} problem(s) in {movements} movements")
        self.stdout.write(self.style.SUCCESS(f"ledger balanced: {movements} movements, {accounts} accounts"))
