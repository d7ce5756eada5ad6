from __future__ import annotations

from typing import Any

from exchange.errors import InvalidInputError
from exchange.inputs import whole_number

MAX_PAGE_SIZE = 100
#: Pages further out are refused: their offset would overflow the database's integers long before
#: any list grows that long.
MAX_PAGE = 1_000_000


def page_params(params: Any, *, default_size: int = 20) -> tuple[int, int]:
    """(page, page_size) from query params, 1-based; InvalidInputError for nonsense."""
    try:
        page = whole_number(params.get("page") or 1, minimum=1, maximum=MAX_PAGE)
    except ValueError as exc:
        raise InvalidInputError(f"page must be a whole number from 1 to {MAX_PAGE}.",
                                details={"page": [f"A whole number from 1 to {MAX_PAGE}."]}) from exc
    try:
        size = whole_number(params.get("page_size") or default_size, minimum=1, maximum=MAX_PAGE_SIZE)
    except ValueError as exc:
        raise InvalidInputError(f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}.",
                                details={"page_size": [f"Between 1 and {MAX_PAGE_SIZE}."]}) from exc
    return page, size


def paginate(queryset, params: Any, *, default_size: int = 20) -> tuple[int, list]:
    page, size = page_params(params, default_size=default_size)
    count = queryset.count()
    start = (page - 1) * size
    return count, list(queryset[start:start + size])
