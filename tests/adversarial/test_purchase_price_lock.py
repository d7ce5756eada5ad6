"""A purchase charges the price that holds when it is made: ``grant_purchase`` locks the resource row
(which the approval of a revision of its rights holds too) before the school's account, and decides and charges with
the rights read under that lock — not with a statement read before, as the purchase API's own
lookup does."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings
from django.db import connection, connections, transaction

from catalog.models import Resource
from catalog.selectors import resource_get
from licensing.models import Grant, LedgerTransaction, VoucherAccount
from licensing.selectors import ledger_verify
from licensing.services import grant_purchase, vouchers_fund
from tests import factories

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def _priced(orgs, province, price):
    return factories.ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=price,
                                     territory=[province])


def test_a_price_edited_after_the_resource_was_read_is_the_price_charged(users, orgs, province):
    """The buyer's request read the resource at price 5; the publisher raised it to 9 before the
    purchase ran: 9 is charged (and recorded on the grant), not 5."""
    orgs["city_school"].student_count = 10
    orgs["city_school"].save(update_fields=["student_count"])
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=2)  # 20
    resource = _priced(orgs, province, 5)
    seen = resource_get(user=users["teacher"], resource_id=resource.pk)
    assert seen.rights.price == 5
    factories.revise(Resource.objects.get(pk=resource.pk), publisher=users["publisher"], reviewer=users["reviewer"],
                     rights={"price": 9})
    grant = grant_purchase(buyer=users["teacher"], resource=seen, scope="personal")
    assert grant.price == 9 and grant.ledger_transaction.amount == 9
    assert VoucherAccount.objects.get(key=f"school:{orgs['city_school'].pk}").balance == 11
    assert ledger_verify() == []


@pytest.fixture
def committed_world(committed_demo):
    return committed_demo


def _waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0] > 0


@pytest.mark.skipif(not ON_POSTGRES, reason="row locks between two connections: runs in the PostgreSQL lane "
                    "(SQLite serialises write transactions; its two-process case is in test_concurrent_purchase)")
def test_a_purchase_waits_for_a_price_edit_in_progress_and_charges_its_price(committed_world, province):
    """Thread B edits the price (5 → 9) and holds its transaction open; thread A buys meanwhile. A must
    wait for B's lock on the resource and then charge 9; B commits only once A waits (or has finished,
    which is the bug: A charged the old price without waiting)."""
    orgs, users = committed_world
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=2)
    resource = _priced(orgs, province, 5)
    seen = resource_get(user=users["teacher"], resource_id=resource.pk)
    assert seen.rights.price == 5
    edited, release, done = threading.Event(), threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def editor() -> None:
        try:
            with transaction.atomic():
                factories.revise(Resource.objects.get(pk=resource.pk), publisher=users["publisher"],
                                 reviewer=users["reviewer"], rights={"price": 9})
                edited.set()
                release.wait(30)
        finally:
            connections.close_all()

    def buyer() -> None:
        try:
            results["grant"] = grant_purchase(buyer=users["teacher"], resource=seen, scope="personal")
        except Exception as exc:  # noqa: BLE001 - reported below
            results["grant"] = exc
        finally:
            done.set()
            connections.close_all()

    b = threading.Thread(target=editor)
    b.start()
    assert edited.wait(30)
    a = threading.Thread(target=buyer)
    a.start()
    deadline = time.monotonic() + 30
    while not done.is_set() and not _waiting_on_a_lock() and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    b.join(30)
    a.join(30)
    grant = results["grant"]
    assert isinstance(grant, Grant), grant
    assert grant.price == 9, "charged the price read before the edit committed"
    assert LedgerTransaction.objects.get(pk=grant.ledger_transaction_id).amount == 9
    assert ledger_verify() == []
