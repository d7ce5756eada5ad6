"""Concurrent voucher spending on PostgreSQL: parallel purchase requests, each on its own database
connection, never overspend a school's balance and never charge twice for the same grant.

These tests commit for real (transactional test database), so they need PostgreSQL row locks; SQLite
serialises every write transaction and would prove nothing. After each test the tables are flushed, so
the fixture below reloads the vocabularies and role groups the rest of the suite expects.
"""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from licensing.models import Grant, LedgerTransaction, VoucherAccount
from licensing.selectors import ledger_verify
from tests import factories

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL row locks; runs in the PostgreSQL lane: python -m tests.servers postgres -- pytest",
)


@pytest.fixture
def world(committed_db, province):
    orgs = factories.demo_organisations(province)
    users = factories.demo_users(orgs)
    orgs["city_school"].student_count = 5
    orgs["city_school"].save(update_fields=["student_count"])
    return orgs, users


def run_in_parallel(calls) -> list:
    """Start every call at the same moment, each in its own thread with its own database connection."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - reported through the results
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def test_parallel_purchases_never_overspend(world, province):
    """25 vouchers, price 5, twelve teachers buying at once: exactly five succeed, the balance ends at 0."""
    from exchange.services import user_create
    from licensing.services import vouchers_fund

    orgs, users = world
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=5)
    resource = factories.ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=5,
                                         territory=[province])
    teachers = [user_create(username=f"t{i}", password=None, organisation=orgs["city_school"], roles=["teacher"])
                for i in range(12)]
    url = f"/api/v1/resources/{resource.pk}/grants"

    def buyer(teacher):
        return lambda: client_for(teacher).post(url, {"scope": "personal"}, format="json")

    responses = run_in_parallel([buyer(t) for t in teachers])
    outcomes = Counter((r.status_code, r.json().get("error", {}).get("code")) for r in responses)
    assert outcomes == {(201, None): 5, (409, "insufficient_vouchers"): 7}
    account = VoucherAccount.objects.get(key=f"school:{orgs['city_school'].pk}")
    assert account.balance == 0
    assert Grant.objects.count() == 5 and LedgerTransaction.objects.filter(kind="purchase").count() == 5
    assert VoucherAccount.objects.get(key=f"publisher:{orgs['publisher'].pk}").balance == 25
    assert ledger_verify() == []


def test_parallel_double_clicks_charge_once(world, province):
    """One teacher sends the same purchase eight times at once: one grant, one charge."""
    from licensing.services import vouchers_fund

    orgs, users = world
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=5)
    resource = factories.ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=3,
                                         territory=[province])
    url = f"/api/v1/resources/{resource.pk}/grants"
    responses = run_in_parallel(
        [lambda: client_for(users["teacher"]).post(url, {"scope": "school"}, format="json")] * 8)
    outcomes = Counter((r.status_code, r.json().get("error", {}).get("code")) for r in responses)
    assert outcomes == {(201, None): 1, (409, "already_entitled"): 7}
    assert VoucherAccount.objects.get(key=f"school:{orgs['city_school'].pk}").balance == 22
    assert ledger_verify() == []


def test_funding_and_spending_at_once_keep_the_books_balanced(world, province):
    """Funding and purchases racing on the same account: every movement lands, balances add up."""
    from exchange.services import user_create
    from licensing.services import grant_purchase, vouchers_fund

    orgs, users = world
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=2)  # 10
    resources = [factories.ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=2,
                                           territory=[province]) for _ in range(6)]
    teacher = user_create(username="buyer", password=None, organisation=orgs["city_school"], roles=["teacher"])

    def fund():
        return vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=1)

    def buy(resource):
        return lambda: grant_purchase(buyer=teacher, resource=resource, scope="personal")

    results = run_in_parallel([fund, fund, *[buy(r) for r in resources]])
    bought = sum(isinstance(r, Grant) for r in results)
    assert all(isinstance(r, LedgerTransaction | Grant) or type(r).__name__ == "InsufficientVouchersError"
               for r in results), results
    account = VoucherAccount.objects.get(key=f"school:{orgs['city_school'].pk}")
    assert account.balance == 10 + 2 * 5 - 2 * bought >= 0
    assert bought >= 5  # the first 10 vouchers always buy five
    assert ledger_verify() == []


def test_parallel_tabs_never_overspend_a_teachers_allowance(world, province):
    """One teacher, eight tabs, eight different resources at 5 vouchers each, an allowance of 12 this term and
    plenty of school vouchers: exactly two purchases go through, the others are refused with
    allowance_exceeded, and the allowance shows 10 spent."""
    from licensing.models import TeacherAllowance
    from licensing.purchase_requests import school_policy_set
    from licensing.services import vouchers_fund

    orgs, users = world
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=50)  # 250
    school_policy_set(actor=users["school_admin"], teacher_allowance=12, approval_threshold=None)
    resources = [factories.ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=5,
                                           territory=[province]) for _ in range(8)]

    def tab(resource):
        return lambda: client_for(users["teacher"]).post(f"/api/v1/resources/{resource.pk}/grants",
                                                         {"scope": "personal"}, format="json")

    responses = run_in_parallel([tab(r) for r in resources])
    outcomes = Counter((r.status_code, r.json().get("error", {}).get("code")) for r in responses)
    assert outcomes == {(201, None): 2, (409, "allowance_exceeded"): 6}
    row = TeacherAllowance.objects.get(teacher=users["teacher"])
    assert (row.amount, row.spent) == (12, 10)
    assert VoucherAccount.objects.get(key=f"school:{orgs['city_school'].pk}").balance == 240
    assert ledger_verify() == []
