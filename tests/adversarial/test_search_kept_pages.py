"""Kept result pages (the embedded backend's query result cache) against hostile use: one user's answers
(access, price, free_for_you, cover) never reach another, and nothing withdrawn or unpublished is served
from a page kept before the change was indexed."""

from __future__ import annotations

import pytest

from catalog.search import sqlite_store as store
from catalog.search.indexing import rebuild_index
from tests.adversarial.authz_world import ACTORS, World, build_world, client_for

QUERY = {"q": "有理数 课件", "page_size": 100}


@pytest.fixture
def world(db, province, settings, tmp_path) -> World:
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    settings.CATALOG_SEARCH_BACKEND = "catalog.search.embedded.EmbeddedBackend"
    return build_world(province)


def answers(world: World, actor: str) -> dict[str, tuple[object, object]]:
    """Each hit's per-user answers for ``actor``, by resource id."""
    response = client_for(world, actor).get("/api/v1/search", QUERY)
    assert response.status_code == 200, response.content
    return {hit["id"]: (hit["access"], hit["cover"]) for hit in response.json()["results"]}


def test_every_actor_gets_their_own_answers_from_a_kept_page(world, settings):
    """The answers of every actor with the cache off are the truth; with it on, the actors take turns on
    the same kept page (forwards, then backwards: the buyer after the anonymous client and the reverse),
    and each still gets exactly their own."""
    rebuild_index()
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 0
    truth = {actor: answers(world, actor) for actor in ACTORS}
    assert len({repr(sorted(a.items())) for a in truth.values()}) > 2  # the actors' answers differ
    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    for actor in (*ACTORS, *reversed(ACTORS), *ACTORS):
        assert answers(world, actor) == truth[actor], actor
    assert any(key[1][0] == QUERY["q"] for key in store._kept_pages._pages)  # the turns shared a kept page


def _titles(world: World, actor: str = "anonymous") -> list[str]:
    response = client_for(world, actor).get("/api/v1/search", QUERY)
    assert response.status_code == 200, response.content
    return [hit["title"] for hit in response.json()["results"]]


def test_a_withdrawal_or_takedown_is_not_served_from_a_kept_page(world, settings, django_capture_on_commit_callbacks):
    """Pages kept before a publisher withdraws a resource and before a reviewer upholds a takedown of another
    are not served once the change is indexed (the indexing job runs after commit, as in production)."""
    from catalog import services as catalog_services
    from licensing import services as licensing_services

    settings.CATALOG_SEARCH_MATCH_CACHE_MB = 64
    rebuild_index()
    for actor in ("anonymous", "teacher"):
        titles = _titles(world, actor)
        assert any(world.marks["A published"] in t for t in titles)
        assert any(world.marks["B published"] in t for t in titles)
    with django_capture_on_commit_callbacks(execute=True):
        catalog_services.resource_withdraw(user=world.user("publisher"), resource=world.objects["A published"],
                                           reason="withdrawn_by_publisher")
    for actor in ("anonymous", "teacher"):
        titles = _titles(world, actor)
        assert not any(world.marks["A published"] in t for t in titles), actor
        assert any(world.marks["B published"] in t for t in titles), actor
    with django_capture_on_commit_callbacks(execute=True):
        licensing_services.takedown_uphold(user=world.user("far_reviewer"), notice=world.objects["B notice"])
    for actor in ("anonymous", "teacher"):
        assert not any(world.marks["B published"] in t for t in _titles(world, actor)), actor
