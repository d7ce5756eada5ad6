"""A lesson package's purchase racing single purchases on PostgreSQL: the package buys its priced items in one
transaction while other tabs and other teachers of the same school buy the same items one by one, against the
same school balance and the buying teacher's allowance. Each request runs on its own thread and database
connection through the API, all released at once.

What must hold whatever the interleaving: no item is bought twice for the school, the package is all or nothing,
the balance never goes below zero and equals what was funded minus what the grants cost, the teacher's allowance
is charged exactly the teacher's grants and never beyond its amount, every refusal is a domain error (no
deadlock, no server error) and the ledger balances.
"""

from __future__ import annotations

from collections import Counter

import pytest
from django.conf import settings
from django.db.models import Sum

from exchange.services import user_create
from licensing.models import Grant, LedgerTransaction, TeacherAllowance, VoucherAccount
from licensing.purchase_requests import school_policy_set
from licensing.selectors import ledger_verify
from licensing.services import vouchers_fund
from tests import factories
from tests.licensing.test_concurrency_pg import client_for, run_in_parallel

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL row locks; runs in the PostgreSQL lane: python -m tests.servers postgres -- pytest",
)

ROUNDS = 4


@pytest.fixture
def world(committed_db, province):
    orgs = factories.demo_organisations(province)
    users = factories.demo_users(orgs)
    orgs["city_school"].student_count = 5
    orgs["city_school"].save(update_fields=["student_count"])
    return orgs, users

# A racing single purchase may buy part (package_price_changed: not the total confirmed) or all
# (nothing_to_purchase) of the package before it is bought: both are refusals, never a double spend.
REFUSALS = {"already_entitled", "insufficient_vouchers", "allowance_exceeded", "package_price_changed",
            "nothing_to_purchase"}


def priced(orgs, province, price: int, title: str):
    return factories.ResourceFactory(publisher=orgs["publisher"], license="ALL-RIGHTS-RESERVED", price=price,
                                     territory=[province], title=title)


def post(user, url: str, body: dict):
    return lambda: client_for(user).post(url, body, format="json")


def test_a_package_purchase_racing_single_purchases_never_double_spends(world, province):
    orgs, users = world
    school = orgs["city_school"]
    teacher = users["teacher"]
    colleagues = [user_create(username=f"colleague{i}", password=None, organisation=school, roles=["teacher"])
                  for i in range(2)]
    school_policy_set(actor=users["school_admin"], teacher_allowance=12, approval_threshold=None)
    account_key = f"school:{school.pk}"
    funded = 0
    for round_no in range(ROUNDS):
        vouchers_fund(actor=users["province_admin"], school=school, per_student=5)  # 25 more
        funded += 25
        TeacherAllowance.objects.update(spent=0)  # every teacher has a fresh allowance of 12 each round
        first, second, extra = (priced(orgs, province, 5, f"微课 {round_no}"),
                                priced(orgs, province, 7, f"试卷 {round_no}"),
                                priced(orgs, province, 5, f"学案 {round_no}"))
        api = client_for(teacher)
        made = api.post("/api/v1/collections", {"title": f"第{round_no + 1}课时"}, format="json")
        cid = made.json()["id"]
        for resource, step in ((first, "导入"), (second, "练习")):
            assert api.post(f"/api/v1/collections/{cid}/items", {"resource": str(resource.pk), "step": step},
                            format="json").status_code == 201
        assert api.get(f"/api/v1/collections/{cid}/package").json()["total_price"] == 12

        calls = [
            post(teacher, f"/api/v1/collections/{cid}/package/purchase", {"confirmed_total": 12}),
            post(teacher, f"/api/v1/collections/{cid}/package/purchase", {"confirmed_total": 12}),  # 2nd tab
            post(teacher, f"/api/v1/resources/{first.pk}/grants", {"scope": "school"}),
            post(teacher, f"/api/v1/resources/{extra.pk}/grants", {"scope": "personal"}),
            *[post(c, f"/api/v1/resources/{first.pk}/grants", {"scope": "school"}) for c in colleagues],
            *[post(c, f"/api/v1/resources/{second.pk}/grants", {"scope": "school"}) for c in colleagues],
        ]
        responses = run_in_parallel(calls)
        assert all(not isinstance(r, BaseException) for r in responses), responses
        outcomes = Counter((r.status_code, r.json().get("error", {}).get("code") if r.status_code != 201 else None)
                           for r in responses)
        assert all(status == 201 or (status == 409 and code in REFUSALS) for status, code in outcomes), outcomes

        package_results = responses[:2]
        assert sum(r.status_code == 201 for r in package_results) <= 1
        for resource in (first, second):
            assert Grant.objects.filter(resource=resource, scope="school").count() == 1, (
                f"round {round_no}: {resource.title} bought {Grant.objects.filter(resource=resource).count()}×", outcomes)
        package_grants = Grant.objects.filter(resource__in=[first, second], buyer=teacher)
        bought_by_package = any(r.status_code == 201 for r in package_results)
        if bought_by_package:
            assert package_grants.count() == 2  # all of it
            assert package_results[0].status_code + package_results[1].status_code == 201 + 409
        assert Grant.objects.filter(resource=extra).count() <= 1

        spent = Grant.objects.aggregate(total=Sum("price"))["total"] or 0
        balance = VoucherAccount.objects.get(key=account_key).balance
        assert balance == funded - spent >= 0, (round_no, balance, funded, spent)
        assert LedgerTransaction.objects.filter(kind="purchase").count() == Grant.objects.count()
        allowance = TeacherAllowance.objects.get(teacher=teacher)
        teacher_spent = sum(Grant.objects.filter(buyer=teacher, resource__in=[first, second, extra])
                            .values_list("price", flat=True))
        assert allowance.spent == teacher_spent <= allowance.amount == 12, (round_no, allowance.spent, teacher_spent)
        assert ledger_verify() == []
