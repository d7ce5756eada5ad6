"""Vouchers (数字资源券): province funding, purchases of grants, the double-entry ledger and who sees it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import RightsStatement
from exchange.models import AuditEvent
from licensing import services
from licensing.errors import InsufficientVouchersError, LedgerUnbalancedError
from licensing.models import Grant, LedgerEntry, LedgerTransaction, VoucherAccount
from licensing.selectors import ledger_verify


def buy(client, resource, scope="personal"):
    return client.post(f"/api/v1/resources/{resource.pk}/grants", {"scope": scope}, format="json")


def balance(school) -> int:
    return VoucherAccount.objects.get(key=f"school:{school.pk}").balance


def test_province_admin_funds_a_school_per_student(api_as, users, students):
    response = api_as(users["province_admin"]).post(
        "/api/v1/vouchers/fund", {"school": students["city_school"].pk, "per_student": 3, "memo": "2025春季"},
        format="json")
    assert response.status_code == 201, response.json()
    txn = response.json()
    assert txn["kind"] == "fund" and txn["amount"] == 360 and txn["memo"] == "2025春季"
    assert sorted((e["account"], e["side"], e["amount"]) for e in txn["entries"]) == [
        (f"issuer:{students['city_school'].province_code}", "debit", 360),
        (f"school:{students['city_school'].pk}", "credit", 360)]
    assert balance(students["city_school"]) == 360
    assert VoucherAccount.objects.get(kind="issuer").balance == -360  # the issuer runs negative by design
    event = AuditEvent.objects.get(action="vouchers.fund")
    assert event.data["amount"] == 360 and event.data["student_count"] == 120
    assert ledger_verify() == []


@pytest.mark.parametrize(("who", "school", "per_student", "status", "code"), [
    ("province_admin", "far_school", 1, 403, "funding_not_allowed"),  # another province's school
    ("province_admin", "publisher", 1, 404, "not_found"),  # not a school
    ("province_admin", "city_school", 0, 400, "invalid_input"),
    ("school_admin", "city_school", 1, 403, "permission_denied"),
    ("hub_operator", "city_school", 1, 403, "permission_denied"),
])
def test_funding_refusals(api_as, users, students, who, school, per_student, status, code):
    response = api_as(users[who]).post("/api/v1/vouchers/fund",
                                       {"school": students[school].pk, "per_student": per_student}, format="json")
    assert response.status_code == status and response.json()["error"]["code"] == code
    assert LedgerTransaction.objects.count() == 0 and VoucherAccount.objects.filter(balance__gt=0).count() == 0


def test_a_school_without_students_cannot_be_funded(users, orgs):
    from exchange.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="no students"):
        services.vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=5)


def test_teacher_buys_a_personal_grant_then_downloads_within_the_term(api_as, users, fund, priced):
    fund("city_school", 1)  # 120 vouchers
    teacher = api_as(users["teacher"])
    response = buy(teacher, priced, "personal")
    assert response.status_code == 201, response.json()
    grant = Grant.objects.get(pk=response.json()["id"])
    assert (grant.scope, grant.user, grant.price, grant.organisation) == (
        "personal", users["teacher"], 5, users["teacher"].organisation)
    assert grant.ends_at - grant.starts_at == dt.timedelta(days=priced.rights.grant_days)
    assert balance(users["teacher"].organisation) == 115
    assert VoucherAccount.objects.get(key=f"publisher:{priced.publisher_id}").balance == 5
    txn = grant.ledger_transaction
    assert sorted((e.side, e.amount) for e in txn.entries.all()) == [("credit", 5), ("debit", 5)]
    assert AuditEvent.objects.filter(action="grant.purchase", object_id=str(grant.pk)).exists()

    again = buy(teacher, priced, "personal")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_entitled"
    assert teacher.post(f"/api/v1/resources/{priced.pk}/download").json()["decision"]["reason"] == "grant_active"
    assert balance(users["teacher"].organisation) == 115  # paid once


def test_a_school_grant_covers_colleagues_and_can_follow_a_personal_one(api_as, users, fund, priced):
    from exchange.services import user_create

    colleague = user_create(username="colleague", password=None, organisation=users["teacher"].organisation,
                            roles=["teacher"])
    fund("city_school", 1)
    buy(api_as(users["teacher"]), priced, "personal")
    assert api_as(colleague).post(f"/api/v1/resources/{priced.pk}/download").status_code == 402
    school_wide = buy(api_as(users["teacher"]), priced, "school")  # only a personal grant covered the buyer
    assert school_wide.status_code == 201 and school_wide.json()["user"] is None
    assert api_as(colleague).post(f"/api/v1/resources/{priced.pk}/download").status_code == 200
    assert buy(api_as(users["school_admin"]), priced, "school").json()["error"]["code"] == "already_entitled"
    assert balance(users["teacher"].organisation) == 110
    mine = api_as(colleague).get("/api/v1/grants").json()
    assert [g["scope"] for g in mine["results"]] == ["school"]


def test_grant_term_never_outlasts_the_rights(api_as, users, fund, priced):
    end = timezone.localdate() + dt.timedelta(days=10)
    RightsStatement.objects.filter(resource=priced).update(term_end=end, grant_days=365)
    fund("city_school", 1)
    grant = Grant.objects.get(pk=buy(api_as(users["teacher"]), priced).json()["id"])
    assert timezone.localtime(grant.ends_at) == dt.datetime.combine(
        end + dt.timedelta(days=1), dt.time.min, tzinfo=timezone.get_current_timezone())


def test_a_short_balance_buys_nothing_and_writes_nothing(api_as, users, fund, make_resource, province):
    expensive = make_resource(license="ALL-RIGHTS-RESERVED", price=500, territory=[province])
    fund("city_school", 1)
    response = buy(api_as(users["teacher"]), expensive)
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "insufficient_vouchers", "message": "The school's voucher balance is too low for this purchase.",
        "details": {"balance": 120, "price": 500}}
    assert Grant.objects.count() == 0 and LedgerTransaction.objects.filter(kind="purchase").count() == 0
    assert balance(users["teacher"].organisation) == 120 and ledger_verify() == []


@pytest.mark.parametrize(("who", "status", "code"), [
    ("rural_teacher", 409, "already_entitled"),  # free for rural schools
    ("far_teacher", 409, "not_purchasable"),  # outside the territory: buying would not help
    ("publisher", 403, "permission_denied"),  # not a school member role
    ("reviewer", 403, "permission_denied"),
])
def test_purchases_that_make_no_sense_are_refused(api_as, users, fund, priced, who, status, code):
    fund("city_school", 1)
    response = buy(api_as(users[who]), priced)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_ledger_rows_are_append_only(users, fund):
    txn = fund("city_school", 1)
    entry = txn.entries.first()
    entry.amount = 1
    with pytest.raises(RuntimeError, match="append-only"):
        entry.save()
    with pytest.raises(RuntimeError, match="append-only"):
        entry.delete()
    with pytest.raises(RuntimeError, match="append-only"):
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=1)
    with pytest.raises(RuntimeError, match="append-only"):
        LedgerTransaction.objects.all().delete()


def test_unbalanced_movements_are_never_written(users, students):
    account = services.voucher_account_ensure(school=students["city_school"])
    with pytest.raises(LedgerUnbalancedError):
        services._post(kind="fund", actor=users["province_admin"], now=timezone.now(),
                       legs=[(account, "credit", 10)])
    assert LedgerTransaction.objects.count() == 0


def test_the_database_refuses_a_negative_school_balance(students):
    account = services.voucher_account_ensure(school=students["city_school"])
    with pytest.raises(IntegrityError), transaction.atomic():
        VoucherAccount.objects.filter(pk=account.pk).update(balance=-1)


def test_conditional_spend_refuses_without_touching_the_balance(users, fund):
    fund("city_school", 1)
    account = VoucherAccount.objects.get(key=f"school:{users['teacher'].organisation_id}")
    publisher = VoucherAccount.objects.create(key="publisher:test", kind="publisher")
    with pytest.raises(InsufficientVouchersError), transaction.atomic():
        services._post(kind="purchase", actor=users["teacher"], now=timezone.now(),
                       legs=[(account, "debit", 121), (publisher, "credit", 121)])
    account.refresh_from_db()
    assert account.balance == 120 and ledger_verify() == []


def test_ledger_verify_finds_a_doctored_balance(users, fund, capsys):
    fund("city_school", 1)
    call_command("ledger_verify")
    assert "ledger balanced: 1 movements" in capsys.readouterr().out
    VoucherAccount.objects.filter(kind="school").update(balance=999)
    problems = ledger_verify()
    assert [str(p) for p in problems] == [
        f"account #{VoucherAccount.objects.get(kind='school').pk}: cached balance 999 ≠ entries 120"]
    with pytest.raises(CommandError, match="ledger BROKEN: 1 problem"):
        call_command("ledger_verify")


def test_who_sees_which_ledger(api_as, users, fund, students):
    fund("city_school", 2)
    own = VoucherAccount.objects.get(key=f"school:{students['city_school'].pk}")
    assert api_as(users["school_admin"]).get("/api/v1/vouchers/accounts").json()["results"][0]["id"] == own.pk
    detail = api_as(users["school_admin"]).get(f"/api/v1/vouchers/accounts/{own.pk}").json()
    assert detail["account"]["balance"] == 240
    assert [(e["kind"], e["side"], e["amount"]) for e in detail["entries"]["results"]] == [("fund", "credit", 240)]
    assert api_as(users["province_admin"]).get(f"/api/v1/vouchers/accounts/{own.pk}").status_code == 200
    assert api_as(users["teacher"]).get(f"/api/v1/vouchers/accounts/{own.pk}").status_code == 403
    assert api_as(users["teacher"]).get("/api/v1/vouchers/balance").json()["balance"] == 240
    rural = services.voucher_account_ensure(school=students["rural_school"])
    assert api_as(users["school_admin"]).get(f"/api/v1/vouchers/accounts/{rural.pk}").status_code == 404
    issuer = VoucherAccount.objects.get(kind="issuer")
    assert api_as(users["province_admin"]).get(f"/api/v1/vouchers/accounts/{issuer.pk}").status_code == 404


GRANTS_SEEN: list[int] = []


def record_grant(*, grant):
    """A grant hook standing in for federation's settlement receipts."""
    assert Grant.objects.filter(pk=grant.pk).exists()  # called inside the purchase, after the grant is written
    GRANTS_SEEN.append(grant.pk)


def test_grant_hooks_see_every_purchase(api_as, users, fund, priced, settings):
    settings.LICENSING_GRANT_HOOKS = ["tests.licensing.test_vouchers.record_grant"]
    GRANTS_SEEN.clear()
    fund("city_school", 1)
    grant_id = buy(api_as(users["teacher"]), priced).json()["id"]
    assert GRANTS_SEEN == [grant_id]


def failing_hook(*, grant):
    raise RuntimeError("receipt signing failed")


def test_a_failing_grant_hook_undoes_the_purchase(api_as, users, fund, priced, settings):
    settings.LICENSING_GRANT_HOOKS = ["tests.licensing.test_vouchers.failing_hook"]
    fund("city_school", 1)
    client = api_as(users["teacher"])
    client.raise_request_exception = False
    assert buy(client, priced).status_code == 500
    assert Grant.objects.count() == 0 and balance(users["teacher"].organisation) == 120


def test_remote_resources_are_paid_into_the_origin_nodes_clearing_account(api_as, users, fund, make_resource,
                                                                          province):
    remote = make_resource(publisher="other_publisher", license="ALL-RIGHTS-RESERVED", price=4,
                           territory=[province], is_remote=True, origin_node="cn-11")
    fund("city_school", 1)
    assert buy(api_as(users["teacher"]), remote).status_code == 201
    assert VoucherAccount.objects.get(key="clearing:cn-11").balance == 4
    assert not VoucherAccount.objects.filter(key=f"publisher:{remote.publisher_id}").exists()
