"""federation/PROTOCOL.md is the contract: the JSON Schemas it contains accept the messages this node
really sends (well-known document, envelopes, feed pages, enrolment, certificate and revocation
claims, pokes, receipts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from catalog import services
from federation import hub, identity
from federation.outbox import feed_page, outbox_backfill
from federation.signing import parse_json
from federation.signing.encoding import b64url_decode
from tests import factories
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    FakeNode,
    fed_fixture,
    hub_node_fixture,
    province_node_fixture,
    province_peer_fixture,
    send,
)

pytestmark = pytest.mark.django_db
PROTOCOL = Path(__file__).resolve().parents[2] / "federation" / "PROTOCOL.md"


def _schemas() -> dict[str, dict]:
    blocks = re.findall(r"```json\n(.*?)```", PROTOCOL.read_text(encoding="utf-8"), flags=re.S)
    schemas = {}
    for block in blocks:
        if '"$schema"' in block:
            schema = json.loads(block)
            schemas[schema["$id"].rsplit(":", 1)[-1]] = schema
    return schemas


SCHEMAS = _schemas()
REGISTRY = Registry().with_resources(
    (schema["$id"], Resource.from_contents(schema, default_specification=DRAFT202012)) for schema in SCHEMAS.values()
)


def validate(name: str, instance) -> None:
    Draft202012Validator(SCHEMAS[name], registry=REGISTRY).validate(instance)


def _claims(token: str) -> dict:
    return parse_json(b64url_decode(token.split(".")[1]))


def test_protocol_document_holds_every_schema():
    assert set(SCHEMAS) >= {"jwk", "node", "envelope", "record", "tombstone", "feed-page", "enrolment-request",
                            "enrolment-status", "certificate-claims", "revocation-claims", "poke", "receipt-claims"}
    for schema in SCHEMAS.values():
        Draft202012Validator.check_schema(schema)


def test_well_known_document_matches(client, hub_node):
    validate("node", client.get("/.well-known/exchange-node").json())


def test_envelopes_and_feed_pages_match(province_node, users):
    org = users["publisher"].organisation
    published = factories.ResourceFactory(publisher=org)
    factories.ResourceFactory(publisher=org, with_file=False)
    outbox_backfill()
    services.resource_withdraw(user=users["publisher"], resource=published, reason="withdrawn_by_publisher")
    page = json.loads(feed_page(since=0, limit=10).to_json_bytes())
    validate("feed-page", page)
    assert [e["kind"] for e in page["envelopes"]] == ["upsert", "upsert", "tombstone"]
    bad = dict(page["envelopes"][2], payload={"id": page["envelopes"][2]["id"], "reason": "because"})
    with pytest.raises(Exception, match="because"):
        validate("envelope", bad)


def test_enrolment_certificate_revocation_and_poke_messages_match(client, hub_node):
    node = FakeNode("cn-11")
    body = {"node_id": "cn-11", "role": "province", "region": "110000", "base_url": "http://127.0.0.1:8101",
            "name": "北京", "jwk": node.jwk, "protocol_versions": ["1"]}
    validate("enrolment-request", body)
    response, _ = send(client, node, "POST", "/federation/v1/enrolments", body)
    validate("enrolment-status", response.json())
    issued = hub.enrolment_approve(node_id="cn-11", fingerprint_seen=node.fingerprint, actor="op")
    validate("certificate-claims", _claims(issued.token))
    state = hub.node_revoke(node_id="cn-11", actor="op")
    validate("revocation-claims", _claims(state.token))
    validate("poke", {"node_id": identity.node_id(), "head": 0})


def test_receipt_claims_match(province_node, users):
    from datetime import timedelta

    from django.utils import timezone

    from catalog.remote import remote_resource_apply
    from federation.receipts import report_grant
    from licensing.models import Grant
    from tests.federation.federation_support import record

    rec = record()
    remote_resource_apply(envelope_payload=rec, origin="cn-11", version=1, kind="upsert")
    now = timezone.now()
    grant = Grant(pk=41, resource_id=rec["id"], scope="school", organisation=users["teacher"].organisation,
                  buyer=users["teacher"], price=12, starts_at=now, ends_at=now + timedelta(days=365), created_at=now)
    receipt = report_grant(grant=grant)
    assert receipt.targets == ["cn-11", "cn-hub"]
    validate("receipt-claims", _claims(receipt.token))


def test_national_takedown_and_reinstatement_envelopes_match(users, province_peer):
    import uuid

    from catalog.models import Resource as CatalogResource
    from federation.takedowns import national_reinstate
    from licensing.services import takedown_file, takedown_uphold
    from tests.federation.federation_support import record
    from tests.federation.test_federation_sync import process

    rid = str(uuid.uuid4())
    process("cn-11", [province_peer.envelope(record(rid))])
    notice = takedown_file(user=users["hub_operator"], resource=CatalogResource.objects.get(pk=rid),
                           grounds="copyright",
                           statement="整册抄袭")
    takedown_uphold(user=users["hub_operator"], notice=notice, note="经核实")
    national_reinstate(origin="cn-11", record_id=rid, actor=users["hub_operator"], note="权利人撤回投诉")
    page = json.loads(feed_page(since=0, limit=10).to_json_bytes())
    validate("feed-page", page)
    orders = [e for e in page["envelopes"] if e["origin"] == "cn-hub"]
    assert [(e["kind"], e["version"]) for e in orders] == [("takedown", 1), ("reinstate", 2)]
    for envelope in orders:
        validate("envelope", envelope)
