"""The checks every workflow step of the catalog shares: who may act, which status may move where, a
standing takedown, and the version bump of a change peers must see."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from catalog.errors import (
    InvalidTransitionError,
    NotPublisherMemberError,
    NotReviewerError,
    ResourceReadOnlyError,
    ResourceTakenDownError,
)
from catalog.models import Resource
from catalog.permissions import can_edit, can_review
from catalog.takedowns import resource_under_takedown


def require_editor(user, resource: Resource) -> None:
    if resource.is_remote:
        raise ResourceReadOnlyError()
    if not can_edit(user, resource):
        raise NotPublisherMemberError()


def require_reviewer(user, resource: Resource) -> None:
    if resource.is_remote:
        raise ResourceReadOnlyError()
    if not can_review(user, resource):
        raise NotReviewerError()


def transition(resource: Resource, *, allowed_from: Iterable[str], to: str) -> str:
    before = resource.status
    if before not in allowed_from:
        raise InvalidTransitionError(
            f"A {before} resource cannot become {to}.",
            details={"status": before, "target": to, "allowed_from": sorted(allowed_from)},
        )
    return before


def refuse_if_taken_down(resource: Resource) -> None:
    """A standing takedown outranks every version: nothing of the record may become public again."""
    if resource_under_takedown(resource):
        raise ResourceTakenDownError()


def bump(resource: Resource, fields: list[str]) -> None:
    resource.version += 1
    resource.updated_at = timezone.now()
    resource.save(update_fields=[*fields, "version", "updated_at"])
