"""Access badges on search results: for each hit, whether the user may download it, why, and the price;
and its cover image, where the user may preview it.

Registered in ``CATALOG_SEARCH_RESULT_ANNOTATORS``; the search API calls it with the page of hits it is
about to return. The answers come from ``decide_many`` (the same rules as the download API) with the
resources loaded in one query and the user's grants in at most one more.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from catalog.previews.selectors import covers_for
from catalog.usage import resources_for_decisions
from licensing.decisions import Action, Reason, decide_many


def annotate_search_hits(*, user: Any, hits: list[dict[str, Any]]) -> None:
    """Add ``{"access": {"allowed", "reason", "price", "free_for_you"}}`` to every hit (``hit["id"]`` is
    the resource id; ``price`` is what the user would pay, non-zero only with ``purchase_required``). A hit whose resource is no longer here (withdrawn, or gone since indexing) is
    marked refused with ``not_published``."""
    ids = [str(hit["id"]) for hit in hits if hit.get("id")]
    decisions = decide_many(user, resources_for_decisions(ids), Action.DOWNLOAD) if ids else {}
    for hit in hits:
        decision = decisions.get(str(hit.get("id")))
        if decision is None:
            hit["access"] = {"allowed": False, "reason": Reason.NOT_PUBLISHED.value, "price": 0,
                             "free_for_you": False}
            continue
        hit["access"] = {"allowed": decision.allowed, "reason": decision.reason, "price": decision.price,
                         "free_for_you": decision.free_for_you}


def annotate_search_covers(*, user: Any, hits: list[dict[str, Any]]) -> None:
    """Add ``{"cover": URL or None}`` to every hit: the resource's cover image when it has one and
    licensing lets this user preview the resource (``decide_many`` with ``preview``, the same rule as
    the cover page itself), else None."""
    ids = [str(hit["id"]) for hit in hits if hit.get("id")]
    covers = covers_for(resource_ids=ids) if ids else {}
    with_cover = [i for i in ids if i in covers]
    decisions = decide_many(user, resources_for_decisions(with_cover), Action.PREVIEW) if with_cover else {}
    for hit in hits:
        decision = decisions.get(str(hit.get("id")))
        hit["cover"] = (reverse("resource-cover", args=[hit["id"]])
                        if decision is not None and decision.allowed else None)
