"""A resource's history page: every version that went live with what changed, and — for its publisher's
members and its province's reviewers — every revision with the reviewers' decisions
(``catalog.review.selectors.resource_history``)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalog.pages.common import Labels, resource_for
from catalog.review import selectors as review_selectors
from catalog.review.decisions import DIMENSIONS, REJECT_REASONS
from exchange.views_pages import FIELD_LABELS


def _changes(diff: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"label": str(FIELD_LABELS.get(row["field"], row["field"])), "old": row["old"], "new": row["new"]}
            for row in diff["fields"] + diff["rights"]]


@login_not_required
@require_GET
def resource_history(request: HttpRequest, resource_id: Any) -> HttpResponse:
    """Versions of a resource, newest first. Permission: whoever may see the resource (published: anyone;
    otherwise its publisher's members and its province's reviewers); decisions and revisions only for those
    who may see unpublished work of it."""
    resource = resource_for(request, resource_id)
    history = review_selectors.resource_history(user=request.user, resource=resource)
    versions = [{"version": v, "changes": _changes(diff), "files": diff["files"], "first": i == len(history.versions) - 1}
                for i, (v, diff) in enumerate(history.versions)]
    dimension_labels = {code: str(label) for code, label in DIMENSIONS}
    reason_labels = {code: str(label) for code, label in REJECT_REASONS}
    revisions = [{"revision": r, "decisions": [{"decision": d, "reason": reason_labels.get(d.reason_code, d.reason_code),
                                                 "failed": [dimension_labels.get(c, c) for c, v in d.dimensions.items()
                                                            if v.get("result") == "fail"]} for d in decisions]}
                 for r, decisions in history.revisions]
    return render(request, "catalog/history.html", {
        "resource": resource, "versions": versions, "revisions": revisions, "detailed": history.detailed,
        "origin": Labels.load().origin(resource.origin_node),
    })
