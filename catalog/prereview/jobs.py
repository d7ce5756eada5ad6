"""Pre-review jobs (``exchange.jobs.enqueue``: in-process or rq). They take ids and call a service."""

from __future__ import annotations

from typing import Any

from catalog.prereview import services
from exchange.jobs import enqueue


def prereview_run(resource_id: str, revision_id: int | None = None, trigger: str = "submission") -> int | None:
    """Job: pre-review the resource's current content (or that revision's) and store the findings; returns
    the run's id (None when there was nothing to pre-review)."""
    run = services.prereview_resource(resource_id=resource_id, revision_id=revision_id, trigger=trigger)
    return run.pk if run is not None else None


def prereview_on_submission(resource_id: str, revision_id: int | None = None) -> None:
    """Hook for ``CATALOG_SUBMISSION_HOOKS`` (called after the submission committed): queue the pre-review."""
    enqueue("catalog.prereview.jobs.prereview_run", resource_id=str(resource_id), revision_id=revision_id,
            trigger="submission")


def recheck_drain() -> dict[str, Any]:
    """Job: work off pending negative-list re-checks of the published resources."""
    return services.recheck_drain()


def prereview_drain() -> dict[str, Any]:
    """Job (the federation tick, ``manage.py prereview_drain``): pending re-checks, then submitted resources
    whose pre-review is missing or stale."""
    report: dict[str, Any] = dict(services.recheck_drain())
    report["reconciled"] = services.prereview_reconcile()
    return report
