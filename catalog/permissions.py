"""Who may do what to a resource. Object rights go through django-guardian: a publisher's members
group holds ``change_resource`` on its resources; a province bureau's members group holds
``review_resource`` on the resources of its province. Roles (groups) say which of those members act:
an object right alone (a province administrator or an operator in the bureau's group, a member of the
publishing organisation without the publisher role) lets nobody see, edit or review anything.

Each rule is one predicate here, asked by the selectors, the services and the pages alike."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from django.conf import settings
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from guardian.shortcuts import assign_perm

from catalog.models import Resource, ResourceGroupObjectPermission, SchoolSharingConsent
from exchange.bulk import insert_rows
from exchange.models import Organisation
from exchange.roles import Role, user_has_role


def school_lets_teachers_share(school: Organisation | None) -> bool:
    """Whether the school's administrator consented that its teachers share their own lessons as the school."""
    return school is not None and SchoolSharingConsent.objects.filter(school=school, teachers_may_share=True).exists()


class SharingRefusal:
    """Why a user may not share their own lessons as their school (``teacher_sharing_refusal``)."""

    NOT_TEACHER = "not_teacher"  # signed out, or no teacher role
    NOT_A_SCHOOL = "not_a_school"  # a teacher without a school organisation
    NO_CONSENT = "no_consent"  # the school administrator has not allowed it (or stopped it)


def teacher_sharing_refusal(user) -> str | None:
    """Whether ``user`` may share their own lessons (一师一优课) with their school as the publishing
    organisation: None when they may — a teacher whose school's administrator consented
    (``SchoolSharingConsent``) — else the ``SharingRefusal`` that says why not (the pages show it)."""
    if not getattr(user, "is_authenticated", False) or not user_has_role(user, Role.TEACHER):
        return SharingRefusal.NOT_TEACHER
    org = getattr(user, "organisation", None)
    if org is None or org.kind != Organisation.Kind.SCHOOL:
        return SharingRefusal.NOT_A_SCHOOL
    if not school_lets_teachers_share(org):
        return SharingRefusal.NO_CONSENT
    return None


def teacher_may_share(user) -> bool:
    """A teacher whose school's administrator consented to teachers sharing their own lessons with the school
    as the publishing organisation (``SchoolSharingConsent``)."""
    return teacher_sharing_refusal(user) is None


def teacher_shares_resource(user, resource: Resource) -> bool:
    """A teacher sharing as their school edits the resources they deposited themselves, of their own school,
    while the school's consent stands (not a colleague's, not another school's, not a copy from another node)."""
    return (
        not resource.is_remote
        and getattr(user, "is_authenticated", False)
        and resource.created_by_id == user.pk
        and resource.publisher_id is not None and resource.publisher_id == getattr(user, "organisation_id", None)
        and teacher_may_share(user)
    )


def can_edit(user, resource: Resource) -> bool:
    """The publisher's members with the publisher role and the edit right; and a teacher sharing as their
    school for the resources they deposited themselves (``teacher_shares_resource``)."""
    if resource.is_remote:
        return False
    if user_has_role(user, Role.PUBLISHER) and user.has_perm("catalog.change_resource", resource):
        return True
    return teacher_shares_resource(user, resource)


def can_review(user, resource: Resource) -> bool:
    return (
        not resource.is_remote
        and user_has_role(user, Role.REVIEWER)
        and user.has_perm("catalog.review_resource", resource)
    )


def can_order_national_takedown(user, resource: Resource) -> bool:
    """A hub operator at the national hub decides takedowns of any province's resources; the hub
    signs the order and every node, the origin included, withdraws its copy."""
    return (
        settings.EXCHANGE_NODE_ROLE == "hub"
        and resource.is_remote
        and getattr(user, "is_authenticated", False)
        and user_has_role(user, Role.HUB_OPERATOR)
    )


def can_reinstate_national(user) -> bool:
    """Lifting a national takedown is the national authority's call: hub operators at the hub."""
    return (
        settings.EXCHANGE_NODE_ROLE == "hub"
        and getattr(user, "is_authenticated", False)
        and user_has_role(user, Role.HUB_OPERATOR)
    )


def can_see_unpublished(user, resource: Resource) -> bool:
    """Who may see a resource that is not published (a draft, one in review, a rejected or withdrawn
    one): the publisher's members — the publisher role and the edit right — and the reviewers of its
    province — the reviewer role and the review right. Nobody else: not the province administrators,
    not hub operators, not other publishers; for them it does not exist."""
    return can_edit(user, resource) or can_review(user, resource)


def can_see(user, resource: Resource) -> bool:
    """Whether ``resource`` exists for ``user``: a published one for everybody, any other only for
    those ``can_see_unpublished`` names. Whoever may not see it must get the answer a missing
    resource gets."""
    return resource.status == Resource.Status.PUBLISHED or can_see_unpublished(user, resource)


def reviewing_bureau(province_code: str) -> Organisation | None:
    """The education bureau that reviews a province's resources on this node: the provincial bureau, or
    on a city or county node (which has no provincial bureau) the most general bureau of that province
    the node has — its own city's or county's."""
    exact = Organisation.objects.filter(kind=Organisation.Kind.BUREAU, region_id=province_code).first()
    if exact is not None:
        return exact
    bureaus = Organisation.objects.filter(kind=Organisation.Kind.BUREAU, region__code__startswith=province_code[:2])
    return min(bureaus, key=lambda org: (-_trailing_zeros(org.region_id), org.region_id), default=None)


def _trailing_zeros(code: str) -> int:
    return len(code) - len(code.rstrip("0"))


def object_right_holders(*, publisher: Organisation | None, province: str) -> list[tuple[str, Group]]:
    """Who holds which object right on a resource of ``publisher`` in ``province``, as
    ``(permission codename, group)``: the publisher's members edit, the province bureau's members review."""
    holders: list[tuple[str, Group]] = []
    editors = publisher.members_group if publisher is not None and publisher.members_group_id else None
    if editors is not None:
        holders.append(("change_resource", editors))
    bureau = reviewing_bureau(province)
    reviewers = bureau.members_group if bureau is not None and bureau.members_group_id else None
    if reviewers is not None:
        holders.append(("review_resource", reviewers))
    return holders


def grant_object_rights(resources, *, publisher: Organisation | None, province: str) -> None:
    """Give the publisher's members edit rights and the province bureau's members review rights.
    ``resources`` may be one resource or a queryset."""
    for codename, group in object_right_holders(publisher=publisher, province=province):
        assign_perm(f"catalog.{codename}", group, resources)


def grant_new_object_rights(holders_of: Mapping[uuid.UUID, Sequence[tuple[str, Group]]]) -> None:
    """Grant each resource's holders (from :func:`object_right_holders`) their rights, for resources just
    created in this transaction (bulk import): one INSERT into the resources' object-rights table, the
    rows ``grant_object_rights`` writes (new resources hold no rights yet, so none is doubled)."""
    codenames = {codename for holders in holders_of.values() for codename, _ in holders}
    if not codenames:
        return
    permissions = dict(Permission.objects.filter(content_type=ContentType.objects.get_for_model(Resource),
                                                 codename__in=codenames).values_list("codename", "pk"))
    insert_rows(ResourceGroupObjectPermission, [
        {"group_id": group.pk, "permission_id": permissions[codename], "content_object_id": pk}
        for pk, holders in holders_of.items() for codename, group in holders])
