"""What every app's web pages share: the role gate, turning domain errors into messages a person can
read, safe search highlights, page links and small server-rendered SVG charts.

The pages themselves live next to the services they call (``catalog.pages``, ``licensing.pages``,
``federation.pages``); their routes are in ``exchange.page_urls``. Nothing here decides what a user
may do with an object: that stays in the apps' permission functions, selectors and services.
"""

from __future__ import annotations

import functools
import html
import re
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from exchange.errors import ExchangeError
from exchange.roles import user_has_role

View = Callable[..., HttpResponse]


# --- the role gate -----------------------------------------------------------------------------------

def role_required(*roles: str) -> Callable[[View], View]:
    """Sign-in required (redirect to the login page), then any of ``roles`` (403 page otherwise).
    Object rights are still checked by the selectors and services the view calls."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not any(user_has_role(request.user, role) for role in roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapped.required_roles = roles  # type: ignore[attr-defined]
        return login_required(wrapped)

    return decorate


# --- errors as people read them ---------------------------------------------------------------------

# Stable error codes → a sentence for the page. Codes not listed fall back to the error's own message.
ERROR_MESSAGES: dict[str, Any] = {
    "invalid_input": _("输入有误，请检查标出的字段。"),
    "unknown_vocabulary_term": _("有字段的取值不在规范词表中，请从列表中选择。"),
    "rights_invalid": _("版权声明不完整或有误，请检查标出的字段。"),
    "file_too_large": _("文件超过了大小上限。"),
    "file_empty": _("文件是空的。"),
    "file_type_not_allowed": _("不接受这种文件类型。"),
    "file_type_mismatch": _("文件内容与扩展名不符。"),
    "checksum_mismatch": _("文件校验值不一致，请重新上传。"),
    "too_many_files": _("文件数量超过上限。"),
    "file_name_invalid": _("文件名不被接受（含路径、控制字符、设备名，或过长）。"),
    "archive_too_large": _("压缩文件解压后超过了上限（条目数或大小）。"),
    "archive_bomb": _("压缩文件结构异常（疑似压缩炸弹），不予接收。"),
    "no_files": _("提交审核前至少需要一个文件。"),
    "upload_invalid": _("文件无法接收。"),
    "invalid_transition": _("资源当前的状态不允许这个操作。"),
    "not_reviewer": _("只有该资源所属省份的审核员可以审核。"),
    "not_publisher_member": _("只有资源发布机构的成员可以修改它。"),
    "resource_read_only": _("这是其他节点发布的资源，在本节点只读。"),
    "resource_not_found": _("资源不存在或您无权查看。"),
    "permission_denied": _("您没有执行此操作的权限。"),
    "not_authenticated": _("请先登录。"),
    "approval_check_failed": _("版权审查未通过，不能批准："),
    "insufficient_vouchers": _("学校的数字资源券余额不足。"),
    "already_entitled": _("无需购买：您已经可以使用该资源。"),
    "not_purchasable": _("该资源对您不可购买。"),
    "no_school_account": _("只有学校的教师或学校管理员可以使用资源券。"),
    "funding_not_allowed": _("只有学校所在省份的管理员可以为其发放资源券。"),
    "file_unavailable": _("文件尚未到达本节点，请稍后再试。"),
    "takedown_already_decided": _("该投诉已经处理过了。"),
    "not_takedown_reviewer": _("只有资源所属省份的审核员可以处理投诉。"),
    "not_claimant": _("只有权利人（发布者）和管理员可以提交侵权投诉。"),
    "resource_withdrawn": _("该资源已经撤回。"),
    "invalid_period": _("统计期间无效。"),
    "settlement_not_allowed": _("您只能查看本机构（或本省）的结算数据。"),
    "fingerprint_mismatch": _("指纹与申请时登记的密钥不符，未批准（已记入审计日志）。"),
    "enrolment_state_invalid": _("该申请已处理过，不能再批准。"),
    "enrolment_not_found": _("没有这个加入申请。"),
    "not_a_hub": _("只有国家枢纽可以批准加入申请。"),
    "commitment_required": _("本机构尚未接受内容承诺书：首次提交前，须由本机构的发布者接受。"),
    "commitment_outdated": _("内容承诺书已有新版本，请阅读后接受新版本。"),
    "revision_in_review": _("该资源的修订正在审核中，审核结束（或撤销修订）前不能再修改。"),
    "revision_empty": _("修订与线上版本相同，没有需要审核的修改。"),
    "revision_not_found": _("该资源没有待处理的修订。"),
    "second_reviewer_required": _("本省实行双人审核：您已批准过，需由另一位审核员确认。"),
    "dimension_failed": _("有审核维度未通过，请退回并说明理由，不能批准。"),
    "file_not_found": _("没有这个文件。"),
    "resource_taken_down": _("该资源已被下架，在撤销下架前不能发布或更新。"),
    "allowance_exceeded": _("您本学期的资源券额度不足，请联系学校管理员。"),
    "approval_required": _("该价格的购买需要学校管理员审批。"),
    "purchase_request_pending": _("您已提交过这项购买申请，正在等待学校管理员审批。"),
    "purchase_request_not_found": _("本校没有这项购买申请。"),
    "purchase_request_decided": _("这项购买申请已经处理过了。"),
    "not_school_admin": _("只有本校的学校管理员可以这样做。"),
    "rating_not_allowed": _("只有教师可以评价资源。"),
    "rating_closed": _("只有已发布的资源可以评价。"),
    "comment_refused": _("评论含有不能发布的内容（机器预审未通过），未保存。"),
    "rating_not_found": _("没有这条评价。"),
    "derivatives_not_allowed": _("该资源的许可协议不允许改编（禁止演绎或保留所有权利）。"),
    "share_alike_not_kept": _("原作采用“相同方式共享”许可协议，改编作品必须采用相同的许可协议。"),
}
# Field names of service error details → the label shown next to the message.
FIELD_LABELS: dict[str, Any] = {
    "title": _("标题"), "stage": _("学段"), "subject": _("学科"), "grade": _("年级"), "edition": _("版本"),
    "volume": _("册次"), "resource_type": _("类型"), "language": _("语言"), "keywords": _("关键词"),
    "holder": _("权利人"), "year": _("年份"), "license": _("许可协议"), "territory": _("授权地域"),
    "audience": _("使用对象"), "price": _("价格"), "free_for": _("免费学校类别"), "grant_days": _("授权期限"),
    "term_end": _("权利截止日期"), "embargo_until": _("禁用期至"), "reason": _("理由"), "note": _("说明"),
    "statement": _("投诉说明"), "grounds": _("投诉理由"), "per_student": _("每名学生资源券数"),
    "categories": _("学校类别"), "files": _("文件"), "file": _("文件"),
    "description": _("简介"), "chapter": _("章"), "section": _("节"), "attribution": _("署名文字"),
    "textbook_id": _("教材编号"), "derived_from": _("改编自"), "dimensions": _("审核维度"),
    "field_notes": _("逐项意见"), "reason_code": _("退回类别"), "review_by": _("复审日期"),
    "stars": _("评分"), "comment": _("评论"),
    "teacher_allowance": _("每位教师每学期额度"), "approval_threshold": _("需审批的价格线"), "amount": _("额度"),
}


def error_text(exc: ExchangeError) -> str:
    """One sentence for a domain error: the page's own wording for its code, with the file it concerns
    or the approval problems when the details name them; else the error's message."""
    known = ERROR_MESSAGES.get(exc.code)
    if known is None:
        return exc.message
    text = str(known)
    details = exc.details if isinstance(exc.details, Mapping) else {}
    if exc.code == "approval_check_failed":
        problems = details.get("problems") or []
        text += "；".join(str(p.get("message", "")) for p in problems if isinstance(p, Mapping))
    elif isinstance(details.get("file"), str):
        text = f"{details['file']}: {text}"
    return text


def field_errors(exc: ExchangeError) -> dict[str, list[str]]:
    """The per-field problems a service reported (``{"title": ["This field is required."]}``)."""
    details = exc.details if isinstance(exc.details, Mapping) else {}
    out: dict[str, list[str]] = {}
    for name, problems in details.items():
        if isinstance(problems, str):
            problems = [problems]
        if isinstance(problems, list | tuple) and all(isinstance(p, str) for p in problems):
            out[str(name)] = [str(p) for p in problems]
    return out


def show_error(request: HttpRequest, exc: ExchangeError) -> None:
    """Put the error, and every field problem it names, on the next page as messages."""
    messages.error(request, error_text(exc))
    for name, problems in field_errors(exc).items():
        if name in FIELD_LABELS:
            messages.error(request, f"{FIELD_LABELS[name]}: {'; '.join(problems)}")


# --- search highlights --------------------------------------------------------------------------------

_MARK_TAG = re.compile(r"<(/?)(em|mark)>", re.IGNORECASE)


def safe_highlight(fragment: str | None) -> SafeString:
    """A search backend's highlight fragment as safe HTML: every character is escaped except the
    ``<em>``/``<mark>`` tags that mark matches, which become balanced ``<mark>`` elements. Text the
    backend already escaped is not escaped twice (it is unescaped first)."""
    if not fragment:
        return mark_safe("")  # noqa: S308 - empty string
    out: list[str] = []
    open_mark = False
    pos = 0
    for match in _MARK_TAG.finditer(fragment):
        out.append(escape(html.unescape(fragment[pos:match.start()])))
        closing = bool(match.group(1))
        if closing and open_mark:
            out.append("</mark>")
            open_mark = False
        elif not closing and not open_mark:
            out.append("<mark>")
            open_mark = True
        pos = match.end()
    out.append(escape(html.unescape(fragment[pos:])))
    if open_mark:
        out.append("</mark>")
    return mark_safe("".join(out))  # noqa: S308 - every text piece above is escaped


# --- query strings and page links ----------------------------------------------------------------------

def query_string(params: QueryDict | Mapping[str, Any], *, drop: Iterable[str] = (), **changes: Any) -> str:
    """``?…`` for the current query with ``changes`` applied (a value of None or "" removes the key,
    a list sets several values) and the keys in ``drop`` removed."""
    data: dict[str, list[str]] = {}
    items = params.lists() if isinstance(params, QueryDict) else ((k, v if isinstance(v, list) else [v])
                                                                  for k, v in params.items())
    for key, values in items:
        data[key] = [str(v) for v in values if v not in (None, "")]
    for key in drop:
        data.pop(key, None)
    for key, value in changes.items():
        if value in (None, "", []):
            data.pop(key, None)
        else:
            data[key] = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
    pairs = [(k, v) for k, values in data.items() for v in values]
    return "?" + urlencode(pairs) if pairs else "?"


def page_numbers(page: int, pages: int, *, around: int = 2) -> list[int | None]:
    """Page numbers to link, with None where a gap is: ``[1, None, 4, 5, 6, 7, 8, None, 20]``."""
    if pages <= 1:
        return [1] if pages == 1 else []
    wanted = {1, pages, *range(max(1, page - around), min(pages, page + around) + 1)}
    out: list[int | None] = []
    previous = 0
    for number in sorted(wanted):
        if number - previous > 1:
            out.append(None)
        out.append(number)
        previous = number
    return out


# --- charts ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChartPoint:
    label: str
    value: int


def _nice_max(value: int) -> int:
    """The smallest 1/2/5 × 10ⁿ at or above ``value`` (axis top), at least 1."""
    if value <= 1:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def column_chart_svg(points: Sequence[ChartPoint], *, title: str, unit: str = "") -> SafeString:
    """A column chart (one column per point, e.g. per month) as inline SVG that scales to its box.
    The SVG has a title and a description listing every value for screen readers."""
    width, height, left, bottom, top = 640, 260, 44, 40, 16
    plot_w, plot_h = width - left - 8, height - bottom - top
    top_value = _nice_max(max((p.value for p in points), default=0))
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(4.0, slot * 0.6)
    desc = "; ".join(f"{p.label}: {p.value}{unit}" for p in points)
    parts = [
        format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d" '
                    'preserveAspectRatio="xMidYMid meet">', width, height, _chart_id(title), _chart_id(title)),
        format_html('<title id="{}-t">{}</title><desc id="{}-d">{}</desc>', _chart_id(title), title,
                    _chart_id(title), desc),
    ]
    intervals = min(5, top_value)  # top_value is 1, 2 or 5 × 10ⁿ: whole-number ticks
    for i in range(intervals + 1):
        value = top_value * i / intervals
        y = top + plot_h - plot_h * i / intervals
        parts.append(format_html('<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>'
                                 '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>',
                                 left, width - 8, f"{y:.1f}", f"{y:.1f}", left - 6, f"{y + 4:.1f}",
                                 _fmt(value)))
    label_every = max(1, (n + 11) // 12)
    for i, point in enumerate(points):
        bar_h = plot_h * point.value / top_value
        x = left + slot * i + (slot - bar_w) / 2
        y = top + plot_h - bar_h
        parts.append(format_html('<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}{}</title>'
                                 '</rect>', f"{x:.1f}", f"{y:.1f}", f"{bar_w:.1f}", f"{bar_h:.1f}", point.label,
                                 point.value, unit))
        if point.value:
            parts.append(format_html('<text class="value" x="{}" y="{}" text-anchor="middle">{}</text>',
                                     f"{x + bar_w / 2:.1f}", f"{y - 4:.1f}", point.value))
        if i % label_every == 0:
            parts.append(format_html('<text class="axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                                     f"{x + bar_w / 2:.1f}", height - bottom + 18, point.label))
    parts.append(mark_safe("</svg>"))  # noqa: S308 - constant
    return mark_safe("".join(parts))  # noqa: S308 - every piece is built with format_html


def bar_chart_svg(points: Sequence[ChartPoint], *, title: str, unit: str = "") -> SafeString:
    """A horizontal bar chart (one bar per point, e.g. per province) as inline SVG, tall enough for
    every label; with a title and a description listing every value."""
    row_h, left, right, top = 24, 120, 56, 8
    width = 640
    height = top * 2 + row_h * max(len(points), 1)
    plot_w = width - left - right
    top_value = _nice_max(max((p.value for p in points), default=0))
    desc = "; ".join(f"{p.label}: {p.value}{unit}" for p in points)
    cid = _chart_id(title)
    parts = [
        format_html('<svg class="chart" viewBox="0 0 {} {}" role="img" aria-labelledby="{}-t {}-d">',
                    width, height, cid, cid),
        format_html('<title id="{}-t">{}</title><desc id="{}-d">{}</desc>', cid, title, cid, desc),
    ]
    for i, point in enumerate(points):
        y = top + row_h * i
        bar_w = plot_w * point.value / top_value
        parts.append(format_html(
            '<text class="axis" x="{}" y="{}" text-anchor="end">{}</text>'
            '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}: {}{}</title></rect>'
            '<text class="value" x="{}" y="{}">{}</text>',
            left - 6, f"{y + row_h * 0.68:.1f}", point.label,
            left, f"{y + 3:.1f}", f"{bar_w:.1f}", row_h - 6, point.label, point.value, unit,
            f"{left + bar_w + 4:.1f}", f"{y + row_h * 0.68:.1f}", point.value))
    parts.append(mark_safe("</svg>"))  # noqa: S308 - constant
    return mark_safe("".join(parts))  # noqa: S308 - every piece is built with format_html


def _chart_id(title: str) -> str:
    return f"chart-{zlib.crc32(title.encode('utf-8')):08x}"


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
