"""Remote files (served by the origin to certified nodes; fetched lazily by the home node) and signed
grant receipts (stored once by the origin and the hub)."""

from __future__ import annotations

import hashlib
import uuid

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
    fed_fixture,
    hub_node_fixture,
    province_node_fixture,
    province_peer_fixture,
    record,
    send,
)

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


def _receipt(node: FakeNode, **overrides) -> str:
    now = int(timezone.now().timestamp())
    claims = {"jti": str(uuid.uuid4()), "iss": node.node_id, "iat": now, "grant": "7",
              "resource": str(uuid.uuid4()), "origin": "cn-44", "resource_version": 1, "scope": "school",
              "price": 12, "currency": "voucher", "buyer": {}, "starts_at": now, "ends_at": now + 86400,
              "granted_at": now} | overrides
    return jws_sign(claims, key=node.key.private_key, kid=node.key.kid, typ=RECEIPT_TYPE)


def test_hub_stores_a_signed_receipt_once(client, province_peer):
    token = _receipt(province_peer)
    first, _ = send(client, province_peer, "POST", "/federation/v1/receipts", {"receipt": token})
    assert first.status_code == 201 and first.json()["stored"] is True
    again, _ = send(client, province_peer, "POST", "/federation/v1/receipts", {"receipt": token})
    assert again.status_code == 200 and again.json()["stored"] is False
    stored = ReceivedReceipt.objects.get()
    assert stored.issuer == "cn-11" and stored.price == 12
    assert AuditEvent.objects.filter(action="federation.receipt_received").count() == 1


def test_receipts_signed_or_issued_by_someone_else_are_refused(client, province_peer):
    forged = _receipt(FakeNode("cn-11"))
    response, _ = send(client, province_peer, "POST", "/federation/v1/receipts", {"receipt": forged})
    assert response.status_code == 422 and response.json()["error"]["code"] == "receipt_invalid"
    other_issuer = _receipt(province_peer, iss="cn-12")
    response, _ = send(client, province_peer, "POST", "/federation/v1/receipts", {"receipt": other_issuer})
    assert response.status_code == 422
    assert not ReceivedReceipt.objects.exists()
