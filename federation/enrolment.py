"""A child node's side of trust: enrol with its parent (the hub for a province; a province for a city, a
city for a county), fetch and renew its certificate, keep directories and revocation lists current.

``enrol`` pins the hub's key — only the one whose fingerprint the hub's operator published — from the
hub's public ``/.well-known/exchange-node`` (a province) or from the parent's (a city or county, which
may not reach the hub at all: the fingerprint, not the document, is what is trusted), takes in the
parent's certificate chain (verified up to that key) and sends a request signed with this node's key to
the parent. The parent's operator approves after comparing this node's fingerprint; the certificate then
arrives by push or by ``enrolment_poll``.
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
from federation.models import NodeKey, Peer, PeerKey
from federation.outbox import outbox_continue_after, outbox_head
from federation.signing import CanonicalJsonError, fingerprint, jws_sign, parse_json
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


def _parent() -> Peer:
    parent = trust.parent_peer()
    if parent is None or not parent.base_url:
        raise NotEnrolledError()
    return parent


def hub_document(hub_url: str) -> dict[str, Any]:
    """GET a node's public well-known document (unsigned: only the key whose fingerprint a person
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


def _activate_parent(certificate_token: str | None) -> str | None:
    if not certificate_token:
        return None
    cert = trust.certificate_store(certificate_token)
    parent = trust.parent_peer()
    if parent is not None:
        Peer.objects.filter(pk=parent.pk).update(status=Peer.Status.ACTIVE, pull=True)
    # The hub's pinned keys are this node's trust anchor, whoever its parent is.
    Peer.objects.filter(node_id=trust.hub_id(), role=Peer.Role.HUB, status=Peer.Status.PENDING).update(
        status=Peer.Status.ACTIVE)
    return cert.not_after.isoformat()


def _pin_through_parent(document: dict[str, Any], *, parent_url: str, hub_fingerprint: str | None) -> list[str]:
    """(City, county) pin the hub's key with the confirmed fingerprint from the keys the parent's document
    lists for the hub, then take in the parent's certificate chain (verified up to that key) and record
    the parent. Raises FingerprintMismatchError, CertificateInvalidError."""
    from federation.errors import FingerprintMismatchError
    from federation.signing import CertificateInvalidError

    hub = document.get("hub") if isinstance(document.get("hub"), dict) else {}
    if not hub_fingerprint and not Peer.objects.filter(node_id=trust.hub_id(), role=Peer.Role.HUB).exists():
        raise FingerprintMismatchError(
            "Give the fingerprint of the hub's key that the hub's operator published (--hub-fingerprint): a "
            "parent's document cannot vouch for the hub.")
    if hub.get("node_id") != trust.hub_id():
        raise CertificateInvalidError(f"{parent_url} names another hub", details={"hub": hub.get("node_id")})
    hub_doc = {"node_id": trust.hub_id(), "role": "hub", "region": "", "name": "",
               "keys": [{"jwk": jwk, "status": "active"} for jwk in hub.get("keys") or [] if isinstance(jwk, dict)]}
    prints = trust.hub_pin(document=hub_doc, base_url=str(hub.get("base_url") or ""),
                           expected_fingerprint=hub_fingerprint, parent=False)
    chain = [t for t in document.get("chain") or [] if isinstance(t, str)]
    counts = trust.certificates_store_all(chain, hints={str(document.get("node_id")): {
        "base_url": parent_url.rstrip("/"), "name": str(document.get("name") or "")}})
    parent = Peer.objects.filter(node_id=str(document.get("node_id") or "")).first()
    if parent is None or counts["invalid"] or not PeerKey.objects.filter(peer=parent, anchor=False).exists():
        raise CertificateInvalidError(f"{parent_url} presents no certificate chain up to the pinned hub key",
                                      details={"node_id": document.get("node_id"), **counts})
    Peer.objects.filter(relation=Peer.Relation.PARENT).exclude(pk=parent.pk).update(relation=Peer.Relation.OTHER,
                                                                                      pull=False)
    parent.relation, parent.pull, parent.base_url = Peer.Relation.PARENT, True, parent_url.rstrip("/")
    parent.save(update_fields=["relation", "pull", "base_url"])
    return prints


def enrol(*, hub_url: str | None = None, hub_fingerprint: str | None = None, trust_on_first_use: bool = False,
          actor: Any = None, parent_url: str | None = None) -> EnrolmentStatus:
    """Pin the hub's key (the one with ``hub_fingerprint``; see ``trust.hub_pin``) and send this node's
    enrolment request to its parent: the hub at ``hub_url`` (a province), or the node at ``parent_url`` (a
    city enrolling with its province, a county with its city: the hub's key is then pinned from the keys
    the parent's document lists, by the fingerprint alone). Idempotent; returns the status.

    Raises PeerUnreachableError, FingerprintMismatchError (no hub key with that fingerprint, or none
    given for a hub not pinned yet), CertificateInvalidError (the parent has no chain up to the pinned
    hub key), PeerResponseError (the parent refused, e.g. ``enrolment_state_invalid``)."""
    identity.node_key_ensure()
    url = (parent_url or hub_url or "").rstrip("/")
    document = hub_document(url)
    if document.get("role") == "hub" or not parent_url:
        hub_prints = trust.hub_pin(document=document, base_url=url, expected_fingerprint=hub_fingerprint,
                                   trust_on_first_use=trust_on_first_use)
        expect = trust.hub_id()
    else:
        hub_prints = _pin_through_parent(document, parent_url=url, hub_fingerprint=hub_fingerprint)
        expect = str(document.get("node_id"))
    key = identity.newest_key()
    body = {
        "node_id": identity.node_id(), "role": identity.node_role(), "region": settings.EXCHANGE_NODE_REGION,
        "base_url": settings.EXCHANGE_BASE_URL, "name": settings.EXCHANGE_NODE_NAME,
        "jwk": NodeKey.objects.get(kid=key.kid).public_jwk, "protocol_versions": identity.PROTOCOL_VERSIONS,
    }
    response = signed_request("POST", build_url(url, "/federation/v1/enrolments"), json_body=body,
                              expect_node=expect, signing_key=key)
    answer = response.json()
    not_after = _activate_parent(answer.get("certificate"))
    audit_record(action="federation.enrolment_sent", actor=actor or identity.node_id(), object_type="peer",
                 object_id=expect, data={"parent_url": url, "status": answer.get("status"),
                                         "fingerprint": fingerprint(key.public_key)})
    return EnrolmentStatus(status=str(answer.get("status")), node_fingerprint=fingerprint(key.public_key),
                           hub_fingerprints=hub_prints, certificate_not_after=not_after)


def enrolment_status_raw() -> dict[str, Any]:
    """The parent's answer about this node's enrolment (status, certificate, how far it read this node's feed)."""
    hub = _parent()
    response = signed_request("GET", build_url(hub.base_url, f"/federation/v1/enrolments/{identity.node_id()}"),
                              expect_node=hub.node_id, signing_key=identity.newest_key())
    answer = response.json()
    return answer if isinstance(answer, dict) else {}


def enrolment_poll() -> EnrolmentStatus:
    """Ask the parent how this node's enrolment stands; store the certificate once approved."""
    key = identity.newest_key()
    answer = enrolment_status_raw()
    not_after = _activate_parent(answer.get("certificate"))
    return EnrolmentStatus(status=str(answer.get("status")), node_fingerprint=fingerprint(key.public_key),
                           hub_fingerprints=[], certificate_not_after=not_after)


def feed_position_check() -> str:
    """Sync tick (below the hub): if the parent has read this node's feed further than the feed goes (the
    node was restored from an older backup), continue the feed after that point so no change is missed."""
    position = int(enrolment_status_raw().get("feed_cursor") or 0)
    before = outbox_head()
    head = outbox_continue_after(position)
    if head != before:
        parent = _parent().node_id
        audit_record(action="federation.feed_continued", actor=parent, object_type="peer",
                     object_id=parent, data={"was": before, "now": head})
        return f"feed continued after {head} (was {before})"
    return "current"


def _key_proof(key_kid: str) -> str:
    now = int(timezone.now().timestamp())
    return jws_sign({"sub": identity.node_id(), "aud": _parent().node_id, "iat": now},
                    key=identity.private_key_for(key_kid), kid=key_kid, typ=KEY_PROOF_TYPE)


def certificate_renew(*, force: bool = True) -> str:
    """Ask the parent for a fresh certificate for this node's newest key (signed with the key that is
    certified now; a new key proves possession). Returns the new certificate's expiry."""
    hub = _parent()
    newest = identity.newest_key()
    current = identity.signing_key()
    body: dict[str, Any] = {"jwk": NodeKey.objects.get(kid=newest.kid).public_jwk}
    if newest.kid != current.kid:
        body["proof"] = _key_proof(newest.kid)
    response = signed_request("POST", build_url(hub.base_url, "/federation/v1/certificates/renew"),
                              json_body=body, expect_node=hub.node_id, signing_key=current)
    return _activate_parent(response.json().get("certificate")) or ""


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


def directory_refresh(node_id: str | None = None) -> dict[str, Any]:
    """Fetch a node's signed directory (default: the parent's) and take in new certificates, revocation
    lists and (from the hub only) hub keys. Lists that changed here are passed on to the neighbours."""
    peer = Peer.objects.filter(node_id=node_id).exclude(base_url="").first() if node_id else _parent()
    if peer is None:
        raise NotEnrolledError(details={"node_id": node_id})
    response = signed_request("GET", build_url(peer.base_url, "/federation/v1/nodes"), expect_node=peer.node_id)
    before = _lists_held()
    counts = trust.directory_apply(response.json(), received_from=peer.node_id)
    if _lists_held() != before:
        from federation.jobs import push_revocations_on_commit

        push_revocations_on_commit(exclude=peer.node_id)
    return counts


def _lists_held() -> list[str]:
    return trust.revocation_lists_held()


def children_directories_refresh() -> dict[str, Any]:
    """(A parent, every tick) fetch each active child's directory: the certificates of the nodes below it
    (so this node, and through its own directory every other, can verify them) and how its pulls stand."""
    report: dict[str, Any] = {}
    for peer in trust.children():
        if peer.status != Peer.Status.ACTIVE or not peer.base_url:
            continue
        try:
            report[peer.node_id] = directory_refresh(peer.node_id)
        except Exception as exc:  # noqa: BLE001 - one child's trouble must not stop the others
            report[peer.node_id] = {"error": getattr(exc, "code", exc.__class__.__name__)}
    return report


def revocations_refresh() -> str:
    """Fetch the revocation lists the parent holds (the hub's and every other issuer's); apply those newer
    than the ones held here, and pass them on."""
    hub = _parent()
    response = signed_request("GET", build_url(hub.base_url, "/federation/v1/revocations"), expect_node=hub.node_id)
    body = response.json()
    tokens = [body.get("revocations")] + list(body.get("revocation_lists") or [])
    changed = trust.revocation_lists_apply(tokens, received_from=hub.node_id)
    if not changed:
        return "current"
    from federation.jobs import push_revocations_on_commit

    push_revocations_on_commit(exclude=hub.node_id)
    return f"new lists of {', '.join(sorted(changed))}"


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
