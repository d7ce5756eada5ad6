"""Access badges on search results: for each hit, whether the user may download it, why, and the price;
and its cover image, where the user may preview it.

``annotate_search_hits`` is registered in ``CATALOG_SEARCH_RESULT_ANNOTATORS``; the search API calls it
with the page of hits it is about to return. The answers come from ``decide_many`` (the same rules as
the download API) on the resources' decision facts and covers, read in one query as plain values (no
models: a page decides 20 resources a request), and the user's grants in at most one more.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.urls import reverse

from catalog.usage import decision_facts
from licensing.decisions import Action, Decision, Reason, decide_many, subject_of, terms_from_facts

_STAND_IN = uuid.UUID(int=0)
_REFUSED = {"allowed": False, "reason": Reason.NOT_PUBLISHED.value, "price": 0, "free_for_you": False}


def annotate_search_hits(*, user: Any, hits: list[dict[str, Any]]) -> None:
    """Add ``{"access": {"allowed", "reason", "price", "free_for_you"}, "cover": URL or None}`` to every
    hit (``hit["id"]`` is the resource id). ``price`` is what the user would pay, non-zero only with
    ``purchase_required``. A hit whose resource is no longer here (withdrawn, or gone since indexing) is
    marked refused with ``not_published``. ``cover`` is the resource's cover image when it has one and
    licensing lets this user preview the resource (``preview``, the same rule as the cover page itself)."""
    ids = [str(hit["id"]) for hit in hits if hit.get("id")]
    rows = decision_facts(ids, with_cover=True) if ids else []
    terms = [terms_from_facts(row) for row in rows]
    subject = subject_of(user) if rows else None
    downloads: dict[str, Decision] = decide_many(user, terms, Action.DOWNLOAD, subject=subject) if terms else {}
    with_cover = {row["id"] for row in rows if row["cover"]}
    previews = decide_many(user, [t for t in terms if t.resource_id in with_cover], Action.PREVIEW,
                           subject=subject) if with_cover else {}
    # One reverse() for the page: the cover URL of each resource is the same pattern around its id.
    cover_url = reverse("resource-cover", args=[_STAND_IN]) if previews else ""
    for hit in hits:
        rid = str(hit.get("id"))
        decision = downloads.get(rid)
        hit["access"] = dict(_REFUSED) if decision is None else {
            "allowed": decision.allowed, "reason": decision.reason, "price": decision.price,
            "free_for_you": decision.free_for_you}
        preview = previews.get(rid)
        hit["cover"] = cover_url.replace(str(_STAND_IN), preview.resource_id) if preview is not None and preview.allowed else None
