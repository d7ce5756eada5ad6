"""Writes of teacher spaces: collections (备课包) and their items, follows, the feed token and digest choice.

Keyword-only, atomic and audited; each asks ``spaces.permissions`` (and ``catalog.selectors.resource_get``
for the resources it touches). Building and importing package zips is in ``spaces.packages``; matching new
resources to follows in ``spaces.feeds``."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from guardian.shortcuts import assign_perm

from catalog import selectors as catalog_selectors
from catalog.models import Resource
from exchange.audit import audit_record
from exchange.errors import InvalidInputError, PermissionDeniedError
from exchange.inputs import clean_text
from spaces.errors import (
    CollectionFullError,
    NotCollectionOwnerError,
    ResourceNotPublishedError,
)
from spaces.models import Collection, CollectionItem, FeedSettings, Follow
from spaces.permissions import can_edit_collection, has_space

FOLLOW_FIELDS = ("subject", "grade", "edition", "chapter", "query")
FOLLOW_MAX_LENGTHS = {"subject": 32, "grade": 32, "edition": 64, "chapter": 200, "query": 200}  # as the model


def _require_space(user: Any) -> None:
    if not has_space(user):
        raise PermissionDeniedError("Only teachers and school administrators have a teacher's space.")


def _require_owner(user: Any, collection: Collection) -> None:
    if not can_edit_collection(user, collection):
        raise NotCollectionOwnerError()


def _visibility(value: str) -> str:
    if value not in Collection.Visibility.values:
        raise InvalidInputError(details={"visibility": [f"One of {', '.join(Collection.Visibility.values)}."]})
    return value


# --- collections -----------------------------------------------------------------------------------------

@transaction.atomic
def collection_create(*, user: Any, title: str, description: str = "",
                      visibility: str = Collection.Visibility.PRIVATE) -> Collection:
    """A new collection owned by ``user`` (a teacher or school admin), who gets the guardian object rights."""
    _require_space(user)
    now = timezone.now()
    collection = Collection(owner=user, school=getattr(user, "organisation", None), title=clean_text(title, field="title", max_length=200),
                            description=clean_text(description, field="description", max_length=4000), visibility=_visibility(visibility),
                            created_at=now, updated_at=now)
    collection.full_clean()
    collection.save(force_insert=True)
    for perm in ("spaces.view_collection", "spaces.change_collection", "spaces.delete_collection"):
        assign_perm(perm, user, collection)
    audit_record(action="collection.create", actor=user, object_type="collection", object_id=collection.pk,
                 data={"visibility": collection.visibility})
    return collection


@transaction.atomic
def collection_update(*, user: Any, collection: Collection, title: str | None = None,
                      description: str | None = None, visibility: str | None = None) -> Collection:
    """Rename, describe or share (private, school, public) a collection. Raises NotCollectionOwnerError."""
    _require_owner(user, collection)
    before = collection.visibility
    if title is not None:
        collection.title = clean_text(title, field="title", max_length=200)
    if description is not None:
        collection.description = clean_text(description, field="description", max_length=4000)
    if visibility is not None:
        collection.visibility = _visibility(visibility)
        if visibility != before:
            audit_record(action="collection.share", actor=user, object_type="collection",
                         object_id=collection.pk, data={"from": before, "to": visibility})
    collection.updated_at = timezone.now()
    collection.full_clean()
    collection.save(update_fields=["title", "description", "visibility", "updated_at"])
    return collection


@transaction.atomic
def collection_delete(*, user: Any, collection: Collection) -> None:
    _require_owner(user, collection)
    audit_record(action="collection.delete", actor=user, object_type="collection", object_id=collection.pk,
                 data={"title": collection.title})
    collection.delete()  # its guardian rows (foreign-key tables) go with it


def _touch(collection: Collection) -> None:
    collection.updated_at = timezone.now()
    collection.save(update_fields=["updated_at"])


@transaction.atomic
def collection_item_add(*, user: Any, collection: Collection, resource_id: Any, step: str = "",
                        note: str = "") -> CollectionItem:
    """Put a published resource (local or federated) the user may see at the end of ``step``; adding one
    that is already in moves it there. Raises NotCollectionOwnerError, ResourceNotFoundError (as for a
    missing one when the user may not see it), ResourceNotPublishedError, CollectionFullError."""
    _require_owner(user, collection)
    resource = catalog_selectors.resource_get(user=user, resource_id=resource_id)
    if resource.status != Resource.Status.PUBLISHED:
        raise ResourceNotPublishedError()
    collection = Collection.objects.select_for_update().get(pk=collection.pk)
    existing = collection.items.filter(resource=resource).first()
    if existing is None and collection.items.count() >= settings.SPACES_COLLECTION_MAX_ITEMS:
        raise CollectionFullError(details={"max": settings.SPACES_COLLECTION_MAX_ITEMS})
    position = (collection.items.aggregate(m=Max("position"))["m"] or 0) + 1
    item = existing or CollectionItem(collection=collection, resource=resource)
    item.step = clean_text(step, field="step", max_length=64)
    item.note = clean_text(note, field="note", max_length=500)
    item.position = position
    item.full_clean()
    item.save()
    _touch(collection)
    audit_record(action="collection.item_add", actor=user, object_type="collection", object_id=collection.pk,
                 data={"resource": str(resource.pk), "step": item.step})
    return item


@transaction.atomic
def collection_item_remove(*, user: Any, collection: Collection, resource_id: Any) -> bool:
    """Take a resource out; False when it was not in."""
    _require_owner(user, collection)
    deleted, _ = collection.items.filter(resource_id=str(resource_id)).delete()
    if deleted:
        _touch(collection)
        audit_record(action="collection.item_remove", actor=user, object_type="collection",
                     object_id=collection.pk, data={"resource": str(resource_id)})
    return bool(deleted)


@transaction.atomic
def collection_items_arrange(*, user: Any, collection: Collection, order: Sequence[dict[str, Any]]) -> None:
    """Set the lesson order: ``order`` lists every item's resource id (with its step) in the new order."""
    _require_owner(user, collection)
    items = {str(item.resource_id): item for item in collection.items.select_for_update()}
    named = [str(row.get("resource", "")) for row in order]
    if sorted(named) != sorted(items):
        raise InvalidInputError("List every resource of the collection once.",
                                details={"order": ["Every resource of the collection, once."]})
    for position, row in enumerate(order, start=1):
        item = items[str(row["resource"])]
        item.position = position
        if "step" in row:
            item.step = clean_text(row["step"], field="step", max_length=64)
    CollectionItem.objects.bulk_update(items.values(), ["position", "step"])
    _touch(collection)


# --- follows and the feed -----------------------------------------------------------------------------------

@transaction.atomic
def follow_create(*, user: Any, subject: str = "", grade: str = "", edition: str = "", chapter: str = "",
                  query: str = "") -> Follow:
    """Follow a subject/grade/edition/chapter, or save a search (at least one of them)."""
    _require_space(user)
    values = {"subject": subject, "grade": grade, "edition": edition, "chapter": chapter, "query": query}
    values = {name: clean_text(value, field=name, max_length=FOLLOW_MAX_LENGTHS[name])
              for name, value in values.items()}
    if not any(values.values()):
        raise InvalidInputError("Name a subject, grade, edition, chapter or search words.",
                                details={name: ["At least one of these."] for name in FOLLOW_FIELDS})
    follow, created = Follow.objects.get_or_create(user=user, **values,
                                                   defaults={"created_at": timezone.now()})
    if created:
        follow.full_clean()
        audit_record(action="follow.create", actor=user, object_type="follow", object_id=follow.pk, data=values)
    return follow


@transaction.atomic
def follow_delete(*, user: Any, follow_id: Any) -> bool:
    """Stop following; False when the user has no such follow."""
    try:
        follow_pk = int(follow_id)
    except (TypeError, ValueError):
        return False
    deleted, _ = Follow.objects.filter(user=user, pk=follow_pk).delete()
    if deleted:
        audit_record(action="follow.delete", actor=user, object_type="follow", object_id=follow_pk)
    return bool(deleted)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def feed_token_issue(*, user: Any) -> str:
    """A new secret token for the user's Atom feed (the old one stops working). Only its SHA-256 is kept:
    the token is returned once."""
    _require_space(user)
    token = secrets.token_urlsafe(32)
    settings_row, _ = FeedSettings.objects.select_for_update().get_or_create(user=user)
    settings_row.token_sha256, settings_row.token_created_at = _token_digest(token), timezone.now()
    settings_row.save(update_fields=["token_sha256", "token_created_at"])
    audit_record(action="feed.token_issue", actor=user, object_type="user", object_id=user.pk)
    return token


@transaction.atomic
def feed_token_revoke(*, user: Any) -> bool:
    changed = FeedSettings.objects.filter(user=user).exclude(token_sha256="").update(token_sha256="",
                                                                                      token_created_at=None)
    if changed:
        audit_record(action="feed.token_revoke", actor=user, object_type="user", object_id=user.pk)
    return bool(changed)


def feed_user_for_token(token: str) -> Any | None:
    """The user whose feed ``token`` opens, or None (a revoked or unknown token)."""
    if not token or len(token) > 200:
        return None
    row = FeedSettings.objects.select_related("user").filter(token_sha256=_token_digest(token)).first()
    if row is None or not row.user.is_active:
        return None
    return row.user


@transaction.atomic
def feed_digest_set(*, user: Any, enabled: bool) -> FeedSettings:
    """Switch the e-mail digest of new resources on or off."""
    _require_space(user)
    row, _ = FeedSettings.objects.select_for_update().get_or_create(user=user)
    row.email_digest = bool(enabled)
    row.save(update_fields=["email_digest"])
    return row
