"""What the catalog's pages share: labels of vocabulary codes, licences, regions and nodes in the
active language, how a browser can preview a file, paging, and loading a resource for a page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language

from catalog import selectors
from catalog.errors import ResourceNotFoundError
from catalog.models import License, Resource, Term
from exchange.selectors import region_get

LIST_PAGE_SIZE = 25
HUB_NODE_ID = "cn-hub"


# --- labels in the active language ------------------------------------------------------------------

def english() -> bool:
    return (get_language() or "").startswith("en")


def licence_short_name(licence_id: str, *, en: bool) -> str:
    """How a licence is cited in a badge: ``CC BY-NC 4.0``, ``CC0 1.0``, or "all rights reserved"."""
    if licence_id.startswith("CC-") and licence_id.endswith("-4.0"):
        return "CC " + licence_id[3:-4] + " 4.0"
    if licence_id in ("CC0-1.0", "PDM-1.0"):
        return licence_id.replace("-", " ")
    if licence_id == "ALL-RIGHTS-RESERVED":
        return "All rights reserved" if en else "保留所有权利"
    return licence_id


@dataclass
class Labels:
    """Display names of vocabulary codes, licences, regions and nodes, loaded once per request."""

    en: bool
    terms: dict[tuple[str, str], Term] = field(default_factory=dict)
    licences: dict[str, License] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)
    regions: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls) -> Labels:
        en = english()
        terms = {(t.vocabulary, t.code): t for t in Term.objects.all()}
        nodes: dict[str, str] = {HUB_NODE_ID: "National hub" if en else "国家枢纽"}
        regions: dict[str, str] = {}
        for (vocabulary, code), term in terms.items():
            if vocabulary != "region":
                continue
            name = (term.label_en or term.label_zh) if en else term.label_zh
            regions[code] = name
            if term.data.get("node_id"):
                nodes[str(term.data["node_id"])] = name
        return cls(en=en, terms=terms, licences={lic.pk: lic for lic in License.objects.all()}, nodes=nodes,
                   regions=regions)

    def term(self, vocabulary: str, code: str) -> str:
        term = self.terms.get((vocabulary, code))
        if term is None:
            return code
        return (term.label_en or term.label_zh) if self.en else term.label_zh

    def licence(self, licence_id: str) -> str:
        return licence_short_name(licence_id, en=self.en)

    def licence_name(self, licence_id: str) -> str:
        lic = self.licences.get(licence_id)
        if lic is None:
            return licence_id
        return lic.name if self.en else (lic.name_zh or lic.name)

    def origin(self, node_id: str) -> str:
        name = self.nodes.get(node_id)
        return f"{name} ({node_id})" if name else node_id

    def region(self, code: str) -> str:
        """A region's name: provinces from the loaded terms, a prefecture or county from the regions table
        (looked up once per code)."""
        name = self.regions.get(code)
        if name is None:
            row = region_get(code)
            name = ((row.name_en or row.name) if self.en else row.name) if row else code
            self.regions[code] = name
        return name

    def facet(self, name: str, value: str) -> str:
        if name == "license":
            return self.licence(value)
        if name == "origin":
            return self.nodes.get(value, value)
        if name in ("publisher",):
            return value
        return self.term(name, value)

    def describe(self, resource: Resource | dict[str, Any]) -> str:
        """``初中 · 数学 · 七年级 · 人教版 · 上册``: the vocabulary path of a resource or search hit."""
        get = resource.get if isinstance(resource, dict) else (lambda f, d="": getattr(resource, f, d))
        parts = [self.term(v, get(v, "") or "") for v in ("stage", "subject", "grade", "edition", "volume")
                 if get(v, "")]
        return " · ".join(parts)


def preview_kind(mime: str) -> str | None:
    """How a browser can show a file inline: ``pdf``, ``image``, ``video``, ``audio`` or not at all."""
    if mime == "application/pdf":
        return "pdf"
    if mime in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        return "image"
    if mime == "video/mp4":
        return "video"
    if mime in ("audio/mpeg", "audio/mp4"):
        return "audio"
    return None


# --- paging and loading --------------------------------------------------------------------------------

def page_of(request: HttpRequest, items: Iterable[Any], per_page: int = LIST_PAGE_SIZE) -> Any:
    """The page of ``items`` the ``page`` query parameter asks for (the last one when it is too high)."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def resource_for(request: HttpRequest, resource_id: Any) -> Resource:
    """``catalog.selectors.resource_get`` for a page: a resource the user may not see is a 404."""
    try:
        return selectors.resource_get(user=request.user, resource_id=resource_id)
    except ResourceNotFoundError as exc:
        raise Http404 from exc


def back(request: HttpRequest, default: str) -> HttpResponse:
    """Back to the page the form was on (``next``, this site only), else to ``default``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return redirect(target)
    return redirect(default)
