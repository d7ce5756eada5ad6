"""Attribution text for a resource, rendered the way its licence asks (TASL: Title, Author, Source,
Licence), in Chinese and English, as plain text and as HTML with links."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from catalog.models import License, Resource
from catalog.usage import resources_with_rights


@dataclass(frozen=True)
class Attribution:
    zh: str
    en: str
    html_zh: SafeString
    html_en: SafeString

    def as_dict(self) -> dict[str, str]:
        return {"zh-Hans": self.zh, "en": self.en, "html": {"zh-Hans": str(self.html_zh), "en": str(self.html_en)}}


def licence_short_name(licence: License) -> str:
    """The short form licences are cited by: ``CC BY-NC-SA 4.0``, ``CC0 1.0``, ``PDM 1.0``."""
    lid = licence.pk
    if lid.startswith("CC-") and lid.endswith("-4.0"):
        return "CC " + lid[3:-4] + " 4.0"
    if lid == "CC0-1.0":
        return "CC0 1.0"
    if lid == "PDM-1.0":
        return "PDM 1.0"
    return licence.name


def resource_source_url(resource: Resource) -> str:
    """Where people find the resource on this node: its web page, or its API record on a node that
    serves no pages."""
    try:
        path = reverse("resource-page", kwargs={"resource_id": resource.pk})
    except NoReverseMatch:
        path = reverse("api-resource", kwargs={"resource_id": resource.pk})
    return settings.EXCHANGE_BASE_URL + path


def render_attribution(resource: Resource, *, adapted_from_title: str | None = None) -> Attribution:
    """Attribution text for ``resource`` (loaded with its rights and licence).

    CC licences: title, holder, source and licence with its URL; public-domain tools say so instead of
    licensing; all-rights-reserved terms give the copyright notice. A derived work names its source
    (``adapted_from_title`` when the source is known here, else its id)."""
    rights = resource.rights
    licence = rights.license
    title, holder, year, source = resource.title, rights.holder, rights.year, resource_source_url(resource)
    short = licence_short_name(licence)
    public_domain = licence.is_open and not licence.attribution_required
    if not licence.is_open:
        zh = f"《{title}》© {year} {holder}，保留所有权利。来源：{source}"
        en = f"“{title}” © {year} {holder}. All rights reserved. Source: {source}"
        html_zh = format_html("《<a href=\"{}\">{}</a>》© {} {}，保留所有权利", source, title, year, holder)
        html_en = format_html("“<a href=\"{}\">{}</a>” © {} {}. All rights reserved", source, title, year, holder)
    elif public_domain:
        zh = f"《{title}》，{holder}，来源：{source}，{licence.name_zh or licence.name}（{short}，{licence.url}）"
        en = f"“{title}” by {holder}, source: {source}, is in the public domain ({short}, {licence.url})"
        html_zh = format_html("《<a href=\"{}\">{}</a>》，{}，<a href=\"{}\">{}</a>", source, title, holder,
                              licence.url, licence.name_zh or licence.name)
        html_en = format_html("“<a href=\"{}\">{}</a>” by {} is in the public domain (<a href=\"{}\">{}</a>)",
                              source, title, holder, licence.url, short)
    else:
        zh = f"《{title}》，作者/权利人：{holder}（{year}），来源：{source}，许可协议：{short}（{licence.url}）"
        en = f"“{title}” by {holder} ({year}), source: {source}, licensed under {short} ({licence.url})"
        html_zh = format_html("《<a href=\"{}\">{}</a>》，作者/权利人：{}（{}），许可协议：<a href=\"{}\">{}</a>",
                              source, title, holder, year, licence.url, short)
        html_en = format_html("“<a href=\"{}\">{}</a>” by {} ({}) is licensed under <a href=\"{}\">{}</a>",
                              source, title, holder, year, licence.url, short)
    if rights.derived_from:
        source_name_zh = f"《{adapted_from_title}》" if adapted_from_title else f"资源 {rights.derived_from}"
        source_name_en = f"“{adapted_from_title}”" if adapted_from_title else f"resource {rights.derived_from}"
        zh += f"；本作品改编自{source_name_zh}"
        en += f"; this work is adapted from {source_name_en}"
        html_zh = format_html("{}；本作品改编自{}", html_zh, source_name_zh)
        html_en = format_html("{}; this work is adapted from {}", html_en, source_name_en)
    return Attribution(zh=zh + "。", en=en + ".", html_zh=format_html("{}。", html_zh),
                       html_en=format_html("{}.", html_en))


def attribution_for(resource: Resource) -> Attribution:
    """``render_attribution`` naming a derived work's source by title when it is published here."""
    source_title = None
    derived_from = getattr(getattr(resource, "rights", None), "derived_from", None)
    if derived_from:
        source = resources_with_rights([derived_from]).filter(status=Resource.Status.PUBLISHED).first()
        source_title = source.title if source else None
    return render_attribution(resource, adapted_from_title=source_title)
