"""The approval check of the pre-review (``CATALOG_APPROVAL_CHECKS``): no approval over a hard finding."""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language

from catalog.prereview.checks import context_from_db, prereview_content, prereview_content_for_subject
from catalog.prereview.content import HARD, Finding
from catalog.prereview.selectors import prereview_run_current
from catalog.prereview.services import prereview_run_record


def prereview_approval_check(subject: Any) -> list[dict[str, Any]]:
    """Every hard finding of the pre-review of exactly the content under review, as an approval problem
    ``{"code", "message", "field", "severity", "detail", "check": "prereview"}``.

    ``subject`` is a ``Resource`` or an object describing the content under review (``.resource`` plus any
    of ``.metadata``, ``.rights``, ``.files``, ``.revision_id``; see ``prereview_content_for_subject``). A
    stored run of the same content under the negative list held now is reused; otherwise the pre-review
    runs now (reading only files not read before) and is stored with the approval (if the approval is
    refused, that transaction and the run with it are rolled back; the next attempt runs it again)."""
    content = prereview_content_for_subject(subject)
    run = prereview_run_current(content)
    if run is not None:
        findings = [Finding(code=f.code, severity=f.severity, field=f.field, message_zh=f.message_zh,
                            message_en=f.message_en, detail=f.detail) for f in run.findings.all()]
    else:
        context = context_from_db()
        findings = prereview_content(content, context=context)
        prereview_run_record(content=content, findings=findings, list_version=context.negative_list.version,
                             trigger="approval")
    language = get_language()
    return [{"code": f.code, "message": f.message(language), "field": f.field, "severity": f.severity,
             "detail": f.detail, "check": "prereview"} for f in findings if f.severity == HARD]
