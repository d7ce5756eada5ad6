"""Covers and page thumbnails in a real browser (Debian's Chromium through Playwright, against the live server):
search results show each resource's cover, rendered from its real DOCX, PPTX or PDF by the preview job, in
Chinese and in English; a priced resource's page shows one page thumbnail. Screenshots go to
``test-output/screenshots/`` (search-covers-zh, search-covers-en, resource-pages-zh, resource-priced-en)."""

from __future__ import annotations

import re

import pytest

from catalog.previews.services import preview_build
from catalog.samplefiles import sample_file
from catalog.search.indexing import index_resources
from tests.factories import ResourceFactory, store_file
from tests.web.conftest import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("committed_db", "preview_tools")]

MIMES = {".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
         ".pdf": "application/pdf", ".mp4": "video/mp4", ".png": "image/png"}


@pytest.fixture
def covered(live_world):
    """Four resources with real files and their previews, as the preview job leaves them after upload."""
    orgs, users, _ = live_world
    made = {}
    for key, title, name, rtype, extra in (
        ("plan", "封面 七年级数学 有理数 教学设计", "教学设计.docx", "教案", {}),
        ("slides", "封面 七年级数学 有理数 课件", "课件.pptx", "课件", {}),
        ("paper", "封面 七年级数学 有理数 单元测试卷", "试卷.pdf", "试卷",
         {"license": "ALL-RIGHTS-RESERVED", "price": 3}),
        ("lecture", "封面 七年级数学 有理数 微课", "微课.mp4", "微课", {}),
    ):
        resource = ResourceFactory(publisher=orgs["publisher"], title=title, resource_type=rtype, with_file=False,
                                   **extra)
        sample = sample_file(name, stage="初中", resource_type=rtype)
        extension = sample.name[sample.name.rindex("."):]
        file = store_file(resource, sample.name, sample.body, mime=MIMES[extension])
        assert preview_build(sha256=file.sha256, mime=file.mime).status == "ready"
        made[key] = resource
    index_resources(resource_ids=[str(r.pk) for r in made.values()])
    return users, made


def loaded_images(page, selector: str) -> list[int]:
    """The natural widths of the images *selector* finds (0 for one that did not load). Page thumbnails are
    ``loading="lazy"``: the browser fetches one only once it nears the viewport, so each is scrolled into view
    and the images get up to 15 s to load before they are measured."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    page.wait_for_load_state("load")
    for image in page.locator(selector).all():
        image.scroll_into_view_if_needed()
    try:
        page.wait_for_function(
            "s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0)",
            arg=selector, timeout=15_000)
    except PlaywrightTimeoutError:
        pass  # measured as they are: the assertion on the widths says which did not load
    return page.eval_on_selector_all(selector, "images => images.map(i => i.complete ? i.naturalWidth : 0)")


def loaded_covers(page) -> list[int]:
    """The natural widths of the cover images in the results (0 for one that did not load)."""
    return loaded_images(page, ".result .cover img")


def test_search_results_show_covers_in_chinese_and_english(browse, live, covered):
    users, made = covered
    page = browse(users["teacher"])
    page.goto(f"{live}/search?q=封面")
    assert page.locator(".result").count() == 4
    assert page.locator(".result.with-cover").count() == 4
    assert loaded_covers(page) == [480, 480, 480, 480]
    assert page.get_by_role("heading", name="封面 七年级数学 有理数 课件").count() == 1
    screenshot(page, "search-covers-zh")

    english = browse(users["teacher"], language="en")
    english.goto(f"{live}/search?q=封面")
    assert english.get_by_role("heading", name=re.compile("resources? matching")).count() == 1
    assert loaded_covers(english) == [480, 480, 480, 480]
    screenshot(english, "search-covers-en")

    anonymous = browse()  # the resources are for teachers: no preview, so no cover either
    anonymous.goto(f"{live}/search?q=封面")
    assert anonymous.locator(".result").count() == 4 and anonymous.locator(".result .cover").count() == 0


def test_resource_pages_show_page_thumbnails_one_for_a_priced_resource(browse, live, covered):
    users, made = covered
    page = browse(users["teacher"])
    page.goto(f"{live}/resources/{made['slides'].pk}")
    thumbnails = page.locator(".preview .pages img")
    assert thumbnails.count() == 5  # the PPTX's five slides, through LibreOffice and pdftoppm
    assert all(width > 0 for width in loaded_images(page, ".preview .pages img"))
    screenshot(page, "resource-pages-zh")

    english = browse(users["teacher"], language="en")
    english.goto(f"{live}/resources/{made['paper'].pk}")
    assert english.locator(".preview .pages img").count() == 1  # priced: the first page only
    assert "first page" in english.locator("article").inner_text()
    screenshot(english, "resource-priced-en")
