"""The national negative list as federation data, like the revocation list: the hub's operators change it,
every change is a new version the hub signs whole (``exchange-negative-list+jwt``) and pushes to its
children after commit, each of which passes a version new to it on to its own children; every node also
fetches it from its parent on every scheduled tick, verifies it against the pinned hub keys (whoever
relayed it), refuses a version not newer than the one held, and takes it in (``catalog.prereview``: the entries
replace the national ones, and published resources are re-checked for the new and changed entries — put in
front of the province's reviewers, never silently unpublished). A province adds its own entries locally.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import NegativeTerm, RecheckRun
from catalog.prereview import selectors as prereview_selectors
from catalog.prereview import services as prereview_services
from catalog.prereview.errors import NegativeListStaleError
from federation import identity, trust
from federation.errors import NotAHubError
from federation.jobs import run_soon
from federation.models import Peer
from federation.signing import issue_negative_list, verify_negative_list
from federation.transport import build_url, signed_request

logger = logging.getLogger("federation.negative_list")
Scope = NegativeTerm.Scope


def _require_hub() -> None:
    if not identity.is_hub():
        raise NotAHubError()


# --- the hub ---------------------------------------------------------------------------------------------

def _issue() -> str:
    """Sign the national list as it stands (its current version) and keep the token to serve and push."""
    version, entries = prereview_services.national_list_claims_entries()
    key = identity.signing_key()
    now = timezone.now()
    token = issue_negative_list(hub_key=key.private_key, hub_kid=key.kid, hub_id=identity.node_id(),
                                version=version, issued_at=now, entries=entries)
    prereview_services.national_list_token_store(version=version, token=token, issuer=identity.node_id(),
                                                 issued_at=now)
    return token


def push_on_commit() -> None:
    """After the current transaction commits, push the national list this node holds to its children."""

    def send() -> None:
        for node_id in Peer.objects.filter(relation=Peer.Relation.CHILD, status=Peer.Status.ACTIVE).exclude(
                base_url="").values_list("node_id", flat=True):
            run_soon("federation.negative_list.push_negative_list", key=f"negative-list:{node_id}", node_id=node_id)

    transaction.on_commit(send)


@transaction.atomic
def national_entry_create(*, actor: Any, term: Any, category: Any = None, severity: Any = None,
                          note: Any = None) -> NegativeTerm:
    """(Hub) add a national entry: a new national list version, signed and pushed to the provinces.
    Raises NotAHubError, PermissionDeniedError, NegativeTermInvalidError, NegativeTermDuplicateError."""
    _require_hub()
    entry = prereview_services.negative_term_create(actor=actor, scope=Scope.NATIONAL, term=term,
                                                    category=category, severity=severity, note=note)
    _issue()
    push_on_commit()
    return entry


@transaction.atomic
def national_entry_update(*, actor: Any, entry: NegativeTerm, **changes: Any) -> NegativeTerm:
    """(Hub) change or retire a national entry: a new version, signed and pushed (when anything changed)."""
    _require_hub()
    before = entry.version
    entry = prereview_services.negative_term_update(actor=actor, entry=entry, **changes)
    if entry.version != before:
        _issue()
        push_on_commit()
    return entry


def negative_list_current() -> str | None:
    """The current signed national list: on the hub as issued, elsewhere as last taken in (None before the
    first entry was ever added, or before this node received it)."""
    state = prereview_selectors.negative_list_state(Scope.NATIONAL)
    if state is None or state.version == 0:
        return None
    if not state.token and identity.is_hub():
        with transaction.atomic():
            return _issue()
    return state.token or None


def push_negative_list(*, node_id: str) -> bool:
    """Job: deliver the national list this node holds to one child (it also pulls it on every tick)."""
    token = negative_list_current()
    peer = Peer.objects.filter(node_id=node_id).first()
    if token is None or peer is None or not peer.base_url:
        return False
    try:
        signed_request("POST", build_url(peer.base_url, "/federation/v1/negative-list"),
                       json_body={"negative_list": token}, expect_node=node_id,
                       timeout=settings.FEDERATION_POKE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - the province's tick pulls it anyway
        logger.info("negative list push failed", extra={"peer": node_id, "error": str(exc)})
        return False
    return True


# --- a province --------------------------------------------------------------------------------------------

def negative_list_apply(token: str, *, received_from: str) -> tuple[int, RecheckRun | None]:
    """(Below the hub) take in a national list signed by a pinned hub key and newer than the one held, and
    pass it on to this node's children; returns its version and the re-check it started (None when no
    entry that could match changed).
    Raises NegativeListInvalidError (bad or forged) or NegativeListStaleError (not newer)."""
    signed = verify_negative_list(token, trust.hub_public_keys(), hub_id=trust.hub_id())
    run = prereview_services.national_list_replace(
        version=signed.version, issued_at=signed.issued_at, issuer=signed.issuer, token=token,
        entries=[dict(e) for e in signed.entries], received_from=received_from)
    push_on_commit()
    return signed.version, run


def negative_list_refresh() -> str:
    """(Below the hub, every tick) fetch the national list the parent holds; take it in when newer than
    the one held here (the hub's signature is what is trusted, not the parent's word)."""
    parent = trust.parent_peer()
    if parent is None or not parent.base_url:
        return "no parent"
    response = signed_request("GET", build_url(parent.base_url, "/federation/v1/negative-list"),
                              expect_node=parent.node_id)
    token = response.json().get("negative_list")
    if not isinstance(token, str) or not token:
        return "none issued"
    try:
        version, run = negative_list_apply(token, received_from=parent.node_id)
    except NegativeListStaleError:
        return "current"
    return f"version {version}" + (f", re-check {run.pk}" if run is not None else "")
