"""One approval or rejection by one reviewer, the same for a new resource and for a revision: the
dimensions and the reason code, the approval checks on the content under review, the two-person rule.
The callers (``catalog.services`` for resources, ``catalog.review.revisions`` for revisions) move the
status and audit the step."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from catalog.errors import SecondReviewerRequiredError
from catalog.guards import refuse_if_taken_down
from catalog.models import ReviewDecision
from catalog.review.decisions import (
    APPROVED,
    CONCURRED,
    FIRST_APPROVAL,
    approvals_required,
    approvals_snapshot,
    clean_dimensions,
    clean_field_notes,
    clean_review_by,
    decision_record,
    reject_reason_code,
    round_decisions,
)
from catalog.review.subject import ReviewSubject, approval_checks_run
from exchange.errors import InvalidInputError
from exchange.inputs import clean_text


@dataclass(frozen=True)
class ApprovalOutcome:
    """The decision recorded; ``effective`` when the approvals the province needs are now complete
    (then ``approvals`` are all of them and ``review_by`` the date the last one set)."""

    decision: ReviewDecision
    effective: bool
    approvals: list[dict[str, Any]]
    needed: int
    review_by: dt.date


def approval_step(*, user, subject: ReviewSubject, round_submitted_at: dt.datetime | None, note: str = "",
                  dimensions: Any = None, review_by: Any = None) -> ApprovalOutcome:
    """Record ``user``'s approval of ``subject`` (in the caller's transaction, the resource locked).

    Raises InvalidInputError / DimensionFailedError for bad or failed dimensions, ResourceTakenDownError
    under a standing takedown, ApprovalCheckFailedError when ``CATALOG_APPROVAL_CHECKS`` find problems in
    the content under review, SecondReviewerRequiredError when the province's two-person rule needs
    another reviewer and ``user`` approved this submission already."""
    resource, revision = subject.resource, subject.revision
    note = clean_text(note, field="note").strip()
    stated = clean_dimensions(dimensions, for_approval=True)
    day = clean_review_by(review_by, resource_type=str(subject.metadata.get("resource_type", "")))
    refuse_if_taken_down(resource)
    earlier = [d for d in round_decisions(resource=resource, revision=revision, round_submitted_at=round_submitted_at)
               if d.action == ReviewDecision.Action.APPROVE]
    if any(d.reviewer_id == user.pk for d in earlier):
        raise SecondReviewerRequiredError(details={"approvals": len(earlier)})
    approval_checks_run(subject)
    needed = approvals_required(resource.province)
    count = len(earlier) + 1
    code = FIRST_APPROVAL if count < needed else (CONCURRED if earlier else APPROVED)
    decision = decision_record(resource=resource, revision=revision, reviewer=user, action=ReviewDecision.Action.APPROVE,
                               reason_code=code, note=note, dimensions=stated, round_submitted_at=round_submitted_at,
                               review_by=day)
    return ApprovalOutcome(decision=decision, effective=count >= needed,
                           approvals=approvals_snapshot([*earlier, decision]), needed=needed, review_by=day)


def rejection_step(*, user, subject: ReviewSubject, round_submitted_at: dt.datetime | None, reason: str,
                   reason_code: Any = None, dimensions: Any = None, field_notes: Any = None) -> ReviewDecision:
    """Record ``user``'s rejection of ``subject`` with its reason (required), reason code, dimensions
    and notes per field. Raises InvalidInputError without a reason or for bad values."""
    reason = clean_text(reason, field="reason").strip()
    if not reason:
        raise InvalidInputError("A rejection needs a reason.", details={"reason": ["This field is required."]})
    stated = clean_dimensions(dimensions, for_approval=False)
    notes = clean_field_notes(field_notes)
    code = reject_reason_code(reason_code, stated)
    return decision_record(resource=subject.resource, revision=subject.revision, reviewer=user,
                           action=ReviewDecision.Action.REJECT, reason_code=code, note=reason, dimensions=stated,
                           field_notes=notes, round_submitted_at=round_submitted_at)
