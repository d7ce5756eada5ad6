"""Who may do what with the pre-review's data: one predicate per rule, asked by services, APIs and pages.

Findings and re-check items are about resources under review, so they follow the review right
(``catalog.permissions.can_review``). The national negative list is the hub operators' at the hub; a
province's own additions and the re-check report are its province administrators'."""

from __future__ import annotations

from django.conf import settings

from exchange.roles import Role, user_has_role


def province_of_user(user) -> str:
    """The province (GB/T 2260 code) of the user's organisation, or ""."""
    org = getattr(user, "organisation", None)
    region = getattr(org, "region_id", "") or ""
    return region[:2] + "0000" if region else ""


def can_manage_national_list(user) -> bool:
    """Hub operators at the national hub keep the national negative list."""
    return settings.EXCHANGE_NODE_ROLE == "hub" and user_has_role(user, Role.HUB_OPERATOR)


def can_manage_local_list(user) -> bool:
    """A province's administrators add and retire the province's own entries."""
    return user_has_role(user, Role.PROVINCE_ADMIN) and bool(province_of_user(user))


def can_see_recheck_report(user) -> bool:
    """The report of re-checks after list updates is for the province's administrators."""
    return user_has_role(user, Role.PROVINCE_ADMIN) and bool(province_of_user(user))
