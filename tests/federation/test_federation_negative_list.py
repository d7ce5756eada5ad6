"""The national negative list as federation data: hub operators change it, each change is a new version the
hub signs (``exchange-negative-list+jwt``, claims as PROTOCOL.md §3.7 and its schema say); a province takes in
only a list signed by its pinned hub key and newer than the one it holds, and then re-checks its published
resources, putting matches in front of its reviewers without unpublishing them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from catalog.models import NegativeTerm, RecheckItem, RecheckRun, Resource
from catalog.prereview.errors import NegativeListStaleError
from catalog.prereview.services import recheck_drain
from federation import identity
from federation.negative_list import negative_list_apply, negative_list_current
from federation.signing import (
    NegativeListInvalidError,
    generate_private_key,
    issue_negative_list,
    issue_revocation_list,
    key_id,
    verify_negative_list,
)
from tests.factories import ResourceFactory
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    FakeNode,
    certified_hub_fixture,
    fed_fixture,
    hub_node_fixture,
    province_node_fixture,
    province_peer_fixture,
    send,
)
from tests.federation.test_federation_protocol import _claims, validate

pytestmark = pytest.mark.django_db
API = "/api/v1/federation/negative-list"


def entry(term: str, severity: str = "hard", entry_id: str | None = None) -> dict[str, str]:
    return {"id": entry_id or str(uuid.uuid4()), "term": term, "category": "other", "severity": severity, "note": ""}


def signed_by(hub: FakeNode, version: int, entries: list[dict[str, str]], *, hub_id: str = "cn-hub") -> str:
    return issue_negative_list(hub_key=hub.key.private_key, hub_kid=hub.key.kid, hub_id=hub_id, version=version,
                               issued_at=datetime.now(UTC), entries=entries)


def push(client, hub: FakeNode, token: str):
    response, _ = send(client, hub, "POST", "/federation/v1/negative-list", {"negative_list": token})
    return response


# --- the hub ----------------------------------------------------------------------------------------------------

def test_hub_operator_changes_make_signed_versions(api_as, users, hub_node):
    operator = api_as(users["hub_operator"])
    first = operator.post(API, {"term": "禁语国一", "category": "political", "severity": "hard"}, format="json")
    assert first.status_code == 201, first.json()
    second = operator.post(API, {"term": "禁语国二", "severity": "soft"}, format="json").json()
    token = negative_list_current()
    claims = _claims(token)
    validate("negative-list-claims", claims)
    signed = verify_negative_list(token, identity.own_public_keys(), hub_id="cn-hub")
    assert signed.version == 2 and {e["term"] for e in signed.entries} == {"禁语国一", "禁语国二"}

    retired = operator.patch(f"{API}/{second['id']}", {"active": False}, format="json").json()
    assert retired["active"] is False and retired["version"] == 3
    signed = verify_negative_list(negative_list_current(), identity.own_public_keys(), hub_id="cn-hub")
    assert signed.version == 3 and [e["term"] for e in signed.entries] == ["禁语国一"]
    listing = operator.get(API).json()
    assert listing["version"] == 3 and listing["count"] == 2


def test_only_hub_operators_at_the_hub_change_the_national_list(api_as, users, hub_node, province_node):
    for role in ("province_admin", "reviewer", "publisher"):
        assert api_as(users[role]).post(API, {"term": "禁语"}, format="json").status_code == 403
    # province_node switched this node to a province: the national list is not kept here
    response = api_as(users["hub_operator"]).post(API, {"term": "禁语"}, format="json")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_a_hub"
    assert NegativeTerm.objects.count() == 0


def test_certified_province_fetches_the_signed_list(client, api_as, users, province_peer):
    assert send(client, province_peer, "GET", "/federation/v1/negative-list")[0].json() == {"negative_list": None}
    api_as(users["hub_operator"]).post(API, {"term": "禁语国三"}, format="json")
    token = send(client, province_peer, "GET", "/federation/v1/negative-list")[0].json()["negative_list"]
    assert verify_negative_list(token, identity.own_public_keys()).version == 1
    assert client.get("/federation/v1/negative-list").status_code == 401  # unsigned


# --- a province -------------------------------------------------------------------------------------------------

@pytest.fixture
def published(orgs):
    return {"match": ResourceFactory(publisher=orgs["publisher"], title="讲义：禁語國四 的辨析"),
            "clean": ResourceFactory(publisher=orgs["publisher"], title="有理数")}


def test_province_applies_a_hub_list_and_rechecks_published_resources(client, certified_hub, published, users):
    listed = entry("禁语国四")
    response = push(client, certified_hub, signed_by(certified_hub, 1, [listed]))
    assert response.status_code == 200, response.json()
    answer = response.json()
    assert answer["applied"] is True and answer["version"] == 1 and answer["recheck"]
    recheck_drain()
    run = RecheckRun.objects.get(pk=answer["recheck"])
    assert run.scope == "national" and run.received_from == "cn-hub" and run.list_version == "N1.L0"
    [item] = RecheckItem.objects.all()
    assert item.resource_id == published["match"].pk and item.findings[0]["detail"]["entry"] == listed["id"]
    assert Resource.objects.get(pk=published["match"].pk).status == "published"
    national = NegativeTerm.objects.get(pk=listed["id"])
    assert national.scope == "national" and national.active


def test_a_newer_version_retires_and_changes_entries_and_rechecks_only_what_changed(client, certified_hub, published):
    kept, dropped = entry("禁语国五"), entry("禁语国六")
    push(client, certified_hub, signed_by(certified_hub, 1, [kept, dropped]))
    changed = dict(kept, severity="soft")
    added = entry("禁语國四")
    answer = push(client, certified_hub, signed_by(certified_hub, 2, [changed, added])).json()
    assert answer["applied"] is True
    assert NegativeTerm.objects.get(pk=dropped["id"]).active is False
    assert NegativeTerm.objects.get(pk=kept["id"]).severity == "soft"
    run = RecheckRun.objects.get(pk=answer["recheck"])
    assert sorted(run.entries) == sorted([kept["id"], added["id"]])


def test_an_older_or_equal_version_is_refused(client, certified_hub, published):
    push(client, certified_hub, signed_by(certified_hub, 5, [entry("禁语国七")]))
    for version in (5, 4):
        assert push(client, certified_hub, signed_by(certified_hub, version, [])).json() == {"applied": False}
    assert NegativeTerm.objects.filter(active=True).count() == 1
    with pytest.raises(NegativeListStaleError) as refused:  # what the tick's pull meets
        negative_list_apply(signed_by(certified_hub, 3, []), received_from="cn-hub")
    assert refused.value.code == "negative_list_stale" and refused.value.http_status == 409


def test_a_forged_list_is_refused(client, certified_hub, published):
    """Signed by a key that is not the pinned hub key (but sent by the hub over a good channel), or a token of
    another type: refused with negative_list_invalid, nothing changes."""
    forger = FakeNode("cn-hub", role="hub")
    response = push(client, certified_hub, signed_by(forger, 9, [entry("伪造")]))
    assert response.status_code == 422 and response.json()["error"]["code"] == "negative_list_invalid"
    revocations = issue_revocation_list(hub_key=certified_hub.key.private_key, hub_kid=certified_hub.key.kid,
                                        hub_id="cn-hub", serials=[], number=1, issued_at=datetime.now(UTC))
    assert push(client, certified_hub, revocations).json()["error"]["code"] == "negative_list_invalid"
    other_issuer = signed_by(certified_hub, 9, [entry("伪造")], hub_id="cn-other")
    assert push(client, certified_hub, other_issuer).json()["error"]["code"] == "negative_list_invalid"
    assert NegativeTerm.objects.count() == 0 and RecheckRun.objects.count() == 0


def test_only_the_hub_pushes_the_list(client, certified_hub, published):
    from tests.federation.federation_support import certify

    province = FakeNode("cn-11")
    certify(certified_hub, province)
    response = push(client, province, signed_by(certified_hub, 1, [entry("禁语")]))
    assert response.status_code == 403 and response.json()["error"]["code"] == "peer_not_allowed"


def test_malformed_claims_are_refused():
    key = generate_private_key()
    kid = key_id(key.public_key())
    keys = {kid: key.public_key()}
    from federation.signing import jws_sign

    for bad in ({"iss": "cn-hub", "version": 0, "iat": 1, "entries": []},
                {"iss": "cn-hub", "version": 1, "iat": 1, "entries": [{"id": "x", "term": "t", "category": "o",
                                                                       "severity": "hard"}]},
                {"iss": "cn-hub", "version": 1, "iat": 1, "entries": [entry("t", severity="maybe")]}):
        token = jws_sign(bad, key=key, kid=kid, typ="exchange-negative-list+jwt")
        with pytest.raises(NegativeListInvalidError):
            verify_negative_list(token, keys, hub_id="cn-hub")
