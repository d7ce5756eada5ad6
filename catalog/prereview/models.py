"""Machine pre-review: the negative list, what was read from files, the findings, and the re-checks.

* ``NegativeTerm`` — one entry of the negative list (负面清单). ``national`` entries are the hub's: kept
  on the hub by its operators, received signed by every province (the same id everywhere); ``local``
  entries a province adds for itself. The effective list is the active entries of both.
* ``NegativeListState`` — per scope, the list version held: the national version (with the hub's
  signed token on every node) and the local version counter.
* ``ExtractedText`` — per blob (sha256): the text read from it (compressed, bounded), the active content
  found (JavaScript, macros) and its MinHash fingerprint; ``FingerprintBand`` indexes the fingerprint's
  LSH bands to find near-identical texts. Kept so a list update re-checks files without reading them
  again, and shared by every resource holding the same bytes.
* ``PrereviewRun`` / ``PrereviewFinding`` — one pre-review of one version of a resource (its current
  state, or a revision) with the list version it used and what it found.
* ``RecheckRun`` / ``RecheckItem`` — a re-check of the published resources against new or changed
  entries, recorded in the transaction that changed the list and worked off in batches; each match is an
  item in front of the province's reviewers (the resource stays published until one decides).

These models belong to the ``catalog`` app (``catalog.models`` imports them).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class NegativeTerm(models.Model):
    class Scope(models.TextChoices):
        NATIONAL = "national", _("国家清单")
        LOCAL = "local", _("本省补充")

    class Severity(models.TextChoices):
        HARD = "hard", _("阻止通过")
        SOFT = "soft", _("提示")

    class Category(models.TextChoices):
        POLITICAL = "political", _("政治导向")
        NATIONAL_UNITY = "national_unity", _("国家统一与民族团结")
        SUPERSTITION = "superstition", _("宗教与封建迷信")
        VIOLENCE = "violence", _("暴力恐怖")
        VULGAR = "vulgar", _("色情低俗")
        GAMBLING_DRUGS = "gambling_drugs", _("赌博毒品")
        DISCRIMINATION = "discrimination", _("歧视")
        COMMERCIAL = "commercial", _("商业广告")
        PRIVACY = "privacy", _("个人信息")
        OTHER = "other", _("其他")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    term = models.CharField(max_length=100)
    folded = models.CharField(max_length=400, help_text=_("The term as matched (folded)"))
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.HARD)
    note = models.CharField(max_length=500, blank=True)
    active = models.BooleanField(default=True)
    version = models.PositiveIntegerField(help_text=_("The list version in which the entry last changed"))
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")

    class Meta:
        ordering = ["scope", "term"]
        constraints = [
            models.UniqueConstraint(fields=["scope", "folded"], condition=models.Q(active=True),
                                    name="negativeterm_unique_active_folded"),
        ]
        indexes = [models.Index(fields=["scope", "active"], name="catalog_negterm_scope_idx")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.term}"


class NegativeListState(models.Model):
    """The version of one scope's list held here (``national``: with the hub's signed token)."""

    scope = models.CharField(max_length=16, primary_key=True, choices=NegativeTerm.Scope.choices)
    version = models.PositiveIntegerField(default=0)
    token = models.TextField(blank=True)
    issuer = models.CharField(max_length=63, blank=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.scope} negative list v{self.version}"


class ExtractedText(models.Model):
    class Status(models.TextChoices):
        OK = "ok", _("已读取")
        FAILED = "failed", _("读取失败")
        NONE = "none", _("无文本")

    sha256 = models.CharField(max_length=64, primary_key=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    text = models.BinaryField(blank=True, help_text=_("zlib-compressed UTF-8"))
    chars = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    flags = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=32, blank=True)
    error_detail = models.CharField(max_length=300, blank=True)
    signature = models.BinaryField(null=True, blank=True, help_text=_("MinHash signature"))
    shingles = models.PositiveIntegerField(default=0)
    extractor_version = models.PositiveSmallIntegerField(default=1)
    extracted_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"text of {self.sha256[:12]} ({self.status})"


class FingerprintBand(models.Model):
    id = models.BigAutoField(primary_key=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    key = models.BigIntegerField(db_index=True)

    def __str__(self) -> str:
        return f"band {self.key} of {self.sha256[:12]}"


class PrereviewRun(models.Model):
    class Trigger(models.TextChoices):
        SUBMISSION = "submission", _("提交")
        APPROVAL = "approval", _("审核通过前")
        MANUAL = "manual", _("手动")
        RECONCILE = "reconcile", _("补做")

    id = models.BigAutoField(primary_key=True)
    resource = models.ForeignKey("catalog.Resource", on_delete=models.CASCADE, related_name="prereview_runs")
    revision_id = models.PositiveBigIntegerField(null=True, blank=True)
    content_digest = models.CharField(max_length=64)
    list_version = models.CharField(max_length=32)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    hard = models.PositiveIntegerField(default=0)
    soft = models.PositiveIntegerField(default=0)
    ran_at = models.DateTimeField()

    class Meta:
        ordering = ["-ran_at", "-id"]
        indexes = [models.Index(fields=["resource", "revision_id", "-id"], name="catalog_prerun_subject_idx")]

    def __str__(self) -> str:
        return f"pre-review of {self.resource_id} ({self.hard} hard, {self.soft} soft)"


class PrereviewFinding(models.Model):
    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(PrereviewRun, on_delete=models.CASCADE, related_name="findings")
    position = models.PositiveIntegerField(default=0)
    code = models.CharField(max_length=48)
    severity = models.CharField(max_length=8, choices=NegativeTerm.Severity.choices)
    field = models.CharField(max_length=300)
    message_zh = models.TextField()
    message_en = models.TextField()
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "position"]

    def __str__(self) -> str:
        return f"{self.code} ({self.severity}) on {self.field}"


class RecheckRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("待执行")
        DONE = "done", _("已完成")

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=16, choices=NegativeTerm.Scope.choices)
    list_version = models.CharField(max_length=32)
    entries = models.JSONField(default=list, help_text=_("Ids of the new or changed entries to look for"))
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    cursor = models.CharField(max_length=36, blank=True, help_text=_("Last resource id checked"))
    scanned = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    files_without_text = models.PositiveIntegerField(default=0)
    received_from = models.CharField(max_length=63, blank=True)
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"re-check {self.pk} ({self.scope} list {self.list_version}, {self.status})"


class RecheckItem(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("待复核")
        KEPT = "kept", _("复核后保留")
        WITHDRAWN = "withdrawn", _("复核后撤回")

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(RecheckRun, on_delete=models.CASCADE, related_name="items")
    resource = models.ForeignKey("catalog.Resource", on_delete=models.CASCADE, related_name="recheck_items")
    province = models.CharField(max_length=6, db_index=True)
    findings = models.JSONField(default=list)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    reason_code = models.CharField(max_length=32, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["run", "resource"], name="recheckitem_unique_run_resource")]

    def __str__(self) -> str:
        return f"re-check item {self.pk} ({self.status})"
