"""Vocabularies and licences as data: loading them from ``catalog/data`` and checking metadata."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from django.db import transaction

from catalog.errors import VocabularyError
from catalog.models import License, Term
from exchange.services import regions_upsert

DATA_DIR = Path(__file__).resolve().parent / "data"
# Metadata fields checked against a vocabulary, and whether the field is required.
CHECKED_FIELDS: dict[str, tuple[str, bool]] = {
    "stage": ("stage", True),
    "subject": ("subject", True),
    "resource_type": ("resource_type", True),
    "grade": ("grade", False),
    "edition": ("edition", False),
    "volume": ("volume", False),
    "language": ("language", False),
}


@cache
def vocabulary_file() -> dict[str, Any]:
    return json.loads((DATA_DIR / "vocabularies.json").read_text(encoding="utf-8"))


@cache
def region_file() -> dict[str, Any]:
    """The GB/T 2260 codes (provinces, prefectures, counties; retired ones kept), see data/README.md."""
    return json.loads((DATA_DIR / "regions.json").read_text(encoding="utf-8"))


def license_file() -> list[dict[str, Any]]:
    return json.loads((DATA_DIR / "licenses.json").read_text(encoding="utf-8"))["licenses"]


@transaction.atomic
def vocabularies_load() -> dict[str, int]:
    """Create or update every term, region and licence from the data files (idempotent). Every GB/T 2260
    code goes to the regions table (a code the file no longer lists is retired, never deleted); the
    ``region`` vocabulary of terms holds the provincial divisions, as the pages' labels use it."""
    data = vocabulary_file()
    counts: dict[str, int] = {}
    counts["region_codes"] = regions_upsert(region_file()["regions"], retire_missing=True)["listed"]
    for name, terms in data["vocabularies"].items():
        for term in terms:
            Term.objects.update_or_create(
                vocabulary=name,
                code=term["code"],
                defaults={
                    "label_zh": term["label"]["zh-Hans"],
                    "label_en": term["label"].get("en", ""),
                    "parent": term.get("parent") or "",
                    "order": term.get("order", 0),
                    "data": term.get("data") or {},
                },
            )
        counts[name] = len(terms)
    for lic in license_file():
        License.objects.update_or_create(id=lic["id"], defaults={k: v for k, v in lic.items() if k != "id"})
    counts["license"] = len(license_file())
    return counts


def vocabulary_codes(vocabulary: str) -> set[str]:
    return set(Term.objects.filter(vocabulary=vocabulary).values_list("code", flat=True))


def synonyms() -> list[dict[str, Any]]:
    return list(vocabulary_file().get("synonyms", []))


def check_metadata_terms(metadata: dict[str, Any], *, known: dict[str, set[str]] | None = None) -> None:
    """Raise VocabularyError naming every field whose value is not a vocabulary term.

    ``known`` lets bulk callers pass pre-loaded code sets instead of querying per record."""
    problems: dict[str, list[str]] = {}
    for field, (vocabulary, required) in CHECKED_FIELDS.items():
        value = (metadata.get(field) or "").strip() if isinstance(metadata.get(field), str) else metadata.get(field)
        if not value:
            if required:
                problems[field] = ["This field is required."]
            continue
        codes = known[vocabulary] if known is not None else None
        exists = (value in codes) if codes is not None else Term.objects.filter(
            vocabulary=vocabulary, code=value).exists()
        if not exists:
            problems[field] = [f"{value!r} is not a term of the {vocabulary} vocabulary."]
    if problems:
        raise VocabularyError(details=problems)
