"""Demo organisations and accounts for each role, so a fresh node can be tried at once.

Passwords are random per node, written to ``DATA_DIR/demo_accounts.txt`` (mode 0600) and printed by
``make run``; nothing secret is committed."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from exchange.models import Organisation, Region, User
from exchange.roles import Role
from exchange.services import organisation_get_or_create, roles_ensure, user_create


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    organisation: str
    password: str


BUREAU_NAMES = {"hub": "教育部国家枢纽", "province": "{name}教育厅", "city": "{name}教育局", "county": "{name}教育局"}


def _school_county(region: Region) -> Region:
    """Schools carry their county: the node's own region when it is one, else the first current county of
    the node's province or city (a 市辖区 placeholder is not a county)."""
    if region.level == Region.Level.COUNTY:
        return region
    prefix = region.code[:2] if region.level == Region.Level.PROVINCE else region.code[:4]
    county = (Region.objects.filter(code__startswith=prefix, level=Region.Level.COUNTY, status=Region.Status.ACTIVE)
              .exclude(name="市辖区").order_by("code").first())
    return county or region


def _orgs(region: Region) -> dict[str, Organisation]:
    name = region.name
    kinds = Organisation.Kind
    county = _school_county(region)
    bureau = BUREAU_NAMES.get(settings.EXCHANGE_NODE_ROLE, BUREAU_NAMES["province"]).format(name=name)
    specs = {  # name, kind, categories, students (so per-student voucher funding gives vouchers), region
        "bureau": (bureau, kinds.BUREAU, [], 0, region),
        "city_school": (f"{name}实验中学", kinds.SCHOOL, [], 1200, county),
        "rural_school": (f"{name}山区民族中学", kinds.SCHOOL, ["rural", "remote", "ethnic_minority"], 300, county),
        "publisher": (f"{name}数字教育出版中心", kinds.PUBLISHER, [], 0, region),
    }
    if settings.EXCHANGE_NODE_ROLE == "hub":
        specs["hub"] = ("国家数字教育资源枢纽", kinds.HUB, [], 0, region)
    out = {}
    for key, (org_name, kind, cats, students, org_region) in specs.items():
        org = organisation_get_or_create(name=org_name, kind=kind, region=org_region)
        changed = []
        if cats and org.categories != cats:
            org.categories = cats
            changed.append("categories")
        if students and not org.student_count:
            org.student_count = students
            changed.append("student_count")
        if changed:
            org.save(update_fields=changed)
        out[key] = org
    return out


@transaction.atomic
def demo_accounts_ensure() -> list[DemoAccount]:
    """Create the demo organisations and one account per role (idempotent); return credentials."""
    roles_ensure()
    region = Region.objects.get(code=settings.EXCHANGE_NODE_REGION)
    orgs = _orgs(region)
    path = settings.DATA_DIR / "demo_accounts.txt"
    known: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            user, _, password = line.partition(" ")
            known[user] = password
    plan = [
        ("teacher", Role.TEACHER, "city_school"),
        ("teacher_rural", Role.TEACHER, "rural_school"),
        ("publisher", Role.PUBLISHER, "publisher"),
        ("reviewer", Role.REVIEWER, "bureau"),
        ("school_admin", Role.SCHOOL_ADMIN, "city_school"),
        ("province_admin", Role.PROVINCE_ADMIN, "bureau"),
        ("hub_operator", Role.HUB_OPERATOR, "hub" if "hub" in orgs else "bureau"),
    ]
    accounts = []
    for username, role, org_key in plan:
        password = known.get(username) or secrets.token_urlsafe(9)
        if not User.objects.filter(username=username).exists():
            user_create(username=username, password=password, organisation=orgs[org_key], roles=[role])
        accounts.append(DemoAccount(username, role, orgs[org_key].name, password))
    if not User.objects.filter(username="admin").exists():
        password = known.get("admin") or secrets.token_urlsafe(12)
        user_create(username="admin", password=password, organisation=orgs["bureau"], roles=[],
                    is_superuser=True)
        accounts.append(DemoAccount("admin", "superuser", orgs["bureau"].name, password))
    elif "admin" in known:
        accounts.append(DemoAccount("admin", "superuser", orgs["bureau"].name, known["admin"]))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{a.username} {a.password}\n" for a in accounts))
    return accounts
