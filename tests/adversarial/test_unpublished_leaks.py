"""Unpublished work exists only for its publisher's members and its province's reviewers: the one predicate
(``catalog.permissions.can_see``) and the places that read resources without a page or an API view in
front of them — the search index, OAI-PMH, the takedown and favourite services.

The pages and the API are attacked cell by cell in ``test_authz_matrix``; this module holds what the matrix
cannot see from outside, and the positive controls that keep its leak check from passing vacuously."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.test import APIClient

from catalog import selectors
from catalog import services as catalog_services
from catalog.errors import InvalidTransitionError, ResourceNotFoundError
from catalog.permissions import can_see
from catalog.search.indexing import rebuild_index
from federation.oai.records import oai_identifier
from licensing import services as licensing_services
from licensing.errors import ResourceAlreadyWithdrawnError
from licensing.models import TakedownNotice
from tests.adversarial.authz_world import (
    A_UNPUBLISHED,
    ACTORS,
    B_UNPUBLISHED,
    EXTRA_RESOURCES,
    RESOURCE_STATES,
    World,
    build_world,
    client_for,
    may_see,
)

RESOURCES = (*RESOURCE_STATES, *EXTRA_RESOURCES)
PUBLISHED = ("A published", "B published", "A priced", "A revised")  # A revised: its live version
NEVER_PUBLISHED = ("A draft", "A submitted", "A rejected", "A approved", "B draft", "B submitted")


@pytest.fixture
def world(db, province, settings, tmp_path) -> World:
    settings.CATALOG_SEARCH_DIR = tmp_path / "search"
    return build_world(province)


def user_of(world: World, actor: str):
    return world.user(actor) or AnonymousUser()


def test_one_predicate_says_who_sees_unpublished_work(world):
    """``can_see`` and ``resource_get`` agree with the rule for every actor and every state: members of the
    publishing organisation without the publisher role, province administrators and operators in the
    bureau's group, the superuser — object rights through their groups, but not the role — see nothing
    unpublished."""
    wrong = []
    for actor in ACTORS:
        user = user_of(world, actor)
        for variant in RESOURCES:
            resource = world.objects[variant]
            expected = may_see(actor, variant)
            if can_see(user, resource) != expected:
                wrong.append(f"can_see({actor}, {variant}) is not {expected}")
            try:
                selectors.resource_get(user=user, resource_id=resource.pk)
                found = True
            except ResourceNotFoundError:
                found = False
            if found != expected:
                wrong.append(f"resource_get({actor}, {variant}) {'found' if found else 'did not find'} it")
    assert wrong == []


def _marks(world: World, variants) -> dict[str, str]:
    return {variant: world.marks[variant] for variant in variants}


def test_search_and_suggestions_hold_published_work_only(world):
    """Every resource was handed to the indexer, and the index is rebuilt from the database as well: the
    search API, the search page and the suggestions find the published resources for everybody and none of
    the unpublished ones for anybody — not even for those who may see them elsewhere."""
    rebuild_index()
    for actor in ACTORS:
        client = client_for(world, actor)
        api = client.get("/api/v1/search", {"q": "有理数 课件", "page_size": 100})
        page = client.get("/search", {"q": "有理数 课件"})
        suggest = client.get("/api/v1/search/suggest", {"q": "有理"})
        tree, browse = client.get("/api/v1/browse"), client.get("/browse")
        assert (api.status_code, page.status_code, suggest.status_code) == (200, 200, 200)
        assert (tree.status_code, browse.status_code) == (200, 200)
        assert tree.json()["count"] == sum(n["count"] for n in tree.json()["tree"]) == len(PUBLISHED)
        titles = [hit["title"] for hit in api.json()["results"]]
        for variant, mark in _marks(world, PUBLISHED).items():
            assert any(mark in t for t in titles), f"{actor}: the published {variant} is not found"
            assert mark in page.content.decode(), f"{actor}: the search page does not show {variant}"
            assert mark in browse.content.decode(), f"{actor}: the browse page does not show {variant}"
        for variant, mark in _marks(world, [*A_UNPUBLISHED, *B_UNPUBLISHED, "B submitted"]).items():
            for name, body in (("api", api.content), ("page", page.content), ("suggest", suggest.content),
                               ("browse", browse.content), ("tree", tree.content)):
                assert mark.encode() not in body, f"{actor}: search {name} shows the unpublished {variant}"
        for secret in world.secrets:  # a revision waiting for review is found by nobody, not even its publisher
            for name, body in (("api", api.content), ("page", page.content), ("suggest", suggest.content)):
                assert secret.encode() not in body, f"{actor}: search {name} shows a revision's proposed title"
        assert api.json()["count"] == len(PUBLISHED)


def _oai(client: APIClient, **params: str) -> str:
    response = client.get("/oai", params)
    assert response.status_code == 200
    return re.sub(r"<responseDate>[^<]*</responseDate>", "", response.content.decode())


def test_oai_answers_for_unpublished_records_as_for_missing_ones(world):
    """A harvester asking for an unpublished resource by its identifier gets what an unknown identifier
    gets; the lists hold the published records and, as deleted records without metadata, the withdrawn ones
    that were once published — never a resource that was not."""
    client = APIClient()
    missing_id = oai_identifier(uuid.uuid4())
    for prefix in ("oai_dc", "lom"):
        missing = _oai(client, verb="GetRecord", identifier=missing_id, metadataPrefix=prefix)
        assert "idDoesNotExist" in missing
        for variant in NEVER_PUBLISHED:
            identifier = oai_identifier(world.objects[variant].pk)
            answer = _oai(client, verb="GetRecord", identifier=identifier, metadataPrefix=prefix)
            assert answer.replace(identifier, missing_id) == missing, variant
    listed = _oai(client, verb="ListRecords", metadataPrefix="oai_dc")
    for variant in PUBLISHED:
        assert oai_identifier(world.objects[variant].pk) in listed and world.marks[variant] in listed
    for variant in NEVER_PUBLISHED:
        assert str(world.objects[variant].pk) not in listed and world.marks[variant] not in listed, variant
    revised = _oai(client, verb="GetRecord", identifier=oai_identifier(world.objects["A revised"].pk),
                   metadataPrefix="lom")
    for secret in world.secrets:  # the live version is harvested, never a revision waiting for review
        assert secret not in listed and secret not in revised
    withdrawn = world.objects["A withdrawn"]
    assert oai_identifier(withdrawn.pk) in listed and world.marks["A withdrawn"] not in listed
    assert re.search(rf'<header status="deleted"><identifier>{re.escape(oai_identifier(withdrawn.pk))}<', listed)


CLAIMANTS = ("publisher", "other_publisher", "far_publisher", "province_admin", "hub_operator", "bureau_operator")


def test_a_takedown_notice_cannot_probe_for_unpublished_work(world):
    """``takedown_file`` itself (whatever page or API calls it) answers a claimant who may not see a resource
    exactly as for a resource that does not exist, and takes no notice about a resource that is not public —
    not even from its own publisher: a notice's title would reach every hub operator's list."""
    before = TakedownNotice.objects.count()
    for actor in CLAIMANTS:
        user = world.users[actor]
        for variant in (*A_UNPUBLISHED, *B_UNPUBLISHED, "B submitted"):
            resource = world.objects[variant]
            if variant.endswith("withdrawn") and may_see(actor, variant):
                expected: type[Exception] = ResourceAlreadyWithdrawnError
            else:
                expected = ResourceNotFoundError
            with pytest.raises(expected) as refused:
                licensing_services.takedown_file(user=user, resource=resource, grounds="copyright", statement="侵权")
            if expected is ResourceNotFoundError:
                assert (refused.value.code, refused.value.message) == (
                    ResourceNotFoundError.code, ResourceNotFoundError().message)
    assert TakedownNotice.objects.count() == before


def test_a_bookmark_cannot_probe_for_unpublished_work(world):
    """``favourite_add`` answers as for a missing resource to those who may not see it; those who may are told
    that only published resources can be kept."""
    draft = world.objects["A draft"]
    for actor in ("teacher", "publisher_member", "province_admin", "bureau_operator", "superuser", "far_reviewer"):
        with pytest.raises(ResourceNotFoundError):
            catalog_services.favourite_add(user=world.users[actor], resource=draft)
    for actor in ("publisher", "reviewer"):
        with pytest.raises(InvalidTransitionError):
            catalog_services.favourite_add(user=world.users[actor], resource=draft)
