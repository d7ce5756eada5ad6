"""``manage.py import_package FILE --user NAME``: import a lesson package zip (made by any node) as a new
private collection of that teacher (``spaces.packages.package_import``)."""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from exchange.errors import ExchangeError
from spaces.packages import package_import


class Command(BaseCommand):
    help = ("Import a lesson package zip (imsmanifest.xml, IMS Common Cartridge style) as a new private "
            "collection of --user: the resources this node holds (its own or synced) in the package's lesson "
            "order; the others are listed as unresolved. Prints the result as JSON.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="The package zip")
        parser.add_argument("--user", required=True, help="Username of the teacher who gets the collection")

    def handle(self, *args, path: str, user: str, **options):
        owner = get_user_model().objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"No user {user!r}.")
        try:
            result = package_import(user=owner, path=path, name=path.rsplit("/", 1)[-1])
        except ExchangeError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(json.dumps(result.as_dict(), ensure_ascii=False))
