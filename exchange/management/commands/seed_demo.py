from django.core.management.base import BaseCommand

from exchange.demo import demo_accounts_ensure


class Command(BaseCommand):
    help = "Create demo organisations and one account per role (idempotent) and print their credentials."

    def handle(self, *args, **options):
        accounts = demo_accounts_ensure()
        self.stdout.write("Demo accounts (also in the data dir, demo_accounts.txt):")
        for account in accounts:
            self.stdout.write(f"  {account.role:<15} {account.username:<15} {account.password:<18} "
                              f"{account.organisation}")
