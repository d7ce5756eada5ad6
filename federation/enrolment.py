"""A province's side of trust: enrol with the hub, fetch and renew its certificate, keep the
hub's directory and revocation list current.

``enrol`` fetches the hub's public ``/.well-known/exchange-node``, pins its keys (the operator
compares the printed hub fingerprint out of band, or passes it to check automatically), and sends
a request signed with this node's key. A hub operator approves after comparing this node's
fingerprint; the certificate then arrives by push or by ``enrolment_poll``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exchange.audit import audit_record
from federation import identity, trust
from federation.errors import NotEnrolledError, PeerUnreachableError
from federation.hub import KEY_PROOF_TYPE
from federation.models import NodeKey, Peer
from federation.outbox import outbox_continue_after, outbox_head
from federation.signing import CanonicalJsonError, RevocationListStaleError, fingerprint, jws_sign, parse_json
from federation.transport import build_url, signed_request


@dataclass(frozen=True)
class EnrolmentStatus:
    """Where this node's enrolment stands, and the fingerprints to compare."""

    status: str
    node_fingerprint: str
    hub_fingerprints: list[str]
    certificate_not_after: str | None = None


def _hub() -> Peer:
    hub = Peer.objects.filter(node_id=trust.hub_id(), role=Peer.Role.HUB).first()
    if hub is None or not hub.base_url:
        raise NotEnrolledError()
    return hub


def hub_document(hub_url: str) -> dict[str, Any]:
    """GET the hub's public well-known document (unsigned: only the key whose fingerprint a person
    confirmed is ever pinned from it). Read at most 1 MiB, parsed strictly."""
    url = hub_url.rstrip("/") + "/.well-known/exchange-node"
    limit = 1024 * 1024
    try:
        with requests.get(url, timeout=settings.FEDERATION_HTTP_TIMEOUT, allow_redirects=False, stream=True) as response:
            response.raise_for_status()
            body = response.raw.read(limit + 1, decode_content=True)
        if len(body) > limit:
            raise ValueError(f"the document is larger than {limit} bytes")
        document = parse_json(body)
        if not isinstance(document, dict):
            raise ValueError("the document is not a JSON object")
        return document
    except (requests.RequestException, ValueError, CanonicalJsonError) as exc:
        raise PeerUnreachableError(f"{url}: {exc}", details={"url": url}) from exc


def hub_keys_refresh() -> list[str]:
    """Pin hub keys introduced by a rotation (endorsed by a pinned key) from the hub's well-known document."""
    hub = _hub()
    return trust.hub_keys_from_document(hub_document(hub.base_url), received_from=hub.node_id)


def _activate_hub(certificate_token: str | None) -> str | None:
    if not certificate_token:
        return None
    cert = trust.certificate_store(certificate_token)
    Peer.objects.filter(node_id=trust.hub_id()).update(status=Peer.Status.ACTIVE, pull=True)
    return cert.not_after.isoformat()


def enrol(*, hub_url: str, hub_fingerprint: str | None = None, trust_on_first_use: bool = False,
          actor: Any = None) -> EnrolmentStatus:
    """Pin the hub's key (the one with ``hub_fingerprint``; see ``trust.hub_pin``) and send this node's
    enrolment request. Idempotent; returns the status.

    Raises PeerUnreachableError, FingerprintMismatchError (no hub key with that fingerprint, or none
    given for a hub not pinned yet), PeerResponseError (the hub refused, e.g. ``enrolment_state_invalid``)."""
    identity.node_key_ensure()
    document = hub_document(hub_url)
    hub_prints = trust.hub_pin(document=document, base_url=hub_url, expected_fingerprint=hub_fingerprint,
                               trust_on_first_use=trust_on_first_use)
    key = identity.newest_key()
    body = {
        "node_id": identity.node_id(), "role": identity.node_role(), "region": settings.EXCHANGE_NODE_REGION,
        "base_url": settings.EXCHANGE_BASE_URL, "name": settings.EXCHANGE_NODE_NAME,
        "jwk": NodeKey.objects.get(kid=key.kid).public_jwk, "protocol_versions": identity.PROTOCOL_VERSIONS,
    }
    response = signed_request("POST", build_url(hub_url, "/federation/v1/enrolments"), json_body=body,
                              expect_node=trust.hub_id(), signing_key=key)
    answer = response.json()
    not_after = _activate_hub(answer.get("certificate"))
    audit_record(action="federation.enrolment_sent", actor=actor or identity.node_id(), object_type="peer",
                 object_id=trust.hub_id(), data={"hub_url": hub_url, "status": answer.get("status"),
                                                "fingerprint": fingerprint(key.public_key)})
    return EnrolmentStatus(status=str(answer.get("status")), node_fingerprint=fingerprint(key.public_key),
                           hub_fingerprints=hub_prints, certificate_not_after=not_after)


def enrolment_status_raw() -> dict[str, Any]:
    """The hub's answer about this node's enrolment (status, certificate, how far it read this node's feed)."""
    hub = _hub()
    response = signed_request("GET", build_url(hub.base_url, f"/federation/v1/enrolments/{identity.node_id()}"),
                              expect_node=hub.node_id, signing_key=identity.newest_key())
    answer = response.json()
    return answer if isinstance(answer, dict) else {}


def enrolment_poll() -> EnrolmentStatus:
    """Ask the hub how this node's enrolment stands; store the certificate once approved."""
    key = identity.newest_key()
    answer = enrolment_status_raw()
    not_after = _activate_hub(answer.get("certificate"))
    return EnrolmentStatus(status=str(answer.get("status")), node_fingerprint=fingerprint(key.public_key),
                           hub_fingerprints=[], certificate_not_after=not_after)


def feed_position_check() -> str:
    """Sync tick (province): if the hub has read this node's feed further than the feed goes (the node
    was restored from an older backup), continue the feed after that point so no change is missed."""
    position = int(enrolment_status_raw().get("feed_cursor") or 0)
    before = outbox_head()
    head = outbox_continue_after(position)
    if head != before:
        audit_record(action="federation.feed_continued", actor=trust.hub_id(), object_type="peer",
                     object_id=trust.hub_id(), data={"was": before, "now": head})
        return f"feed continued after {head} (was {before})"
    return "current"


def _key_proof(key_kid: str) -> str:
    now = int(timezone.now().timestamp())
    return jws_sign({"sub": identity.node_id(), "aud": trust.hub_id(), "iat": now},
                    key=identity.private_key_for(key_kid), kid=key_kid, typ=KEY_PROOF_TYPE)


def certificate_renew(*, force: bool = True) -> str:
    """Ask the hub for a fresh certificate for this node's newest key (signed with the key that is
    certified now; a new key proves possession). Returns the new certificate's expiry."""
    hub = _hub()
    newest = identity.newest_key()
    current = identity.signing_key()
    body: dict[str, Any] = {"jwk": NodeKey.objects.get(kid=newest.kid).public_jwk}
    if newest.kid != current.kid:
        body["proof"] = _key_proof(newest.kid)
    response = signed_request("POST", build_url(hub.base_url, "/federation/v1/certificates/renew"),
                              json_body=body, expect_node=hub.node_id, signing_key=current)
    return _activate_hub(response.json().get("certificate")) or ""


def certificate_renew_if_due() -> str:
    """Renew when the certificate expires within ``FEDERATION_CERT_RENEW_BEFORE_SECONDS`` or the
    newest key has none yet; poll the enrolment while there is no certificate at all."""
    own = identity.own_certificate()
    if own is None:
        return enrolment_poll().status
    newest = identity.newest_key()
    horizon = timezone.now() + timedelta(seconds=settings.FEDERATION_CERT_RENEW_BEFORE_SECONDS)
    newest_row = NodeKey.objects.get(kid=newest.kid)
    if own.certificate_not_after <= horizon or not newest_row.certificate:
        return f"renewed until {certificate_renew()}"
    return "valid"


def directory_refresh() -> dict[str, int]:
    """Fetch the hub's signed directory and take in new certificates, hub keys and revocations."""
    hub = _hub()
    response = signed_request("GET", build_url(hub.base_url, "/federation/v1/nodes"), expect_node=hub.node_id)
    return trust.directory_apply(response.json(), received_from=hub.node_id)


def revocations_refresh() -> str:
    """Fetch the hub's current revocation list; apply it when newer than the one held."""
    hub = _hub()
    response = signed_request("GET", build_url(hub.base_url, "/federation/v1/revocations"), expect_node=hub.node_id)
    try:
        number, newly = trust.revocation_list_apply(response.json()["revocations"], received_from=hub.node_id)
    except RevocationListStaleError:
        return "current"
    return f"list {number}, {newly} keys newly revoked"


@transaction.atomic
def peer_sets_update(*, node_id: str, sets: list[str], actor: Any) -> Peer:
    """Change what this node asks a peer for (selective sync) and re-read its feed from the start
    (applying is idempotent, so records already held are not doubled)."""
    from federation.errors import UnknownPeerError
    from federation.outbox import parse_sets

    parse_sets(sets)
    peer = Peer.objects.select_for_update().filter(node_id=node_id).first()
    if peer is None:
        raise UnknownPeerError(details={"node_id": node_id})
    peer.sets, peer.cursor = list(sets), 0
    peer.save(update_fields=["sets", "cursor", "updated_at"])
    audit_record(action="federation.peer_sets", actor=actor, object_type="peer", object_id=node_id,
                 data={"sets": sets})
    return peer
