"""Reads of the pre-review: the effective negative list, findings of a resource, re-checks, filtered by
what the user may see."""

from __future__ import annotations

import threading
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Max, QuerySet
from django.utils.translation import get_language
from guardian.shortcuts import get_objects_for_user

from catalog.models import NegativeListState, NegativeTerm, PrereviewRun, RecheckItem, RecheckRun, Resource
from catalog.prereview.content import PrereviewContent
from catalog.prereview.lists import ListEntry, NegativeList
from catalog.prereview.permissions import can_see_recheck_report, province_of_user
from exchange.roles import Role, user_has_role

Scope = NegativeTerm.Scope
_cache_lock = threading.Lock()
_cache: dict[str, Any] = {}


def list_versions() -> tuple[int, int]:
    """(national version, local version) held here."""
    versions = dict(NegativeListState.objects.values_list("scope", "version"))
    return int(versions.get(Scope.NATIONAL, 0)), int(versions.get(Scope.LOCAL, 0))


def version_label(national: int, local: int) -> str:
    """How a run names the list it used: ``N7.L2`` (national version 7, local version 2)."""
    return f"N{national}.L{local}"


def negative_list_effective() -> NegativeList:
    """The active entries of the national and the local list, compiled (cached per pair of versions)."""
    national, local = list_versions()
    label = version_label(national, local)
    # Versions only grow, but a restored backup or a test's rolled-back transaction can bring one back
    # with other entries: the key also holds what the entries themselves say.
    shape = NegativeTerm.objects.filter(active=True).aggregate(n=Count("pk"), last=Max("updated_at"))
    key = (label, shape["n"], shape["last"])
    with _cache_lock:
        cached = _cache.get("list")
        if cached is not None and cached[0] == key:
            return cached[1]
    entries = [ListEntry(id=str(pk), term=term, category=category, severity=severity, scope=scope)
               for pk, term, category, severity, scope in NegativeTerm.objects.filter(active=True).values_list(
                   "pk", "term", "category", "severity", "scope")]
    compiled = NegativeList.of(label, entries)
    with _cache_lock:
        _cache["list"] = (key, compiled)
    return compiled


def negative_terms(*, scope: str, include_retired: bool = True) -> QuerySet[NegativeTerm]:
    qs = NegativeTerm.objects.filter(scope=scope)
    return qs if include_retired else qs.filter(active=True)


def negative_term_get(*, scope: str, entry_id: Any) -> NegativeTerm | None:
    try:
        return NegativeTerm.objects.filter(scope=scope, pk=entry_id).first()
    except (ValueError, TypeError, ValidationError):  # a malformed id names no entry
        return None


def negative_list_state(scope: str) -> NegativeListState | None:
    return NegativeListState.objects.filter(scope=scope).first()


# --- runs and findings -----------------------------------------------------------------------------------

def prereview_run_latest(resource_id: Any, revision_id: int | None) -> PrereviewRun | None:
    return (PrereviewRun.objects.filter(resource_id=resource_id, revision_id=revision_id)
            .order_by("-id").prefetch_related("findings").first())


def prereview_run_current(content: PrereviewContent) -> PrereviewRun | None:
    """The newest run of exactly this content under the negative list held now, or None."""
    run = prereview_run_latest(content.resource_id, content.revision_id)
    if run is None or run.content_digest != content.digest() or run.list_version != version_label(*list_versions()):
        return None
    return run


def finding_dict(finding: Any, language: str | None = None) -> dict[str, Any]:
    language = language if language is not None else get_language()
    message = finding.message_en if (language or "").startswith("en") else finding.message_zh
    return {"code": finding.code, "severity": finding.severity, "field": finding.field, "message": message,
            "detail": finding.detail}


def prereview_findings(resource_id: str, revision_id: int | None = None) -> list[dict[str, Any]]:
    """The findings of the newest pre-review of the resource (``revision_id``: of that revision), each
    ``{"code", "severity", "field", "message" (in the active language), "detail"}``; hard ones first.
    Empty when it has not been pre-reviewed. (Fits ``CATALOG_REVIEW_FINDINGS``; the caller has checked that
    the reader may review the resource.)"""
    run = prereview_run_latest(resource_id, revision_id)
    if run is None:
        return []
    rows = sorted(run.findings.all(), key=lambda f: (f.severity != "hard", f.position))
    return [finding_dict(f) for f in rows]


def prereview_status(resource_id: Any, revision_id: int | None, content: PrereviewContent | None = None
                     ) -> dict[str, Any]:
    """When the newest run ran, with which list, and whether it is of the content (and list) now."""
    run = prereview_run_latest(resource_id, revision_id)
    if run is None:
        return {"ran_at": None, "list_version": None, "current": False, "hard": 0, "soft": 0}
    current = content is not None and run.content_digest == content.digest() and \
        run.list_version == version_label(*list_versions())
    return {"ran_at": run.ran_at.isoformat(), "list_version": run.list_version, "current": current,
            "hard": run.hard, "soft": run.soft, "trigger": run.trigger}


# --- re-checks ------------------------------------------------------------------------------------------

def recheck_items_for_reviewer(*, user, status: str | None = RecheckItem.Status.OPEN) -> QuerySet[RecheckItem]:
    """Re-check items about resources the user reviews (their province's), newest first."""
    if not user_has_role(user, Role.REVIEWER):
        return RecheckItem.objects.none()
    reviewable = get_objects_for_user(user, "catalog.review_resource", klass=Resource.objects.filter(is_remote=False),
                                      accept_global_perms=False)
    qs = RecheckItem.objects.filter(resource__in=reviewable).select_related("resource", "run")
    return qs.filter(status=status) if status else qs


def recheck_item_get(*, user, item_id: Any) -> RecheckItem | None:
    try:
        return recheck_items_for_reviewer(user=user, status=None).filter(pk=int(item_id)).first()
    except (ValueError, TypeError):
        return None


def recheck_runs(*, user) -> QuerySet[RecheckRun]:
    """Every re-check on this node, for whoever may read the report (province administrators)."""
    if not can_see_recheck_report(user):
        return RecheckRun.objects.none()
    return RecheckRun.objects.all()


def recheck_run_items(*, user, run: RecheckRun) -> QuerySet[RecheckItem]:
    """The items of a re-check about the user's province."""
    province = province_of_user(user)
    if not can_see_recheck_report(user) or not province:
        return RecheckItem.objects.none()
    return run.items.filter(province=province).select_related("resource", "resolved_by")
