"""The shape of what a publisher sends: metadata and rights statements, checked and normalised before
anything is stored (the deposit, an edit in place and a revision of a published resource all use these).

Coherence rules of a rights statement (a priced all-rights-reserved work without a term…) are not
shape: they are approval checks (``CATALOG_APPROVAL_CHECKS``, e.g. ``licensing.checks``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.db import models
from django.utils import timezone

from catalog.errors import RightsInvalidError
from catalog.models import License, Resource, RightsStatement
from exchange.errors import InvalidInputError
from exchange.inputs import INT32_MAX, calendar_date, plain_text, whole_number
from exchange.models import Organisation, Region, SchoolCategory

METADATA_FIELDS = (
    "title", "description", "keywords", "stage", "subject", "grade", "edition", "volume", "chapter",
    "section", "resource_type", "language", "textbook_id",
)
RIGHTS_FIELDS = (
    "holder", "year", "license", "attribution", "territory", "audience", "price", "free_for", "grant_days",
    "term_end", "embargo_until", "derived_from",
)
#: Bounds of the rights statement's numbers: a price in vouchers, a grant's term in days (a century).
MAX_PRICE = 1_000_000
MAX_GRANT_DAYS = 36_500
MAX_TERRITORY_CODES = 500
MAX_TEXT_LENGTH = 20_000  # description and other text without a column limit


def _max_length(model: type[models.Model], field: str) -> int:
    return getattr(model._meta.get_field(field), "max_length", None) or MAX_TEXT_LENGTH


def clean_metadata(metadata: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    if not isinstance(metadata, dict):
        raise InvalidInputError("metadata must be a JSON object.", details={"metadata": ["An object."]})
    unknown = set(metadata) - set(METADATA_FIELDS)
    if unknown:
        raise InvalidInputError("Unknown metadata fields.", details={f: ["Unknown field."] for f in sorted(unknown)})
    clean: dict[str, Any] = {}
    for field in METADATA_FIELDS:
        if field not in metadata:
            continue
        value = metadata[field]
        if field == "keywords":
            if isinstance(value, str):
                value = [k for k in (p.strip() for p in value.replace("，", ",").split(",")) if k]
            if (not isinstance(value, list) or len(value) > 1000
                    or not all(isinstance(k, str) and "\x00" not in k for k in value)):
                raise InvalidInputError(details={"keywords": ["A list of strings."]})
            value = list(dict.fromkeys(k.strip()[:64] for k in value if k.strip()))[:30]
        elif value is None:
            value = ""
        else:
            limit = _max_length(Resource, field)
            try:
                value = plain_text(value, max_length=limit)
            except ValueError:
                raise InvalidInputError(details={field: [f"A string of at most {limit} characters."]}) from None
        clean[field] = value
    if not partial:
        if not clean.get("title"):
            raise InvalidInputError(details={"title": ["This field is required."]})
        clean.setdefault("language", "zh-Hans")
    if len(clean.get("title", "")) > 300:
        raise InvalidInputError(details={"title": ["At most 300 characters."]})
    return clean


def clean_rights(rights: dict[str, Any] | None, *, default_holder: str = "") -> dict[str, Any]:
    """Check the shape of a rights statement. Raises RightsInvalidError listing every problem.
    Coherence rules (e.g. a priced all-rights-reserved work) are licensing's approval checks."""
    if not isinstance(rights, dict):
        raise RightsInvalidError("A rights statement is required.", details={"rights": ["Required."]})
    problems: dict[str, list[str]] = {}
    unknown = set(rights) - set(RIGHTS_FIELDS)
    for field in sorted(unknown):
        problems[field] = ["Unknown field."]
    out: dict[str, Any] = {}
    for field, default in (("holder", default_holder), ("attribution", "")):
        limit = _max_length(RightsStatement, field)
        try:
            out[field] = plain_text(rights.get(field) or default, max_length=limit)
        except ValueError:
            problems[field] = [f"A string of at most {limit} characters."]
    if "holder" in out and not out["holder"]:
        problems["holder"] = ["The rights holder is required."]
    this_year = timezone.now().year
    try:
        out["year"] = whole_number(rights.get("year") or this_year, minimum=1900, maximum=this_year + 1)
    except ValueError:
        problems["year"] = [f"A year between 1900 and {this_year + 1}."]
    license_id = rights.get("license") or ""
    license_obj = None
    if isinstance(license_id, str) and license_id.strip() and "\x00" not in license_id:
        license_obj = License.objects.filter(id=license_id.strip()[:64]).first()
    if license_obj is None:
        problems["license"] = [f"Unknown licence {str(license_id)[:64]!r}." if license_id else "Required."]
    out["license"] = license_obj
    territory = rights.get("territory") or []
    if territory == "nationwide":
        territory = []
    if (not isinstance(territory, list) or len(territory) > MAX_TERRITORY_CODES
            or not all(isinstance(t, str) and "\x00" not in t for t in territory)):
        problems["territory"] = ["A list of region codes, or empty for nationwide."]
        territory = []
    else:
        known = dict(Region.objects.filter(code__in=territory).values_list("code", "status"))
        missing = sorted(set(territory) - set(known))
        retired = sorted(code for code, status in known.items() if status == Region.Status.RETIRED)
        if missing:
            problems["territory"] = [f"Unknown region codes: {', '.join(missing)}."]
        elif retired:
            problems["territory"] = [f"Retired region codes: {', '.join(retired)}."]
    out["territory"] = sorted(set(territory))
    audience = rights.get("audience") or RightsStatement.Audience.TEACHERS
    if not isinstance(audience, str) or audience not in RightsStatement.Audience.values:
        problems["audience"] = [f"One of {', '.join(RightsStatement.Audience.values)}."]
    out["audience"] = audience
    for field, fallback, maximum in (("price", 0, MAX_PRICE), ("grant_days", 365, MAX_GRANT_DAYS)):
        raw = rights.get(field)
        try:
            out[field] = whole_number(fallback if raw is None else raw, minimum=0, maximum=min(maximum, INT32_MAX))
        except ValueError:
            problems[field] = [f"A whole number from 0 to {maximum}."]
    free_for = rights.get("free_for") or []
    if not isinstance(free_for, list) or any(not isinstance(c, str) or c not in SchoolCategory.values
                                             for c in free_for):
        problems["free_for"] = [f"A list of: {', '.join(SchoolCategory.values)}."]
        free_for = []
    out["free_for"] = sorted(set(free_for))
    for field in ("term_end", "embargo_until"):
        raw = rights.get(field)
        if raw in (None, ""):
            out[field] = None
            continue
        try:
            out[field] = calendar_date(raw)
        except ValueError:
            problems[field] = ["A date, YYYY-MM-DD, between 1900-01-01 and 2999-12-31."]
    derived_from = rights.get("derived_from") or None
    try:
        out["derived_from"] = None if derived_from is None else (
            derived_from if isinstance(derived_from, uuid.UUID) else uuid.UUID(str(derived_from)[:64]))
    except ValueError:
        problems["derived_from"] = ["The id (UUID) of the resource this one derives from."]
    if problems:
        raise RightsInvalidError(details=problems)
    return out


def province_of(publisher: Organisation) -> str:
    return publisher.region_id[:2] + "0000"


def rights_as_json(rights: dict[str, Any]) -> dict[str, Any]:
    """A cleaned rights statement (``clean_rights``'s result, or a statement's fields) as JSON: the
    licence by id, dates as ``YYYY-MM-DD``, the source as a string. What a revision stores."""
    out: dict[str, Any] = {}
    for field in RIGHTS_FIELDS:
        value = rights.get(field)
        if field == "license":
            value = value.pk if isinstance(value, License) else value
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, uuid.UUID):
            value = str(value)
        elif isinstance(value, list):
            value = list(value)
        out[field] = value
    return out


def rights_of(statement: RightsStatement) -> dict[str, Any]:
    """A stored rights statement as JSON (``rights_as_json``)."""
    return rights_as_json({f: getattr(statement, f) for f in RIGHTS_FIELDS if f != "license"}
                          | {"license": statement.license_id})


def metadata_of(resource: Resource) -> dict[str, Any]:
    """A resource's metadata fields as JSON."""
    return {f: (list(getattr(resource, f) or []) if f == "keywords" else getattr(resource, f) or "")
            for f in METADATA_FIELDS}
