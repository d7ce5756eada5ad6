"""分享我的课 in a real browser (Debian's Chromium through Playwright, against the live server): the school
administrator reads the content commitment and lets teachers share; a teacher on a phone shares a lesson as the
school, a reviewer approves it, and the teacher edits it in English, which sends it to review again; a teacher of a
school that did not consent is told why. Screenshots in Chinese and English (phone-sized) go to
``test-output/screenshots/``."""

from __future__ import annotations

import re

import pytest

from catalog.models import Resource, ResourceRevision
from tests.factories import pdf_bytes
from tests.web.conftest import PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("committed_db")]


def fits_the_phone(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_a_school_consents_and_a_teacher_shares_and_edits_a_lesson(browse, live, live_world, tmp_path):
    orgs, users, _catalog = live_world
    admin = browse(users["school_admin"])
    admin.goto(f"{live}/me/school")
    commitment = admin.locator("#sharing-commitment")
    assert commitment.is_visible() and "数字教育资源内容承诺书" in commitment.inner_text()
    assert admin.locator("#sharing-consent-status").inner_text() == "当前：未开启。"
    admin.get_by_label("允许本校教师以学校名义分享自己的课（一师一优课），并代表学校接受内容承诺书").check()
    screenshot(admin, "school-sharing-consent-zh")
    admin.get_by_role("button", name="保存规则").click()
    admin.wait_for_load_state()
    assert admin.locator("#sharing-consent-status").inner_text().startswith("当前：已开启（school_admin 于")

    pdf = tmp_path / "有理数的减法.pdf"
    pdf.write_bytes(pdf_bytes("有理数的减法"))
    teacher = browse(users["teacher"], viewport=PHONE)
    teacher.goto(f"{live}/me/lessons/")
    teacher.locator("#share-lesson").click()
    assert orgs["city_school"].name in teacher.locator("#share-as-school").inner_text()
    assert teacher.get_by_label("权利人").input_value() == orgs["city_school"].name
    assert teacher.get_by_label("权利人").is_disabled()
    teacher.get_by_label("标题").fill("我的公开课 有理数的减法")
    teacher.get_by_label("学段").select_option("初中")
    teacher.get_by_label("学科").select_option("数学")
    teacher.get_by_label("年级").select_option("七年级")
    teacher.get_by_label("资源类型").select_option("课件")
    teacher.get_by_label("许可协议").select_option("CC-BY-4.0")
    teacher.get_by_label("文件").set_input_files(str(pdf))
    assert fits_the_phone(teacher), "the upload form scrolls sideways on a phone"
    screenshot(teacher, "share-lesson-zh-phone")
    teacher.get_by_role("button", name="保存").click()
    teacher.wait_for_url(re.compile(r"/me/lessons/$"))
    row = teacher.locator("#my-lessons tr", has_text="有理数的减法")
    assert row.locator(".status").first.inner_text() == "待审核"
    lesson = Resource.objects.get(title="我的公开课 有理数的减法")
    assert lesson.publisher == orgs["city_school"] and lesson.rights.holder == orgs["city_school"].name

    reviewer = browse(users["reviewer"])
    reviewer.goto(f"{live}/review/")
    reviewer.get_by_role("link", name="我的公开课 有理数的减法").click()
    for dimension in ("political", "orientation", "scientific", "applicability", "conformity", "timeliness",
                      "public_welfare"):
        reviewer.locator(f"#dim-{dimension}-pass").check()
    reviewer.get_by_role("button", name="批准", exact=True).click()
    reviewer.wait_for_url(re.compile(r"/review/$"))
    assert Resource.objects.get(pk=lesson.pk).status == "published"

    english = browse(users["teacher"], language="en", viewport=PHONE)
    english.goto(f"{live}/me/lessons/")
    assert english.locator("#my-lessons tr", has_text="有理数的减法").locator(".status").first.inner_text() == (
        "Published")
    english.get_by_role("link", name="Edit").click()
    english.get_by_label("Title").fill("我的公开课 有理数的减法（第二课时）")
    english.get_by_label("Submit for review after saving").check()
    assert fits_the_phone(english), "the edit form scrolls sideways on a phone"
    screenshot(english, "share-lesson-edit-en-phone")
    english.get_by_role("button", name="Save changes").click()
    english.wait_for_load_state()
    assert "Submitted for review" in english.locator(".messages").inner_text()
    assert Resource.objects.get(pk=lesson.pk).title == "我的公开课 有理数的减法", "live until the revision is approved"
    assert ResourceRevision.objects.get(resource=lesson).status == "submitted"

    refused = browse(users["far_teacher"], language="en", viewport=PHONE)
    response = refused.goto(f"{live}/me/lessons/new")
    assert response.status == 403
    assert "has not allowed teachers to share" in refused.locator("#sharing-refused").inner_text()
    screenshot(refused, "share-lesson-refused-en-phone")
