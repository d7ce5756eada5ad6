"""This node's identity: its Ed25519 keys, the key it signs with, its certificate and the public
``/.well-known/exchange-node`` document.

The active private key is the PEM file at ``FEDERATION_KEY_PATH`` (mode 0600, generated on first
use, as the embedded default promises). ``node_key_rotate`` moves it aside as
``node_key.<kid>.pem``, writes a new active key, and keeps the old one published and usable for
``FEDERATION_KEY_OVERLAP_SECONDS`` so peers holding signatures it made (or a certificate for it)
are not cut off; the sync tick retires it afterwards and deletes its private half.

A province signs with the newest key that holds a valid hub certificate (so a freshly rotated key
is only used once the hub has certified it); the hub, being the trust anchor, signs with its newest key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from exchange.audit import audit_record
from federation.errors import NodeKeyMissingError
from federation.models import NodeKey
from federation.signing import (
    SigningKey,
    fingerprint,
    generate_private_key,
    jwk_to_public_key,
    jws_sign,
    key_id,
    load_private_key,
    public_key_to_jwk,
    save_private_key,
)

logger = logging.getLogger("federation.identity")
PROTOCOL_VERSIONS = ["1"]
#: A rotated-in key is endorsed by the key it replaces, so peers that pinned the old key can trust it.
KEY_ENDORSEMENT_TYPE = "exchange-key-endorsement+jwt"
_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, int], SigningKey]] = {}


@dataclass(frozen=True)
class KeyInfo:
    """What ``node_init`` reports about a key."""

    kid: str
    fingerprint: str
    path: str
    created: bool


def node_id() -> str:
    return settings.EXCHANGE_NODE_ID


def node_role() -> str:
    return settings.EXCHANGE_NODE_ROLE


def is_hub() -> bool:
    return settings.EXCHANGE_NODE_ROLE == "hub"


def _key_path() -> Path:
    return Path(settings.FEDERATION_KEY_PATH)


def _load(path: str | os.PathLike[str]) -> SigningKey:
    """Load (and cache by path and mtime) a private key file."""
    path = str(path)
    stat = os.stat(path)
    stamp = (stat.st_ino, stat.st_mtime_ns)
    cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    key = SigningKey.from_private_key(load_private_key(path))
    _cache[path] = (stamp, key)
    return key


def _register(key: SigningKey, path: Path) -> NodeKey:
    jwk = public_key_to_jwk(key.public_key)
    row, created = NodeKey.objects.get_or_create(
        kid=key.kid,
        defaults={"public_jwk": jwk, "fingerprint": fingerprint(key.public_key), "private_key_path": str(path),
                  "created_at": timezone.now(), "status": NodeKey.Status.ACTIVE},
    )
    if created:
        audit_record(action="federation.key_created", actor=node_id(), object_type="node_key", object_id=key.kid,
                     data={"fingerprint": row.fingerprint, "path": str(path)})
    elif row.private_key_path != str(path):
        row.private_key_path = str(path)
        row.save(update_fields=["private_key_path"])
    return row


def node_key_ensure() -> KeyInfo:
    """Create this node's key if it has none (mode 0600, atomic), and record its public half.
    Idempotent: an existing key file is kept as it is."""
    path = _key_path()
    created = False
    with _lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):  # another process won the race: use its key
                save_private_key(generate_private_key(), path)
                created = True
        key = _load(path)
    with transaction.atomic():
        try:
            _register(key, path)
        except IntegrityError:  # concurrent first start
            pass
    return KeyInfo(kid=key.kid, fingerprint=fingerprint(key.public_key), path=str(path), created=created)


@transaction.atomic
def node_key_rotate(*, actor: Any = None) -> KeyInfo:
    """Replace the active key with a new one; the old one keeps being published (and accepted for
    what it signed) until ``retire_at``. Returns the new key."""
    node_key_ensure()
    path = _key_path()
    old = _load(path)
    old_row = NodeKey.objects.select_for_update().get(kid=old.kid)
    aside = path.with_name(f"{path.stem}.{old.kid}{path.suffix}")
    new_private = generate_private_key()
    staging = path.with_name(f"{path.stem}.next{path.suffix}")
    staging.unlink(missing_ok=True)
    save_private_key(new_private, staging)
    # Keep the old key reachable under its own name before the active path changes.
    save_private_key(old.private_key, aside, overwrite=True)
    os.replace(staging, path)
    _cache.pop(str(path), None)
    old_row.status = NodeKey.Status.RETIRING
    old_row.private_key_path = str(aside)
    old_row.retire_at = timezone.now() + timedelta(seconds=settings.FEDERATION_KEY_OVERLAP_SECONDS)
    old_row.save(update_fields=["status", "private_key_path", "retire_at"])
    new = _load(path)
    new_row = _register(new, path)
    new_row.endorsement = jws_sign(
        {"sub": node_id(), "jwk": new_row.public_jwk, "iat": int(timezone.now().timestamp())},
        key=old.private_key, kid=old.kid, typ=KEY_ENDORSEMENT_TYPE)
    new_row.save(update_fields=["endorsement"])
    audit_record(action="federation.key_rotated", actor=actor or node_id(), object_type="node_key", object_id=new.kid,
                 data={"previous": old.kid, "retire_at": old_row.retire_at.isoformat(),
                       "fingerprint": fingerprint(new.public_key)})
    return KeyInfo(kid=new.kid, fingerprint=fingerprint(new.public_key), path=str(path), created=True)


def node_keys_retire_due(*, now: datetime | None = None) -> list[str]:
    """Retire rotated-out keys whose overlap has ended: stop publishing them, delete their private half."""
    now = now or timezone.now()
    retired = []
    for row in NodeKey.objects.filter(status=NodeKey.Status.RETIRING, retire_at__lte=now):
        Path(row.private_key_path).unlink(missing_ok=True)
        row.status, row.retired_at = NodeKey.Status.RETIRED, now
        row.save(update_fields=["status", "retired_at"])
        audit_record(action="federation.key_retired", actor=node_id(), object_type="node_key", object_id=row.kid)
        retired.append(row.kid)
    return retired


def published_keys() -> list[NodeKey]:
    """Keys this node publishes: the active one and those still in their overlap period."""
    return list(NodeKey.objects.exclude(status=NodeKey.Status.RETIRED).order_by("-created_at"))


def own_public_keys() -> dict[str, Ed25519PublicKey]:
    """``{kid: public key}`` of every published key of this node."""
    return {row.kid: jwk_to_public_key(row.public_jwk) for row in published_keys()}


def own_key_history() -> dict[str, NodeKey]:
    """Every key this node ever used (retired ones too: envelopes they signed stay valid)."""
    return {row.kid: row for row in NodeKey.objects.all()}


def signing_key() -> SigningKey:
    """The key this node signs with now (generated on first use).

    The hub signs with its newest key. A province signs with its newest key that holds an unexpired
    hub certificate, falling back to the newest key while it has none (before enrolment)."""
    path = _key_path()
    if not path.exists():
        node_key_ensure()
    newest = _load(path)
    if is_hub():
        return newest
    now = timezone.now()
    certified = [row for row in published_keys() if row.certificate and row.certificate_not_after
                 and row.certificate_not_after > now]
    if not certified or any(row.kid == newest.kid for row in certified):
        return newest
    best = max(certified, key=lambda row: row.created_at)
    try:
        return _load(best.private_key_path)
    except FileNotFoundError as exc:
        raise NodeKeyMissingError(f"private key of {best.kid} is missing") from exc


def newest_key() -> SigningKey:
    """The newest key (the one a province asks the hub to certify)."""
    path = _key_path()
    if not path.exists():
        node_key_ensure()
    return _load(path)


def private_key_for(kid: str) -> Ed25519PrivateKey:
    """The private half of one of this node's published keys. Raises NodeKeyMissingError."""
    row = NodeKey.objects.filter(kid=kid).exclude(status=NodeKey.Status.RETIRED).first()
    if row is None:
        raise NodeKeyMissingError(f"no private key {kid}")
    try:
        return _load(row.private_key_path).private_key
    except FileNotFoundError as exc:
        raise NodeKeyMissingError(f"private key of {kid} is missing") from exc


def own_certificate() -> NodeKey | None:
    """The key row holding this node's newest unexpired certificate, if any."""
    now = timezone.now()
    rows = [row for row in published_keys() if row.certificate and row.certificate_not_after
            and row.certificate_not_after > now]
    return max(rows, key=lambda row: row.certificate_not_after) if rows else None


def check_key_matches(jwk: dict[str, Any], kid: str) -> bool:
    try:
        return key_id(jwk_to_public_key(jwk)) == kid
    except Exception:  # noqa: BLE001 - any malformed key simply does not match
        return False


def well_known_document(*, base_url: str | None = None) -> dict[str, Any]:
    """The public ``/.well-known/exchange-node`` document of this node."""
    node_key_ensure()
    base = (base_url or settings.EXCHANGE_BASE_URL).rstrip("/")
    keys = []
    for row in published_keys():
        keys.append({
            "jwk": row.public_jwk,
            "fingerprint": row.fingerprint,
            "status": row.status,
            "created_at": row.created_at.isoformat(),
            "retire_at": row.retire_at.isoformat() if row.retire_at else None,
            "certificate": row.certificate or None,
            "endorsement": row.endorsement or None,
        })
    cert = own_certificate()
    fed = "/federation/v1"
    endpoints = {
        "changes": f"{base}{fed}/changes",
        "poke": f"{base}{fed}/poke",
        "files": f"{base}{fed}/files/{{sha256}}",
        "receipts": f"{base}{fed}/receipts",
        "revocations": f"{base}{fed}/revocations",
        "certificate": f"{base}{fed}/certificate",
        "oai": f"{base}/oai",
    }
    endpoints["nodes"] = f"{base}{fed}/nodes"
    if is_hub() or (node_role() in ("province", "city") and cert is not None):  # a parent of other nodes
        endpoints.update({
            "enrolments": f"{base}{fed}/enrolments",
            "certificates_renew": f"{base}{fed}/certificates/renew",
        })
    document: dict[str, Any] = {
        "node_id": node_id(),
        "role": node_role(),
        "region": settings.EXCHANGE_NODE_REGION,
        "name": settings.EXCHANGE_NODE_NAME,
        "base_url": base,
        "protocol_versions": PROTOCOL_VERSIONS,
        "keys": keys,
        "certificate": cert.certificate if cert else None,
        "endpoints": endpoints,
    }
    if not is_hub():
        document["hub"] = {"node_id": settings.FEDERATION_HUB_ID, "base_url": settings.FEDERATION_HUB_URL or None}
    return document


def url_of(name: str, **kwargs: Any) -> str:
    """Absolute URL of one of this node's named federation endpoints."""
    return settings.EXCHANGE_BASE_URL.rstrip("/") + reverse(name, kwargs=kwargs or None)
