"""Background jobs of teacher spaces (ids in, services called; rq or in-process, see ``exchange.jobs``)."""

from __future__ import annotations

from django.conf import settings

from spaces import feeds


def feed_match(*, resource_ids: list[str]) -> int:
    return feeds.feed_match(resource_ids=resource_ids)


def feed_digest_send(*, user_id: int, base_url: str | None = None) -> int:
    return feeds.feed_digest_send(user_id=user_id, base_url=base_url or settings.EXCHANGE_BASE_URL)
