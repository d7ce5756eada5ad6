"""A teacher's lesson package in a real browser (Debian's Chromium through Playwright, against the live
server): from a resource page into a new 备课包 at a lesson step, a priced resource beside it, sharing with
the school, the package zip downloaded, a colleague seeing it; then following a chapter on the 新资源 page.
Screenshots in Chinese and English (one on a phone-sized screen) go to ``test-output/screenshots/``."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.web.conftest import PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("committed_db")]


def test_a_teacher_builds_shares_and_downloads_a_lesson_package(browse, live, live_world):
    orgs, users, catalog = live_world
    page = browse(users["teacher"])
    page.goto(f"{live}/resources/{catalog.open_maths.pk}")
    page.locator("#collection-add-link").click()
    page.get_by_label("备课包", exact=True).select_option("new")
    page.get_by_label("新备课包名称（新建时）").fill("有理数 第一课时")
    page.get_by_label("教学环节").fill("导入")
    page.locator("#collection-add").click()
    page.wait_for_load_state()
    assert page.locator("#collection-title").inner_text() == "有理数 第一课时"
    assert "已加入备课包" in page.locator(".messages").inner_text()

    page.goto(f"{live}/resources/{catalog.priced_physics.pk}")
    page.locator("#collection-add-link").click()
    page.get_by_label("备课包", exact=True).select_option(label="有理数 第一课时")
    page.get_by_label("教学环节").fill("练习")
    page.locator("#collection-add").click()
    page.wait_for_load_state()
    statuses = page.locator(".package-item").evaluate_all("items => items.map(i => i.dataset.status)")
    assert statuses == ["included", "purchase"]
    assert page.locator("#package-summary").inner_text() == "可下载 1 个，需购买 1 个，不可获取 0 个。"
    assert page.get_by_role("button", name="确认购买（5 张资源券）").is_visible()
    page.get_by_label("分享范围").select_option("school")
    page.locator("#collection-save").click()
    page.wait_for_load_state()
    assert "本校教师" in page.locator("main").inner_text()
    screenshot(page, "lesson-package-zh")
    collection_url = page.url

    with page.expect_download() as download:
        page.locator("#package-download").click()
    assert download.value.suggested_filename == "有理数 第一课时.zip"
    archive = zipfile.ZipFile(io.BytesIO(open(download.value.path(), "rb").read()))
    assert "imsmanifest.xml" in archive.namelist() and len(archive.namelist()) == 2

    colleague = browse(users["school_admin"], language="en", viewport=PHONE)
    colleague.goto(collection_url)
    assert colleague.locator("#collection-title").inner_text() == "有理数 第一课时"
    assert colleague.locator("#package-summary").inner_text() == "1 to download, 1 to buy, 0 not available to you."
    assert colleague.locator("#collection-save").count() == 0  # not the owner: no editing forms
    width = colleague.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    screenshot(colleague, "lesson-package-en-phone")

    stranger = browse(users["far_teacher"])
    response = stranger.goto(collection_url)
    assert response.status == 404 and "页面不存在。" in stranger.locator("main").inner_text()


def test_following_a_chapter_and_the_feed_address(browse, live, live_world):
    orgs, users, catalog = live_world
    page = browse(users["teacher"], language="en")
    page.goto(f"{live}/me/feed")
    assert page.locator("h1").inner_text() == "New resources"
    page.get_by_label("Subject").fill("数学")
    page.get_by_label("Chapter").fill("第一章 有理数")
    page.locator("#follow-create").click()
    page.wait_for_load_state()
    assert "数学" in page.locator("#follows").inner_text()
    page.locator("#feed-token").click()
    page.wait_for_load_state()
    feed_url = page.locator("#feed-url").input_value()
    assert "/feeds/" in feed_url and feed_url.endswith("/atom")
    screenshot(page, "new-resources-en")
    chinese = browse(users["teacher"])
    chinese.goto(f"{live}/me/feed")
    assert chinese.locator("h1").inner_text() == "新资源"
    assert chinese.locator("#feed-url").count() == 0  # the address is shown once only
    screenshot(chinese, "new-resources-zh")
