"""National takedowns: a hub operator upholds a notice on any province's resource at the hub; the hub
signs a ``takedown`` order (origin = the hub) and every province — the origin included — withdraws
its copy. Only the hub's orders act on another origin's records. A takedown is a fact, not a version:
no later version of the record (an ordinary edit at the origin is enough to make one) becomes public
anywhere until the node that ordered it signs a reinstatement."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from catalog.models import Resource
from catalog.takedowns import takedown_standing
from federation import identity
from federation.models import OutboxEntry, RemoteRecord
from federation.signing import envelope_from_bytes, verify_envelope
from licensing.errors import NotTakedownReviewerError
from licensing.services import takedown_file, takedown_reject, takedown_uphold
from tests.factories import ResourceFactory
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    FakeNode,
    certified_hub_fixture,
    certify,
    fed_fixture,
    hub_node_fixture,
    province_node_fixture,
    province_peer_fixture,
    record,
)
from tests.federation.test_federation_sync import process

pytestmark = pytest.mark.django_db


def order(hub: FakeNode, resource_id: str, *, target_origin: str = "cn-11", target_version: int = 1,
          version: int = 1) -> dict:
    payload = {"id": resource_id, "reason": "takedown_upheld", "stage": "初中", "subject": "数学",
               "withdrawn_at": "2025-03-01T08:00:00Z", "target_origin": target_origin,
               "target_version": target_version, "note": "takedown #7: 侵犯著作权"}
    return hub.envelope(payload, kind="takedown", version=version)


@pytest.fixture
def at_province(province_node, certified_hub):
    """This node is cn-44, pulling the hub cn-hub, which has certified cn-11."""
    cn11 = FakeNode("cn-11")
    certify(certified_hub, cn11)
    province_node.FEDERATION_HUB_ID = "cn-hub"
    return certified_hub, cn11


def test_a_hub_order_withdraws_a_remote_copy_once(at_province) -> None:
    hub, cn11 = at_province
    rid = str(uuid.uuid4())
    process("cn-hub", [cn11.envelope(record(rid))])
    result = process("cn-hub", [order(hub, rid)])
    assert result.outcomes == {"withdrawn": 1}
    copy = Resource.objects.get(pk=rid)
    assert (copy.status, copy.version, copy.origin_node) == (Resource.Status.WITHDRAWN, 1, "cn-11")
    assert copy.review_note == "takedown #7: 侵犯著作权"
    assert RemoteRecord.objects.get(origin="cn-hub", resource_id=rid).kind == "takedown"
    again = process("cn-hub", [order(hub, rid)])
    assert again.outcomes == {} and again.applied == 0  # the same order is applied once


def reinstatement(node: FakeNode, resource_id: str, *, target_origin: str = "cn-11", version: int = 2) -> dict:
    payload = {"id": resource_id, "reason": "reinstated", "stage": "初中", "subject": "数学",
               "target_origin": target_origin, "note": "复核后恢复", "reinstated_at": "2025-03-02T08:00:00Z"}
    return node.envelope(payload, kind="reinstate", version=version)


def test_an_order_stands_against_every_later_version_until_the_hub_reinstates(at_province) -> None:
    """The attack: the origin already holds a newer version (a plain metadata edit) when the order for
    the hub's older copy arrives, and keeps publishing versions after it. None of them is public here."""
    hub, cn11 = at_province
    rid = str(uuid.uuid4())
    process("cn-hub", [cn11.envelope(record(rid), version=2)])
    assert process("cn-hub", [order(hub, rid, target_version=1)]).outcomes == {"withdrawn": 1}
    edited = record(rid, title="人教版七年级数学上册 第一章 有理数 课件（修订）")
    assert process("cn-hub", [cn11.envelope(edited, version=3)]).outcomes == {"withheld": 1}
    copy = Resource.objects.get(pk=rid)
    assert (copy.status, copy.version, copy.title) == (Resource.Status.WITHDRAWN, 3, edited["title"])
    assert process("cn-hub", [cn11.envelope(record(rid), version=4)]).outcomes == {"withheld": 1}
    assert Resource.objects.get(pk=rid).status == Resource.Status.WITHDRAWN
    # Only the orderer lifts it: the origin's own "reinstatement" changes nothing.
    assert process("cn-hub", [reinstatement(cn11, rid, version=5)]).outcomes == {"not_orderer": 1}
    assert Resource.objects.get(pk=rid).status == Resource.Status.WITHDRAWN
    assert takedown_standing(origin="cn-11", record_id=rid).ordered_by == "cn-hub"
    # The hub's signed reinstatement does; the newest version is what becomes public.
    assert process("cn-hub", [reinstatement(hub, rid, version=2)]).outcomes == {"reinstated": 1}
    copy = Resource.objects.get(pk=rid)
    assert (copy.status, copy.version) == (Resource.Status.PUBLISHED, 4)
    assert process("cn-hub", [order(hub, rid, version=1)]).outcomes == {}  # a replayed order is old news
    assert Resource.objects.get(pk=rid).status == Resource.Status.PUBLISHED


def test_an_order_that_arrives_before_the_record_keeps_it_from_ever_being_public(at_province) -> None:
    hub, cn11 = at_province
    rid = str(uuid.uuid4())
    assert process("cn-hub", [order(hub, rid)]).outcomes == {"recorded": 1}
    assert not Resource.objects.filter(record_id=rid).exists()
    assert process("cn-hub", [cn11.envelope(record(rid), version=7)]).outcomes == {"withheld": 1}
    assert Resource.objects.get(record_id=rid).status == Resource.Status.WITHDRAWN


def test_an_order_and_a_newer_version_in_one_page_end_taken_down(at_province) -> None:
    hub, cn11 = at_province
    rid = str(uuid.uuid4())
    process("cn-hub", [cn11.envelope(record(rid), version=1)])
    result = process("cn-hub", [order(hub, rid), cn11.envelope(record(rid), version=2)])
    assert Resource.objects.get(pk=rid).status == Resource.Status.WITHDRAWN, result.outcomes


def test_the_origins_own_upheld_takedown_also_stands_against_later_versions(at_province) -> None:
    _, cn11 = at_province
    rid = str(uuid.uuid4())
    process("cn-hub", [cn11.envelope(record(rid), version=1)])
    tomb = {"id": rid, "reason": "takedown_upheld", "stage": "初中", "subject": "数学",
            "withdrawn_at": "2025-03-01T08:00:00Z"}
    process("cn-hub", [cn11.envelope(tomb, kind="tombstone", version=2)])
    assert process("cn-hub", [cn11.envelope(record(rid), version=3)]).outcomes == {"withheld": 1}
    assert Resource.objects.get(pk=rid).status == Resource.Status.WITHDRAWN


def test_only_the_hub_orders_takedowns_of_another_origins_records(at_province) -> None:
    hub, cn11 = at_province
    rid = str(uuid.uuid4())
    process("cn-hub", [cn11.envelope(record(rid))])
    cn12 = FakeNode("cn-12")
    certify(hub, cn12, region="120000", base_url="http://127.0.0.1:8112")
    result = process("cn-hub", [order(cn12, rid)])  # a province's "takedown" of cn-11's record
    assert result.outcomes == {"absent": 1}  # it can only name cn-12's own record of that id
    assert Resource.objects.get(pk=rid).status == Resource.Status.PUBLISHED
    assert takedown_standing(origin="cn-11", record_id=rid) is None
    assert process("cn-hub", [order(hub, rid, target_origin="cn-12")]).outcomes == {"recorded": 1}
    assert Resource.objects.get(pk=rid).status == Resource.Status.PUBLISHED


def test_the_origin_obeys_an_order_for_an_older_version_and_cannot_publish_again(at_province, users) -> None:
    """At the origin, the publisher's edit after the hub copied version 1 must not keep it public."""
    from catalog.errors import ResourceTakenDownError
    from catalog.services import resource_publish

    hub, _ = at_province
    mine = ResourceFactory(publisher=users["publisher"].organisation, origin_node="cn-44", version=3)
    result = process("cn-hub", [order(hub, str(mine.pk), target_origin="cn-44", target_version=1)])
    assert result.outcomes == {"withdrawn": 1}
    mine.refresh_from_db()
    assert (mine.status, mine.version) == (Resource.Status.WITHDRAWN, 4)
    Resource.objects.filter(pk=mine.pk).update(status=Resource.Status.APPROVED)  # even if it got here somehow
    mine.refresh_from_db()
    with pytest.raises(ResourceTakenDownError):
        resource_publish(user=users["publisher"], resource=mine)
    Resource.objects.filter(pk=mine.pk).update(status=Resource.Status.WITHDRAWN)
    assert process("cn-hub", [reinstatement(hub, str(mine.pk), target_origin="cn-44")]).outcomes == {
        "reinstated": 1}
    mine.refresh_from_db()
    assert (mine.status, mine.version) == (Resource.Status.PUBLISHED, 5)
    latest = OutboxEntry.objects.filter(origin="cn-44", resource_id=mine.pk).order_by("-seq").first()
    assert (latest.kind, latest.version) == ("upsert", 5)  # peers hear of it from the origin as ever


def test_the_origin_withdraws_its_own_resource_and_publishes_the_tombstone(at_province, users) -> None:
    hub, _ = at_province
    mine = ResourceFactory(publisher=users["publisher"].organisation, origin_node="cn-44")
    result = process("cn-hub", [order(hub, str(mine.pk), target_origin="cn-44", target_version=mine.version)])
    assert result.outcomes == {"withdrawn": 1}
    mine.refresh_from_db()
    assert mine.status == Resource.Status.WITHDRAWN and mine.version == 2
    tombstone = envelope_from_bytes(OutboxEntry.objects.get(origin="cn-44", resource_id=mine.pk).envelope.encode())
    assert (tombstone["kind"], tombstone["version"], tombstone["payload"]["reason"]) == ("tombstone", 2,
                                                                                         "takedown_upheld")


def test_a_hub_operator_upholds_a_notice_on_a_province_resource_and_the_hub_signs_the_order(
        users, province_peer) -> None:
    rid = str(uuid.uuid4())
    process("cn-11", [province_peer.envelope(record(rid))])
    remote = Resource.objects.get(pk=rid)
    notice = takedown_file(user=users["hub_operator"], resource=remote, grounds="copyright",
                           statement="整册抄袭本社教材。", claimant="某出版社")
    with pytest.raises(NotTakedownReviewerError):
        takedown_uphold(user=users["reviewer"], notice=notice)
    takedown_uphold(user=users["hub_operator"], notice=notice, note="经核实")
    remote.refresh_from_db()
    assert remote.status == Resource.Status.WITHDRAWN and remote.version == 1  # the origin's version is kept
    entry = OutboxEntry.objects.get(origin="cn-hub", kind="takedown")
    envelope = envelope_from_bytes(entry.envelope.encode())
    verified = verify_envelope(envelope, resolve_key=lambda origin, kid: identity.signing_key().public_key)
    assert verified.payload["target_origin"] == "cn-11" and verified.payload["target_version"] == 1
    assert verified.payload["note"].startswith(f"takedown #{notice.pk}")


def test_a_hub_operator_may_also_reject_and_a_province_hub_operator_cannot_decide_remote_notices(
        users, province_node, settings) -> None:
    now = timezone.now()
    remote = Resource.objects.create(title="外省资源", origin_node="cn-11", is_remote=True,
                                     status=Resource.Status.PUBLISHED, province="110000",
                                     created_at=now, updated_at=now, published_at=now)
    notice = takedown_file(user=users["hub_operator"], resource=remote, grounds="other", statement="说明")
    with pytest.raises(NotTakedownReviewerError):  # this node is a province: no national authority here
        takedown_reject(user=users["hub_operator"], notice=notice, note="不成立")
    settings.EXCHANGE_NODE_ROLE = "hub"
    takedown_reject(user=users["hub_operator"], notice=notice, note="不成立")
    assert Resource.objects.get(pk=remote.pk).status == Resource.Status.PUBLISHED


def test_a_notice_about_a_remote_resource_is_forwarded_to_the_hub_and_a_local_one_is_not(
        users, at_province, django_capture_on_commit_callbacks) -> None:
    _, cn11 = at_province
    rid = str(uuid.uuid4())
    process("cn-hub", [cn11.envelope(record(rid))])
    with django_capture_on_commit_callbacks(execute=True):
        remote = takedown_file(user=users["province_admin"], resource=Resource.objects.get(pk=rid),
                               grounds="copyright", statement="转载未授权")
    remote.refresh_from_db()
    assert remote.forwarded_to == "cn-hub" and remote.exchanged_at is None  # the hub is not reachable here
    mine = ResourceFactory(publisher=users["publisher"].organisation, origin_node="cn-44")
    local = takedown_file(user=users["province_admin"], resource=mine, grounds="copyright", statement="说明")
    assert local.forwarded_to == ""


def test_the_hub_takes_a_forwarded_notice_once_and_refuses_malformed_ones(users, province_peer) -> None:
    from catalog.errors import ResourceNotFoundError
    from exchange.errors import InvalidInputError
    from federation.takedowns import forwarded_receive
    from federation.trust import PeerIdentity

    rid = str(uuid.uuid4())
    process("cn-11", [province_peer.envelope(record(rid))])
    sender = PeerIdentity(node_id="cn-44", role="province", kid="k" * 43)
    body = {"notice": 12, "resource": rid, "origin": "cn-11", "grounds": "copyright", "statement": "转载未授权",
            "claimant": "某出版社", "filed_at": "2026-11-01T08:00:00+00:00"}
    notice, created = forwarded_receive(body=body, sender=sender)
    again, created_again = forwarded_receive(body=body, sender=sender)
    assert created and not created_again and again.pk == notice.pk
    assert (notice.forwarded_from, notice.remote_ref, notice.filed_by, notice.claimant) == ("cn-44", 12, None, "某出版社")
    with pytest.raises(InvalidInputError):
        forwarded_receive(body={**body, "notice": "12"}, sender=sender)
    with pytest.raises(InvalidInputError):
        forwarded_receive(body={**body, "notice": 13, "grounds": "nonsense"}, sender=sender)
    with pytest.raises(ResourceNotFoundError):
        forwarded_receive(body={**body, "notice": 14, "resource": str(uuid.uuid4())}, sender=sender)


def test_a_decision_only_lands_on_a_notice_forwarded_to_its_sender(users, at_province) -> None:
    from federation.takedowns import decision_receive
    from federation.trust import PeerIdentity
    from licensing.errors import TakedownNotFoundError

    mine = ResourceFactory(publisher=users["publisher"].organisation, origin_node="cn-44")
    local = takedown_file(user=users["province_admin"], resource=mine, grounds="copyright", statement="说明")
    hub = PeerIdentity(node_id="cn-hub", role="hub", kid="k" * 43)
    with pytest.raises(TakedownNotFoundError):
        decision_receive(body={"notice": local.pk, "upheld": True, "note": ""}, sender=hub)
    local.refresh_from_db()
    assert local.status == "open"


def test_a_hub_operator_reinstates_and_the_hub_signs_the_reinstatement(users, province_peer, api_as) -> None:
    """Lifting a national takedown is the hub operators' call, through the API, and travels as an order."""
    rid = str(uuid.uuid4())
    process("cn-11", [province_peer.envelope(record(rid))])
    remote = Resource.objects.get(pk=rid)
    notice = takedown_file(user=users["hub_operator"], resource=remote, grounds="copyright", statement="整册抄袭")
    takedown_uphold(user=users["hub_operator"], notice=notice, note="经核实")
    process("cn-11", [province_peer.envelope(record(rid, title="改了标题"), version=2)])  # an edit at the origin
    assert Resource.objects.get(pk=rid).status == Resource.Status.WITHDRAWN
    body = {"origin": "cn-11", "record_id": rid, "note": "权利人撤回投诉"}
    for who in ("reviewer", "province_admin", "teacher"):
        refused = api_as(users[who]).post("/api/v1/federation/reinstatements", body, format="json")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "permission_denied"
    assert Resource.objects.get(pk=rid).status == Resource.Status.WITHDRAWN
    missing_note = api_as(users["hub_operator"]).post("/api/v1/federation/reinstatements", {**body, "note": ""},
                                                       format="json")
    assert missing_note.status_code == 400
    done = api_as(users["hub_operator"]).post("/api/v1/federation/reinstatements", body, format="json")
    assert done.status_code == 200, done.json()
    copy = Resource.objects.get(pk=rid)
    assert (copy.status, copy.version, copy.title) == (Resource.Status.PUBLISHED, 2, "改了标题")
    entry = OutboxEntry.objects.get(origin="cn-hub", kind="reinstate")
    envelope = verify_envelope(envelope_from_bytes(entry.envelope.encode()),
                               resolve_key=lambda origin, kid: identity.signing_key().public_key)
    assert (envelope.id, envelope.version, envelope.payload["target_origin"]) == (rid, 2, "cn-11")
    again = api_as(users["hub_operator"]).post("/api/v1/federation/reinstatements", body, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "takedown_not_standing"
