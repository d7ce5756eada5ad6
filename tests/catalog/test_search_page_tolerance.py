"""The search page says what a typo likely meant and when it relaxed the query (issue 17)."""

from __future__ import annotations

import pytest


@pytest.mark.django_db
def test_the_page_offers_did_you_mean_and_says_it_relaxed(client, corpus_settings, settings):
    settings.CATALOG_SEARCH_RESULT_ANNOTATORS = []
    page = client.get("/search", {"q": "有理书 课件"}).content.decode()
    assert "您是不是要找" in page and "有理数 课件" in page
    relaxed = client.get("/search", {"q": "有理数 乘方 思维导图"}).content.decode()
    assert "只有 0 个资源包含全部关键词" in relaxed
    plain = client.get("/search", {"q": "有理数 课件"}).content.decode()
    assert "您是不是要找" not in plain and "包含全部关键词" not in plain
