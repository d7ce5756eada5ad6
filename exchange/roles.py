"""The node's roles, as Django groups. A user's role decides which pages and APIs they may use;
what they may do to a given object is decided by django-guardian object permissions."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    TEACHER = "teacher", _("教师")
    PUBLISHER = "publisher", _("资源发布者")
    REVIEWER = "reviewer", _("审核员")
    SCHOOL_ADMIN = "school_admin", _("学校管理员")
    PROVINCE_ADMIN = "province_admin", _("省级管理员")
    HUB_OPERATOR = "hub_operator", _("枢纽运维")


def user_has_role(user, role: str) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    cache = getattr(user, "_role_cache", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._role_cache = cache
    return role in cache


def user_roles(user) -> list[str]:
    return [role.value for role in Role if user_has_role(user, role.value)]
