"""Ratings and their per-resource summary.

A ``Rating`` is one teacher's stars (1–5) for one resource, with an optional comment: changing the rating
replaces it (one row per teacher and resource). A comment is ``visible``, ``held`` (the machine pre-review
found a soft negative-list term: a reviewer of the province decides) or ``hidden`` (by a reviewer, with a
reason; audited). ``RatingSummary`` keeps the count, the sum and the Bayesian score of a resource's ratings,
written in the rating's transaction under a lock on the summary row; search sorts by the score.
Ratings are local usage: they do not change the record's version and are not federated.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Rating(models.Model):
    class CommentStatus(models.TextChoices):
        NONE = "none", _("无评论")
        VISIBLE = "visible", _("已显示")
        HELD = "held", _("待审核")
        HIDDEN = "hidden", _("已隐藏")

    id = models.BigAutoField(primary_key=True)
    resource = models.ForeignKey("catalog.Resource", on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ratings")
    stars = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True)
    comment_status = models.CharField(max_length=8, choices=CommentStatus.choices, default=CommentStatus.NONE)
    findings = models.JSONField(default=list, blank=True, help_text=_("The pre-review's findings on the comment"))
    moderated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+")
    moderated_at = models.DateTimeField(null=True, blank=True)
    moderation_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        app_label = "catalog"
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "user"], name="rating_once_per_user"),
            models.CheckConstraint(condition=Q(stars__gte=1, stars__lte=5), name="rating_stars_1_to_5"),
        ]
        indexes = [models.Index(fields=["resource", "comment_status", "-updated_at"])]

    def __str__(self) -> str:
        return f"{self.user_id} rated {self.resource_id}: {self.stars}"


class RatingSummary(models.Model):
    resource = models.OneToOneField("catalog.Resource", on_delete=models.CASCADE, primary_key=True,
                                    related_name="rating_summary")
    count = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    score = models.FloatField(help_text=_("Bayesian average: (prior weight × prior mean + total) / (prior weight + count)"))
    updated_at = models.DateTimeField()

    class Meta:
        app_label = "catalog"

    def __str__(self) -> str:
        return f"{self.resource_id}: {self.score:.2f} ({self.count})"

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None
