"""The web pages as each role sees them: what the page says — search facets, highlights and licence
badges, the resource page's download decision, the publisher's upload, the reviewer's decisions,
takedowns, vouchers, statistics — in Chinese and in English. Who gets in is the authorization matrix's
(tests/adversarial/test_authz_matrix.py)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Resource
from catalog.review.decisions import DIMENSION_CODES
from licensing import services as licensing_services
from licensing.models import DownloadEvent, Grant, TakedownNotice
from tests.factories import ResourceFactory, pdf_bytes

pytestmark = pytest.mark.django_db

# Who may open which page (every role × every page and form action) is tests/adversarial/test_authz_matrix.py.


def test_home_leads_to_search(client_as):
    response = client_as(None).get("/")
    assert response.status_code == 302 and response["Location"] == reverse("search")


def test_login_page_and_sign_in(users, client):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and 'autocomplete="current-password"' in page.content.decode()
    response = client.post(reverse("login"), {"username": "teacher", "password": "test-pass-teacher",
                                              "next": reverse("my-downloads")})
    assert response.status_code == 302 and response["Location"] == reverse("my-downloads")


def test_nav_shows_the_links_of_the_users_roles(users, catalog, client_as):
    teacher = client_as(users["teacher"]).get(reverse("search")).content.decode()
    assert reverse("my-downloads") in teacher and reverse("review-queue") not in teacher
    reviewer = client_as(users["reviewer"]).get(reverse("search")).content.decode()
    assert reverse("review-queue") in reviewer and reverse("resource-upload") not in reviewer
    hub = client_as(users["hub_operator"]).get(reverse("search")).content.decode()
    assert reverse("hub-dashboard") in hub and reverse("hub-stats") in hub


def test_unpublished_resource_pages_are_hidden_from_others(users, catalog, client_as):
    url = reverse("resource-page", args=[catalog.submitted.pk])
    assert client_as(users["teacher"]).get(url).status_code == 404
    assert client_as(users["publisher"]).get(url).status_code == 200
    assert client_as(users["reviewer"]).get(url).status_code == 200


# --- search ---------------------------------------------------------------------------------------------

def test_search_shows_highlights_facet_counts_and_licence_badges(users, catalog, client_as):
    html = client_as(users["teacher"]).get(reverse("search"), {"q": "有理数"}).content.decode()
    assert "<mark>有理数</mark>" in html
    assert re.search(r'data-facet="subject" data-value="数学">\s*<span>数学</span>\s*<span class="count">1<', html)
    assert '<span class="badge licence" title="知识共享 署名 4.0 国际">CC BY 4.0</span>' in html
    assert '<span class="badge free">免费使用</span>' in html

    everything = client_as(users["teacher"]).get(reverse("search")).content.decode()
    assert "共 3 个资源" in everything
    assert '<span class="badge price">5 张资源券</span>' in everything
    rural = client_as(users["rural_teacher"]).get(reverse("search")).content.decode()
    assert '<span class="badge free">贵校免费（原价 5 券）</span>' in rural
    anonymous = client_as(None).get(reverse("search")).content.decode()
    assert '<span class="badge refused">登录后可下载</span>' in anonymous


def test_facet_links_add_and_remove_filters(users, catalog, client_as):
    client = client_as(users["teacher"])
    html = client.get(reverse("search"), {"subject": "物理"}).content.decode()
    assert "共 1 个资源" in html and "浮力" in html
    assert 'data-facet="subject" data-value="物理" aria-current="true"' in html
    removal = re.search(r'<div class="chosen"[^>]*>\s*<a href="([^"]*)"', html).group(1)
    assert "subject" not in removal
    both = client.get(reverse("search"), {"subject": ["物理", "语文"]}).content.decode()
    assert "共 2 个资源" in both
    sorted_page = client.get(reverse("search"), {"sort": "downloads"})
    assert sorted_page.status_code == 200


def test_bad_search_requests_show_a_message_not_an_error(users, catalog, client_as):
    response = client_as(users["teacher"]).get(reverse("search"), {"page": "100000", "sort": "nonsense"})
    assert response.status_code == 200
    assert 'class="message error"' in response.content.decode()


def test_titles_and_highlights_are_escaped(users, orgs, client_as):
    evil = ResourceFactory(publisher=orgs["publisher"], title='<script>alert(1)</script> 有理数 <img src=x onerror=alert(2)>',
                           description="<b>粗体</b> 有理数")
    from catalog.search.indexing import index_resources

    index_resources(resource_ids=[str(evil.pk)])
    html = client_as(users["teacher"]).get(reverse("search"), {"q": "有理数"}).content.decode()
    assert "<script>alert(1)" not in html and "<img src=x" not in html and "<b>粗体" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<mark>有理数</mark>" in html
    page = client_as(users["teacher"]).get(reverse("resource-page", args=[evil.pk])).content.decode()
    assert "<script>alert(1)" not in page
    ld = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S).group(1)
    assert "<" not in ld and json.loads(ld)["name"] == evil.title


# --- the resource page, previews, downloads and purchases -----------------------------------------------

def test_resource_page_explains_each_download_decision(users, catalog, client_as, students):
    url = reverse("resource-page", args=[catalog.open_maths.pk])
    teacher = client_as(users["teacher"]).get(url).content.decode()
    assert "该资源采用开放许可协议，可免费使用。" in teacher and 'id="download-button"' in teacher
    assert "《<a href=" in teacher and "许可协议：" in teacher  # attribution, TASL
    assert '"@type":"LearningResource"' in teacher
    anonymous = client_as(None).get(url).content.decode()
    assert "登录后下载" in anonymous and 'id="download-button"' not in anonymous

    priced = reverse("resource-page", args=[catalog.priced_physics.pk])
    far = client_as(users["far_teacher"]).get(priced).content.decode()
    assert "该资源的授权地域不包括您所在的地区。" in far and "disabled" in far
    rural = client_as(users["rural_teacher"]).get(priced).content.decode()
    assert "您所在学校属于该资源指定的免费使用学校类别。" in rural
    teacher_priced = client_as(users["teacher"]).get(priced).content.decode()
    assert "使用该资源需要先用学校的数字资源券购买授权。" in teacher_priced and "用 5 张资源券购买" in teacher_priced
    publisher = client_as(users["publisher"]).get(priced).content.decode()
    assert "这是您所在机构发布的资源。" in publisher and "撤回" in publisher


def test_download_goes_to_a_signed_link_and_is_recorded(users, catalog, client_as):
    response = client_as(users["teacher"]).post(reverse("resource-download", args=[catalog.open_maths.pk]))
    assert response.status_code == 302 and "/files/" in response["Location"]
    assert DownloadEvent.objects.filter(user=users["teacher"], resource=catalog.open_maths).count() == 1
    refused = client_as(users["far_teacher"]).post(reverse("resource-download", args=[catalog.priced_physics.pk]),
                                                   follow=True)
    assert "不能下载：该资源的授权地域不包括您所在的地区。" in refused.content.decode()
    assert not DownloadEvent.objects.filter(user=users["far_teacher"]).exists()
    assert client_as(None).post(reverse("resource-download", args=[catalog.open_maths.pk])).status_code == 302
    downloads = client_as(users["teacher"]).get(reverse("my-downloads")).content.decode()
    assert catalog.open_maths.title in downloads and "开放许可" in downloads


def test_buying_a_grant_with_school_vouchers(users, catalog, client_as, students):
    url = reverse("resource-purchase", args=[catalog.priced_physics.pk])
    short = client_as(users["teacher"]).post(url, {"scope": "school"}, follow=True).content.decode()
    assert "学校的数字资源券余额不足。" in short
    licensing_services.vouchers_fund(actor=users["province_admin"], school=students["city_school"], per_student=1)
    done = client_as(users["teacher"]).post(url, {"scope": "school"}, follow=True).content.decode()
    assert "已购买授权" in done and "您或您的学校已购买该资源的使用授权" in done
    assert Grant.objects.filter(resource=catalog.priced_physics, scope="school").count() == 1
    school = client_as(users["school_admin"]).get(reverse("my-school")).content.decode()
    assert 'id="voucher-balance">95<' in school and catalog.priced_physics.title in school
    assert client_as(users["publisher"]).post(url, {"scope": "school"}).status_code == 403


def test_previews_follow_the_preview_decision(users, catalog, client_as):
    file = catalog.open_maths.files.get()
    url = reverse("file-preview", args=[catalog.open_maths.pk, file.pk])
    response = client_as(users["teacher"]).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["X-Frame-Options"] == "SAMEORIGIN" and response["Content-Disposition"].startswith("inline")
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    partial = client_as(users["teacher"]).get(url, headers={"Range": "bytes=0-3"})
    assert partial.status_code == 206 and b"".join(partial.streaming_content) == b"%PDF"
    priced = catalog.priced_physics
    far = reverse("file-preview", args=[priced.pk, priced.files.get().pk])
    assert client_as(users["far_teacher"]).get(far).status_code == 403
    draft = reverse("file-preview", args=[catalog.submitted.pk, catalog.submitted.files.get().pk])
    assert client_as(users["teacher"]).get(draft).status_code == 404
    assert client_as(users["reviewer"]).get(draft).status_code == 200


# --- publisher ------------------------------------------------------------------------------------------

UPLOAD = {"title": "七年级数学 有理数的乘法 课件", "stage": "初中", "subject": "数学", "grade": "七年级",
          "resource_type": "课件", "language": "zh-Hans", "license": "CC-BY-4.0", "audience": "teachers",
          "price": "0", "submit_now": "on"}


def test_upload_form_deposits_and_submits(users, catalog, client_as):
    client = client_as(users["publisher"])
    form = client.get(reverse("resource-upload")).content.decode()
    assert '<option value="七年级">七年级</option>' in form and '<optgroup label="初中">' in form
    files = [SimpleUploadedFile("乘法.pdf", pdf_bytes("乘法")), SimpleUploadedFile("练习.pdf", pdf_bytes("练习"))]
    response = client.post(reverse("resource-upload"), {**UPLOAD, "files": files}, follow=True)
    resource = Resource.objects.get(title=UPLOAD["title"])
    assert resource.status == Resource.Status.SUBMITTED and resource.files.count() == 2
    assert resource.publisher == users["publisher"].organisation
    assert "已提交审核。" in response.content.decode()


def test_upload_errors_are_shown_on_the_form(users, client_as):
    client = client_as(users["publisher"])
    missing = client.post(reverse("resource-upload"), {**UPLOAD, "stage": "大学"})
    html = missing.content.decode()
    assert missing.status_code == 200 and "有字段的取值不在规范词表中" in html and "is not a term of the stage" in html
    exe = SimpleUploadedFile("病毒.pdf", b"MZ\x90\x00" + b"\x00" * 100)
    bad = client.post(reverse("resource-upload"), {**UPLOAD, "files": [exe]}).content.decode()
    assert "不接受这种文件类型。" in bad
    assert not Resource.objects.filter(title=UPLOAD["title"]).exists()


def test_publisher_sees_status_and_rejection_reasons(users, catalog, client_as):
    from catalog import services

    services.resource_reject(user=users["reviewer"], resource=catalog.submitted, reason="缺少习题答案")
    html = client_as(users["publisher"]).get(reverse("publisher-resources")).content.decode()
    assert "缺少习题答案" in html and "已退回" in html and "提交审核" in html
    only = client_as(users["publisher"]).get(reverse("publisher-resources"), {"status": "published"}).content.decode()
    assert "缺少习题答案" not in only and catalog.open_maths.title in only


def test_publisher_statistics_chart(users, catalog, client_as):
    for user in ("teacher", "rural_teacher", "school_admin"):
        licensing_services.download_start(user=users[user], resource=catalog.open_maths)
    html = client_as(users["publisher"]).get(reverse("publisher-stats")).content.decode()
    assert '<svg class="chart"' in html and "<title" in html
    assert re.search(r'<span class="value">3</span><span class="label">下载次数</span>', html)


# --- reviewer -------------------------------------------------------------------------------------------

def test_reviewer_rejects_with_a_reason_and_approves(users, catalog, client_as):
    client = client_as(users["reviewer"])
    queue = client.get(reverse("review-queue")).content.decode()
    assert catalog.submitted.title in queue
    detail = client.get(reverse("review-detail", args=[catalog.submitted.pk])).content.decode()
    assert "<iframe" in detail and "退回理由" in detail
    no_reason = client.post(reverse("review-reject", args=[catalog.submitted.pk]), {"reason": " "}, follow=True)
    assert "输入有误" in no_reason.content.decode()
    client.post(reverse("review-reject", args=[catalog.submitted.pk]), {"reason": "图片不清晰"})
    catalog.submitted.refresh_from_db()
    assert catalog.submitted.status == Resource.Status.REJECTED and catalog.submitted.review_note == "图片不清晰"

    from catalog import services

    services.resource_submit(user=users["publisher"], resource=catalog.submitted)
    unstated = client.post(reverse("review-approve", args=[catalog.submitted.pk]), {"note": "好", "publish": "1"},
                           follow=True)
    assert "逐项填写七个审核维度" in unstated.content.decode()  # the form approves only with the seven stated
    catalog.submitted.refresh_from_db()
    assert catalog.submitted.status == Resource.Status.SUBMITTED
    dimensions = {f"dim_{code}": "pass" for code in DIMENSION_CODES}
    client.post(reverse("review-approve", args=[catalog.submitted.pk]), {"note": "好", "publish": "1", **dimensions})
    catalog.submitted.refresh_from_db()
    assert catalog.submitted.status == Resource.Status.PUBLISHED
    other = client_as(users["other_reviewer"])
    assert other.get(reverse("review-detail", args=[catalog.open_maths.pk])).status_code == 403


# --- takedowns ------------------------------------------------------------------------------------------

def test_takedown_filed_by_a_publisher_and_upheld_by_a_reviewer(users, catalog, client_as):
    claimant = client_as(users["publisher"])
    filed = claimant.post(reverse("takedown-new", args=[catalog.chinese.pk]),
                          {"grounds": "copyright", "statement": "该教学设计抄袭了我社的出版物。"}, follow=True)
    assert "投诉已提交" in filed.content.decode()
    notice = TakedownNotice.objects.get(resource=catalog.chinese)
    reviewer = client_as(users["reviewer"])
    assert catalog.chinese.title in reviewer.get(reverse("takedown-list")).content.decode()
    page = reviewer.get(reverse("takedown-detail", args=[notice.pk])).content.decode()
    assert 'value="uphold"' in page
    reviewer.post(reverse("takedown-detail", args=[notice.pk]), {"decision": "uphold", "note": "属实"})
    notice.refresh_from_db()
    catalog.chinese.refresh_from_db()
    assert notice.status == "upheld" and catalog.chinese.status == Resource.Status.WITHDRAWN
    hub = client_as(users["hub_operator"]).get(reverse("takedown-list"), {"status": "upheld"}).content.decode()
    assert "全国下架与侵权投诉" in hub and catalog.chinese.title in hub
    # the claimant may see it but not decide it
    mine = claimant.get(reverse("takedown-detail", args=[notice.pk])).content.decode()
    assert 'value="uphold"' not in mine
    assert client_as(users["teacher"]).get(reverse("takedown-detail", args=[notice.pk])).status_code == 403


# --- school and province administrators -----------------------------------------------------------------

def test_province_admin_funds_a_school_and_sets_its_categories(users, client_as, students):
    school = students["city_school"]
    admin = client_as(users["province_admin"])
    listing = admin.get(reverse("school-list")).content.decode()
    assert school.name in listing and students["rural_school"].name in listing
    assert students["far_school"].name not in listing
    url = reverse("school-detail", args=[school.pk])
    funded = admin.post(url, {"action": "fund", "per_student": "3", "memo": "秋季学期"}, follow=True).content.decode()
    assert "已发放 300 张资源券。" in funded and 'id="school-balance">300<' in funded and "+300" in funded
    admin.post(url, {"action": "categories", "categories": ["rural", "remote"]})
    school.refresh_from_db()
    assert school.categories == ["remote", "rural"]
    school_admin = client_as(users["school_admin"])
    assert 'id="school-balance">300<' in school_admin.get(url).content.decode()
    assert school_admin.post(url, {"action": "fund", "per_student": "3"}).status_code == 403
    assert school_admin.get(reverse("school-detail", args=[students["rural_school"].pk])).status_code == 404
    assert admin.get(reverse("school-detail", args=[students["far_school"].pk])).status_code == 404


# --- hub operator ---------------------------------------------------------------------------------------

@pytest.fixture
def hub_node(settings, tmp_path):
    from federation import identity

    settings.FEDERATION_KEY_PATH = tmp_path / "node_key.pem"
    settings.FEDERATION_BACKGROUND = False
    settings.EXCHANGE_NODE_ID, settings.EXCHANGE_NODE_ROLE, settings.EXCHANGE_NODE_REGION = "cn-hub", "hub", "000000"
    identity._cache.clear()
    identity.node_key_ensure()
    yield settings
    identity._cache.clear()


def test_hub_operator_approves_enrolments_after_the_fingerprint_check(users, hub_node, client_as):
    from federation import hub
    from federation.models import Enrolment, Peer
    from tests.federation.federation_support import FakeNode

    beijing = FakeNode("cn-11")
    hub.enrolment_receive(node_id="cn-11", role="province", region="110000", base_url="http://127.0.0.1:9",
                          name="北京市节点", jwk=beijing.jwk, signer_kid=beijing.key.kid)
    client = client_as(users["hub_operator"])
    page = client.get(reverse("hub-dashboard")).content.decode()
    assert "北京市节点" in page and "核对并批准 cn-11" in page and beijing.fingerprint not in page
    url = reverse("enrolment-approve", args=["cn-11"])
    wrong = client.post(url, {"fingerprint": FakeNode("x").fingerprint}, follow=True).content.decode()
    assert "指纹与申请时登记的密钥不符" in wrong
    assert Enrolment.objects.get(node_id="cn-11").status == "pending"
    right = client.post(url, {"fingerprint": beijing.fingerprint}, follow=True).content.decode()
    assert "已批准 cn-11 加入联邦" in right
    assert Enrolment.objects.get(node_id="cn-11").status == "approved"
    assert Peer.objects.get(node_id="cn-11").status == "active"
    assert client_as(users["reviewer"]).post(url, {"fingerprint": "x"}).status_code == 403


def test_hub_dashboard_shows_sync_lag_errors_and_certificate_expiry(users, hub_node, client_as):
    import datetime as dt

    from django.utils import timezone

    from federation.models import Peer, PeerKey

    now = timezone.now()
    peer = Peer.objects.create(node_id="cn-32", role="province", region="320000", name="江苏省节点",
                               status="active", pull=True, cursor=10, remote_head=25,
                               last_success_at=now - dt.timedelta(hours=3), last_error_code="peer_unreachable",
                               last_error="connection refused", last_error_at=now)
    PeerKey.objects.create(peer=peer, kid="k1", public_jwk={}, not_after=now + dt.timedelta(days=2))
    html = client_as(users["hub_operator"]).get(reverse("hub-dashboard")).content.decode()
    assert "江苏省" in html and "cn-32" in html and "peer_unreachable" in html and "connection refused" in html
    assert "即将到期" in html and "滞后" in html and '<td class="num">15</td>' in html


def test_national_statistics_charts(users, catalog, client_as):
    licensing_services.download_start(user=users["teacher"], resource=catalog.open_maths)
    licensing_services.download_start(user=users["far_teacher"], resource=catalog.open_maths)
    html = client_as(users["hub_operator"]).get(reverse("hub-stats")).content.decode()
    assert html.count('<svg class="chart"') == 3
    assert "广东省: 3" in html  # resources by origin province, in the chart's description
    assert re.search(r"北京市: 1", html) and re.search(r"广东省: 1", html)


# --- English ------------------------------------------------------------------------------------------

def test_pages_are_available_in_english(users, catalog, client_as):
    client = client_as(users["far_teacher"], language="en")
    search = client.get(reverse("search"), {"q": "有理数"}).content.decode()
    assert '<html lang="en">' in search and "Filters" in search and "Origin province" in search
    assert "Junior secondary school" in search
    page = client.get(reverse("resource-page", args=[catalog.priced_physics.pk])).content.decode()
    assert "This resource is not licensed for your region." in page and "How to attribute" in page
    publisher = client_as(users["publisher"], language="en").get(reverse("resource-upload")).content.decode()
    assert "Rights statement" in publisher and "Textbook edition" in publisher


# --- federated resources and several files ----------------------------------------------------------------

def test_remote_resources_show_their_origin_node(users, orgs, client_as):
    remote = ResourceFactory(publisher=None, publisher_name="北京出版社", province="110000", origin_node="cn-11",
                             is_remote=True, title="北京市 七年级数学 有理数 习题", with_file=False)
    from tests.factories import store_file

    row = store_file(remote, "习题.pdf", pdf_bytes("习题"))
    row.available_locally = False
    row.save(update_fields=["available_locally"])
    from catalog.search.indexing import index_resources

    index_resources(resource_ids=[str(remote.pk)])
    search = client_as(users["teacher"]).get(reverse("search"), {"q": "北京市"}).content.decode()
    assert '<span class="badge remote">来自 北京市 (cn-11)</span>' in search
    page = client_as(users["teacher"]).get(reverse("resource-page", args=[remote.pk])).content.decode()
    assert "来自联邦节点 北京市 (cn-11)" in page and "文件尚在源节点" in page and "联邦同步" in page


def test_a_resource_with_several_files_gets_a_page_of_links(users, orgs, client_as):
    from tests.factories import store_file

    resource = ResourceFactory(publisher=orgs["publisher"])
    store_file(resource, "答案.pdf", pdf_bytes("答案"))
    response = client_as(users["teacher"]).post(reverse("resource-download", args=[resource.pk]))
    html = response.content.decode()
    assert response.status_code == 200 and html.count("/files/") == 2 and "答案.pdf" in html
    one = client_as(users["teacher"]).post(reverse("resource-download", args=[resource.pk]),
                                           {"file": str(resource.files.get(original_name="答案.pdf").pk)})
    assert one.status_code == 302


# --- the shared page helpers ------------------------------------------------------------------------------

def test_safe_highlight_keeps_only_balanced_marks():
    from exchange.views_pages import safe_highlight

    assert safe_highlight("<em>有理数</em>的概念") == "<mark>有理数</mark>的概念"
    assert safe_highlight("a &lt;b&gt; <em>c</em>") == "a &lt;b&gt; <mark>c</mark>"  # escaped once, not twice
    assert safe_highlight("<script>x</script><em>y") == "&lt;script&gt;x&lt;/script&gt;<mark>y</mark>"
    assert safe_highlight("</em>z<mark>w</mark>") == "z<mark>w</mark>"
    assert safe_highlight('<em onclick="x">q</em>') == "&lt;em onclick=&quot;x&quot;&gt;q"
    assert safe_highlight(None) == ""


def test_charts_escape_labels_and_describe_every_value():
    from exchange.views_pages import ChartPoint, bar_chart_svg, column_chart_svg

    svg = column_chart_svg([ChartPoint("<b>1月</b>", 3), ChartPoint("2月", 0)], title="下载 & 次数")
    assert "<b>" not in svg and "&lt;b&gt;1月&lt;/b&gt;: 3" in svg and "下载 &amp; 次数" in svg
    assert svg.count('<rect class="bar"') == 2
    bars = bar_chart_svg([ChartPoint("广东省", 10), ChartPoint("北京市", 5)], title="t")
    assert 'role="img"' in bars and "广东省: 10; 北京市: 5" in bars


def test_query_strings_and_page_numbers():
    from django.http import QueryDict

    from exchange.views_pages import page_numbers, query_string

    params = QueryDict("q=有理数&subject=数学&subject=物理&page=3")
    assert query_string(params, page=None, subject=["物理"]) == "?q=%E6%9C%89%E7%90%86%E6%95%B0&subject=%E7%89%A9%E7%90%86"
    assert query_string({}, q="") == "?"
    assert page_numbers(1, 1) == [1]
    assert page_numbers(6, 20) == [1, None, 4, 5, 6, 7, 8, None, 20]
    assert page_numbers(1, 3) == [1, 2, 3]


def test_favourite_from_the_resource_page_and_list_it(users, catalog, client_as):
    """The star on a resource page bookmarks it; /me/favourites lists it; removing it empties the list."""
    client = client_as(users["teacher"])
    page_url_ = reverse("resource-page", args=[catalog.open_maths.pk])
    assert 'aria-pressed="false"' in client.get(page_url_).content.decode()
    response = client.post(reverse("favourite-toggle", args=[catalog.open_maths.pk]), {"action": "add"})
    assert response.status_code == 302 and response["Location"] == page_url_
    assert 'aria-pressed="true"' in client.get(page_url_).content.decode()
    listing = client.get(reverse("my-favourites")).content.decode()
    assert catalog.open_maths.title in listing
    client.post(reverse("favourite-toggle", args=[catalog.open_maths.pk]), {"action": "remove"})
    assert catalog.open_maths.title not in client.get(reverse("my-favourites")).content.decode()


def test_favourite_toggle_needs_login_and_post(catalog, client_as):
    url = reverse("favourite-toggle", args=[catalog.open_maths.pk])
    assert client_as(None).post(url, {"action": "add"}).status_code == 302  # to the login page


def test_preview_of_a_priced_pdf_is_its_first_page_only(users, catalog, client_as):
    """Who may not download a priced resource previews only page 1; who may download sees it whole."""
    import io

    from pypdf import PdfReader, PdfWriter

    from tests.factories import store_file

    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(width=595, height=842)
    body = io.BytesIO()
    writer.write(body)
    priced = catalog.priced_physics
    three_pages = store_file(priced, "讲义.pdf", body.getvalue())
    url = reverse("file-preview", args=[priced.pk, three_pages.pk])

    excerpt = client_as(users["teacher"]).get(url)  # city school: would have to pay
    assert excerpt.status_code == 200 and excerpt["Content-Type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(excerpt.content)).pages) == 1
    page = client_as(users["teacher"]).get(reverse("resource-page", args=[priced.pk])).content.decode()
    assert "预览仅含第一页" in page

    whole = client_as(users["rural_teacher"]).get(url)  # free for rural schools: may download
    assert len(PdfReader(io.BytesIO(b"".join(whole.streaming_content))).pages) == 3
