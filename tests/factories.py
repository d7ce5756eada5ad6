"""Test data builders. Organisations and users go through the real services (groups, audit)."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any

import factory
from django.conf import settings
from django.utils import timezone

from catalog.models import Resource, ResourceFile, RightsStatement
from catalog.permissions import grant_object_rights
from catalog.placeholders import placeholder_bytes
from catalog.storage import blob_key, get_blob_store
from exchange.models import Organisation, User
from exchange.roles import Role
from exchange.services import organisation_create, user_create


def demo_organisations(province: str) -> dict[str, Organisation]:
    other = "110000" if province != "110000" else "440000"
    kinds = Organisation.Kind
    spec = {
        "bureau": ("本省教育厅", kinds.BUREAU, province, []),
        "other_bureau": ("外省教育厅", kinds.BUREAU, other, []),
        "publisher": ("本省出版社", kinds.PUBLISHER, province, []),
        "other_publisher": ("另一出版社", kinds.PUBLISHER, province, []),
        "city_school": ("城区实验中学", kinds.SCHOOL, province, []),
        "rural_school": ("山区民族中学", kinds.SCHOOL, province, ["rural", "ethnic_minority"]),
        "far_school": ("外省中学", kinds.SCHOOL, other, []),
        "hub": ("国家枢纽", kinds.HUB, "110000", []),
    }
    return {key: organisation_create(name=name, kind=kind, region=region, categories=cats)
            for key, (name, kind, region, cats) in spec.items()}


def demo_users(orgs: dict[str, Organisation]) -> dict[str, User]:
    plan = {
        "teacher": (Role.TEACHER, "city_school"),
        "rural_teacher": (Role.TEACHER, "rural_school"),
        "far_teacher": (Role.TEACHER, "far_school"),
        "publisher": (Role.PUBLISHER, "publisher"),
        "other_publisher": (Role.PUBLISHER, "other_publisher"),
        "reviewer": (Role.REVIEWER, "bureau"),
        "other_reviewer": (Role.REVIEWER, "other_bureau"),
        "school_admin": (Role.SCHOOL_ADMIN, "city_school"),
        "province_admin": (Role.PROVINCE_ADMIN, "bureau"),
        "hub_operator": (Role.HUB_OPERATOR, "hub"),
    }
    users = {name: user_create(username=name, password="test-pass-" + name, organisation=orgs[org], roles=[role])
             for name, (role, org) in plan.items()}
    for name in ("publisher", "other_publisher"):  # their organisations accepted the content commitment
        accept_commitment(users[name])
    return users


def accept_commitment(user: User) -> None:
    """``user`` (a publisher) accepts the node's current content commitment for their organisation, as every
    organisation must before its first submission (``catalog.review.commitment``)."""
    from catalog.review.commitment import commitment_accept, commitment_current

    commitment_accept(user=user, version=commitment_current().version)


METADATA: dict[str, Any] = {
    "title": "人教版七年级数学上册 第一章 有理数 1.2 有理数 教学课件",
    "description": "有理数的概念与分类，含课堂练习。",
    "keywords": ["有理数", "七年级", "数学"],
    "stage": "初中", "subject": "数学", "grade": "七年级", "edition": "人教版", "volume": "上册",
    "chapter": "第一章 有理数", "section": "1.2 有理数", "resource_type": "课件",
}
RIGHTS: dict[str, Any] = {"holder": "本省出版社", "year": 2024, "license": "CC-BY-4.0",
                          "attribution": "© 2024 本省出版社", "audience": "teachers"}


@dataclass
class FakeUpload:
    """What a request gives a view: a stream and a name."""

    name: str
    body: bytes

    def stream(self) -> io.BytesIO:
        return io.BytesIO(self.body)


def pdf_bytes(text: str = "sample") -> bytes:
    return placeholder_bytes("x.pdf", text)


def pptx_bytes(text: str = "sample") -> bytes:
    return placeholder_bytes("x.pptx", text)


def store_file(resource: Resource, name: str, body: bytes, mime: str = "application/pdf") -> ResourceFile:
    digest = hashlib.sha256(body).hexdigest()
    fd, tmp = tempfile.mkstemp()
    with os.fdopen(fd, "wb") as fh:
        fh.write(body)
    try:
        get_blob_store().put_file(blob_key(digest), tmp, content_type=mime)
    finally:
        os.unlink(tmp)
    return ResourceFile.objects.create(resource=resource, original_name=name, sha256=digest, size=len(body),
                                       mime=mime, storage_key=blob_key(digest))


class ResourceFactory(factory.django.DjangoModelFactory):
    """A published local resource with rights and one stored PDF, rights granted to its publisher."""

    class Meta:
        model = Resource
        skip_postgeneration_save = True

    id = factory.LazyFunction(uuid.uuid4)
    origin_node = factory.LazyFunction(lambda: settings.EXCHANGE_NODE_ID)
    status = Resource.Status.PUBLISHED
    title = factory.Sequence(lambda n: f"人教版七年级数学上册 第一章 有理数 课件 {n}")
    stage, subject, grade, edition, volume = "初中", "数学", "七年级", "人教版", "上册"
    resource_type = "课件"
    publisher_name = factory.LazyAttribute(lambda o: o.publisher.name)
    province = factory.LazyAttribute(lambda o: o.publisher.region_id[:2] + "0000")
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.LazyFunction(timezone.now)
    published_at = factory.LazyAttribute(lambda o: o.created_at if o.status == Resource.Status.PUBLISHED else None)

    @factory.post_generation
    def attach(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy hook signature
        params = obj._factory_params
        RightsStatement.objects.create(
            resource=obj, holder=obj.publisher_name, year=2024, license_id=params["license"],
            price=params["price"], free_for=params["free_for"], territory=params["territory"],
            audience=params["audience"], embargo_until=params["embargo_until"])
        if params["with_file"]:
            store_file(obj, "课件.pdf", pdf_bytes(obj.title))
        grant_object_rights(obj, publisher=obj.publisher, province=obj.province)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        params = {k: kwargs.pop(k) for k in ("license", "price", "free_for", "territory", "audience",
                                             "embargo_until", "with_file") if k in kwargs}
        obj = super()._create(model_class, *args, **kwargs)
        defaults = {"license": "CC-BY-4.0", "price": 0, "free_for": [], "territory": [], "audience": "teachers",
                    "embargo_until": None, "with_file": True}
        obj._factory_params = defaults | params
        return obj


def revise(resource: Resource, *, publisher: User, reviewer: User, metadata: dict[str, Any] | None = None,
           rights: dict[str, Any] | None = None) -> Resource:
    """Change a published resource the only way there is: a revision by its publisher, submitted and
    approved by a reviewer of its province (``catalog.review.revisions``). Returns the resource as it is
    live afterwards."""
    from catalog import services

    services.resource_update(user=publisher, resource=resource, metadata=metadata, rights=rights)
    services.resource_submit(user=publisher, resource=resource)
    services.resource_approve(user=reviewer, resource=resource)
    return Resource.objects.get(pk=resource.pk)
