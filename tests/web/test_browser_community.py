"""Ratings and the purchase-approval flow in a real browser (Chromium through Playwright, against the live
server), with screenshots in Chinese and English (and a phone-sized one) under ``test-output/screenshots/``.
The pages must work under the Content-Security-Policy (``browse`` fails the test on a violation)."""

from __future__ import annotations

import pytest

from tests.web.conftest import PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("committed_db")]


def test_a_teacher_rates_and_the_publisher_sees_it(browse, live, live_world):
    orgs, users, catalog = live_world
    page = browse(users["teacher"])
    page.goto(f"{live}/resources/{catalog.open_maths.pk}")
    assert page.locator("#rating-summary").inner_text() == "还没有评价。"
    page.locator('#rating-form input[name="stars"][value="4"]').check()
    page.get_by_label("评论（可选，发布前经机器预审）").fill("例题梯度合理，课堂上很好用。")
    page.get_by_role("button", name="提交评价").click()
    page.wait_for_load_state()
    assert "已保存评分" in page.locator(".messages").inner_text()
    assert page.locator("#rating-summary").inner_text() == "平均 4.0 分（1 人评价）"
    assert "例题梯度合理" in page.locator("#rating-comments").inner_text()
    assert page.locator('#rating-form input[name="stars"][value="4"]').is_checked()
    screenshot(page, "rating-zh")

    english = browse(users["teacher"], language="en", viewport=PHONE)
    english.goto(f"{live}/resources/{catalog.open_maths.pk}")
    assert english.locator("#rating-summary").inner_text() == "Average 4.0 (1 ratings)"
    assert english.get_by_role("button", name="Submit rating").count() == 1
    screenshot(english, "rating-en-phone")

    publisher = browse(users["publisher"], language="en")
    publisher.goto(f"{live}/publish/feedback")
    assert "例题梯度合理" in publisher.locator("#feedback-list").inner_text()
    screenshot(publisher, "rating-feedback-en")


def test_a_purchase_above_the_threshold_is_approved_by_the_school_admin(browse, live, live_world):
    from licensing.purchase_requests import school_policy_set
    from licensing.services import vouchers_fund

    orgs, users, catalog = live_world
    orgs["city_school"].student_count = 10
    orgs["city_school"].save(update_fields=["student_count"])
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=1)
    school_policy_set(actor=users["school_admin"], teacher_allowance=20, approval_threshold=3)

    page = browse(users["teacher"])
    page.goto(f"{live}/resources/{catalog.priced_physics.pk}")
    assert page.locator("#purchase-price").inner_text() == "5 张资源券"
    assert page.locator("#purchase-balance").inner_text() == "10"
    assert page.locator("#purchase-allowance").inner_text() == "20 / 20"
    assert page.locator("#purchase-approval-note").is_visible()
    screenshot(page, "purchase-approval-zh")
    page.get_by_role("button", name="申请用 5 张资源券购买").click()
    page.wait_for_load_state()
    assert "已提交购买申请" in page.locator(".messages").inner_text()

    admin = browse(users["school_admin"], language="en")
    admin.goto(f"{live}/me/school")
    row = admin.locator("#pending-requests tbody tr")
    assert row.count() == 1 and catalog.priced_physics.title in row.inner_text()
    screenshot(admin, "purchase-approval-admin-en")
    row.get_by_role("button", name="Approve").click()
    admin.wait_for_load_state()
    assert "Approved" in admin.locator(".messages").inner_text()
    assert admin.locator("#no-pending-requests").is_visible()
    assert admin.locator("#voucher-balance").inner_text() == "5"

    page.goto(f"{live}/resources/{catalog.priced_physics.pk}")
    assert page.locator("#download-reason").inner_text() == "您或您的学校已购买该资源的使用授权，授权在有效期内。"
    screenshot(page, "purchase-approved-zh")

    # the approval did not count against the teacher's allowance (the administrator decided)
    english = browse(users["teacher"], language="en", viewport=PHONE)
    english.goto(f"{live}/me/school")
    assert ": 20 of your 20 vouchers are left." in english.locator("#my-allowance").inner_text()
    screenshot(english, "my-school-en-phone")
