"""Reads from the catalog, filtered by what the user may see. (The review queue, review state, due
re-reviews and history are in ``catalog.review.selectors``.)"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from catalog.errors import ResourceNotFoundError
from catalog.models import Favourite, Resource
from catalog.permissions import can_see, teacher_may_share
from exchange.roles import Role, user_has_role


def _base() -> QuerySet[Resource]:
    return Resource.objects.select_related("rights", "rights__license", "publisher").prefetch_related("files")


def resource_get(*, user, resource_id) -> Resource:
    """A resource the user may see (``catalog.permissions.can_see``): published ones for everybody,
    others for their publisher's members and their province's reviewers. Raises ResourceNotFoundError
    otherwise, the same error as for an id that names nothing (no leak of existence)."""
    try:
        resource = _base().get(pk=resource_id)
    except (Resource.DoesNotExist, ValueError, TypeError, ValidationError) as exc:
        raise ResourceNotFoundError() from exc
    if not can_see(user, resource):
        raise ResourceNotFoundError()
    return resource


def resource_by_record(*, user, origin: str, record_id) -> Resource:
    """The resource this node holds for ``origin``'s record ``record_id`` (its own, or a copy synced from
    another node), when the user may see it. Raises ResourceNotFoundError otherwise."""
    try:
        resource = _base().filter(origin_node=origin, record_id=record_id).first()
    except (ValueError, TypeError, ValidationError) as exc:
        raise ResourceNotFoundError() from exc
    if resource is None or not can_see(user, resource):
        raise ResourceNotFoundError()
    return resource


def resource_list_public() -> QuerySet[Resource]:
    return _base().filter(status=Resource.Status.PUBLISHED)


def resource_list_for_publisher(*, user, status: str | None = None) -> QuerySet[Resource]:
    if not user_has_role(user, Role.PUBLISHER):
        return Resource.objects.none()
    qs = get_objects_for_user(user, "catalog.change_resource", klass=_base(), accept_global_perms=False)
    return qs.filter(status=status) if status else qs


def resource_list_shared_by_teacher(*, user) -> QuerySet[Resource]:
    """The lessons a teacher deposited as their school (``teacher_shares_resource``), while the school's consent
    stands; nothing for anybody else."""
    if not teacher_may_share(user):
        return Resource.objects.none()
    return _base().filter(created_by=user, publisher_id=user.organisation_id, is_remote=False)


def favourite_list(*, user) -> QuerySet[Resource]:
    """The user's bookmarked resources that are still published, most recently bookmarked first."""
    if not getattr(user, "is_authenticated", False):
        return Resource.objects.none()
    return resource_list_public().filter(favourited_by__user=user).order_by("-favourited_by__created_at")


def favourite_ids(*, user, resource_ids) -> set[str]:
    """Which of ``resource_ids`` the user has bookmarked (for marking search results and pages)."""
    if not getattr(user, "is_authenticated", False):
        return set()
    return {str(pk) for pk in Favourite.objects.filter(user=user, resource_id__in=list(resource_ids))
            .values_list("resource_id", flat=True)}
