"""Fixtures and helpers for the federation service and API tests (imported by test_federation_*.py).

The node under test is one Django process; other nodes are played by ``FakeNode``: a node id and a
real Ed25519 key that signs requests, responses and envelopes exactly as a peer process would.
Multi-process behaviour (real peers on loopback) is tested in ``tests/federation_e2e``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client

from federation import identity
from federation.signing import (
    SigningKey,
    fingerprint,
    generate_private_key,
    public_key_to_jwk,
    sign_envelope,
    sign_request,
    verify_response,
)

BASE_URL = "http://127.0.0.1:8000"


@dataclass
class FakeNode:
    """Another node: its id, role and key."""

    node_id: str
    role: str = "province"
    key: SigningKey = field(default_factory=lambda: SigningKey.from_private_key(generate_private_key()))

    @property
    def jwk(self) -> dict[str, str]:
        return public_key_to_jwk(self.key.public_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key.public_key)

    def envelope(self, record: dict[str, Any], *, version: int = 1, kind: str = "upsert",
                 issued_at: datetime | None = None) -> dict[str, Any]:
        return sign_envelope(record=record, kind=kind, origin=self.node_id, version=version, signing_key=self.key,
                             issued_at=issued_at)

    def headers(self, method: str, path: str, body: bytes = b"", *, created: datetime | None = None,
                nonce: str | None = None) -> dict[str, str]:
        base = {"Content-Type": "application/json"} if body else {}
        signed = sign_request(method=method, url=BASE_URL + path, headers=base, body=body, key=self.key.private_key,
                              kid=self.key.kid, created=created, nonce=nonce)
        return {**base, **signed}


def send(client: Client, node: FakeNode | None, method: str, path: str, body: Any = None,
         *, headers: dict[str, str] | None = None, **sign_args: Any):
    """Send a (signed by ``node``) request through the Django test client; returns the response."""
    raw = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    hdrs = headers if headers is not None else (node.headers(method, path, raw, **sign_args) if node else {})
    hdrs = dict(hdrs)
    content_type = hdrs.pop("Content-Type", "application/json")
    if method == "GET":
        return client.get(path, headers=hdrs), hdrs
    return client.generic(method, path, data=raw, content_type=content_type, headers=hdrs), hdrs


def verify_answer(response, request_headers: dict[str, str], method: str, path: str) -> str:
    """Check the node signed its answer to this request with its own key; return the key id."""
    own = identity.own_public_keys()
    headers = {k: v for k, v in response.headers.items()}
    return verify_response(status=response.status_code, headers=headers, body=response.content,
                           request_method=method, request_url=BASE_URL + path, request_headers=request_headers,
                           resolve_key=own.__getitem__)


def record(resource_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid resource record as an origin would sign it."""
    base = {
        "id": resource_id or str(uuid.uuid4()), "title": "人教版七年级数学上册 第一章 有理数 课件",
        "description": "有理数的概念。", "keywords": ["有理数"], "stage": "初中", "subject": "数学",
        "grade": "七年级", "edition": "人教版", "volume": "上册", "chapter": "第一章 有理数", "section": "",
        "resource_type": "课件", "language": "zh-Hans", "textbook_id": "", "publisher": "外省出版社",
        "province": "110000", "created_at": "2024-09-01T08:00:00Z", "updated_at": "2024-09-01T08:00:00Z",
        "published_at": "2024-09-01T08:00:00Z",
        "rights": {"holder": "外省出版社", "year": 2024, "license": "CC-BY-4.0", "attribution": "© 2024 外省出版社",
                   "territory": [], "audience": "teachers", "price": 0, "free_for": [], "grant_days": 365,
                   "term_end": None, "embargo_until": None, "derived_from": None},
        "files": [{"sha256": "ab" * 32, "size": 1234, "mime": "application/pdf", "name": "课件.pdf", "position": 0,
                   "duration_seconds": None}],
    }
    base.update(overrides)
    return base


@pytest.fixture(name="fed")
def fed_fixture(settings, tmp_path):
    """This node's key in a per-test file; federation jobs run inline."""
    settings.FEDERATION_KEY_PATH = tmp_path / "node_key.pem"
    settings.FEDERATION_BACKGROUND = False
    settings.EXCHANGE_BASE_URL = BASE_URL
    identity._cache.clear()
    cache.clear()  # the audit of refused requests is rate-limited through the cache
    yield settings
    identity._cache.clear()


@pytest.fixture(name="hub_node")
def hub_node_fixture(fed, db):
    """This node is the hub ``cn-hub``."""
    fed.EXCHANGE_NODE_ID, fed.EXCHANGE_NODE_ROLE, fed.EXCHANGE_NODE_REGION = "cn-hub", "hub", "000000"
    identity.node_key_ensure()
    return fed


@pytest.fixture(name="province_node")
def province_node_fixture(fed, db):
    """This node is province ``cn-44``."""
    fed.EXCHANGE_NODE_ID, fed.EXCHANGE_NODE_ROLE, fed.EXCHANGE_NODE_REGION = "cn-44", "province", "440000"
    identity.node_key_ensure()
    return fed


def enrol_and_approve(node: FakeNode, *, base_url: str = "http://127.0.0.1:8199") -> Any:
    """(On the hub) register and approve ``node``; returns the issued certificate row."""
    from federation import hub

    hub.enrolment_receive(node_id=node.node_id, role=node.role, region="110000", base_url=base_url, name="",
                          jwk=node.jwk, signer_kid=node.key.kid)
    return hub.enrolment_approve(node_id=node.node_id, fingerprint_seen=node.fingerprint, actor="test")


@pytest.fixture(name="certified_hub")
def certified_hub_fixture(province_node):
    """(On province cn-44) the hub ``cn-hub`` as a peer this node pulls, its key pinned as an anchor."""
    from federation.models import Peer, PeerKey

    node = FakeNode("cn-hub", role="hub")
    peer = Peer.objects.create(node_id="cn-hub", role="hub", status="active", pull=True,
                               base_url="http://127.0.0.1:8100")
    PeerKey.objects.create(peer=peer, kid=node.key.kid, public_jwk=node.jwk, anchor=True)
    return node


def certify(hub: FakeNode, node: FakeNode, *, region: str = "110000", base_url: str = "http://127.0.0.1:8101") -> None:
    """(On a province) store a certificate ``hub`` issued for ``node``, as the hub's directory would bring."""
    from federation import trust
    from federation.signing import issue_certificate

    token = issue_certificate(hub_key=hub.key.private_key, hub_kid=hub.key.kid, hub_id=hub.node_id,
                              node_id=node.node_id, role="province", region=region, node_public_jwk=node.jwk,
                              not_before=datetime.now(UTC) - timedelta(minutes=5),
                              not_after=datetime.now(UTC) + timedelta(days=7))
    trust.certificate_store(token, base_url=base_url)


@pytest.fixture(name="province_peer")
def province_peer_fixture(hub_node):
    """(On the hub) an enrolled, approved province ``cn-11``."""
    node = FakeNode("cn-11")
    enrol_and_approve(node)
    return node


def minutes_ago(n: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=n)


def default_settings() -> Any:
    return django_settings
