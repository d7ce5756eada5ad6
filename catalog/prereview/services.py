"""Writes of the pre-review: runs and their findings, the negative list (national and local entries, a
received national list), re-checks of published resources after a list change, and reviewers' decisions
on re-check items. Keyword-only, atomic, audited; side effects after commit."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from catalog.errors import NotReviewerError
from catalog.models import (
    NegativeListState,
    NegativeTerm,
    PrereviewFinding,
    PrereviewRun,
    RecheckItem,
    RecheckRun,
    Resource,
)
from catalog.permissions import can_review
from catalog.prereview.checks import (
    context_from_db,
    negative_findings,
    prereview_content,
    prereview_content_for_resource,
)
from catalog.prereview.content import HARD, Finding, PrereviewContent
from catalog.prereview.errors import (
    NegativeListStaleError,
    NegativeTermDuplicateError,
    NegativeTermInvalidError,
    RecheckItemResolvedError,
)
from catalog.prereview.files import EXAMINED, file_text_stored
from catalog.prereview.lists import ListEntry, NegativeList
from catalog.prereview.matching import fold
from catalog.prereview.permissions import can_manage_local_list, can_manage_national_list
from catalog.prereview.selectors import list_versions, prereview_run_current, version_label
from catalog.services import resource_withdraw
from exchange.audit import audit_record
from exchange.errors import InvalidInputError, PermissionDeniedError
from exchange.inputs import clean_text
from exchange.jobs import enqueue_on_commit
from exchange.locks import named_lock

Scope = NegativeTerm.Scope
MAX_TERM_LENGTH = 100
MAX_NOTE_LENGTH = 500
#: Entries one scope may hold (a signed national list carries them all in one message).
MAX_ENTRIES = 20_000
#: Published resources re-checked per transaction.
RECHECK_BATCH = 200
DECISIONS = {"keep": (RecheckItem.Status.KEPT, "recheck_kept"),
             "withdraw": (RecheckItem.Status.WITHDRAWN, "recheck_withdrawn")}


# --- runs ------------------------------------------------------------------------------------------------

@transaction.atomic
def prereview_run_record(*, content: PrereviewContent, findings: list[Finding], list_version: str,
                         trigger: str) -> PrereviewRun:
    """Store one pre-review of ``content`` with its findings (audited as ``prereview.run``)."""
    hard = sum(1 for f in findings if f.severity == HARD)
    run = PrereviewRun.objects.create(
        resource_id=content.resource_id, revision_id=content.revision_id, content_digest=content.digest(),
        list_version=list_version, trigger=trigger, hard=hard, soft=len(findings) - hard, ran_at=timezone.now())
    PrereviewFinding.objects.bulk_create([
        PrereviewFinding(run=run, position=i, code=f.code, severity=f.severity, field=f.field[:300],
                         message_zh=f.message_zh, message_en=f.message_en, detail=f.detail)
        for i, f in enumerate(findings)])
    audit_record(action="prereview.run", actor=None, object_type="prereview_run", object_id=run.pk,
                 data={"resource": content.resource_id, "revision": content.revision_id, "trigger": trigger,
                       "hard": hard,
                       "soft": run.soft, "codes": sorted({f.code for f in findings}), "list_version": list_version})
    return run


def _revision_content(resource: Resource, revision_id: int) -> PrereviewContent | None:
    builder = getattr(settings, "CATALOG_PREREVIEW_REVISION_CONTENT", "")
    return import_string(builder)(resource, revision_id) if builder else None


def prereview_resource(*, resource_id: Any, revision_id: int | None = None, trigger: str = "submission",
                       force: bool = False) -> PrereviewRun | None:
    """Pre-review the resource's current state (or, with ``revision_id``, that revision, through the
    ``CATALOG_PREREVIEW_REVISION_CONTENT`` builder) and store the run; a run of the same content under the
    same list is reused unless ``force``. None when there is nothing to pre-review (no such resource, a
    remote one, or a revision without a builder)."""
    resource = Resource.objects.filter(pk=resource_id, is_remote=False).select_related("rights").first()
    if resource is None:
        return None
    content = (prereview_content_for_resource(resource) if revision_id is None
               else _revision_content(resource, revision_id))
    if content is None:
        return None
    if not force:
        current = prereview_run_current(content)
        if current is not None:
            return current
    context = context_from_db()  # files are read outside any transaction: the worker may take a while
    findings = prereview_content(content, context=context)
    return prereview_run_record(content=content, findings=findings, list_version=context.negative_list.version,
                                trigger=trigger)


def prereview_reconcile(*, limit: int = 50) -> int:
    """Pre-review submitted resources whose newest run is missing or stale (a lost job, a list update);
    returns how many ran."""
    done = 0
    for pk in Resource.objects.filter(status=Resource.Status.SUBMITTED, is_remote=False).order_by(
            "submitted_at").values_list("pk", flat=True)[:limit * 4]:
        if done >= limit:
            break
        resource = Resource.objects.filter(pk=pk).first()
        if resource is None or prereview_run_current(prereview_content_for_resource(resource)) is not None:
            continue
        prereview_resource(resource_id=pk, trigger=PrereviewRun.Trigger.RECONCILE)
        done += 1
    return done


# --- the negative list -----------------------------------------------------------------------------------

def _require_manager(actor: Any, scope: str) -> None:
    allowed = can_manage_national_list(actor) if scope == Scope.NATIONAL else can_manage_local_list(actor)
    if not allowed:
        raise PermissionDeniedError("You may not change this negative list.", details={"scope": scope})


def _clean_term(term: Any) -> tuple[str, str]:
    try:
        text = clean_text(term, field="term", max_length=MAX_TERM_LENGTH)
    except InvalidInputError as exc:
        raise NegativeTermInvalidError(exc.message, details=exc.details) from exc
    folded = fold(text)
    if not folded:
        raise NegativeTermInvalidError("The term must hold letters or characters, not only spaces or punctuation.",
                                       details={"term": ["Letters or characters are required."]})
    return text, folded


def _clean_choice(value: Any, *, field: str, choices: Iterable[str], default: str) -> str:
    value = default if value in (None, "") else value
    if not isinstance(value, str) or value not in set(choices):
        raise NegativeTermInvalidError(details={field: [f"One of {', '.join(choices)}."]})
    return value


def _clean_note(note: Any) -> str:
    try:
        return clean_text(note, field="note", max_length=MAX_NOTE_LENGTH)
    except InvalidInputError as exc:
        raise NegativeTermInvalidError(exc.message, details=exc.details) from exc


def _refuse_duplicate(scope: str, folded: str, *, exclude: Any = None) -> None:
    scopes = [Scope.LOCAL, Scope.NATIONAL] if scope == Scope.LOCAL else [Scope.NATIONAL]
    clash = NegativeTerm.objects.filter(scope__in=scopes, folded=folded, active=True).exclude(pk=exclude).first()
    if clash is not None:
        raise NegativeTermDuplicateError(details={"term": [f"Matches the same text as {clash.term!r} "
                                                           f"({clash.scope})."], "entry": str(clash.pk)})


def _bump(scope: str) -> NegativeListState:
    state, _ = NegativeListState.objects.select_for_update().get_or_create(scope=scope)
    state.version += 1
    state.save(update_fields=["version"])
    return state


@transaction.atomic
def negative_term_create(*, actor: Any, scope: str, term: Any, category: Any = None, severity: Any = None,
                         note: Any = None) -> NegativeTerm:
    """Add an entry to the ``scope`` list (a new list version; published resources are re-checked for it).
    Raises PermissionDeniedError, NegativeTermInvalidError or NegativeTermDuplicateError."""
    _require_manager(actor, scope)
    text, folded = _clean_term(term)
    category = _clean_choice(category, field="category", choices=NegativeTerm.Category.values, default="other")
    severity = _clean_choice(severity, field="severity", choices=NegativeTerm.Severity.values, default="hard")
    note = _clean_note(note)
    _refuse_duplicate(scope, folded)
    if NegativeTerm.objects.filter(scope=scope, active=True).count() >= MAX_ENTRIES:
        raise NegativeTermInvalidError(f"A list holds at most {MAX_ENTRIES} active entries.")
    state = _bump(scope)
    now = timezone.now()
    entry = NegativeTerm.objects.create(scope=scope, term=text, folded=folded, category=category, severity=severity,
                                        note=note, active=True, version=state.version, created_at=now,
                                        updated_at=now, created_by=actor if getattr(actor, "pk", None) else None)
    audit_record(action="negative_list.entry_created", actor=actor, object_type="negative_term", object_id=entry.pk,
                 data={"scope": scope, "term": text, "category": category, "severity": severity,
                       "list_version": state.version})
    recheck_record(scope=scope, entry_ids=[str(entry.pk)])
    return entry


@transaction.atomic
def negative_term_update(*, actor: Any, entry: NegativeTerm, term: Any = None, category: Any = None,
                         severity: Any = None, note: Any = None, active: Any = None) -> NegativeTerm:
    """Change or retire (``active=False``) an entry, or bring a retired one back: a new list version.
    Published resources are re-checked when what the entry matches or how hard it is changed."""
    _require_manager(actor, entry.scope)
    entry = NegativeTerm.objects.select_for_update().get(pk=entry.pk)
    changes: dict[str, Any] = {}
    if term is not None:
        text, folded = _clean_term(term)
        if text != entry.term:
            changes.update(term=text, folded=folded)
    if category is not None:
        changes["category"] = _clean_choice(category, field="category", choices=NegativeTerm.Category.values,
                                            default=entry.category)
    if severity is not None:
        changes["severity"] = _clean_choice(severity, field="severity", choices=NegativeTerm.Severity.values,
                                            default=entry.severity)
    if note is not None:
        changes["note"] = _clean_note(note)
    if active is not None:
        if not isinstance(active, bool):
            raise NegativeTermInvalidError(details={"active": ["true or false."]})
        changes["active"] = active
    changes = {name: value for name, value in changes.items() if getattr(entry, name) != value}
    if not changes:
        return entry
    becomes_active = changes.get("active", entry.active)
    if becomes_active and ("folded" in changes or changes.get("active") is True):
        _refuse_duplicate(entry.scope, changes.get("folded", entry.folded), exclude=entry.pk)
    state = _bump(entry.scope)
    for name, value in changes.items():
        setattr(entry, name, value)
    entry.version, entry.updated_at = state.version, timezone.now()
    entry.save(update_fields=[*changes, "version", "updated_at"])
    audit_record(action="negative_list.entry_updated", actor=actor, object_type="negative_term", object_id=entry.pk,
                 data={"scope": entry.scope, "changes": {k: v for k, v in changes.items() if k != "folded"},
                       "list_version": state.version})
    if entry.active and ({"term", "severity"} & set(changes) or changes.get("active") is True):
        recheck_record(scope=entry.scope, entry_ids=[str(entry.pk)])
    return entry


def national_list_claims_entries() -> tuple[int, list[dict[str, Any]]]:
    """(Hub) the national list as signed: its version and active entries, ordered by id."""
    state = NegativeListState.objects.filter(scope=Scope.NATIONAL).first()
    entries = [{"id": str(pk), "term": term, "category": category, "severity": severity, "note": note}
               for pk, term, category, severity, note in NegativeTerm.objects.filter(
                   scope=Scope.NATIONAL, active=True).order_by("pk").values_list(
                   "pk", "term", "category", "severity", "note")]
    return (state.version if state else 0), entries


@transaction.atomic
def national_list_token_store(*, version: int, token: str, issuer: str, issued_at: datetime) -> None:
    """(Hub) keep the signed form of national list ``version`` (the current one) to serve and push."""
    state, _ = NegativeListState.objects.select_for_update().get_or_create(scope=Scope.NATIONAL)
    if state.version != version:
        raise NegativeListStaleError(details={"version": version, "current": state.version})
    state.token, state.issuer, state.issued_at = token, issuer, issued_at
    state.save(update_fields=["token", "issuer", "issued_at"])


@transaction.atomic
def national_list_replace(*, version: int, issued_at: datetime, issuer: str, token: str,
                          entries: list[dict[str, Any]], received_from: str) -> RecheckRun | None:
    """(Province) take in national list ``version`` (verified by the caller): its entries replace the
    national ones held (same ids), entries it no longer lists are retired, and published resources are
    re-checked for the new and changed entries. Returns that re-check (None when nothing changed that could
    match). Raises NegativeListStaleError when ``version`` is not newer than the one held."""
    state, _ = NegativeListState.objects.select_for_update().get_or_create(scope=Scope.NATIONAL)
    if version <= state.version:
        raise NegativeListStaleError(details={"version": version, "current": state.version})
    held = {str(row.pk): row for row in NegativeTerm.objects.select_for_update().filter(scope=Scope.NATIONAL)}
    before = {pk: (row.folded, row.severity, row.active) for pk, row in held.items()}
    NegativeTerm.objects.filter(scope=Scope.NATIONAL, active=True).update(active=False)
    now = timezone.now()
    changed: list[str] = []
    seen: set[str] = set()
    for item in entries[:MAX_ENTRIES]:
        text = str(item.get("term") or "")[:MAX_TERM_LENGTH]
        folded = fold(text)
        if not folded or folded in seen:
            continue
        seen.add(folded)
        pk = str(uuid.UUID(str(item["id"])))
        category = item.get("category") if item.get("category") in NegativeTerm.Category.values else "other"
        severity = item.get("severity") if item.get("severity") in NegativeTerm.Severity.values else "hard"
        fields = {"term": text, "folded": folded, "category": category, "severity": severity,
                  "note": str(item.get("note") or "")[:MAX_NOTE_LENGTH], "active": True}
        row = held.get(pk)
        if row is None:
            NegativeTerm.objects.create(id=pk, scope=Scope.NATIONAL, version=version, created_at=now, updated_at=now,
                                        **fields)
            changed.append(pk)
            continue
        old = before[pk]
        if old != (folded, severity, True):
            changed.append(pk)
        differs = [name for name, value in fields.items() if name != "active" and getattr(row, name) != value]
        for name, value in fields.items():
            setattr(row, name, value)
        if differs or not old[2]:
            row.version, row.updated_at = version, now
        row.save(update_fields=[*fields, "version", "updated_at"])
    active_now = {str(pk) for pk in NegativeTerm.objects.filter(scope=Scope.NATIONAL, active=True)
                  .values_list("pk", flat=True)}
    retired = sorted(pk for pk, (_, _, was_active) in before.items() if was_active and pk not in active_now)
    state.version, state.token, state.issuer, state.issued_at, state.received_at = (
        version, token, issuer, issued_at, now)
    state.save()
    audit_record(action="negative_list.national_received", actor=received_from, object_type="negative_list",
                 object_id=str(version), data={"entries": len(seen), "new_or_changed": len(changed),
                                               "retired": len(retired), "issuer": issuer})
    return recheck_record(scope=Scope.NATIONAL, entry_ids=changed, received_from=received_from) if changed else None


# --- re-checks -----------------------------------------------------------------------------------------

def recheck_record(*, scope: str, entry_ids: list[str], received_from: str = "") -> RecheckRun:
    """Record (in the caller's transaction) that published resources must be re-checked for these entries,
    and have it worked off after commit (also on every federation tick and by ``manage.py prereview_drain``,
    so a lost job loses nothing)."""
    run = RecheckRun.objects.create(scope=scope, list_version=version_label(*list_versions()),
                                    entries=sorted(entry_ids), received_from=received_from,
                                    created_at=timezone.now())
    enqueue_on_commit("catalog.prereview.jobs.recheck_drain")
    return run


def _run_list(run: RecheckRun) -> NegativeList:
    rows = NegativeTerm.objects.filter(pk__in=run.entries, active=True)
    return NegativeList.of(run.list_version, [ListEntry(id=str(r.pk), term=r.term, category=r.category,
                                                        severity=r.severity, scope=r.scope) for r in rows])


@transaction.atomic
def _recheck_batch(run_id: int, batch: int) -> bool:
    """Re-check the next ``batch`` published local resources of a run; True when the run is done."""
    run = RecheckRun.objects.select_for_update().get(pk=run_id)
    if run.status == RecheckRun.Status.DONE:
        return True
    negative_list = _run_list(run)
    qs = (Resource.objects.filter(status=Resource.Status.PUBLISHED, is_remote=False)
          .select_related("rights").prefetch_related("files").order_by("pk"))
    if run.cursor:
        qs = qs.filter(pk__gt=uuid.UUID(run.cursor))
    resources = list(qs[:batch]) if negative_list.entries else []
    only = frozenset(negative_list.entries)
    now = timezone.now()
    for resource in resources:
        content = prereview_content_for_resource(resource)
        texts = {}
        for ref in content.files:
            stored = file_text_stored(ref.sha256) if ref.mime in EXAMINED else None
            if stored is not None:
                texts[ref.sha256] = stored
            elif ref.mime in EXAMINED:
                run.files_without_text += 1
        findings = negative_findings(content, texts, negative_list, only=only)
        if findings:
            _, created = RecheckItem.objects.get_or_create(run=run, resource=resource, defaults={
                "province": resource.province, "findings": [f.to_dict() for f in findings], "created_at": now})
            run.matched += int(created)
    run.scanned += len(resources)
    if resources:
        run.cursor = str(resources[-1].pk)
    done = len(resources) < batch
    if done:
        run.status, run.finished_at = RecheckRun.Status.DONE, now
        audit_record(action="prereview.recheck_done", actor=None, object_type="recheck_run", object_id=run.pk,
                     data={"scope": run.scope, "list_version": run.list_version, "entries": len(run.entries),
                           "scanned": run.scanned, "matched": run.matched,
                           "files_without_text": run.files_without_text})
    run.save()
    return done


def recheck_drain(*, budget_seconds: float = 240.0, batch: int = RECHECK_BATCH) -> dict[str, int]:
    """Work off pending re-checks, oldest first, batch by batch, until done or ``budget_seconds`` is spent
    (the next drain goes on from the run's cursor). One drain at a time per node."""
    report = {"runs_done": 0, "batches": 0}
    deadline = time.monotonic() + budget_seconds
    with named_lock("prereview-recheck", timeout=0) as held:
        if not held:
            return report
        for run_id in RecheckRun.objects.filter(status=RecheckRun.Status.PENDING).order_by("id").values_list(
                "pk", flat=True):
            while time.monotonic() < deadline:
                report["batches"] += 1
                if _recheck_batch(run_id, batch):
                    report["runs_done"] += 1
                    break
            if time.monotonic() >= deadline:
                break
    return report


@transaction.atomic
def recheck_item_resolve(*, user: Any, item: RecheckItem, decision: str, note: str = "") -> RecheckItem:
    """A reviewer of the resource's province decides a re-check item: ``keep`` the resource published (a
    note saying why is required) or ``withdraw`` it (``review_revoked``). Audited with the reason code
    ``recheck_kept`` / ``recheck_withdrawn``. Raises NotReviewerError, InvalidInputError,
    RecheckItemResolvedError, and the withdrawal's own errors."""
    note = clean_text(note, field="note")
    item = RecheckItem.objects.select_for_update().select_related("resource").get(pk=item.pk)
    if not can_review(user, item.resource):
        raise NotReviewerError()
    if decision not in DECISIONS:
        raise InvalidInputError(details={"decision": [f"One of {', '.join(DECISIONS)}."]})
    if item.status != RecheckItem.Status.OPEN:
        raise RecheckItemResolvedError(details={"status": item.status})
    if decision == "keep" and not note:
        raise InvalidInputError("Keeping the resource needs a note saying why.",
                                details={"note": ["This field is required."]})
    status, reason_code = DECISIONS[decision]
    if decision == "withdraw":
        resource_withdraw(user=user, resource=item.resource, reason="review_revoked",
                          note=note or "负面清单复核后撤回")
    item.status, item.reason_code, item.note = status, reason_code, note
    item.resolved_at, item.resolved_by = timezone.now(), user
    item.save(update_fields=["status", "reason_code", "note", "resolved_at", "resolved_by"])
    audit_record(action="prereview.recheck_resolved", actor=user, object_type="recheck_item", object_id=item.pk,
                 data={"resource": str(item.resource_id), "run": item.run_id, "decision": decision,
                       "reason_code": reason_code, "note": note})
    return item
