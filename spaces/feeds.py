"""资源推送: new resources matched to what teachers follow, their Atom feed and e-mail digest.

``resources_published_hook`` is a ``CATALOG_PUBLISHED_HOOKS`` entry: the catalog calls it after commit with
the ids of resources that became public here — published locally, imported, or arrived through federation
(``catalog.events.resources_published``) — and it schedules ``spaces.jobs.feed_match``. Matching writes one
``FeedItem`` per (teacher, resource), however many follows match and however often the hook is called."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext as _

from catalog.models import Resource
from exchange.jobs import enqueue
from spaces.models import FeedItem, FeedSettings, Follow

FEED_ATOM_ENTRIES = 50
DIGEST_MAX_ENTRIES = 100


def resources_published_hook(*, resource_ids: list[str]) -> None:
    """Called after commit by the catalog (see the module docstring): match them in a job."""
    enqueue("spaces.jobs.feed_match", resource_ids=[str(pk) for pk in resource_ids])


def follow_matches(follow: Follow, resource: Resource) -> bool:
    """Whether ``resource`` is what ``follow`` asks for: every field it names is equal, and every word of its
    saved search occurs (case-insensitively) in the title, description or keywords."""
    for name in ("subject", "grade", "edition", "chapter"):
        wanted = getattr(follow, name)
        if wanted and wanted.casefold() != (getattr(resource, name) or "").casefold():
            return False
    if follow.query:
        text = " ".join([resource.title, resource.description, *map(str, resource.keywords or [])]).casefold()
        if not all(word in text for word in follow.query.casefold().split()):
            return False
    return True


def feed_match(*, resource_ids: Iterable[str], now: dt.datetime | None = None) -> int:
    """Push the published ones among ``resource_ids`` to the feeds of teachers whose follows match.
    Returns the number of new feed items (an item already there is kept as it was)."""
    now = now or timezone.now()
    # by key only, the status checked here: with ``status`` in the WHERE clause SQLite's planner reads every
    # published row through the status index (a cost per batch that grows with the catalog)
    resources = [r for r in Resource.objects.filter(pk__in=list(resource_ids)).only(
                     "id", "status", "title", "description", "keywords", "subject", "grade", "edition", "chapter")
                 if r.status == Resource.Status.PUBLISHED]
    if not resources:
        return 0
    subjects = {r.subject for r in resources}
    follows = list(Follow.objects.filter(Q(subject="") | Q(subject__in=subjects), user__is_active=True)
                   .order_by("created_at", "pk"))
    rows: dict[tuple[int, str], FeedItem] = {}
    for resource in resources:
        for follow in follows:
            key = (follow.user_id, str(resource.pk))
            if key not in rows and follow_matches(follow, resource):
                rows[key] = FeedItem(user_id=follow.user_id, resource=resource, follow=follow, created_at=now)
    if not rows:
        return 0
    before = FeedItem.objects.filter(resource_id__in=[r.pk for r in resources]).count()
    FeedItem.objects.bulk_create(rows.values(), ignore_conflicts=True, batch_size=500)
    return FeedItem.objects.filter(resource_id__in=[r.pk for r in resources]).count() - before


def feed_atom(*, user: Any, items: Iterable[FeedItem], base_url: str) -> bytes:
    """The user's new resources as an Atom 1.0 document (links are absolute, under ``base_url``)."""
    base_url = base_url.rstrip("/")
    feed = Atom1Feed(title=_("新资源 · %(user)s") % {"user": user.get_username()},
                     link=base_url + reverse("space-feed"), description=_("您关注的学科、年级、教材、章节和保存的搜索的新资源"),
                     language=translation.get_language() or "zh-hans", feed_guid=f"{base_url}/feeds/{user.pk}")
    for item in items:
        resource = item.resource
        link = base_url + reverse("resource-page", args=[resource.pk])
        feed.add_item(title=resource.title, link=link, description=resource.description[:1000],
                      unique_id=f"urn:uuid:{resource.pk}", pubdate=item.created_at, updateddate=item.created_at,
                      categories=[c for c in (resource.subject, resource.grade, resource.edition, resource.chapter) if c],
                      author_name=resource.publisher_name)
    return feed.writeString("utf-8").encode("utf-8")


def feed_digest_send(*, user_id: int, base_url: str, now: dt.datetime | None = None) -> int:
    """E-mail the user the feed items not sent yet (when they asked for the digest and have an address),
    then mark them sent. Returns the number of items sent."""
    now = now or timezone.now()
    row = FeedSettings.objects.select_related("user").filter(user_id=user_id, email_digest=True).first()
    if row is None or not row.user.email or not row.user.is_active:
        return 0
    items = list(FeedItem.objects.filter(user_id=user_id, digested_at__isnull=True, resource__status="published")
                 .select_related("resource").order_by("created_at", "id")[:DIGEST_MAX_ENTRIES])
    if not items:
        return 0
    base_url = base_url.rstrip("/")
    lines = [_("您关注的内容有 %(n)d 个新资源：") % {"n": len(items)}, ""]
    lines += [f"- {item.resource.title}\n  {base_url}{reverse('resource-page', args=[item.resource_id])}"
              for item in items]
    lines += ["", _("在“新资源”页面可以管理关注和取消邮件提醒：") + f" {base_url}{reverse('space-feed')}"]
    send_mail(subject=_("新资源提醒（%(n)d）") % {"n": len(items)}, message="\n".join(lines), from_email=None,
              recipient_list=[row.user.email], fail_silently=False)
    with transaction.atomic():
        FeedItem.objects.filter(pk__in=[item.pk for item in items]).update(digested_at=now)
        FeedSettings.objects.filter(pk=row.pk).update(last_digest_at=now)
    return len(items)


def digest_recipients() -> list[int]:
    """Ids of users who asked for the digest and have unsent feed items."""
    return list(FeedSettings.objects.filter(email_digest=True, user__is_active=True,
                                            user__feed_items__digested_at__isnull=True)
                .values_list("user_id", flat=True).distinct().order_by("user_id"))
