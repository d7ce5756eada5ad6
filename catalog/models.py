"""The catalog: courseware resources, their files, their rights statements and the vocabularies
that describe them.

A record is identified by its origin and the origin's UUID for it (``origin_node``, ``record_id``), the same
on every node; ``version`` grows with every change the origin makes. The local primary key equals the record
id, except for a remote copy whose id another record already holds here (a clash, kept and reported: ids are
scoped by origin, so one node can never squat another's record). A ``RecordTakedown`` is a fact about a
record, not a version: while it stands no later version of the record becomes public here. Local resources move
through the review workflow (draft → submitted → approved/rejected → published → withdrawn);
resources synced from peers are read-only here. A change to a published resource is a
``ResourceRevision``: the live version stays as it is until a reviewer of the province approves the
revision (``ReviewDecision`` keeps every reviewer's decision with its seven dimensions; a province's
``ReviewPolicy`` may ask for a second reviewer's concurrence). ``ResourceVersion`` keeps every version
that went live — here or, for remote records, at their origin — readable; ``VersionFile`` keeps the
blobs of local versions from the collector. A publisher organisation accepts the node's
``ContentCommitment`` (承诺书) before its first submission (``CommitmentAcceptance``). Files are stored content-addressed by sha256 (a blob
may be shared by many files; ``BlobLease`` protects a blob between its upload and its first row); a
``FilePreview`` records the renditions made of one file content (cover, page thumbnails, a PDF of an office file).
The rights statement is descriptive data carried with the record (holder, licence, territory,
audience, price, free-for categories, term, embargo); the rules that interpret it live in
``licensing``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from exchange.models import Organisation


class Term(models.Model):
    """One term of a controlled vocabulary (stage, subject, grade, edition, volume, …)."""

    vocabulary = models.CharField(max_length=32)
    code = models.CharField(max_length=64)
    label_zh = models.CharField(max_length=128)
    label_en = models.CharField(max_length=128, blank=True)
    parent = models.CharField(max_length=64, blank=True)
    order = models.IntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["vocabulary", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["vocabulary", "code"], name="term_unique_code")]

    def __str__(self) -> str:
        return f"{self.vocabulary}:{self.code}"


class License(models.Model):
    """A licence, by SPDX id where one exists (``CC-BY-4.0``), with the permissions it grants."""

    id = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=200)
    name_zh = models.CharField(max_length=200, blank=True)
    url = models.URLField(blank=True)
    is_open = models.BooleanField(default=False, help_text=_("Anyone may use it without a grant."))
    allows_derivatives = models.BooleanField(default=False)
    allows_commercial = models.BooleanField(default=False)
    share_alike = models.BooleanField(default=False)
    attribution_required = models.BooleanField(default=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.id


class Resource(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("草稿")
        SUBMITTED = "submitted", _("待审核")
        APPROVED = "approved", _("已通过")
        REJECTED = "rejected", _("已退回")
        PUBLISHED = "published", _("已发布")
        WITHDRAWN = "withdrawn", _("已撤回")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    origin_node = models.CharField(max_length=32, db_index=True)
    record_id = models.UUIDField(help_text=_("The origin's id of the record (the primary key but for id clashes)"))
    is_remote = models.BooleanField(default=False)
    version = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)

    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    keywords = models.JSONField(default=list, blank=True)
    stage = models.CharField(max_length=16)
    subject = models.CharField(max_length=32)
    grade = models.CharField(max_length=32, blank=True)
    edition = models.CharField(max_length=64, blank=True)
    volume = models.CharField(max_length=64, blank=True)
    chapter = models.CharField(max_length=200, blank=True)
    section = models.CharField(max_length=200, blank=True)
    resource_type = models.CharField(max_length=16)
    language = models.CharField(max_length=16, default="zh-Hans")
    textbook_id = models.CharField(max_length=64, blank=True)

    publisher = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="resources", null=True, blank=True
    )
    publisher_name = models.CharField(max_length=200)
    province = models.CharField(max_length=6, db_index=True, help_text=_("Province whose reviewers review it"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review_note = models.TextField(blank=True)
    review_by = models.DateField(null=True, blank=True, db_index=True,
                                 help_text=_("Reviewed again by this date (时效性: periodic re-review)"))
    download_count = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [("review_resource", "Can review the resource")]
        indexes = [
            models.Index(fields=["status", "-published_at"]),
            models.Index(fields=["province", "status"]),
            models.Index(fields=["publisher", "status"]),
            # OAI-PMH and change listings page by (datestamp, id).
            models.Index(fields=["updated_at", "id"], name="catalog_res_updated_id_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["origin_node", "record_id"], name="resource_unique_origin_record"),
        ]

    def __str__(self) -> str:
        return self.title

    def save(self, *args, **kwargs):
        if self.record_id is None:
            self.record_id = self.id
        super().save(*args, **kwargs)

    @property
    def is_public(self) -> bool:
        return self.status == self.Status.PUBLISHED


class RightsStatement(models.Model):
    class Audience(models.TextChoices):
        TEACHERS = "teachers", _("教师")
        STUDENTS = "students", _("学生")
        PUBLIC = "public", _("公众")

    resource = models.OneToOneField(Resource, on_delete=models.CASCADE, related_name="rights", primary_key=True)
    holder = models.CharField(max_length=200)
    year = models.PositiveSmallIntegerField()
    license = models.ForeignKey(License, on_delete=models.PROTECT, related_name="+")
    attribution = models.CharField(max_length=500, blank=True)
    territory = models.JSONField(default=list, blank=True, help_text=_("Region codes; empty = nationwide"))
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.TEACHERS)
    price = models.PositiveIntegerField(default=0, help_text=_("Price in digital-resource vouchers"))
    free_for = models.JSONField(default=list, blank=True, help_text=_("School categories that use it free"))
    grant_days = models.PositiveIntegerField(default=365, help_text=_("Term of a purchased grant"))
    term_end = models.DateField(null=True, blank=True, help_text=_("The rights end on this date"))
    embargo_until = models.DateField(null=True, blank=True)
    derived_from = models.UUIDField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.license_id} © {self.year} {self.holder}"


class ResourceUserObjectPermission(UserObjectPermissionBase):
    """A user's object right on a resource (django-guardian, by foreign key: the rows go with the resource, and
    guardian's queries join on the key instead of casting generic text keys of every model)."""

    content_object = models.ForeignKey(Resource, on_delete=models.CASCADE)


class ResourceGroupObjectPermission(GroupObjectPermissionBase):
    """A group's object right on a resource (publisher members: change; the province's bureau: review)."""

    content_object = models.ForeignKey(Resource, on_delete=models.CASCADE)


class ResourceFile(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="files")
    position = models.PositiveSmallIntegerField(default=0)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField()
    mime = models.CharField(max_length=128)
    storage_key = models.CharField(max_length=128)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    available_locally = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["resource", "position"]

    def __str__(self) -> str:
        return self.original_name


class FilePreview(models.Model):
    """What the preview jobs made of one file content (by sha256, so each distinct file is rendered once
    whatever number of resources, revisions or nodes carry it): a PDF rendition of an office document,
    page thumbnails and a cover image, kept in the blob store under ``previews/``. ``status`` says how far it
    got; a failed or unsupported one keeps its stable ``reason`` code (tool_missing, timeout, damaged,
    archive_bomb, …) so pages can say why there is no preview."""

    class Status(models.TextChoices):
        PENDING = "pending", _("生成中")
        READY = "ready", _("已生成")
        FAILED = "failed", _("生成失败")
        UNSUPPORTED = "unsupported", _("不支持预览")

    sha256 = models.CharField(max_length=64, primary_key=True)
    mime = models.CharField(max_length=128)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(max_length=64, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    page_count = models.PositiveSmallIntegerField(default=0)
    has_pdf = models.BooleanField(default=False)
    has_cover = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.sha256[:12]} {self.status}"


class Favourite(models.Model):
    """A user's bookmark of a resource (收藏)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites")
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="favourited_by")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "resource"], name="favourite_unique_user_resource")]

    def __str__(self) -> str:
        return f"{self.user_id} ♥ {self.resource_id}"


class RecordTakedown(models.Model):
    """A takedown as a lasting fact about a record (origin, record id), not a version of it.

    Written when a takedown is upheld (by the origin's reviewers, or as the national hub's order) — even
    before the record itself has arrived — and kept: while it stands (``lifted_at`` unset) no version of
    the record, however new, becomes public on this node. Only a signed reinstatement by the node that
    ordered it (``ordered_by``) lifts it. ``order_version`` counts that node's orders and reinstatements
    for the record, so replays and reordered copies of an order change nothing."""

    origin = models.CharField(max_length=63)
    record_id = models.UUIDField()
    ordered_by = models.CharField(max_length=63, help_text=_("The node that ordered it: the hub or the origin"))
    order_version = models.PositiveBigIntegerField(default=1)
    note = models.TextField(blank=True)
    ordered_at = models.DateTimeField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_note = models.TextField(blank=True)
    republish_on_lift = models.BooleanField(
        default=False, help_text=_("The record was public when taken down, or a newer version came since"))

    class Meta:
        ordering = ["-ordered_at"]
        constraints = [
            models.UniqueConstraint(fields=["origin", "record_id"], name="recordtakedown_unique_record"),
        ]

    def __str__(self) -> str:
        state = "lifted" if self.lifted_at else "standing"
        return f"takedown of {self.origin}/{self.record_id} by {self.ordered_by} ({state})"

    @property
    def standing(self) -> bool:
        return self.lifted_at is None


class IndexPending(models.Model):
    """A resource whose search-index entry must be brought in line with the catalog: written in the
    same transaction as the change (so a crash after the commit cannot lose it), deleted by the
    indexer only after the index write succeeded (``catalog.search.indexing.index_pending_drain``).
    Several rows for one resource are fine: indexing reads the resource's current state."""

    id = models.BigAutoField(primary_key=True)
    resource_id = models.UUIDField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"index {self.resource_id}"


class BlobLease(models.Model):
    """A claim on a stored blob by an upload that is about to reference it (see ``catalog.blobs``).

    Renewed by every upload of the same bytes before it stores or finds the blob; the blob collector
    leaves a blob alone while its lease is younger than the grace period. A failed upload's lease is
    what marks its blob as a collection candidate."""

    key = models.CharField(max_length=128, primary_key=True)
    renewed_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"lease on {self.key} since {self.renewed_at:%Y-%m-%d %H:%M:%S}"


# The machine pre-review's models (negative list, extracted text, findings, re-checks) live beside their
# code in catalog/prereview/ and belong to this app.
from catalog.prereview.models import (  # noqa: E402, F401
    ExtractedText,
    FingerprintBand,
    NegativeListState,
    NegativeTerm,
    PrereviewFinding,
    PrereviewRun,
    RecheckItem,
    RecheckRun,
)


class ResourceRevision(models.Model):
    """A proposed change to a published local resource: the whole proposed metadata, rights statement
    (JSON, as ``catalog.validation.rights_as_json`` writes it) and file set (``RevisionFile``).

    While a revision is open (draft, submitted or rejected) the live resource is untouched: search, pages,
    OAI-PMH and the federation feed keep showing the live version. Approval applies it as the resource's
    next version (``applied``); a publisher may cancel it. One open revision per resource."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("草稿")
        SUBMITTED = "submitted", _("待审核")
        REJECTED = "rejected", _("已退回")
        APPLIED = "applied", _("已生效")
        CANCELLED = "cancelled", _("已撤销")

    OPEN_STATUSES = ("draft", "submitted", "rejected")

    id = models.BigAutoField(primary_key=True)
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField(help_text=_("1, 2, … per resource"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    base_version = models.PositiveIntegerField(help_text=_("The live version the revision was made from"))
    metadata = models.JSONField(default=dict)
    rights = models.JSONField(default=dict)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True)
    applied_version = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["resource", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "number"], name="revision_unique_number"),
            models.UniqueConstraint(fields=["resource"], condition=models.Q(status__in=("draft", "submitted",
                                                                                        "rejected")),
                                    name="revision_one_open_per_resource"),
        ]
        indexes = [models.Index(fields=["status", "submitted_at"])]

    def __str__(self) -> str:
        return f"revision {self.number} of {self.resource_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class RevisionFile(models.Model):
    """One file of a revision's proposed file set. ``file_id`` is the file's id in the live version: the
    live file's own for a file carried over, a new one for a file uploaded with the revision (stored like
    any upload, content-addressed), which the file gets when the revision is applied."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    revision = models.ForeignKey(ResourceRevision, on_delete=models.CASCADE, related_name="files")
    file_id = models.UUIDField(default=uuid.uuid4, help_text=_("The file's id in the live version"))
    position = models.PositiveSmallIntegerField(default=0)
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    size = models.PositiveBigIntegerField()
    mime = models.CharField(max_length=128)
    storage_key = models.CharField(max_length=128)
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["revision", "position"]
        constraints = [models.UniqueConstraint(fields=["revision", "file_id"], name="revisionfile_unique_file")]

    def __str__(self) -> str:
        return self.original_name


class ResourceVersion(models.Model):
    """A version of a record as it went live, kept readable: its metadata, rights and files (JSON) and,
    for a local version, the human decisions that let it go live. Remote records' versions are written
    where they are applied (``catalog.remote``), from the signed record the origin published."""

    class Source(models.TextChoices):
        PUBLISH = "publish", _("首次发布")
        REVISION = "revision", _("修订生效")
        BASELINE = "baseline", _("修订前的版本")
        REMOTE = "remote", _("来源节点")

    id = models.BigAutoField(primary_key=True)
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    source = models.CharField(max_length=16, choices=Source.choices)
    live_from = models.DateTimeField(help_text=_("When it became the live version (at the origin for remote ones)"))
    recorded_at = models.DateTimeField()
    metadata = models.JSONField(default=dict)
    rights = models.JSONField(default=dict)
    files = models.JSONField(default=list)
    revision = models.ForeignKey(ResourceRevision, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+")
    approvals = models.JSONField(default=list, blank=True,
                                 help_text=_("The reviewers' decisions that let it go live (local versions)"))

    class Meta:
        ordering = ["resource", "-version"]
        constraints = [models.UniqueConstraint(fields=["resource", "version"], name="version_unique_number")]

    def __str__(self) -> str:
        return f"{self.resource_id} v{self.version}"


class VersionFile(models.Model):
    """A stored blob a local version references: the blob collector keeps it while any version does,
    so a file a revision removed stays with the versions that had it."""

    version = models.ForeignKey(ResourceVersion, on_delete=models.CASCADE, related_name="file_refs")
    sha256 = models.CharField(max_length=64, db_index=True)
    storage_key = models.CharField(max_length=128)

    def __str__(self) -> str:
        return self.storage_key


class ReviewDecision(models.Model):
    """One reviewer's decision on one submission (of a new resource, or of a revision), or a periodic
    re-review: the seven dimensions of the national rules (each pass/fail with a comment), a reason code,
    the note the publisher sees and notes per field."""

    class Action(models.TextChoices):
        APPROVE = "approve", _("批准")
        REJECT = "reject", _("退回")
        CONFIRM = "confirm", _("复审通过")

    id = models.BigAutoField(primary_key=True)
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="review_decisions")
    revision = models.ForeignKey(ResourceRevision, on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+")
    reviewer_name = models.CharField(max_length=150)
    action = models.CharField(max_length=16, choices=Action.choices)
    reason_code = models.CharField(max_length=32)
    note = models.TextField(blank=True)
    dimensions = models.JSONField(default=dict, blank=True)
    field_notes = models.JSONField(default=dict, blank=True)
    round_submitted_at = models.DateTimeField(null=True, blank=True,
                                              help_text=_("The submission it decides (its submitted_at)"))
    review_by = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["resource", "revision", "round_submitted_at"])]

    def __str__(self) -> str:
        return f"{self.action} of {self.resource_id} by {self.reviewer_name}"


class ReviewPolicy(models.Model):
    """How a province reviews: with ``two_person_rule`` an approval takes effect only when a second,
    different reviewer concurs. Set by the province's administrators."""

    province = models.CharField(max_length=6, primary_key=True)
    two_person_rule = models.BooleanField(default=False)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"review policy of {self.province}"


class ContentCommitment(models.Model):
    """A version of the node's content commitment (承诺书) that publishers accept: new text is a new
    version, earlier versions and who accepted them stay."""

    version = models.PositiveIntegerField(primary_key=True)
    text_zh = models.TextField()
    text_en = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"commitment v{self.version}"


class CommitmentAcceptance(models.Model):
    """A publisher organisation's acceptance of a commitment version, by one of its publishers."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    commitment = models.ForeignKey(ContentCommitment, on_delete=models.PROTECT, related_name="acceptances")
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                    related_name="+")
    accepted_by_name = models.CharField(max_length=150)
    accepted_at = models.DateTimeField()

    class Meta:
        ordering = ["-accepted_at"]
        constraints = [models.UniqueConstraint(fields=["organisation", "commitment"],
                                               name="commitment_accepted_once")]

    def __str__(self) -> str:
        return f"{self.organisation_id} accepted v{self.commitment_id}"


# Teachers' ratings and comments live beside their code in catalog/ratings/ and belong to this app.
from catalog.ratings.models import Rating, RatingSummary  # noqa: E402, F401


class SchoolSharingConsent(models.Model):
    """A school administrator's consent that the school's teachers share their own lessons (一师一优课) with
    the school as the publishing organisation: each goes through the same review as any publisher's work.
    Turning it on accepts the node's content commitment for the school."""

    school = models.OneToOneField(Organisation, on_delete=models.CASCADE, primary_key=True,
                                  related_name="sharing_consent")
    teachers_may_share = models.BooleanField(default=False)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"sharing consent of {self.school_id}: {self.teachers_may_share}"
