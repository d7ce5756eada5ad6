"""Remote files (served by the origin to certified nodes; fetched lazily by the home node) and signed
grant receipts (stored once by the origin and the hub)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from catalog.models import ResourceFile
from catalog.remote import remote_resource_apply
from exchange.models import AuditEvent
from federation import identity
from federation.errors import RemoteFileUnavailableError
from federation.files import ensure_local
from federation.models import ReceivedReceipt
from federation.receipts import RECEIPT_TYPE
from federation.signing import jws_sign, verify_response
from tests import factories
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    BASE_URL,
    FakeNode,
    certified_hub_fixture,
    enrol_and_approve,
    fed_fixture,
    hub_node_fixture,
    province_node_fixture,
    province_peer_fixture,
    record,
    send,
)
from tests.federation.test_federation_sync import process

pytestmark = pytest.mark.django_db


def test_origin_serves_files_of_its_published_resources_signed(client, certified_hub, users):
    resource = factories.ResourceFactory(publisher=users["publisher"].organisation)
    file = resource.files.get()
    path = f"/federation/v1/files/{file.sha256}"
    response, sent = send(client, certified_hub, "GET", path)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert hashlib.sha256(body).hexdigest() == file.sha256 and response["Content-Type"] == "application/pdf"
    own = identity.own_public_keys()
    verify_response(status=200, headers=dict(response.headers.items()), body=body, request_method="GET",
                    request_url=BASE_URL + path, request_headers=sent, resolve_key=own.__getitem__)


def test_files_of_drafts_and_unknown_content_are_not_served(client, certified_hub, users):
    draft = factories.ResourceFactory(publisher=users["publisher"].organisation, status="draft")
    for sha in (draft.files.get().sha256, "0" * 64):
        response, _ = send(client, certified_hub, "GET", f"/federation/v1/files/{sha}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "file_not_served"
    unsigned = client.get(f"/federation/v1/files/{draft.files.get().sha256}")
    assert unsigned.status_code == 401


def test_ensure_local_uses_content_already_stored(province_node, users):
    local = factories.ResourceFactory(publisher=users["publisher"].organisation)
    sha = local.files.get().sha256
    ResourceFile.objects.filter(sha256=sha).update(available_locally=False)
    rec = record(files=[{"sha256": sha, "size": 10, "mime": "application/pdf", "name": "a.pdf", "position": 0,
                         "duration_seconds": None}])
    remote_resource_apply(envelope_payload=rec, origin="cn-11", version=1, kind="upsert")
    row = ResourceFile.objects.get(resource_id=rec["id"])
    assert ensure_local(row).available_locally


def test_ensure_local_needs_a_known_origin(province_node):
    rec = record()
    remote_resource_apply(envelope_payload=rec, origin="cn-11", version=1, kind="upsert")
    with pytest.raises(RemoteFileUnavailableError, match="not known"):
        ensure_local(ResourceFile.objects.get(resource_id=rec["id"]))


PRICED = {"holder": "广东教育出版社", "year": 2024, "license": "ALL-RIGHTS-RESERVED", "attribution": "© 2024",
          "territory": [], "audience": "teachers", "price": 12, "free_for": [], "grant_days": 365,
          "term_end": None, "embargo_until": None, "derived_from": None}


@pytest.fixture
def sold(province_peer):
    """(On the hub) cn-44's priced record, version 1 signed 40 days ago, applied and relayed; cn-11 reports
    a purchase of it."""
    cn44 = FakeNode("cn-44")
    enrol_and_approve(cn44, base_url="http://127.0.0.1:8102")
    rec = record(rights=PRICED)
    issued = timezone.now() - timedelta(days=40)
    process("cn-44", [cn44.envelope(rec, version=1, issued_at=issued)])
    return rec["id"]


def _receipt(node: FakeNode, resource: str | None = None, **overrides) -> str:
    now = int(timezone.now().timestamp())
    claims = {"jti": str(uuid.uuid4()), "iss": node.node_id, "iat": now, "grant": "7",
              "resource": resource or str(uuid.uuid4()), "origin": "cn-44", "resource_version": 1,
              "scope": "school", "price": 12, "currency": "voucher", "buyer": {}, "starts_at": now,
              "ends_at": now + 86400, "granted_at": now} | overrides
    return jws_sign(claims, key=node.key.private_key, kid=node.key.kid, typ=RECEIPT_TYPE)


def test_hub_stores_a_signed_receipt_once(client, province_peer, sold):
    token = _receipt(province_peer, sold)
    first, _ = send(client, province_peer, "POST", "/federation/v1/receipts", {"receipt": token})
    assert first.status_code == 201 and first.json()["stored"] is True
    again, _ = send(client, province_peer, "POST", "/federation/v1/receipts", {"receipt": token})
    assert again.status_code == 200 and again.json()["stored"] is False
    stored = ReceivedReceipt.objects.get()
    assert stored.issuer == "cn-11" and stored.price == 12 and not stored.late
    assert AuditEvent.objects.filter(action="federation.receipt_received").count() == 1


DAY = 86400


@pytest.mark.parametrize(("lie", "status", "code"), [
    ({"price": 1000}, 422, "receipt_mismatch"),  # money written into settlement
    ({"price": 0}, 422, "receipt_invalid"),
    ({"price": -5}, 422, "receipt_invalid"),
    ({"resource_version": 9}, 409, "receipt_record_unknown"),  # a version never signed
    ({"origin": "cn-45"}, 409, "receipt_record_unknown"),  # another origin's name on the record
    ({"resource": "unknown"}, 409, "receipt_record_unknown"),  # a record that does not exist
    ({"granted_at": "-41d"}, 422, "receipt_date_invalid"),  # bought before the version was signed
    ({"granted_at": "+1d"}, 422, "receipt_date_invalid"),  # in the future
    ({"granted_at": 10**13}, 422, "receipt_invalid"),  # out of any calendar
    ({"resource": "UPPER"}, 422, "receipt_invalid"),  # not the canonical spelling of the id
])
def test_receipts_that_lie_are_refused_with_a_stable_code_and_nothing_is_stored(
        client, province_peer, sold, lie, status, code):
    now = int(timezone.now().timestamp())
    claims = dict(lie)
    if claims.get("resource") == "unknown":
        claims["resource"] = str(uuid.uuid4())
    elif claims.get("resource") == "UPPER":
        claims["resource"] = sold.upper()
    if isinstance(claims.get("granted_at"), str):
        claims["granted_at"] = now + int(claims["granted_at"][:-1]) * DAY
    response, _ = send(client, province_peer, "POST", "/federation/v1/receipts",
                       {"receipt": _receipt(province_peer, claims.pop("resource", sold), **claims)})
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert not ReceivedReceipt.objects.exists()


def test_a_receipt_for_a_closed_month_is_kept_late_and_counted_when_it_arrived(province_peer, sold):
    """A closed month's figures never change: a receipt for it that arrives later counts in this month."""
    from federation.receipts import receipt_receive, received_sales
    from federation.trust import PeerIdentity
    from licensing.settlement import Period, settlement_month_close

    today = timezone.localdate()
    last_day = today.replace(day=1) - timedelta(days=1)  # 1 to 31 days ago: after the record was signed
    settlement_month_close(month=f"{last_day:%Y-%m}", actor="operator (cli)")
    granted = timezone.make_aware(datetime.combine(last_day, datetime.min.time()) + timedelta(hours=12))
    sender = PeerIdentity(node_id="cn-11", role="province", kid=province_peer.key.kid)
    received, created = receipt_receive(token=_receipt(province_peer, sold, granted_at=int(granted.timestamp())),
                                        sender=sender)
    assert created and received.late
    closed = Period.parse(month=f"{last_day:%Y-%m}").bounds()
    current = Period.parse(month=f"{today:%Y-%m}").bounds()
    assert received_sales(start=closed[0], end=closed[1]) == []
    [sale] = received_sales(start=current[0], end=current[1])
    assert (sale["origin"], str(sale["resource_id"]), sale["vouchers"]) == ("cn-44", sold, 12)
    assert AuditEvent.objects.filter(action="settlement.close").count() == 1


def test_receipts_signed_or_issued_by_someone_else_are_refused(client, province_peer, sold):
    forged = _receipt(FakeNode("cn-11"), sold)
    response, _ = send(client, province_peer, "POST", "/federation/v1/receipts", {"receipt": forged})
    assert response.status_code == 422 and response.json()["error"]["code"] == "receipt_invalid"
    other_issuer = _receipt(province_peer, sold, iss="cn-12")
    response, _ = send(client, province_peer, "POST", "/federation/v1/receipts", {"receipt": other_issuer})
    assert response.status_code == 422
    assert not ReceivedReceipt.objects.exists()
