"""Service calls the crash tests run against a node as real processes (``python -m
tests.adversarial.actions ACTION …`` with the node's environment), so that they can be killed at any
moment. Each prints one JSON line per thing done, flushed, so a test can see how far it got."""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path


def _setup() -> None:
    import django

    django.setup()


def _say(**fields) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def fund(args: argparse.Namespace) -> None:
    """Give the demo city school ``--students`` students and fund it ``--per-student`` vouchers each."""
    from exchange.models import Organisation, User
    from licensing.services import vouchers_fund

    admin = User.objects.get(username="province_admin")
    school = User.objects.get(username="teacher").organisation
    Organisation.objects.filter(pk=school.pk).update(student_count=args.students)
    school.refresh_from_db()
    txn = vouchers_fund(actor=admin, school=school, per_student=args.per_student)
    _say(funded=txn.amount)


def priced_ids() -> list[str]:
    from catalog.models import Resource

    return sorted(str(pk) for pk in Resource.objects.filter(
        status=Resource.Status.PUBLISHED, rights__price__gt=0, rights__free_for=[]).values_list("pk", flat=True))


def buy(args: argparse.Namespace) -> None:
    """The demo teacher buys priced resources in a seeded random order (each twice in a row, as a
    double click), and downloads each one bought, until the vouchers run out or ``--max`` purchases."""
    from catalog.models import Resource
    from exchange.models import User
    from licensing.errors import AlreadyEntitledError, InsufficientVouchersError
    from licensing.services import download_start, grant_purchase

    teacher = User.objects.get(username=args.user)
    ids = priced_ids()
    random.Random(args.seed).shuffle(ids)
    bought = 0
    for rid in ids:
        for _attempt in range(2):
            resource = Resource.objects.select_related("rights").get(pk=rid)
            try:
                grant = grant_purchase(buyer=teacher, resource=resource, scope=args.scope)
            except AlreadyEntitledError:
                _say(already=rid)
                continue
            except InsufficientVouchersError:
                _say(exhausted=rid)
                return
            _say(bought=rid, price=grant.price, grant=grant.pk)
            download_start(user=teacher, resource=resource)
            _say(downloaded=rid)
            bought += 1
        if bought >= args.max:
            return


def withdraw(args: argparse.Namespace) -> None:
    """Withdraw ``--count`` published local resources (seeded choice), as upheld takedowns."""
    from catalog.models import Resource
    from catalog.services import resource_withdraw_for_takedown

    ids = sorted(str(pk) for pk in Resource.objects.filter(
        status=Resource.Status.PUBLISHED, is_remote=False).values_list("pk", flat=True))
    for rid in random.Random(args.seed).sample(ids, min(args.count, len(ids))):
        resource_withdraw_for_takedown(resource=Resource.objects.get(pk=rid), actor=None, note="crash test")
        _say(withdrawn=rid)


def hold_price(args: argparse.Namespace) -> None:
    """Change a resource's price the way an edit does (its row locked, the rights row updated) and
    keep the transaction open until ``--release`` exists: a concurrent editor mid-edit."""
    from django.db import transaction

    from catalog.models import Resource, RightsStatement

    with transaction.atomic():
        Resource.objects.select_for_update().get(pk=args.resource)
        RightsStatement.objects.filter(resource_id=args.resource).update(price=args.price)
        _say(holding=args.resource, price=args.price)
        release = Path(args.release)
        deadline = time.monotonic() + 60
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    _say(committed=args.resource)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.adversarial.actions")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("fund")
    p.add_argument("--students", type=int, required=True)
    p.add_argument("--per-student", type=int, required=True)
    p = sub.add_parser("buy")
    p.add_argument("--user", default="teacher")
    p.add_argument("--scope", default="personal")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max", type=int, default=1_000_000)
    p = sub.add_parser("withdraw")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("hold-price")
    p.add_argument("--resource", required=True)
    p.add_argument("--price", type=int, required=True)
    p.add_argument("--release", required=True)
    args = parser.parse_args(argv)
    _setup()
    {"fund": fund, "buy": buy, "withdraw": withdraw, "hold-price": hold_price}[args.action](args)


if __name__ == "__main__":
    main()
