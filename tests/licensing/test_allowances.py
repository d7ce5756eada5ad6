"""A school governs what its teachers spend: per-teacher allowances per term, purchases above a threshold
queued for a school administrator's approval (with an email and an in-app list), the balance and price shown
before the click, the buy button off with a reason when the balance or the allowance is short."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from exchange.services import user_create
from licensing import purchase_requests
from licensing.allowances import term_of
from licensing.errors import AllowanceExceededError, ApprovalRequiredError, NotSchoolAdminError
from licensing.models import Grant, PurchaseRequest, TeacherAllowance, VoucherAccount
from licensing.services import grant_purchase


@pytest.fixture
def school_ready(fund, users):
    """The city school funded with 120 vouchers; its administrator has an email address."""
    fund("city_school", 1)
    users["school_admin"].email = "admin@school.invalid"
    users["school_admin"].save(update_fields=["email"])
    return users


def balance(orgs) -> int:
    return VoucherAccount.objects.get(key=f"school:{orgs['city_school'].pk}").balance


@pytest.mark.parametrize(("day", "term"), [
    (dt.date(2026, 9, 1), "2026-autumn"), (dt.date(2027, 1, 20), "2026-autumn"),
    (dt.date(2027, 2, 20), "2027-spring"), (dt.date(2027, 7, 31), "2027-spring"), (dt.date(2027, 8, 1), "2027-autumn"),
])
def test_terms(day, term):
    assert term_of(day) == term


def test_a_teacher_cannot_spend_past_the_allowance(school_ready, orgs, make_resource, province, api_as):
    """The school sets 8 vouchers per teacher per term: a 5-voucher purchase passes, the next one is refused
    with allowance_exceeded (nothing charged), and the school's balance only lost the first price."""
    users = school_ready
    purchase_requests.school_policy_set(actor=users["school_admin"], teacher_allowance=8, approval_threshold=None)
    first, second = (make_resource(license="ALL-RIGHTS-RESERVED", price=5, territory=[province]) for _ in range(2))
    client = api_as(users["teacher"])
    assert client.post(f"/api/v1/resources/{first.pk}/grants", {"scope": "personal"}, format="json").status_code == 201
    answer = client.post(f"/api/v1/resources/{second.pk}/grants", {"scope": "personal"}, format="json")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "allowance_exceeded"
    assert answer.json()["error"]["details"]["remaining"] == 3
    assert balance(orgs) == 115
    assert Grant.objects.filter(resource=second).count() == 0
    row = TeacherAllowance.objects.get(teacher=users["teacher"])
    assert (row.amount, row.spent) == (8, 5)
    shown = client.get("/api/v1/vouchers/balance").json()
    assert (shown["balance"], shown["allowance"], shown["allowance_remaining"]) == (115, 8, 3)


def test_the_school_admin_is_not_held_to_teacher_allowances(school_ready, orgs, make_resource, province):
    users = school_ready
    purchase_requests.school_policy_set(actor=users["school_admin"], teacher_allowance=0, approval_threshold=0)
    resource = make_resource(license="ALL-RIGHTS-RESERVED", price=5, territory=[province])
    assert grant_purchase(buyer=users["school_admin"], resource=resource, scope="school").price == 5


def test_one_teachers_allowance_set_by_the_admin(school_ready, make_resource, province, api_as):
    """The default is 0 (no purchases); the administrator gives one teacher 10: that teacher may buy."""
    users = school_ready
    other = user_create(username="t2", password=None, organisation=users["teacher"].organisation, roles=["teacher"])
    admin = api_as(users["school_admin"])
    assert admin.put("/api/v1/vouchers/policy", {"teacher_allowance": 0, "approval_threshold": None},
                     format="json").status_code == 200
    assert admin.put(f"/api/v1/vouchers/allowances/{users['teacher'].pk}", {"amount": 10},
                     format="json").status_code == 200
    resource = make_resource(license="ALL-RIGHTS-RESERVED", price=5, territory=[province])
    assert grant_purchase(buyer=users["teacher"], resource=resource, scope="personal").price == 5
    with pytest.raises(AllowanceExceededError):
        grant_purchase(buyer=other, resource=resource, scope="personal")
    policy = admin.get("/api/v1/vouchers/policy").json()
    assert {(a["teacher"], a["amount"], a["spent"]) for a in policy["allowances"]} >= {(users["teacher"].pk, 10, 5)}
    # another school's administrator cannot touch this teacher, and a teacher cannot set anything
    assert api_as(users["teacher"]).put("/api/v1/vouchers/policy", {"teacher_allowance": 99,
                                        "approval_threshold": None}, format="json").status_code == 403
    with pytest.raises(NotSchoolAdminError):
        purchase_requests.teacher_allowance_set(actor=users["teacher"], teacher_id=users["teacher"].pk, amount=99)


def test_a_purchase_above_the_threshold_waits_for_approval(school_ready, orgs, make_resource, province, api_as,
                                                           django_capture_on_commit_callbacks):
    """Price 20 above a threshold of 10: the teacher's purchase is queued (202), nothing is charged, the
    administrator is emailed and sees it in their list; approval buys the grant for the teacher (outside the
    allowance), a second decision is refused; a rejected request charges nothing."""
    users = school_ready
    purchase_requests.school_policy_set(actor=users["school_admin"], teacher_allowance=5, approval_threshold=10)
    resource = make_resource(license="ALL-RIGHTS-RESERVED", price=20, territory=[province])
    teacher, admin = api_as(users["teacher"]), api_as(users["school_admin"])
    mail.outbox.clear()
    with pytest.raises(ApprovalRequiredError):  # the purchase service itself refuses to skip the queue
        grant_purchase(buyer=users["teacher"], resource=resource, scope="personal")
    with django_capture_on_commit_callbacks(execute=True):
        queued = teacher.post(f"/api/v1/resources/{resource.pk}/grants", {"scope": "personal"}, format="json")
    assert queued.status_code == 202, queued.json()
    assert queued.json()["status"] == "pending" and queued.json()["price"] == 20
    again = teacher.post(f"/api/v1/resources/{resource.pk}/grants", {"scope": "personal"}, format="json")
    assert again.json()["error"]["code"] == "purchase_request_pending"
    assert balance(orgs) == 120
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["admin@school.invalid"]
    assert resource.title in mail.outbox[0].subject
    listed = admin.get("/api/v1/purchase-requests?status=pending").json()
    assert [r["id"] for r in listed["results"]] == [queued.json()["id"]]
    assert teacher.get("/api/v1/purchase-requests").json()["count"] == 1
    assert api_as(users["far_teacher"]).get("/api/v1/purchase-requests").json()["count"] == 0
    # a teacher cannot approve (not even their own)
    assert teacher.post(f"/api/v1/purchase-requests/{queued.json()['id']}/decide", {"decision": "approve"},
                        format="json").status_code == 403
    approved = admin.post(f"/api/v1/purchase-requests/{queued.json()['id']}/decide", {"decision": "approve"},
                          format="json")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["status"] == "approved" and approved.json()["grant"] is not None
    grant = Grant.objects.get(pk=approved.json()["grant"])
    assert (grant.user, grant.buyer, grant.price) == (users["teacher"], users["teacher"], 20)
    assert balance(orgs) == 100
    assert teacher.get(f"/api/v1/resources/{resource.pk}/access").json()["allowed"] is True
    twice = admin.post(f"/api/v1/purchase-requests/{queued.json()['id']}/decide", {"decision": "reject"},
                       format="json")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "purchase_request_decided"
    other = make_resource(license="ALL-RIGHTS-RESERVED", price=20, territory=[province])
    second = teacher.post(f"/api/v1/resources/{other.pk}/grants", {"scope": "personal"}, format="json").json()
    rejected = admin.post(f"/api/v1/purchase-requests/{second['id']}/decide", {"decision": "reject", "note": "下学期"},
                          format="json")
    assert rejected.json()["status"] == "rejected"
    assert balance(orgs) == 100 and not Grant.objects.filter(resource=other).exists()
    assert PurchaseRequest.objects.filter(status="pending").count() == 0


def test_another_schools_admin_cannot_decide(school_ready, orgs, make_resource, province, api_as):
    users = school_ready
    purchase_requests.school_policy_set(actor=users["school_admin"], teacher_allowance=None, approval_threshold=1)
    resource = make_resource(license="ALL-RIGHTS-RESERVED", price=5, territory=[province])
    queued = api_as(users["teacher"]).post(f"/api/v1/resources/{resource.pk}/grants", {"scope": "personal"},
                                           format="json").json()
    far_admin = user_create(username="far_admin", password=None, organisation=orgs["far_school"],
                            roles=["school_admin"])
    answer = api_as(far_admin).post(f"/api/v1/purchase-requests/{queued['id']}/decide", {"decision": "approve"},
                                    format="json")
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "purchase_request_not_found"
    assert PurchaseRequest.objects.get(pk=queued["id"]).status == "pending"


def test_no_policy_keeps_purchases_open(school_ready, make_resource, province):
    """Until the school administrator sets a policy, nothing limits a teacher (as before)."""
    resource = make_resource(license="ALL-RIGHTS-RESERVED", price=50, territory=[province])
    assert grant_purchase(buyer=school_ready["teacher"], resource=resource, scope="personal").price == 50
    assert not TeacherAllowance.objects.exists()


def test_the_resource_page_shows_price_balance_and_why_the_button_is_off(
        school_ready, orgs, make_resource, province, client):
    """Before the click the page shows the price, the balance and the allowance left; the button is disabled
    with the reason when the allowance (or the balance) is short, and says it asks for approval above the
    threshold."""
    users = school_ready
    purchase_requests.school_policy_set(actor=users["school_admin"], teacher_allowance=4, approval_threshold=30)
    cheap = make_resource(license="ALL-RIGHTS-RESERVED", price=3, territory=[province])
    short = make_resource(license="ALL-RIGHTS-RESERVED", price=5, territory=[province])
    dear = make_resource(license="ALL-RIGHTS-RESERVED", price=40, territory=[province])
    rich = make_resource(license="ALL-RIGHTS-RESERVED", price=500, territory=[province])
    client.force_login(users["teacher"])
    page = client.get(f"/resources/{cheap.pk}").content.decode()
    assert 'id="purchase-balance">120<' in page and 'id="purchase-allowance">4 / 4<' in page
    assert 'id="purchase-blocked"' not in page
    page = client.get(f"/resources/{short.pk}").content.decode()
    assert 'data-code="allowance_exceeded"' in page and 'id="purchase-button" disabled' in page
    page = client.get(f"/resources/{dear.pk}").content.decode()
    assert 'id="purchase-approval-note"' in page and 'id="purchase-blocked"' not in page
    page = client.get(f"/resources/{rich.pk}").content.decode()
    assert 'data-code="insufficient_vouchers"' in page and 'id="purchase-button" disabled' in page
    # the form action queues the dear one; the admin's school page lists it and approves it
    client.post(f"/resources/{dear.pk}/purchase", {"scope": "personal"})
    item = PurchaseRequest.objects.get(resource=dear)
    client.force_login(users["school_admin"])
    assert dear.title in client.get("/me/school").content.decode()
    client.post(f"/me/school/requests/{item.pk}", {"decision": "approve"})
    item.refresh_from_db()
    assert item.status == "approved" and balance(orgs) == 80


def test_approval_is_refused_once_the_teacher_left_the_school(school_ready, orgs, make_resource, province, api_as,
                                                              fund):
    """The request names the school it was made at; a teacher who moved on cannot spend its vouchers."""
    users = school_ready
    purchase_requests.school_policy_set(actor=users["school_admin"], teacher_allowance=None, approval_threshold=1)
    resource = make_resource(license="ALL-RIGHTS-RESERVED", price=5, territory=[province])
    queued = api_as(users["teacher"]).post(f"/api/v1/resources/{resource.pk}/grants", {"scope": "personal"},
                                           format="json").json()
    fund("rural_school", 1)
    users["teacher"].organisation = orgs["rural_school"]  # moved, with the new school's rights
    users["teacher"].save(update_fields=["organisation"])
    orgs["rural_school"].members_group.user_set.add(users["teacher"])
    answer = api_as(users["school_admin"]).post(f"/api/v1/purchase-requests/{queued['id']}/decide",
                                                {"decision": "approve"}, format="json")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "no_school_account"
    assert balance(orgs) == 120 and not Grant.objects.filter(resource=resource).exists()
    assert VoucherAccount.objects.get(key=f"school:{orgs['rural_school'].pk}").balance == 40
