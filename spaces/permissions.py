"""Who may do what in teacher spaces: one predicate per rule, asked by services, APIs and pages alike.

Owning a collection is a django-guardian object right (``spaces.change_collection``, given to its maker);
seeing one is that right, or the collection's visibility (school: members of its school; public: anybody)."""

from __future__ import annotations

from typing import Any

from exchange.roles import Role, user_has_role
from spaces.models import Collection

SPACE_ROLES = (Role.TEACHER, Role.SCHOOL_ADMIN)


def has_space(user: Any) -> bool:
    """Whether ``user`` has a teacher's space (collections, follows, feed): teachers and school admins."""
    return bool(getattr(user, "is_authenticated", False)) and any(user_has_role(user, r) for r in SPACE_ROLES)


def can_edit_collection(user: Any, collection: Collection) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and user.has_perm("spaces.change_collection", collection)


def can_view_collection(user: Any, collection: Collection) -> bool:
    """Its owner (the guardian right), anybody for a public one, members of its school for a school one."""
    if collection.visibility == Collection.Visibility.PUBLIC:
        return True
    if not getattr(user, "is_authenticated", False):
        return False
    if user.has_perm("spaces.view_collection", collection):
        return True
    return (collection.visibility == Collection.Visibility.SCHOOL and collection.school_id is not None
            and getattr(user, "organisation_id", None) == collection.school_id)
