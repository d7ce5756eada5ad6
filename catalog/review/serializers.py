"""How review objects look in the API (output only; the services validate input)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from catalog.models import (
    CommitmentAcceptance,
    ContentCommitment,
    ResourceRevision,
    ResourceVersion,
    ReviewDecision,
    ReviewPolicy,
    RevisionFile,
)
from catalog.review.selectors import History, QueueItem, ReviewState
from catalog.serializers import ResourceSerializer


def _ts(value) -> str | None:
    return value.isoformat() if value else None


def decision_data(decision: ReviewDecision) -> dict[str, Any]:
    return {"id": decision.pk, "action": decision.action, "reason_code": decision.reason_code,
            "reviewer": decision.reviewer_name, "note": decision.note, "dimensions": decision.dimensions,
            "field_notes": decision.field_notes, "review_by": _ts(decision.review_by), "at": _ts(decision.created_at)}


def revision_file_data(row: RevisionFile) -> dict[str, Any]:
    """A file of a revision, as the API shows files: ``id`` is the id it has (or will have) when live."""
    return {"id": str(row.file_id), "original_name": row.original_name, "sha256": row.sha256, "size": row.size,
            "mime": row.mime, "duration_seconds": row.duration_seconds, "position": row.position}


def revision_data(revision: ResourceRevision, *, diff: dict[str, Any] | None = None) -> dict[str, Any]:
    data = {
        "id": revision.pk, "number": revision.number, "status": revision.status,
        "base_version": revision.base_version, "applied_version": revision.applied_version,
        "metadata": revision.metadata, "rights": revision.rights,
        "files": [revision_file_data(f) for f in revision.files.order_by("position", "id")],
        "review_note": revision.review_note, "created_at": _ts(revision.created_at),
        "updated_at": _ts(revision.updated_at), "submitted_at": _ts(revision.submitted_at),
        "decided_at": _ts(revision.decided_at),
    }
    if diff is not None:
        data["diff"] = diff
    return data


def commitment_acceptance_data(acceptance: CommitmentAcceptance | None) -> dict[str, Any] | None:
    if acceptance is None:
        return None
    return {"version": acceptance.commitment_id, "accepted_by": acceptance.accepted_by_name,
            "accepted_at": _ts(acceptance.accepted_at)}


def review_state_data(state: ReviewState) -> dict[str, Any]:
    return {
        "kind": state.kind,
        "resource": ResourceSerializer(state.resource).data,
        "revision": revision_data(state.revision, diff=state.diff) if state.revision is not None else None,
        "submitted": state.submitted,
        "decisions": [decision_data(d) for d in state.decisions],
        "approvals": len(state.approvals), "approvals_needed": state.needed,
        "findings": state.findings,
        "approval_problems": state.approval_problems,
        "commitment": commitment_acceptance_data(state.commitment),
        "last_rejection": decision_data(state.last_rejection) if state.last_rejection else None,
        "review_by": _ts(state.resource.review_by),
    }


def queue_item_data(item: QueueItem) -> dict[str, Any]:
    """A queue entry: the (live) resource as everywhere in the API, with what is under review."""
    return ResourceSerializer(item.resource).data | {
        "kind": item.kind,
        "revision": None if item.revision is None else {
            "id": item.revision.pk, "number": item.revision.number, "status": item.revision.status,
            "title": item.revision.metadata.get("title", ""), "submitted_at": _ts(item.revision.submitted_at)},
        "approvals": item.approvals, "approvals_needed": item.needed, "findings": item.findings}


def version_data(version: ResourceVersion, changes: dict[str, Any], *, detailed: bool) -> dict[str, Any]:
    data = {"version": version.version, "source": version.source, "live_from": _ts(version.live_from),
            "metadata": version.metadata, "rights": version.rights, "files": version.files, "changes": changes}
    if detailed:
        data["approvals"] = version.approvals
        data["revision"] = version.revision_id
    return data


def history_data(history: History) -> dict[str, Any]:
    return {
        "versions": [version_data(v, changes, detailed=history.detailed) for v, changes in history.versions],
        "revisions": [revision_data(r) | {"decisions": [decision_data(d) for d in decisions]}
                      for r, decisions in history.revisions] if history.detailed else None,
    }


def commitment_data(commitment: ContentCommitment, acceptance: CommitmentAcceptance | None) -> dict[str, Any]:
    return {"version": commitment.version, "text": {"zh-Hans": commitment.text_zh, "en": commitment.text_en},
            "created_at": _ts(commitment.created_at), "accepted": commitment_acceptance_data(acceptance)}


def policy_data(policy: ReviewPolicy) -> dict[str, Any]:
    return {"province": policy.province, "two_person_rule": policy.two_person_rule,
            "updated_at": _ts(policy.updated_at) if policy.pk and policy.updated_by_id else None}


# --- OpenAPI shapes -----------------------------------------------------------------------------------------

Diff = inline_serializer("RevisionDiff", {
    "fields": serializers.ListField(child=serializers.DictField(), help_text="{field, old, new} per changed field"),
    "rights": serializers.ListField(child=serializers.DictField(), help_text="{field, old, new} per changed right"),
    "files": serializers.DictField(help_text="{added: [...], removed: [...]}"),
    "empty": serializers.BooleanField(),
})
Decision = inline_serializer("ReviewDecision", {
    "id": serializers.IntegerField(), "action": serializers.CharField(help_text="approve, reject or confirm (a re-review)"),
    "reason_code": serializers.CharField(), "reviewer": serializers.CharField(), "note": serializers.CharField(),
    "dimensions": serializers.DictField(help_text="{dimension: {result: pass|fail, comment}}"),
    "field_notes": serializers.DictField(), "review_by": serializers.DateField(allow_null=True),
    "at": serializers.DateTimeField(),
})
Revision = inline_serializer("Revision", {
    "id": serializers.IntegerField(), "number": serializers.IntegerField(),
    "status": serializers.CharField(help_text="draft, submitted, rejected, applied or cancelled"),
    "base_version": serializers.IntegerField(), "applied_version": serializers.IntegerField(allow_null=True),
    "metadata": serializers.DictField(), "rights": serializers.DictField(),
    "files": serializers.ListField(child=serializers.DictField()), "review_note": serializers.CharField(),
    "created_at": serializers.DateTimeField(), "updated_at": serializers.DateTimeField(),
    "submitted_at": serializers.DateTimeField(allow_null=True), "decided_at": serializers.DateTimeField(allow_null=True),
    "diff": Diff,
})
Finding = inline_serializer("ReviewFinding", {
    "code": serializers.CharField(), "severity": serializers.CharField(help_text="hard or soft"),
    "field": serializers.CharField(), "message": serializers.CharField()})
Acceptance = inline_serializer("CommitmentAcceptance", {
    "version": serializers.IntegerField(), "accepted_by": serializers.CharField(),
    "accepted_at": serializers.DateTimeField()}, allow_null=True)
ReviewStateSchema = inline_serializer("ReviewState", {
    "kind": serializers.CharField(help_text="new or revision"), "resource": ResourceSerializer(),
    "revision": Revision, "submitted": serializers.BooleanField(), "decisions": Decision.__class__(many=True),
    "approvals": serializers.IntegerField(), "approvals_needed": serializers.IntegerField(),
    "findings": Finding.__class__(many=True), "approval_problems": serializers.ListField(child=serializers.DictField()),
    "commitment": Acceptance, "last_rejection": Decision, "review_by": serializers.DateField(allow_null=True),
})
QueueItemSchema = inline_serializer("ReviewQueueItem", {
    **ResourceSerializer().get_fields(),
    "kind": serializers.CharField(help_text="new (a new resource) or revision (a revision of it)"),
    "revision": serializers.DictField(allow_null=True, help_text="{id, number, status, title, submitted_at}"),
    "approvals": serializers.IntegerField(), "approvals_needed": serializers.IntegerField(),
    "findings": Finding.__class__(many=True),
})
VersionSchema = inline_serializer("ResourceVersion", {
    "version": serializers.IntegerField(), "source": serializers.CharField(help_text="publish, revision, baseline or remote"),
    "live_from": serializers.DateTimeField(), "metadata": serializers.DictField(), "rights": serializers.DictField(),
    "files": serializers.ListField(child=serializers.DictField()), "changes": Diff,
    "approvals": serializers.ListField(child=serializers.DictField(), required=False,
                                       help_text="publisher's members and reviewers only"),
})
HistorySchema = inline_serializer("ResourceHistory", {
    "versions": VersionSchema.__class__(many=True),
    "revisions": serializers.ListField(child=serializers.DictField(), allow_null=True,
                                       help_text="publisher's members and reviewers only (null for others)"),
})
CommitmentSchema = inline_serializer("Commitment", {
    "version": serializers.IntegerField(), "text": serializers.DictField(help_text='{"zh-Hans": …, "en": …}'),
    "created_at": serializers.DateTimeField(), "accepted": Acceptance})
PolicySchema = inline_serializer("ReviewPolicy", {
    "province": serializers.CharField(), "two_person_rule": serializers.BooleanField(),
    "updated_at": serializers.DateTimeField(allow_null=True)})
