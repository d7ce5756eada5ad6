"""schema.org ``LearningResource`` JSON-LD for a catalog resource, and the small vocabulary helpers
that every outside description of a resource shares (licence URIs, English labels, age ranges).

The JSON-LD is served at ``/api/v1/resources/{id}?format=jsonld`` (media type
``application/ld+json``) and can be embedded in a resource page with :func:`jsonld_script`.
The OAI-PMH provider (``federation.oai``) uses the same helpers, so a resource reads the same in
every interoperable form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from rest_framework.renderers import JSONRenderer

from catalog.models import License, Resource, RightsStatement, Term

SCHEMA_ORG = "https://schema.org"
# Rights statements for licences that have no public deed of their own (rightsstatements.org).
IN_COPYRIGHT_URI = "http://rightsstatements.org/vocab/InC/1.0/"
# Fallback deeds by licence id, used when a licence row carries no URL.
STANDARD_LICENCE_URIS: dict[str, str] = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "PDM-1.0": "https://creativecommons.org/publicdomain/mark/1.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC-BY-NC-4.0": "https://creativecommons.org/licenses/by-nc/4.0/",
    "CC-BY-NC-SA-4.0": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "CC-BY-ND-4.0": "https://creativecommons.org/licenses/by-nd/4.0/",
    "CC-BY-NC-ND-4.0": "https://creativecommons.org/licenses/by-nc-nd/4.0/",
    "ALL-RIGHTS-RESERVED": IN_COPYRIGHT_URI,
}
# School years covered by each grade term (Chinese schools start at six: year n ≈ age n+5).
GRADE_YEARS: dict[str, tuple[int, int]] = {
    "一年级": (1, 1),
    "二年级": (2, 2),
    "三年级": (3, 3),
    "四年级": (4, 4),
    "五年级": (5, 5),
    "六年级": (6, 6),
    "七年级": (7, 7),
    "八年级": (8, 8),
    "九年级": (9, 9),
    "高一": (10, 10),
    "高二": (11, 11),
    "高三": (12, 12),
    "一至二年级": (1, 2),
    "三至四年级": (3, 4),
    "五至六年级": (5, 6),
}
STAGE_YEARS: dict[str, tuple[int, int]] = {"小学": (1, 6), "初中": (7, 9), "高中": (10, 12)}
SCHOOL_ENTRY_AGE = 6
AUDIENCE_ROLES = {"teachers": "teacher", "students": "student", "public": "general public"}


def license_uri(license: License | None) -> str:
    """The URI that identifies a licence: its own deed URL, else the standard deed for its id, else
    the rightsstatements.org "In Copyright" statement (proprietary terms of the holder)."""
    if license is None:
        return IN_COPYRIGHT_URI
    return license.url or STANDARD_LICENCE_URIS.get(license.id, IN_COPYRIGHT_URI)


def school_years(
    *, stage: str, grade: str = "", stage_data: dict[str, Any] | None = None
) -> tuple[int, int] | None:
    """First and last school year a resource is meant for, from its grade or else its stage."""
    if grade in GRADE_YEARS:
        return GRADE_YEARS[grade]
    data = stage_data or {}
    if isinstance(data.get("grade_from"), int) and isinstance(data.get("grade_to"), int):
        return data["grade_from"], data["grade_to"]
    return STAGE_YEARS.get(stage)


def typical_age_range(*, stage: str, grade: str = "", stage_data: dict[str, Any] | None = None) -> str | None:
    """Typical learner age range as ``"12-13"`` (schema.org ``typicalAgeRange``, LOM 5.7)."""
    years = school_years(stage=stage, grade=grade, stage_data=stage_data)
    if years is None:
        return None
    return f"{years[0] + SCHOOL_ENTRY_AGE - 1}-{years[1] + SCHOOL_ENTRY_AGE}"


@dataclass
class TermLabels:
    """Vocabulary terms loaded once (one query) for describing many resources."""

    terms: dict[tuple[str, str], Term] = field(default_factory=dict)

    VOCABULARIES = ("stage", "subject", "grade", "resource_type", "edition", "volume", "language", "audience")

    @classmethod
    def load(cls, vocabularies: Iterable[str] = VOCABULARIES) -> TermLabels:
        rows = Term.objects.filter(vocabulary__in=list(vocabularies))
        return cls({(t.vocabulary, t.code): t for t in rows})

    def get(self, vocabulary: str, code: str) -> Term | None:
        return self.terms.get((vocabulary, code))

    def label_en(self, vocabulary: str, code: str) -> str:
        term = self.get(vocabulary, code)
        return term.label_en if term and term.label_en else ""

    def code_en(self, vocabulary: str, code: str) -> str:
        term = self.get(vocabulary, code)
        return str(term.data.get("code_en") or "") if term else ""

    def data(self, vocabulary: str, code: str) -> dict[str, Any]:
        term = self.get(vocabulary, code)
        return dict(term.data) if term else {}


def resource_url(resource: Resource, *, base_url: str) -> str:
    """Canonical URL of a resource on this node (its API representation)."""
    return base_url.rstrip("/") + reverse("api-resource", kwargs={"resource_id": resource.pk})


def _defined_term(labels: TermLabels, vocabulary: str, code: str, *, base_url: str) -> dict[str, Any]:
    term: dict[str, Any] = {
        "@type": "DefinedTerm",
        "name": code,
        "inDefinedTermSet": base_url.rstrip("/") + reverse("api-vocabularies") + f"#{vocabulary}",
    }
    if code_en := labels.code_en(vocabulary, code):
        term["termCode"] = code_en
    if label_en := labels.label_en(vocabulary, code):
        term["alternateName"] = label_en
    return term


def _rights_of(resource: Resource) -> RightsStatement | None:
    try:
        return resource.rights
    except RightsStatement.DoesNotExist:
        return None


def resource_jsonld(resource: Resource, *, base_url: str, labels: TermLabels | None = None) -> dict[str, Any]:
    """A schema.org ``LearningResource`` describing ``resource`` (JSON-LD, compact form).

    ``base_url`` is the node's public base URL (``settings.EXCHANGE_BASE_URL``); ``labels`` lets bulk
    callers pass vocabulary terms loaded once."""
    labels = labels or TermLabels.load()
    url = resource_url(resource, base_url=base_url)
    rights = _rights_of(resource)
    data: dict[str, Any] = {
        "@context": SCHEMA_ORG,
        "@type": "LearningResource",
        "@id": url,
        "url": url,
        "identifier": f"urn:uuid:{resource.pk}",
        "name": resource.title,
        "inLanguage": resource.language,
        "educationalLevel": [_defined_term(labels, "stage", resource.stage, base_url=base_url)],
        "about": [_defined_term(labels, "subject", resource.subject, base_url=base_url)],
        "learningResourceType": [
            _defined_term(labels, "resource_type", resource.resource_type, base_url=base_url)
        ],
        "publisher": {"@type": "Organization", "name": resource.publisher_name},
        "provider": {"@type": "Organization", "identifier": resource.origin_node},
        "version": resource.version,
        "dateModified": resource.updated_at.isoformat(),
    }
    if resource.grade:
        data["educationalLevel"].append(_defined_term(labels, "grade", resource.grade, base_url=base_url))
    if resource.description:
        data["description"] = resource.description
    if resource.keywords:
        data["keywords"] = [str(k) for k in resource.keywords]
    teaches = " ".join(part for part in (resource.chapter, resource.section) if part)
    if teaches:
        data["teaches"] = teaches
    if resource.edition or resource.volume:
        data["educationalAlignment"] = {
            "@type": "AlignmentObject",
            "alignmentType": "educationalSubject",
            "educationalFramework": " ".join(
                p for p in (resource.edition, resource.subject, resource.grade, resource.volume) if p
            ),
            "targetName": resource.subject,
        }
    age = typical_age_range(
        stage=resource.stage, grade=resource.grade, stage_data=labels.data("stage", resource.stage)
    )
    if age:
        data["typicalAgeRange"] = age
    if resource.published_at:
        data["datePublished"] = resource.published_at.isoformat()
    files = list(resource.files.all())
    if files:
        data["encoding"] = [
            {
                "@type": "MediaObject",
                "name": f.original_name,
                "encodingFormat": f.mime,
                "contentSize": str(f.size),
                **({"duration": f"PT{f.duration_seconds}S"} if f.duration_seconds else {}),
            }
            for f in files
        ]
        seconds = sum(f.duration_seconds or 0 for f in files)
        if seconds:
            data["timeRequired"] = f"PT{seconds}S"
    if rights is not None:
        data["license"] = license_uri(rights.license)
        data["copyrightHolder"] = {"@type": "Organization", "name": rights.holder}
        data["copyrightYear"] = rights.year
        if rights.attribution:
            data["creditText"] = rights.attribution
        data["audience"] = {
            "@type": "EducationalAudience",
            "educationalRole": AUDIENCE_ROLES.get(rights.audience, rights.audience),
        }
        data["isAccessibleForFree"] = rights.price == 0
        if rights.price > 0:
            data["offers"] = {
                "@type": "Offer",
                "price": rights.price,
                "priceSpecification": {
                    "@type": "UnitPriceSpecification",
                    "price": rights.price,
                    "unitText": "digital-resource voucher (数字资源券)",
                },
                **(
                    {
                        "eligibleRegion": [
                            {"@type": "AdministrativeArea", "identifier": code} for code in rights.territory
                        ]
                    }
                    if rights.territory
                    else {}
                ),
            }
    return data


def jsonld_script(data: dict[str, Any]) -> SafeString:
    """``<script type="application/ld+json">`` for embedding in a page, escaped so no value can
    close the script element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    text = text.replace("<", "\\u003C").replace(">", "\\u003E").replace("&", "\\u0026")
    return mark_safe(f'<script type="application/ld+json">{text}</script>')  # noqa: S308 - escaped above


class JSONLDRenderer(JSONRenderer):
    """Renders a view's data as ``application/ld+json`` (selected with ``?format=jsonld``).

    Error bodies keep the API's one JSON error shape and are labelled ``application/json``."""

    media_type = "application/ld+json"
    format = "jsonld"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: dict[str, Any] | None = None,
    ) -> bytes:
        body = super().render(data, accepted_media_type, renderer_context)
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400:
            response["Content-Type"] = "application/json"
        return body
