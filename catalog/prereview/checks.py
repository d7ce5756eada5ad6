"""The pre-review's checks: one function from content to findings, and the approval check built on it.

``prereview_content(content, context=...)`` runs every check and returns the findings; it writes nothing
itself. What it looks up — the effective negative list, the vocabularies, the textbook catalog, a file's
text, the catalog's other files — comes from a ``PrereviewContext`` (``context_from_db`` by default; tests
may pass their own). Reading a file's text stores it for next time (``catalog.prereview.files``).

Checks, in order: metadata completeness (the M/O/C table) and consistency with the vocabularies and the
textbook catalog; files (type, size, active content, whether their text could be read); negative-list
terms in the title, description, keywords, chapter, section and every file's text; copyright conflicts
(the same bytes, or near-identical text, already published under another rights holder).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import get_language

from catalog.files import ODF, OLE2_BY_EXT, OOXML, TEXT_EXT
from catalog.models import NegativeTerm, Resource, ResourceFile, Term
from catalog.prereview.content import HARD, FileRef, Finding, PrereviewContent
from catalog.prereview.files import FileText, file_text, similar_texts
from catalog.prereview.lists import NegativeList
from catalog.prereview.matching import fold
from catalog.prereview.messages import EXTRACTION_REASONS, Lazy, finding
from catalog.prereview.obligations import gaps
from catalog.prereview.selectors import negative_list_effective
from catalog.vocab import DATA_DIR

#: Every type an upload may have (catalog.files sniffs and allows exactly these).
ALLOWED_MIMES = frozenset({
    "application/pdf", "video/mp4", "audio/mp4", "audio/mpeg", "image/png", "image/jpeg", "image/gif",
    "image/webp", "application/zip", *(mime for mime, _ in OOXML.values()), *ODF, *OLE2_BY_EXT.values(),
    *TEXT_EXT.values(),
})
VOCABULARY_FIELDS = ("stage", "subject", "grade", "edition", "volume", "resource_type", "language")
#: Free-text fields searched for negative-list terms (files are searched too).
TEXT_FIELDS = ("title", "description", "chapter", "section")
#: Copies reported per file.
MAX_COPIES = 5


# --- what the checks look up ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Copy:
    """A published resource holding a file with given bytes."""

    resource_id: str
    record_id: str
    origin: str
    title: str
    holder: str
    publisher_id: int | None
    sha256: str


@dataclass
class PrereviewContext:
    negative_list: NegativeList
    terms: dict[tuple[str, str], dict[str, Any]]  # (vocabulary, code) → {"parent", "data"}
    textbooks: dict[str, dict[str, Any]]
    text_of: Callable[[FileRef], FileText | None]
    copies_of: Callable[[list[str], str], list[Copy]]
    similar_to: Callable[[FileText], list[tuple[str, float]]] = field(default=lambda text: [])


@cache
def textbook_catalog() -> dict[str, dict[str, Any]]:
    rows = {}
    with open(DATA_DIR / "textbooks.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                rows[row["id"]] = row
    return rows


def _published_copies(sha256s: list[str], exclude_resource_id: str) -> list[Copy]:
    rows = (ResourceFile.objects.filter(sha256__in=sha256s, resource__status=Resource.Status.PUBLISHED)
            .exclude(resource_id=exclude_resource_id).select_related("resource", "resource__rights")
            .order_by("resource__published_at")[:200])
    out = []
    for row in rows:
        resource = row.resource
        try:
            holder = resource.rights.holder
        except ObjectDoesNotExist:
            holder = ""
        out.append(Copy(resource_id=str(resource.pk), record_id=str(resource.record_id), origin=resource.origin_node,
                        title=resource.title, holder=holder, publisher_id=resource.publisher_id, sha256=row.sha256))
    return out


def _similar(text: FileText) -> list[tuple[str, float]]:
    if text.fingerprint is None:
        return []
    return similar_texts(text.fingerprint, exclude_sha256=text.sha256)


def context_from_db() -> PrereviewContext:
    terms = {(t.vocabulary, t.code): {"parent": t.parent, "data": t.data or {}}
             for t in Term.objects.filter(vocabulary__in=VOCABULARY_FIELDS)}
    return PrereviewContext(negative_list=negative_list_effective(), terms=terms, textbooks=textbook_catalog(),
                            text_of=file_text, copies_of=_published_copies, similar_to=_similar)


# --- the checks ------------------------------------------------------------------------------------------------

def _values(content: PrereviewContent) -> dict[str, Any]:
    values: dict[str, Any] = {"title": content.title, "description": content.description,
                              "keywords": list(content.keywords), "files": list(content.files)}
    values.update({k: (v or "") for k, v in content.metadata.items()})
    values.update({f"rights.{k}": v for k, v in content.rights.items()})
    return values


def metadata_findings(content: PrereviewContent, context: PrereviewContext) -> list[Finding]:
    out: list[Finding] = []
    values = _values(content)
    for gap in gaps(values):
        row = gap.obligation
        if gap.mandatory:
            condition = row.condition
            out.append(finding("metadata_missing", field=row.element, params={
                "condition": _condition_text(condition)}, detail={"element": row.element,
                                                                  "obligation": row.obligation}))
        else:
            out.append(finding("metadata_recommended", field=row.element,
                               detail={"element": row.element, "obligation": row.obligation}))
    out += _vocabulary_findings(values, context)
    return out


def _condition_text(condition: dict[str, str]) -> Any:
    if not condition:
        return ""
    return _Bilingual(zh="（" + condition.get("zh-Hans", "") + "）", en=" (" + condition.get("en", "") + ")")


class _Bilingual:
    def __init__(self, *, zh: str, en: str) -> None:
        self.zh, self.en = zh, en

    def __str__(self) -> str:
        return self.en if (get_language() or "").startswith("en") else self.zh


def _term(context: PrereviewContext, vocabulary: str, code: str) -> dict[str, Any] | None:
    return context.terms.get((vocabulary, code))


def _vocabulary_findings(values: dict[str, Any], context: PrereviewContext) -> list[Finding]:
    out: list[Finding] = []
    known: dict[str, dict[str, Any]] = {}
    for name in VOCABULARY_FIELDS:
        value = values.get(name) or ""
        if not value:
            continue
        term = _term(context, name, value)
        if term is None:
            code = {"edition": "edition_unknown", "volume": "volume_unknown"}.get(name, "vocabulary_unknown")
            out.append(finding(code, field=name, detail={"value": value}))
        else:
            known[name] = term
    stage, subject = values.get("stage") or "", values.get("subject") or ""
    if "subject" in known and "stage" in known:
        stages = known["subject"]["data"].get("stages")
        if stages and stage not in stages:
            out.append(finding("subject_stage_mismatch", field="subject", detail={"subject": subject, "stage": stage}))
    if "grade" in known and "stage" in known:
        grade_stage = known["grade"]["parent"] or known["grade"]["data"].get("stage")
        if grade_stage and grade_stage != stage:
            out.append(finding("grade_stage_mismatch", field="grade",
                               detail={"grade": values["grade"], "stage": stage}))
    if "edition" in known and "stage" in known and "subject" in known:
        data = known["edition"]["data"]
        if (data.get("stages") and stage not in data["stages"]) or (data.get("subjects")
                                                                    and subject not in data["subjects"]):
            out.append(finding("edition_subject_mismatch", field="edition",
                               detail={"edition": values["edition"], "stage": stage, "subject": subject}))
    if "volume" in known:
        data = known["volume"]["data"]
        if data.get("subject") and subject and data["subject"] != subject:
            out.append(finding("volume_subject_mismatch", field="volume", detail={
                "volume": values["volume"], "volume_subject": data["subject"], "subject": subject}))
        elif data.get("stages") and stage and stage not in data["stages"]:
            out.append(finding("volume_stage_mismatch", field="volume",
                               detail={"volume": values["volume"], "stage": stage}))
    out += _textbook_findings(values, context)
    return out


def _textbook_findings(values: dict[str, Any], context: PrereviewContext) -> list[Finding]:
    textbook_id = values.get("textbook_id") or ""
    if not textbook_id:
        return []
    book = context.textbooks.get(textbook_id)
    if book is None:
        return [finding("textbook_unknown", field="textbook_id", detail={"value": textbook_id})]
    out = []
    for name, key in (("stage", "stage"), ("subject", "subject"), ("edition", "edition_short"), ("volume", "volume")):
        expected, value = book.get(key) or "", values.get(name) or ""
        if expected and value and expected != value:
            out.append(finding("textbook_mismatch", field=name, detail={
                "textbook": book.get("title", textbook_id), "textbook_id": textbook_id, "expected": expected,
                "value": value}))
    return out


def file_findings(content: PrereviewContent, context: PrereviewContext) -> tuple[list[Finding], dict[str, FileText]]:
    """Type, size and active content of every file, and whether its text could be read; with the texts."""
    out: list[Finding] = []
    texts: dict[str, FileText] = {}
    for ref in content.files:
        where = f"file:{ref.name}"
        base = {"file": ref.name, "sha256": ref.sha256}
        if ref.mime not in ALLOWED_MIMES:
            out.append(finding("file_type_not_allowed", field=where, detail=base | {"mime": ref.mime}))
        if ref.size > settings.CATALOG_MAX_UPLOAD_BYTES:
            out.append(finding("file_too_large", field=where, detail=base | {"size": ref.size}))
        text = context.text_of(ref)
        if text is None:
            if not ref.available:
                out.append(finding("file_not_available", field=where, detail=base))
            continue
        texts[ref.sha256] = text
        for flag in text.flags:
            if flag.get("code") in _FLAG_CODES:
                out.append(finding(flag["code"], field=where, detail=base | dict(flag.get("detail") or {})))
        if text.error:
            reason = text.error
            out.append(finding("text_extraction_failed", field=where, params={
                "reason": Lazy(EXTRACTION_REASONS.get(reason, reason))}, detail=base | {"reason": reason}))
        elif text.truncated:
            out.append(finding("text_truncated", field=where, detail=base | {"chars": len(text.text)}))
    return out, texts


_FLAG_CODES = frozenset({"pdf_javascript", "pdf_launch_action", "pdf_auto_action", "pdf_embedded_file",
                         "pdf_xfa_form", "pdf_not_fully_examined", "office_macro", "xml_dtd_refused"})


def term_findings(field_name: str, text: str, negative_list: NegativeList,
                  *, only: frozenset[str] | None = None) -> list[Finding]:
    """One finding per negative-list entry found in ``text`` (``only``: these entry ids alone)."""
    hits, _ = negative_list.matcher.find(text, max_hits=200)
    by_entry: dict[str, list[Any]] = {}
    for hit in hits:
        if only is None or hit.key in only:
            by_entry.setdefault(hit.key, []).append(hit)
    out = []
    for key, entry_hits in by_entry.items():
        entry = negative_list.entries[key]
        category = NegativeTerm.Category(entry.category).label if entry.category in NegativeTerm.Category.values \
            else entry.category
        out.append(finding("negative_term", field=field_name, severity=entry.severity,
                           params={"category": category}, detail={
                               "entry": entry.id, "term": entry.term, "category": entry.category,
                               "scope": entry.scope, "snippet": entry_hits[0].snippet, "count": len(entry_hits),
                               "list_version": negative_list.version}))
    return out


def negative_findings(content: PrereviewContent, texts: dict[str, FileText], negative_list: NegativeList,
                      *, only: frozenset[str] | None = None) -> list[Finding]:
    out: list[Finding] = []
    for name in TEXT_FIELDS:
        value = content.title if name == "title" else content.description if name == "description" else \
            str(content.metadata.get(name) or "")
        out += term_findings(name, value, negative_list, only=only)
    for keyword in content.keywords:  # one by one: two keywords side by side are not one word
        out += term_findings("keywords", keyword, negative_list, only=only)
    for ref in content.files:
        text = texts.get(ref.sha256)
        if text is not None and text.text:
            out += term_findings(f"file:{ref.name}", text.text, negative_list, only=only)
    return out


def _same_holder(a: str, b: str) -> bool:
    return bool(fold(a)) and fold(a) == fold(b)


def copyright_findings(content: PrereviewContent, texts: dict[str, FileText],
                       context: PrereviewContext) -> list[Finding]:
    holder = str(content.rights.get("holder") or "")
    derived_from = str(content.rights.get("derived_from") or "")
    out: list[Finding] = []

    def conflicts(copies: list[Copy]) -> list[Copy]:
        return [c for c in copies if not _same_holder(c.holder, holder)
                and not (content.publisher_id is not None and c.publisher_id == content.publisher_id)]

    def severity(copy: Copy) -> str:
        return "soft" if derived_from and derived_from in (copy.resource_id, copy.record_id) else HARD

    own = {ref.sha256 for ref in content.files}
    for ref in content.files:
        where = f"file:{ref.name}"
        for copy in conflicts(context.copies_of([ref.sha256], content.resource_id))[:MAX_COPIES]:
            out.append(finding("copyright_conflict_file", field=where, severity=severity(copy), detail={
                "file": ref.name, "sha256": ref.sha256, "other_resource": copy.resource_id,
                "other_origin": copy.origin, "other_title": copy.title, "other_holder": copy.holder,
                "holder": holder}))
        text = texts.get(ref.sha256)
        if text is None or text.fingerprint is None:
            continue
        similar = {sha: score for sha, score in context.similar_to(text) if sha not in own}
        if not similar:
            continue
        reported = 0
        for copy in conflicts(context.copies_of(sorted(similar), content.resource_id)):
            if reported >= MAX_COPIES:
                break
            reported += 1
            out.append(finding("copyright_conflict_text", field=where, severity=severity(copy), params={
                "similarity": round(similar[copy.sha256] * 100)}, detail={
                "file": ref.name, "sha256": ref.sha256, "other_resource": copy.resource_id,
                "other_origin": copy.origin, "other_title": copy.title, "other_holder": copy.holder,
                "other_sha256": copy.sha256, "similarity": round(similar[copy.sha256], 3), "holder": holder}))
    return out


def prereview_content(content: PrereviewContent, *, context: PrereviewContext | None = None) -> list[Finding]:
    """Every finding of the pre-review for ``content`` (hard ones block approval)."""
    context = context or context_from_db()
    findings = metadata_findings(content, context)
    on_files, texts = file_findings(content, context)
    findings += on_files
    findings += negative_findings(content, texts, context.negative_list)
    findings += copyright_findings(content, texts, context)
    return findings


# --- building the content --------------------------------------------------------------------------------------

RIGHTS_FIELDS = ("holder", "year", "license", "attribution", "territory", "audience", "price", "free_for",
                 "grant_days", "term_end", "embargo_until", "derived_from")
METADATA_FIELDS = ("stage", "subject", "grade", "edition", "volume", "chapter", "section", "resource_type",
                   "language", "textbook_id")


def _rights_dict(rights: Any) -> dict[str, Any]:
    if rights is None:
        return {}
    if isinstance(rights, Mapping):
        out = dict(rights)
        if "license_id" in out and "license" not in out:
            out["license"] = out.pop("license_id")
        return out
    out = {name: getattr(rights, name, None) for name in RIGHTS_FIELDS if name != "license"}
    out["license"] = getattr(rights, "license_id", None) or str(getattr(rights, "license", "") or "")
    return out


def _file_ref(item: Any) -> FileRef:
    get = item.get if isinstance(item, Mapping) else (lambda name, default=None: getattr(item, name, default))
    sha256 = str(get("sha256"))
    return FileRef(sha256=sha256, name=str(get("original_name") or get("name") or sha256[:12]),
                   mime=str(get("mime") or ""), size=int(get("size") or 0),
                   storage_key=str(get("storage_key") or f"sha256/{sha256[:2]}/{sha256[2:4]}/{sha256}"),
                   available=bool(get("available_locally", get("available", True))))


def prereview_content_for_resource(resource: Resource) -> PrereviewContent:
    """The resource's current state as pre-review content."""
    try:
        rights = resource.rights
    except ObjectDoesNotExist:
        rights = None
    return PrereviewContent(
        resource_id=str(resource.pk), revision_id=None, origin=resource.origin_node, title=resource.title,
        description=resource.description or "", keywords=tuple(resource.keywords or ()),
        metadata={name: getattr(resource, name) or "" for name in METADATA_FIELDS}, rights=_rights_dict(rights),
        files=tuple(_file_ref(f) for f in resource.files.all()), publisher_id=resource.publisher_id)


def prereview_content_for_subject(subject: Any) -> PrereviewContent:
    """Content from what an approval check receives: a ``Resource``, or an object describing the content under
    review with ``.resource`` and any of ``.metadata`` (a dict with title, description, keywords and the
    metadata fields), ``.rights`` (a dict or a rights statement), ``.files`` (dicts or file rows) and
    ``.revision_id`` / ``.revision``; what it leaves out is taken from the resource."""
    if isinstance(subject, Resource):
        return prereview_content_for_resource(subject)
    resource = subject.resource
    base = prereview_content_for_resource(resource)
    metadata = getattr(subject, "metadata", None)
    metadata = dict(metadata) if isinstance(metadata, Mapping) else {}
    rights = getattr(subject, "rights", None)
    files = getattr(subject, "files", None)
    if files is not None and hasattr(files, "all"):
        files = files.all()
    revision_id = getattr(subject, "revision_id", None)
    if revision_id is None and getattr(subject, "revision", None) is not None:
        revision_id = getattr(subject.revision, "pk", None)
    keywords = metadata.get("keywords", base.keywords)
    return PrereviewContent(
        resource_id=base.resource_id, revision_id=int(revision_id) if revision_id is not None else None,
        origin=base.origin, title=str(metadata.get("title", base.title) or ""),
        description=str(metadata.get("description", base.description) or ""),
        keywords=tuple(keywords or ()),
        metadata={name: metadata.get(name, base.metadata.get(name)) or "" for name in METADATA_FIELDS},
        rights=_rights_dict(rights) if rights is not None else base.rights,
        files=tuple(_file_ref(f) for f in files) if files is not None else base.files,
        publisher_id=base.publisher_id)
