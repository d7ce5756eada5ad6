from __future__ import annotations

from typing import Any

from exchange.errors import InvalidInputError

MAX_PAGE_SIZE = 100


def page_params(params: Any, *, default_size: int = 20) -> tuple[int, int]:
    """(page, page_size) from query params, 1-based; InvalidInputError for nonsense."""
    try:
        page = int(params.get("page") or 1)
        size = int(params.get("page_size") or default_size)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError("page and page_size must be whole numbers.",
                                details={"page": ["A whole number."]}) from exc
    if page < 1 or size < 1 or size > MAX_PAGE_SIZE:
        raise InvalidInputError(f"page ≥ 1 and 1 ≤ page_size ≤ {MAX_PAGE_SIZE}.",
                                details={"page_size": [f"Between 1 and {MAX_PAGE_SIZE}."]})
    return page, size


def paginate(queryset, params: Any, *, default_size: int = 20) -> tuple[int, list]:
    page, size = page_params(params, default_size=default_size)
    count = queryset.count()
    start = (page - 1) * size
    return count, list(queryset[start:start + size])
