"""Node identity: `node_init` keys (0600, idempotent), rotation with overlap, /.well-known/exchange-node."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from exchange.models import AuditEvent
from federation import identity
from federation.models import NodeKey
from federation.signing import jwk_to_public_key, jws_verify, key_id
from tests.federation.federation_support import fed_fixture, hub_node_fixture, province_node_fixture  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def _node_init(*args: str) -> dict:
    out = StringIO()
    call_command("node_init", "--json", *args, stdout=out, stderr=StringIO())
    return json.loads(out.getvalue())


def test_node_init_creates_a_private_key_file_readable_only_by_the_owner(fed):
    """The key is generated into the data dir with mode 0600, and its public half recorded and audited."""
    first = _node_init()
    path = fed.FEDERATION_KEY_PATH
    assert first["created"] is True and path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    row = NodeKey.objects.get(kid=first["kid"])
    assert row.status == NodeKey.Status.ACTIVE
    assert key_id(jwk_to_public_key(row.public_jwk)) == first["kid"]
    assert AuditEvent.objects.filter(action="federation.key_created", object_id=first["kid"]).exists()


def test_node_init_is_idempotent(fed):
    """Running it again keeps the same key and reports it."""
    first, second = _node_init(), _node_init()
    assert second["kid"] == first["kid"] and second["created"] is False
    assert NodeKey.objects.count() == 1


def test_rotation_keeps_the_old_key_published_until_it_retires(hub_node):
    """After --rotate the new key signs; the old one stays in the well-known document (status
    retiring) until its overlap ends, then it is retired and its private half deleted."""
    old = identity.signing_key().kid
    rotated = _node_init("--rotate")
    assert rotated["kid"] != old and identity.signing_key().kid == rotated["kid"]
    old_row = NodeKey.objects.get(kid=old)
    assert old_row.status == NodeKey.Status.RETIRING and os.path.exists(old_row.private_key_path)
    published = {k["jwk"]["kid"]: k for k in identity.well_known_document()["keys"]}
    assert {kid: k["status"] for kid, k in published.items()} == {rotated["kid"]: "active", old: "retiring"}
    # The new key is endorsed by the old one, so peers that pinned the old key can trust it.
    header, claims = jws_verify(published[rotated["kid"]]["endorsement"],
                                resolve_key=lambda kid: jwk_to_public_key(identity.own_key_history()[kid].public_jwk),
                                typ=identity.KEY_ENDORSEMENT_TYPE)
    assert header["kid"] == old and claims["jwk"]["kid"] == rotated["kid"] and claims["sub"] == "cn-hub"
    assert identity.node_keys_retire_due() == []
    assert identity.node_keys_retire_due(now=timezone.now() + timedelta(days=8)) == [old]
    old_row.refresh_from_db()
    assert old_row.status == NodeKey.Status.RETIRED and not os.path.exists(old_row.private_key_path)
    assert [k["jwk"]["kid"] for k in identity.well_known_document()["keys"]] == [rotated["kid"]]
    assert AuditEvent.objects.filter(action="federation.key_rotated").exists()
    assert AuditEvent.objects.filter(action="federation.key_retired", object_id=old).exists()


def test_a_province_keeps_signing_with_its_certified_key_until_the_new_one_is_certified(province_node):
    """A freshly rotated key is not certified yet, so requests stay signed with the certified one."""
    old = identity.signing_key().kid
    NodeKey.objects.filter(kid=old).update(certificate="x.y.z", certificate_serial="s",
                                           certificate_not_after=timezone.now() + timedelta(days=3))
    new = identity.node_key_rotate().kid
    assert identity.signing_key().kid == old
    assert identity.newest_key().kid == new
    NodeKey.objects.filter(kid=new).update(certificate="x.y.z", certificate_serial="t",
                                           certificate_not_after=timezone.now() + timedelta(days=7))
    assert identity.signing_key().kid == new


def test_well_known_document(client, hub_node):
    """Public, unsigned: id, role, region, base URL, keys as JWK, endpoints, protocol versions."""
    response = client.get("/.well-known/exchange-node")
    assert response.status_code == 200
    doc = response.json()
    assert doc["node_id"] == "cn-hub" and doc["role"] == "hub" and doc["region"] == "000000"
    assert doc["protocol_versions"] == ["1"]
    assert doc["base_url"] == "http://127.0.0.1:8000"
    [key] = doc["keys"]
    assert key["status"] == "active" and key_id(jwk_to_public_key(key["jwk"])) == key["jwk"]["kid"]
    assert len(key["fingerprint"].split()) == 16
    assert doc["endpoints"]["changes"] == "http://127.0.0.1:8000/federation/v1/changes"
    assert doc["endpoints"]["enrolments"].endswith("/federation/v1/enrolments")
    assert doc["certificate"] is None


def test_well_known_of_a_province_names_its_hub_and_certificate(client, province_node):
    doc = client.get("/.well-known/exchange-node").json()
    assert doc["role"] == "province" and doc["hub"]["node_id"] == "cn-hub"
    assert "enrolments" not in doc["endpoints"]
