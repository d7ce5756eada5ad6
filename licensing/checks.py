"""The licence audit the content under review must pass before a reviewer can approve it.

``rights_coherent`` is listed in ``CATALOG_APPROVAL_CHECKS``: it judges a ``catalog.review.ReviewSubject``
— a new resource as submitted, or the proposed rights of a revision of a published one, never the live
statement a revision would replace. The catalog's approval refuses with ``approval_check_failed`` and
these problems (each with a stable ``code``) in the error details. The same list is shown to publishers
before they submit (``GET /api/v1/resources/{id}/rights/check``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import License
from catalog.review import ReviewSubject
from catalog.usage import resources_with_rights
from exchange.inputs import calendar_date

CODES = (
    "missing_rights", "missing_holder", "arr_without_price_or_territory", "price_on_open_licence",
    "nd_licence_on_derived_work", "derived_from_self", "source_forbids_derivatives", "share_alike_not_kept",
    "embargo_after_term_end", "term_already_ended", "priced_without_grant_term",
)


def _problem(code: str, message: str, field: str) -> dict[str, Any]:
    return {"code": code, "message": message, "field": field}


def _date(value):
    return calendar_date(value) if value else None


def rights_coherent(subject: ReviewSubject) -> list[dict[str, Any]]:
    """Every incoherence in the rights statement under review, as ``{"code", "message", "field"}``
    (empty when the statement is coherent)."""
    rights = subject.rights
    licence = subject.licence
    if rights is None or licence is None:
        return [_problem("missing_rights", _("资源缺少版权声明。"), "rights")]
    price, grant_days = int(rights.get("price") or 0), int(rights.get("grant_days") or 0)
    term_end, embargo_until = _date(rights.get("term_end")), _date(rights.get("embargo_until"))
    problems: list[dict[str, Any]] = []
    if not (rights.get("holder") or "").strip():
        problems.append(_problem("missing_holder", _("版权声明缺少权利人。"), "holder"))
    if not licence.is_open and price == 0 and not rights.get("territory"):
        problems.append(_problem(
            "arr_without_price_or_territory",
            _("保留所有权利的资源必须设定价格（数字资源券）或限定授权地域，否则等于无条件全国免费开放。"), "license"))
    if licence.is_open and price > 0:
        problems.append(_problem(
            "price_on_open_licence",
            _("开放许可协议（%(licence)s）的资源不能收费：任何获得副本的人都可以自由再分发。")
            % {"licence": licence.pk}, "price"))
    if not licence.is_open and price > 0 and grant_days == 0:
        problems.append(_problem("priced_without_grant_term", _("收费资源的授权期限（天数）必须大于零。"),
                                 "grant_days"))
    if embargo_until and term_end and embargo_until > term_end:
        problems.append(_problem("embargo_after_term_end", _("禁用期结束日期晚于授权终止日期，资源将永远无法使用。"),
                                 "embargo_until"))
    if term_end and term_end < timezone.localdate():
        problems.append(_problem("term_already_ended", _("授权终止日期已过。"), "term_end"))
    if rights.get("derived_from"):
        problems.extend(_derivation_problems(subject, rights, licence))
    return problems


def _derivation_problems(subject: ReviewSubject, rights: Mapping[str, Any], licence: License) -> list[dict[str, Any]]:
    problems: list[dict[str, Any]] = []
    resource = subject.resource
    if not licence.allows_derivatives and licence.is_open:
        problems.append(_problem(
            "nd_licence_on_derived_work",
            _("演绎作品不能采用“禁止演绎”（ND）许可协议（%(licence)s）：它本身就是改编作品。")
            % {"licence": licence.pk}, "license"))
    if str(rights["derived_from"]) == str(resource.pk):
        problems.append(_problem("derived_from_self", _("资源不能改编自其自身。"), "derived_from"))
        return problems
    source = resources_with_rights([rights["derived_from"]]).first()
    if source is None:
        return problems
    try:
        source_licence = source.rights.license
    except ObjectDoesNotExist:
        return problems
    same_holder = source.publisher_id is not None and source.publisher_id == resource.publisher_id
    if not source_licence.allows_derivatives and not same_holder:
        problems.append(_problem(
            "source_forbids_derivatives",
            _("所改编的原作品《%(title)s》的许可协议（%(licence)s）不允许演绎。")
            % {"title": source.title, "licence": source_licence.pk}, "derived_from"))
    elif source_licence.share_alike and source_licence.pk != licence.pk:
        problems.append(_problem(
            "share_alike_not_kept",
            _("原作品采用“相同方式共享”许可协议（%(licence)s），改编作品必须采用相同的许可协议。")
            % {"licence": source_licence.pk}, "license"))
    return problems
