"""Reads of teacher spaces, filtered by ``spaces.permissions``."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from spaces.errors import CollectionNotFoundError
from spaces.models import Collection, CollectionItem, FeedItem, FeedSettings, Follow
from spaces.permissions import can_view_collection


def collection_get(*, user: Any, collection_id: Any) -> Collection:
    """A collection ``user`` may see (``can_view_collection``). Raises CollectionNotFoundError otherwise,
    the same as for an id that names nothing."""
    try:
        collection = Collection.objects.select_related("owner", "school").get(pk=uuid.UUID(str(collection_id)))
    except (Collection.DoesNotExist, ValueError):
        raise CollectionNotFoundError() from None
    if not can_view_collection(user, collection):
        raise CollectionNotFoundError()
    return collection


def collection_list_mine(*, user: Any) -> QuerySet[Collection]:
    """The collections ``user`` owns (the guardian object right)."""
    if not getattr(user, "is_authenticated", False):
        return Collection.objects.none()
    return get_objects_for_user(user, "spaces.change_collection", klass=Collection.objects.all(),
                                accept_global_perms=False)


def collection_list_shared(*, user: Any) -> QuerySet[Collection]:
    """Collections others share with ``user``: their school's and public ones (``can_view_collection``)."""
    shared = Q(visibility=Collection.Visibility.PUBLIC)
    org_id = getattr(user, "organisation_id", None)
    if getattr(user, "is_authenticated", False) and org_id is not None:
        shared |= Q(visibility=Collection.Visibility.SCHOOL, school_id=org_id)
    qs = Collection.objects.filter(shared).select_related("owner")
    if getattr(user, "is_authenticated", False):
        qs = qs.exclude(owner=user)
    return qs


def collection_items(*, collection: Collection) -> list[CollectionItem]:
    """The items in lesson order, with their resources' rights loaded (for ``decide``)."""
    return list(collection.items.select_related("resource", "resource__rights", "resource__rights__license")
                .prefetch_related("resource__files").order_by("position", "id"))


def follow_list(*, user: Any) -> QuerySet[Follow]:
    return Follow.objects.filter(user=user) if getattr(user, "is_authenticated", False) else Follow.objects.none()


def feed_list(*, user: Any) -> QuerySet[FeedItem]:
    """The user's new resources still published, newest first."""
    if not getattr(user, "is_authenticated", False):
        return FeedItem.objects.none()
    return (FeedItem.objects.filter(user=user, resource__status="published")
            .select_related("resource", "follow").order_by("-created_at", "-id"))


def feed_settings_get(*, user: Any) -> FeedSettings:
    return FeedSettings.objects.filter(user=user).first() or FeedSettings(user=user)
