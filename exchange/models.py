"""Accounts, organisations, regions and the audit log: the base every other app stands on.

Users belong to one organisation (a school, a publisher, a province education bureau or the hub).
Roles are Django groups (see ``exchange.roles``); each organisation also has a members group that
django-guardian object permissions are granted to. Regions follow GB/T 2260 codes. The audit log is
append-only and hash-chained: ``python manage.py audit_verify`` detects a changed, removed or
inserted row.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, Group
from django.db import models
from django.utils.translation import gettext_lazy as _


class Region(models.Model):
    """An administrative division by its GB/T 2260 code: a province (``440000`` Guangdong), a prefecture or
    city (``440100`` Guangzhou) or a county-level division (``440106`` Tianhe). Codes that the standard no
    longer lists stay as ``retired`` (organisations and records may still name them) and are never given
    to another division."""

    class Level(models.TextChoices):
        PROVINCE = "province", _("省级")
        CITY = "city", _("地级")
        COUNTY = "county", _("县级")

    class Status(models.TextChoices):
        ACTIVE = "active", _("现行")
        RETIRED = "retired", _("已撤销")

    code = models.CharField(max_length=6, primary_key=True)
    name = models.CharField(max_length=64)
    name_en = models.CharField(max_length=128, blank=True)
    short = models.CharField(max_length=8, blank=True)
    federated = models.BooleanField(default=True)
    level = models.CharField(max_length=8, choices=Level.choices, default=Level.PROVINCE)
    parent = models.CharField(max_length=6, blank=True, help_text=_("Code of the division it belongs to"))
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    last_seen = models.CharField(max_length=8, blank=True,
                                 help_text=_("Retired codes: the last edition of the standard that listed it"))

    class Meta:
        ordering = ["code"]
        indexes = [models.Index(fields=["parent"], name="region_parent")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def province_code(self) -> str:
        return self.code[:2] + "0000"

    @property
    def retired(self) -> bool:
        return self.status == self.Status.RETIRED


class SchoolCategory(models.TextChoices):
    """Designations that licensing uses for free use (农村/边远/脱贫/民族地区学校)."""

    RURAL = "rural", _("农村学校")
    REMOTE = "remote", _("边远地区学校")
    POOR = "poor", _("脱贫地区学校")
    ETHNIC_MINORITY = "ethnic_minority", _("民族地区学校")


class Organisation(models.Model):
    class Kind(models.TextChoices):
        SCHOOL = "school", _("学校")
        PUBLISHER = "publisher", _("出版/发布机构")
        BUREAU = "bureau", _("省级教育行政部门")
        HUB = "hub", _("国家枢纽")

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="organisations")
    categories = models.JSONField(default=list, blank=True, help_text=_("School categories (rural, remote…)"))
    student_count = models.PositiveIntegerField(default=0)
    members_group = models.OneToOneField(
        Group, on_delete=models.PROTECT, related_name="organisation", null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["kind", "region"])]

    def __str__(self) -> str:
        return self.name

    @property
    def province_code(self) -> str:
        return self.region.code[:2] + "0000"


class User(AbstractUser):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="members", null=True, blank=True
    )
    display_name = models.CharField(max_length=150, blank=True)

    def __str__(self) -> str:
        return self.display_name or self.username


class AuditEvent(models.Model):
    """One security-relevant event. Rows are never updated or deleted; each row's ``hash`` covers
    its own content and the previous row's hash, so any edit, removal or insertion breaks the chain."""

    seq = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField()
    actor_id = models.CharField(max_length=64, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    data = models.JSONField(default=dict, blank=True)
    ip = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RuntimeError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Audit events are append-only.")


class AuditChainHead(models.Model):
    """A single row locked while appending, so concurrent writers chain one after another."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head #{self.last_seq}"


class CacheEntry(models.Model):
    """One entry of Django's database cache (``DatabaseCache``), the embedded default of ``CACHES``
    when no ``REDIS_URL`` is set: shared by every worker process of the node, unlike a per-process
    memory cache. Its table is made by a migration, so ``migrate`` is all a node needs. Only the cache
    backend reads and writes it (it holds e.g. the sign-in rate counters)."""

    cache_key = models.CharField(max_length=255, primary_key=True)
    value = models.TextField()
    expires = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "exchange_cache"

    def __str__(self) -> str:
        return self.cache_key
