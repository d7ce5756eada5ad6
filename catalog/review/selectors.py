"""Reads for review: the province's queue of new resources and revisions, one submission's review state
(what changed, the decisions so far, the machine's findings, the provider's commitment), what is due for
re-review, and a resource's history. Each is filtered by what the user may see."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from guardian.shortcuts import get_objects_for_user

from catalog.errors import RevisionNotFoundError
from catalog.models import CommitmentAcceptance, Resource, ResourceRevision, ResourceVersion, ReviewDecision
from catalog.permissions import can_review, can_see_unpublished
from catalog.review.commitment import commitment_acceptance_of
from catalog.review.decisions import approvals_required, latest_rejection, round_decisions
from catalog.review.history import content_diff, content_of, versions_with_changes
from catalog.review.revisions import revision_open
from catalog.review.subject import (
    ReviewSubject,
    approval_problems,
    review_findings,
    subject_of_resource,
    subject_of_revision,
)
from exchange.models import Organisation
from exchange.roles import Role, user_has_role

Status = Resource.Status
RevStatus = ResourceRevision.Status

#: The queue's tabs: which resources and which revisions each shows.
QUEUE_STATUSES: dict[str, tuple[str, str | None]] = {
    Status.SUBMITTED: (Status.SUBMITTED, RevStatus.SUBMITTED),
    Status.APPROVED: (Status.APPROVED, None),
    Status.REJECTED: (Status.REJECTED, RevStatus.REJECTED),
}


def _reviewable(user) -> QuerySet[Resource]:
    if not user_has_role(user, Role.REVIEWER):
        return Resource.objects.none()
    return get_objects_for_user(user, "catalog.review_resource", klass=Resource.objects.filter(is_remote=False),
                                accept_global_perms=False)


def review_subject_current(resource: Resource) -> ReviewSubject:
    """The content a reviewer would decide on now: the open revision of a published resource, else the
    resource itself. (Callers check the user may see unpublished content of the resource.)"""
    revision = revision_open(resource) if resource.status == Status.PUBLISHED else None
    return subject_of_revision(revision) if revision is not None else subject_of_resource(resource)


@dataclass
class QueueItem:
    """One submission in the queue: a new resource (``revision`` None) or a revision of a published one."""

    resource: Resource
    revision: ResourceRevision | None
    submitted_at: dt.datetime | None
    approvals: int = 0
    needed: int = 1
    findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "revision" if self.revision is not None else "new"


class ReviewQueue:
    """The queue of one tab, oldest submission first, loaded a page at a time (``count`` and slicing, as
    Django's paginator and ``exchange.pagination.paginate`` use them)."""

    def __init__(self, keys: list[tuple[dt.datetime, str, Any]]) -> None:
        self.keys = keys

    def count(self) -> int:
        return len(self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: slice | int) -> Any:
        if isinstance(index, int):
            return self[index:index + 1][0]
        keys = self.keys[index]
        resources = {r.pk: r for r in Resource.objects.filter(pk__in=[k for _t, kind, k in keys if kind == "new"])
                     .select_related("rights", "publisher").prefetch_related("files")}
        revisions = {r.pk: r for r in ResourceRevision.objects.filter(
            pk__in=[k for _t, kind, k in keys if kind == "revision"]).select_related("resource", "resource__publisher")}
        items = []
        for _t, kind, key in keys:
            if kind == "new" and key in resources:
                resource = resources[key]
                items.append(_queue_item(resource, None, resource.submitted_at))
            elif kind == "revision" and key in revisions:
                revision = revisions[key]
                items.append(_queue_item(revision.resource, revision, revision.submitted_at))
        return items


def _queue_item(resource: Resource, revision: ResourceRevision | None, submitted_at) -> QueueItem:
    approvals = [d for d in round_decisions(resource=resource, revision=revision, round_submitted_at=submitted_at)
                 if d.action == ReviewDecision.Action.APPROVE]
    return QueueItem(resource=resource, revision=revision, submitted_at=submitted_at, approvals=len(approvals),
                     needed=approvals_required(resource.province),
                     findings=review_findings(resource_id=str(resource.pk),
                                              revision_id=revision.pk if revision else None))


_EPOCH = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def review_queue_items(*, user, status: str = Status.SUBMITTED) -> ReviewQueue:
    """New resources and revisions waiting in ``status`` (submitted, approved, rejected) in the reviewer's
    province, oldest submission first."""
    resource_status, revision_status = QUEUE_STATUSES.get(status, QUEUE_STATUSES[Status.SUBMITTED])
    reviewable = _reviewable(user)
    keys: list[tuple[dt.datetime, str, Any]] = [
        (submitted or _EPOCH, "new", pk)
        for submitted, pk in reviewable.filter(status=resource_status).values_list("submitted_at", "pk")]
    if revision_status is not None:
        keys += [(submitted or _EPOCH, "revision", pk) for submitted, pk in ResourceRevision.objects.filter(
            status=revision_status, resource__status=Status.PUBLISHED,
            resource__in=reviewable.values("pk")).values_list("submitted_at", "pk")]
    keys.sort(key=lambda k: (k[0], k[1], str(k[2])))
    return ReviewQueue(keys)


# --- one submission --------------------------------------------------------------------------------------

@dataclass
class ReviewState:
    """What a reviewer (or the publisher) sees of a resource's review now."""

    resource: Resource
    revision: ResourceRevision | None
    subject: ReviewSubject
    diff: dict[str, Any] | None
    decisions: list[ReviewDecision]
    needed: int
    findings: list[dict[str, Any]]
    approval_problems: list[dict[str, Any]]
    commitment: CommitmentAcceptance | None
    last_rejection: ReviewDecision | None

    @property
    def kind(self) -> str:
        return "revision" if self.revision is not None else "new"

    @property
    def submitted(self) -> bool:
        item = self.revision if self.revision is not None else self.resource
        return item.status == Status.SUBMITTED

    @property
    def approvals(self) -> list[ReviewDecision]:
        return [d for d in self.decisions if d.action == ReviewDecision.Action.APPROVE]

    def approved_by(self, user) -> bool:
        return any(d.reviewer_id == getattr(user, "pk", None) for d in self.approvals)


def review_state(*, resource: Resource) -> ReviewState:
    """The review state of ``resource`` (callers check ``can_see_unpublished``): its open revision when it
    is published, else the resource's own submission."""
    revision = revision_open(resource) if resource.status == Status.PUBLISHED else None
    if revision is not None:
        subject = subject_of_revision(revision)
        diff: dict[str, Any] | None = content_diff(content_of(subject_of_resource(resource)), content_of(subject))
        submitted, submitted_at = revision.status == RevStatus.SUBMITTED, revision.submitted_at
    else:
        subject = subject_of_resource(resource)
        diff = None
        submitted, submitted_at = resource.status == Status.SUBMITTED, resource.submitted_at
    return ReviewState(
        resource=resource, revision=revision, subject=subject, diff=diff,
        decisions=round_decisions(resource=resource, revision=revision, round_submitted_at=submitted_at)
        if submitted else [],
        needed=approvals_required(resource.province),
        findings=review_findings(resource_id=str(resource.pk), revision_id=revision.pk if revision else None),
        approval_problems=approval_problems(subject),
        commitment=commitment_acceptance_of(resource.publisher),
        last_rejection=latest_rejection(resource=resource, revision=revision) if (
            (revision is not None and revision.status == RevStatus.REJECTED)
            or (revision is None and resource.status == Status.REJECTED)) else None,
    )


def revision_get(*, user, resource: Resource) -> ResourceRevision:
    """The open revision of a resource the user may see unpublished work of (its publisher's members, its
    province's reviewers). Raises RevisionNotFoundError otherwise (the same for none and not allowed)."""
    revision = revision_open(resource) if can_see_unpublished(user, resource) else None
    if revision is None:
        raise RevisionNotFoundError()
    return revision


def pending_revisions(*, resource_ids: list[Any]) -> dict[Any, ResourceRevision]:
    """The open revision of each of these resources that has one (for the publisher's list)."""
    return {r.resource_id: r for r in ResourceRevision.objects.filter(
        resource_id__in=resource_ids, status__in=ResourceRevision.OPEN_STATUSES)}


# --- re-review -------------------------------------------------------------------------------------------

def rereview_province_of(user) -> str | None:
    """The province whose due re-reviews ``user`` sees: a reviewer's or province administrator's, by their
    bureau."""
    org = getattr(user, "organisation", None)
    if org is None or org.kind != Organisation.Kind.BUREAU or not (
            user_has_role(user, Role.REVIEWER) or user_has_role(user, Role.PROVINCE_ADMIN)):
        return None
    return org.region_id[:2] + "0000"


def rereview_due(*, user, within_days: int = 30) -> QuerySet[Resource]:
    """Published local resources of the user's province whose review-by date falls within ``within_days``
    from today (or has passed), soonest first."""
    province = rereview_province_of(user)
    if province is None:
        return Resource.objects.none()
    horizon = timezone.localdate() + dt.timedelta(days=within_days)
    return (Resource.objects.filter(is_remote=False, province=province, status=Status.PUBLISHED,
                                    review_by__isnull=False, review_by__lte=horizon)
            .select_related("publisher").order_by("review_by", "pk"))


# --- history --------------------------------------------------------------------------------------------

@dataclass
class History:
    """Every version that went live (newest first, with what changed) and, for those who may see
    unpublished work, every revision with its decisions."""

    versions: list[tuple[ResourceVersion, dict[str, Any]]]
    revisions: list[tuple[ResourceRevision, list[ReviewDecision]]]
    detailed: bool


def _live_version(resource: Resource) -> ResourceVersion:
    """The live content of a resource as an (unsaved) version: for a resource published, or a remote one
    applied, before versions were kept."""
    content = content_of(subject_of_resource(resource))
    return ResourceVersion(resource=resource, version=resource.version,
                           source=ResourceVersion.Source.REMOTE if resource.is_remote else ResourceVersion.Source.BASELINE,
                           live_from=resource.published_at or resource.updated_at, recorded_at=resource.updated_at,
                           metadata=content["metadata"], rights=content["rights"], files=content["files"])


def resource_history(*, user, resource: Resource) -> History:
    """The history of a resource the user may see (``catalog.selectors.resource_get``). A published resource
    whose live version was never kept (published or applied before versions were) shows it on top."""
    detailed = can_see_unpublished(user, resource)
    revisions: list[tuple[ResourceRevision, list[ReviewDecision]]] = []
    if detailed:
        rows = list(ResourceRevision.objects.filter(resource=resource).order_by("-number"))
        decisions: dict[Any, list[ReviewDecision]] = {}
        for decision in ReviewDecision.objects.filter(resource=resource, revision__in=rows).order_by("created_at"):
            decisions.setdefault(decision.revision_id, []).append(decision)
        revisions = [(row, decisions.get(row.pk, [])) for row in rows]
    versions = versions_with_changes(resource)
    if resource.status == Status.PUBLISHED and not any(v.version == resource.version for v, _ in versions):
        live = _live_version(resource)
        previous = versions[0][0] if versions else None
        before = None if previous is None else {"metadata": previous.metadata, "rights": previous.rights,
                                                "files": previous.files}
        versions.insert(0, (live, content_diff(before, {"metadata": live.metadata, "rights": live.rights,
                                                        "files": live.files})))
    return History(versions=versions, revisions=revisions, detailed=detailed)


def may_decide(user, resource: Resource) -> bool:
    """Whether the review forms are offered to ``user`` (the services decide again)."""
    return can_review(user, resource)
