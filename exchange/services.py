"""Writes for accounts and organisations."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import Group
from django.db import transaction

from exchange.audit import audit_record
from exchange.errors import InvalidInputError, PermissionDeniedError
from exchange.models import Organisation, Region, SchoolCategory, User
from exchange.roles import Role, user_has_role


def roles_ensure() -> None:
    """Create the role groups (idempotent)."""
    for role in Role:
        Group.objects.get_or_create(name=role.value)


@transaction.atomic
def organisation_create(
    *, name: str, kind: str, region: Region | str, categories: Iterable[str] = (), student_count: int = 0,
    actor=None,
) -> Organisation:
    """Create an organisation and its members group. Raises InvalidInputError for unknown categories."""
    region_obj = region if isinstance(region, Region) else Region.objects.filter(code=region).first()
    if region_obj is None:
        raise InvalidInputError(f"Unknown region code {region!r}.", details={"region": ["unknown"]})
    if region_obj.retired:
        raise InvalidInputError(f"Region code {region_obj.code} is retired.", details={"region": ["retired"]})
    cats = sorted(set(categories))
    unknown = [c for c in cats if c not in SchoolCategory.values]
    if unknown:
        raise InvalidInputError("Unknown school category.", details={"categories": unknown})
    org = Organisation(name=name, kind=kind, region=region_obj, categories=cats, student_count=student_count)
    org.full_clean(exclude=["members_group"])
    org.save()
    org.members_group = Group.objects.create(name=f"org:{org.pk}")
    org.save(update_fields=["members_group"])
    audit_record(action="organisation.create", actor=actor, object_type="organisation", object_id=org.pk,
                 data={"name": name, "kind": kind, "region": region_obj.code, "categories": cats})
    return org


def organisation_get_or_create(*, name: str, kind: str, region: Region | str, actor=None) -> Organisation:
    existing = Organisation.objects.filter(name=name).first()
    if existing is not None:
        return existing
    return organisation_create(name=name, kind=kind, region=region, actor=actor)


def can_set_categories(user, organisation: Organisation) -> bool:
    """A superuser, or a province administrator whose organisation is in the organisation's province."""
    if getattr(user, "is_superuser", False):
        return True
    home = getattr(user, "organisation", None)
    return (user_has_role(user, Role.PROVINCE_ADMIN) and home is not None
            and home.province_code[:2] == organisation.province_code[:2])


@transaction.atomic
def organisation_set_categories(*, organisation: Organisation, categories: Iterable[str], actor) -> Organisation:
    """Set a school's designated categories (which decide free use under the licensing rules).

    Only a superuser or a province administrator of the school's own province may: raises
    PermissionDeniedError otherwise, InvalidInputError for unknown categories."""
    if not can_set_categories(actor, organisation):
        raise PermissionDeniedError("Only the school's province administrators may set its categories.")
    cats = sorted(set(categories))
    unknown = [c for c in cats if c not in SchoolCategory.values]
    if unknown:
        raise InvalidInputError("Unknown school category.", details={"categories": unknown})
    before = organisation.categories
    organisation.categories = cats
    organisation.save(update_fields=["categories"])
    audit_record(action="organisation.categories", actor=actor, object_type="organisation",
                 object_id=organisation.pk, data={"before": before, "after": cats})
    return organisation


@transaction.atomic
def user_create(
    *, username: str, password: str | None, organisation: Organisation | None, roles: Iterable[str] = (),
    display_name: str = "", email: str = "", actor=None, is_superuser: bool = False,
) -> User:
    """Create a user in an organisation with the given roles."""
    unknown = [r for r in roles if r not in Role.values]
    if unknown:
        raise InvalidInputError("Unknown role.", details={"roles": unknown})
    user = User(username=username, organisation=organisation, display_name=display_name, email=email,
                is_superuser=is_superuser, is_staff=is_superuser)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    roles_ensure()
    user.groups.add(*Group.objects.filter(name__in=list(roles)))
    if organisation is not None and organisation.members_group is not None:
        user.groups.add(organisation.members_group)
    audit_record(action="user.create", actor=actor, object_type="user", object_id=user.pk,
                 data={"username": username, "roles": sorted(roles),
                       "organisation": organisation.pk if organisation else None})
    return user


REGION_FIELDS = ("name", "name_en", "short", "federated", "level", "parent", "status", "last_seen")


def regions_upsert(rows: Iterable[dict], *, retire_missing: bool = False) -> dict[str, int]:
    """Create or update regions from ``{"code", "name", "name_en", "short", "federated", "level", "parent",
    "status", "last_seen"}`` rows (missing members keep their defaults), in bulk. Regions are never deleted
    (organisations and records name them): with ``retire_missing`` a region the rows no longer list is
    marked retired. A retired code is never given back to another division: a row that lists a retired
    code as active under another name raises InvalidInputError. Returns counts."""
    defaults = {f.name: f.get_default() for f in Region._meta.concrete_fields if f.name in REGION_FIELDS}
    held = {region.code: region for region in Region.objects.all()}
    new, changed, listed = [], [], set()
    for row in rows:
        code = row["code"]
        listed.add(code)
        values = {**defaults, **{k: v for k, v in row.items() if k in REGION_FIELDS}}
        region = held.get(code)
        if region is None:
            new.append(Region(code=code, **values))
            continue
        if (region.retired and values["status"] == Region.Status.ACTIVE and values["name"] != region.name):
            raise InvalidInputError(f"Region {code} was retired as {region.name!r}; a retired code is never "
                                    f"reused (here for {values['name']!r}).", details={"code": [code]})
        if any(getattr(region, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(region, k, v)
            changed.append(region)
    retired = []
    if retire_missing:
        for code, region in held.items():
            if code not in listed and not region.retired:
                region.status = Region.Status.RETIRED
                retired.append(region)
    Region.objects.bulk_create(new, batch_size=500)
    Region.objects.bulk_update(changed + retired, list(REGION_FIELDS), batch_size=500)
    return {"created": len(new), "updated": len(changed), "retired": len(retired), "listed": len(listed)}
