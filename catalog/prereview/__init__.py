"""Machine pre-review (机器预审) of resources: negative-list terms, copyright conflicts, metadata
completeness and consistency, active content in files. It never approves anything: it reports findings
with stable reason codes, and a ``hard`` finding blocks approval (``prereview_approval_check``).

Modules by topic: ``content`` (the content and findings), ``matching`` (folding and term matching),
``extraction`` / ``worker`` (reading files in a child process), ``fingerprints`` (near-identical text),
``obligations`` (the metadata table), ``checks`` (the checks), ``models``, ``services``, ``selectors``,
``jobs``, ``apis``, ``pages``.

The public entry points are importable from here; they are loaded on first use so that the worker
process, which reads one file and must not load Django's models, can import its modules from this
package.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "PrereviewContent": "catalog.prereview.content",
    "Finding": "catalog.prereview.content",
    "FileRef": "catalog.prereview.content",
    "prereview_content": "catalog.prereview.checks",
    "prereview_content_for_resource": "catalog.prereview.checks",
    "prereview_content_for_subject": "catalog.prereview.checks",
    "prereview_findings": "catalog.prereview.selectors",
    "prereview_approval_check": "catalog.prereview.approval",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
