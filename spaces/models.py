"""A teacher's space: lesson packages (备课包) — named collections of resources ordered by lesson steps,
shared privately, with the school or publicly — and follows (资源推送): a subject/grade/edition/chapter or a
saved search whose new matching resources, local or arriving through federation, land in the teacher's
新资源 feed (page, Atom feed with a revocable secret token, optional e-mail digest).

Object rights on collections are django-guardian permissions (``view_collection``, ``change_collection``)
given to the owner; who else may see one is the visibility rule in ``spaces.permissions``."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from catalog.models import Resource
from exchange.models import Organisation


class Collection(models.Model):
    class Visibility(models.TextChoices):
        PRIVATE = "private", _("仅自己")
        SCHOOL = "school", _("本校教师")
        PUBLIC = "public", _("公开")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections")
    school = models.ForeignKey(Organisation, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                               help_text=_("The owner's school when the collection was made (school sharing)"))
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=4000)
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["visibility", "school"])]

    def __str__(self) -> str:
        return self.title


class CollectionUserObjectPermission(UserObjectPermissionBase):
    """A user's object right on a collection (django-guardian, by foreign key: the rows go with the
    collection, and guardian's queries join on the key instead of casting generic text keys)."""

    content_object = models.ForeignKey(Collection, on_delete=models.CASCADE)


class CollectionGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Collection, on_delete=models.CASCADE)


class CollectionItem(models.Model):
    """One resource in a collection, at a lesson step (导入, 新授, 练习…), in order."""

    id = models.BigAutoField(primary_key=True)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=64, blank=True)
    position = models.PositiveIntegerField(default=0)
    note = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["collection", "resource"], name="spaces_item_once")]

    def __str__(self) -> str:
        return f"{self.collection_id}/{self.resource_id}"


class Follow(models.Model):
    """What a teacher follows: every non-empty field must match a new resource (a saved search's words
    must all occur in its title, description or keywords)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows")
    subject = models.CharField(max_length=32, blank=True)
    grade = models.CharField(max_length=32, blank=True)
    edition = models.CharField(max_length=64, blank=True)
    chapter = models.CharField(max_length=200, blank=True)
    query = models.CharField(max_length=200, blank=True, help_text=_("Saved search words"))
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["user", "subject", "grade", "edition", "chapter", "query"],
                                               name="spaces_follow_once")]

    def __str__(self) -> str:
        return " ".join(v for v in (self.subject, self.grade, self.edition, self.chapter, self.query) if v)


class FeedItem(models.Model):
    """A new resource pushed to a teacher (once per resource, whichever follow matched first)."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feed_items")
    resource = models.ForeignKey(Resource, on_delete=models.CASCADE, related_name="+")
    follow = models.ForeignKey(Follow, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(db_index=True)
    digested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "resource"], name="spaces_feed_once")]

    def __str__(self) -> str:
        return f"{self.user_id}/{self.resource_id}"


class FeedSettings(models.Model):
    """A teacher's feed token (only its SHA-256 is kept; the token is shown once) and digest choice."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True,
                                related_name="feed_settings")
    token_sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    token_created_at = models.DateTimeField(null=True, blank=True)
    email_digest = models.BooleanField(default=False)
    last_digest_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"feed settings of {self.user_id}"
