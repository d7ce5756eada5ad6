"""The pages in a real browser (Debian's Chromium through Playwright, against the live server): searching
and clicking facets, a download allowed and one refused with its reason, upload → review → published, and
a hub operator approving a province's enrolment. Screenshots of the main pages, in Chinese, in English and
on a phone-sized screen, go to ``test-output/screenshots/``."""

from __future__ import annotations

import re

import pytest

from tests.web.conftest import PHONE, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("committed_db")]


def test_search_suggestions_facets_and_badges(browse, live, live_world):
    orgs, users, catalog = live_world
    page = browse(users["teacher"])
    page.goto(f"{live}/")
    assert page.url.endswith("/search")
    box = page.locator("#q")
    box.press_sequentially("有理")
    options = page.locator("#q-suggestions [role=option]")
    options.first.wait_for()
    assert box.get_attribute("aria-expanded") == "true"
    assert any(text.startswith("有理数") for text in options.all_inner_texts())
    box.press("ArrowDown")
    assert options.first.get_attribute("aria-selected") == "true"
    box.press("Escape")
    assert page.locator("#q-suggestions").is_hidden()
    box.fill("有理数")
    box.press("Enter")
    page.wait_for_url(re.compile(r"/search\?q="))
    first = page.locator(".result").first
    assert "有理数" in first.locator("mark").first.inner_text()
    assert first.locator(".badge.licence").inner_text() == "CC BY 4.0"
    assert first.locator(".badge.free").inner_text() == "免费使用"
    screenshot(page, "search-zh")

    page.goto(f"{live}/search")
    assert page.locator(".result").count() == 3
    page.locator('.facet a[data-facet="subject"][data-value="物理"]').click()
    page.wait_for_url(re.compile(r"subject="))
    assert page.locator(".result").count() == 1
    result = page.locator(".result").first
    assert "浮力" in result.inner_text()
    assert result.locator(".badge.price").inner_text() == "5 张资源券"
    assert page.locator('.facet a[aria-current="true"]').count() == 1
    page.locator(".chosen a", has_text="学科").click()
    page.wait_for_url(re.compile(r"/search\?$|/search$"))
    assert page.locator(".result").count() == 3

    rural = browse(users["rural_teacher"])
    rural.goto(f"{live}/search?subject=物理")
    assert rural.locator(".result .badge.free").inner_text() == "贵校免费（原价 5 券）"

    english = browse(users["teacher"], language="en")
    english.goto(f"{live}/search?q=有理数")
    assert english.get_by_role("heading", name=re.compile("resources? matching")).count() == 1
    assert "Stage" in english.locator(".facet h3").all_inner_texts()
    screenshot(english, "search-en")

    phone = browse(users["teacher"], viewport=PHONE)
    phone.goto(f"{live}/search?q=有理数")
    assert phone.locator("details.facets").get_attribute("open") is None
    screenshot(phone, "search-phone")


def test_download_allowed_refused_and_bought(browse, live, live_world):
    orgs, users, catalog = live_world
    page = browse(users["teacher"])
    page.goto(f"{live}/resources/{catalog.open_maths.pk}")
    assert page.locator("#download-reason").inner_text() == "该资源采用开放许可协议，可免费使用。"
    assert page.locator('script[type="application/ld+json"]').count() == 1
    assert "CC BY 4.0" in page.locator(".attribution").inner_text()
    screenshot(page, "resource-zh")
    with page.expect_download() as download:
        page.locator("#download-button").click()
    assert download.value.suggested_filename == "课件.pdf"

    far = browse(users["far_teacher"])
    far.goto(f"{live}/resources/{catalog.priced_physics.pk}")
    assert far.locator("#download-reason").inner_text() == "不能下载：该资源的授权地域不包括您所在的地区。"
    assert far.get_by_role("button", name="下载资源").is_disabled()
    screenshot(far, "resource-refused")

    orgs["city_school"].student_count = 10
    orgs["city_school"].save(update_fields=["student_count"])
    from licensing.services import vouchers_fund

    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=1)
    page.goto(f"{live}/resources/{catalog.priced_physics.pk}")
    assert "使用该资源需要先用学校的数字资源券购买授权" in page.locator("#download-reason").inner_text()
    page.get_by_label("个人授权").check()
    page.get_by_role("button", name="用 5 张资源券购买").click()
    page.wait_for_load_state()
    assert "已购买授权" in page.locator(".messages").inner_text()
    assert page.locator("#download-reason").inner_text() == "您或您的学校已购买该资源的使用授权，授权在有效期内。"
    with page.expect_download() as download:
        page.locator("#download-button").click()
    assert download.value.suggested_filename == "课件.pdf"
    page.goto(f"{live}/me/school")
    assert page.locator("#voucher-balance").inner_text() == "5"
    page.goto(f"{live}/me/downloads")
    assert page.locator("tbody tr").count() == 2

    english = browse(users["far_teacher"], language="en", viewport=PHONE)
    english.goto(f"{live}/resources/{catalog.priced_physics.pk}")
    assert english.locator("#download-reason").inner_text() == (
        "Cannot download: This resource is not licensed for your region.")
    screenshot(english, "resource-refused-en-phone")


def test_upload_review_and_publish(browse, live, live_world, tmp_path):
    from tests.factories import pdf_bytes

    orgs, users, catalog = live_world
    pdf = tmp_path / "有理数的乘法.pdf"
    pdf.write_bytes(pdf_bytes("有理数的乘法"))
    page = browse(users["publisher"])
    page.goto(f"{live}/publish/new")
    page.get_by_label("标题").fill("七年级数学 有理数的乘法 课件")
    page.get_by_label("学段").select_option("初中")
    page.get_by_label("学科").select_option("数学")
    page.get_by_label("年级").select_option("七年级")
    page.get_by_label("资源类型").select_option("课件")
    page.get_by_label("许可协议").select_option("CC-BY-4.0")
    page.get_by_label("文件").set_input_files(str(pdf))
    screenshot(page, "upload-zh")
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(re.compile(r"/publish/$"))
    row = page.locator("tr", has_text="有理数的乘法")
    assert row.locator("td.status").inner_text() == "待审核"

    reviewer = browse(users["reviewer"])
    reviewer.goto(f"{live}/review/")
    reviewer.get_by_role("link", name="七年级数学 有理数的乘法 课件").click()
    assert reviewer.locator(".preview iframe").count() == 1
    assert "发布机构已接受第 1 版" in reviewer.locator("#commitment").inner_text()
    for dimension in ("political", "orientation", "scientific", "applicability", "conformity", "timeliness",
                      "public_welfare"):
        reviewer.locator(f"#dim-{dimension}-pass").check()
    screenshot(reviewer, "review-zh")
    reviewer.get_by_role("button", name="批准", exact=True).click()
    reviewer.wait_for_url(re.compile(r"/review/$"))
    assert "已批准并发布" in reviewer.locator(".messages").inner_text()

    teacher = browse(users["teacher"])
    teacher.goto(f"{live}/search?q=有理数的乘法")
    assert teacher.locator(".result h2").first.inner_text() == "七年级数学 有理数的乘法 课件"
    page.goto(f"{live}/publish/")
    assert page.locator("tr", has_text="有理数的乘法").locator("td.status").inner_text() == "已发布"


def test_edit_reject_with_reasons_fix_resubmit_and_approve(browse, live, live_world):
    """A published resource is edited by its publisher; the change waits for review while the public keeps
    seeing the live version; the reviewer sees the diff and sends it back with a reason, a failed dimension
    and a note on the title; the publisher sees the note beside the field, fixes it and resubmits; the
    reviewer approves on the seven dimensions and the new version is public."""
    orgs, users, catalog = live_world
    resource = catalog.open_maths
    old_title, typo, fixed = resource.title, "人教版七年级数学上册 有理数 教学课件（修定版）", "人教版七年级数学上册 有理数 教学课件（修订版）"

    page = browse(users["publisher"])
    page.goto(f"{live}/publish/")
    page.locator("tr", has_text=old_title).get_by_role("link", name="修改").click()
    page.wait_for_url(re.compile(r"/publish/.+/edit$"))
    assert "审核通过后才替换线上版本" in page.locator("#revision-status").inner_text()
    page.get_by_label("标题").fill(typo)
    page.get_by_label("保存后提交审核").check()
    screenshot(page, "edit-zh")
    page.get_by_role("button", name="保存修改").click()
    page.wait_for_load_state()
    assert "已提交审核" in page.locator(".messages").inner_text()
    assert "修订 1：待审核" in page.locator("#revision-status").inner_text()

    public = browse()
    public.goto(f"{live}/resources/{resource.pk}")
    assert public.locator("h1").inner_text() == old_title  # the live version, while the change is reviewed

    reviewer = browse(users["reviewer"])
    reviewer.goto(f"{live}/review/")
    reviewer.get_by_role("link", name=typo).click()
    title_row = reviewer.locator('#revision-diff tr[data-field="title"]')
    assert old_title in title_row.locator("del").inner_text() and typo in title_row.locator("ins").inner_text()
    title_row.locator('input[name="note_title"]').fill("“修定”应为“修订”")
    reviewer.locator("#dim-conformity-fail").check()
    reviewer.get_by_label("退回类别").select_option("metadata")
    reviewer.get_by_label("退回理由（发布者可见）").fill("标题有错别字")
    screenshot(reviewer, "review-revision-zh")
    reviewer.locator("#reject-button").click()
    reviewer.wait_for_url(re.compile(r"/review/$"))
    assert "已退回" in reviewer.locator(".messages").inner_text()

    page.goto(f"{live}/publish/")
    row = page.locator("tr", has_text=old_title)
    assert "修订 1：已退回" in row.locator(".revision-status").inner_text()
    assert "标题有错别字" in row.inner_text()
    row.get_by_role("link", name="修改").click()
    assert "“修定”应为“修订”" in page.locator("#id_title_review").inner_text()  # beside the title field
    assert "标题有错别字" in page.locator("#rejection").inner_text()
    assert "规范性" in page.locator("#rejection").inner_text()
    screenshot(page, "edit-rejected-zh")
    page.get_by_label("标题").fill(fixed)
    page.get_by_label("保存后提交审核").check()
    page.get_by_role("button", name="保存修改").click()
    page.wait_for_load_state()
    assert "修订 1：待审核" in page.locator("#revision-status").inner_text()

    reviewer.goto(f"{live}/review/")
    reviewer.get_by_role("link", name=fixed).click()
    for dimension in ("political", "orientation", "scientific", "applicability", "conformity", "timeliness",
                      "public_welfare"):
        reviewer.locator(f"#dim-{dimension}-pass").check()
    reviewer.get_by_role("button", name="批准修订").click()
    reviewer.wait_for_url(re.compile(r"/review/$"))
    assert "修订已批准并生效" in reviewer.locator(".messages").inner_text()

    public.goto(f"{live}/resources/{resource.pk}")
    assert public.locator("h1").inner_text() == fixed
    public.goto(f"{live}/search?q=修订版")
    assert public.locator(".result h2").first.inner_text() == fixed
    public.goto(f"{live}/resources/{resource.pk}/history")
    assert public.locator("section.version").count() == 2  # the version before and the one approved
    screenshot(public, "history-zh")
    english = browse(users["reviewer"], language="en")
    english.goto(f"{live}/review/{resource.pk}")
    assert "Periodic re-review" in english.locator("#rereview-form").inner_text()
    screenshot(english, "rereview-en")


def test_hub_operator_approves_an_enrolment(browse, live, live_world, settings, tmp_path):
    from federation import hub, identity
    from tests.federation.federation_support import FakeNode

    orgs, users, catalog = live_world
    settings.FEDERATION_KEY_PATH = tmp_path / "node_key.pem"
    settings.FEDERATION_BACKGROUND = False
    settings.EXCHANGE_NODE_ID, settings.EXCHANGE_NODE_ROLE, settings.EXCHANGE_NODE_REGION = "cn-hub", "hub", "000000"
    identity._cache.clear()
    identity.node_key_ensure()
    beijing = FakeNode("cn-11")
    hub.enrolment_receive(node_id="cn-11", role="province", region="110000", base_url="http://127.0.0.1:9",
                          name="北京市节点", jwk=beijing.jwk, signer_kid=beijing.key.kid)

    page = browse(users["hub_operator"])
    page.goto(f"{live}/hub/")
    form = page.locator("form", has_text="cn-11")
    form.get_by_label("省级运维人员口头或书面告知的密钥指纹").fill(FakeNode("cn-11").fingerprint)
    screenshot(page, "hub-zh")
    form.get_by_role("button", name="核对并批准 cn-11").click()
    page.wait_for_load_state()
    assert "指纹与申请时登记的密钥不符" in page.locator(".messages").inner_text()

    form = page.locator("form", has_text="cn-11")
    form.get_by_label("省级运维人员口头或书面告知的密钥指纹").fill(beijing.fingerprint)
    form.get_by_role("button", name="核对并批准 cn-11").click()
    page.wait_for_load_state()
    assert "已批准 cn-11 加入联邦" in page.locator(".messages").inner_text()
    assert page.locator("form", has_text="cn-11").count() == 0
    peer = page.locator('section[aria-labelledby="peers-heading"] tr', has_text="cn-11")
    assert "正常" in peer.inner_text()
    screenshot(page, "hub-approved")
    identity._cache.clear()


def test_main_pages_render_in_both_languages_and_on_a_phone(browse, live, live_world):
    """Every role's main page opens without a server error and fits a phone-sized screen (no horizontal
    scrolling of the page itself); screenshots in Chinese and English for a person to look at."""
    from licensing.services import download_start, vouchers_fund

    orgs, users, catalog = live_world
    orgs["city_school"].student_count = 10
    orgs["city_school"].save(update_fields=["student_count"])
    vouchers_fund(actor=users["province_admin"], school=orgs["city_school"], per_student=2)
    for user in ("teacher", "rural_teacher", "far_teacher"):
        download_start(user=users[user], resource=catalog.open_maths)
    pages = [
        ("publisher", "/publish/", "publisher-resources"),
        ("publisher", "/publish/stats", "publisher-stats"),
        ("reviewer", "/review/", "review-queue"),
        ("reviewer", f"/review/{catalog.submitted.pk}", "review-detail"),
        ("reviewer", "/review/due", "review-due"),
        ("province_admin", "/review/policy", "review-policy"),
        ("publisher", "/publish/commitment", "commitment"),
        ("publisher", f"/publish/{catalog.open_maths.pk}/edit", "resource-edit"),
        ("province_admin", f"/schools/{orgs['city_school'].pk}", "school-detail"),
        ("hub_operator", "/hub/stats", "national-stats"),
        ("teacher", "/me/school", "my-school"),
    ]
    for role, path, name in pages:
        for language, viewport, suffix in (("zh-hans", None, "zh"), ("en", None, "en"), ("zh-hans", PHONE, "phone")):
            page = browse(users[role], language=language, viewport=viewport)
            response = page.goto(f"{live}{path}")
            assert response.status == 200, (path, language)
            if viewport is PHONE:
                overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
                assert overflow <= 0, (path, overflow)
            screenshot(page, f"{name}-{suffix}")
            page.context.close()


def test_api_docs_render_under_their_policy(browse, live, db):
    """Swagger UI (drf-spectacular-sidecar, served by the node) works under /api/docs/'s own policy: no inline
    script, inline styles allowed there only. A violation would fail the test (see ``browse``)."""
    page = browse()
    response = page.goto(f"{live}/api/docs/")
    assert "'unsafe-inline'" not in response.headers["content-security-policy"].split("script-src")[1].split(";")[0]
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Courseware Exchange Node API" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock-summary-path", has_text="/api/v1/auth/token").first.wait_for()
    screenshot(page, "api-docs")


def test_language_menu_switches_without_inline_script(browse, live, db):
    """The language menu submits itself from the site's script file (an inline onchange is refused)."""
    page = browse(language="zh-hans")
    page.goto(f"{live}/search")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    with page.expect_navigation():
        page.locator("#lang-select").select_option("en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("link", name="Sign in").count() == 1
