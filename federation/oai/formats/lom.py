"""``lom``: IEEE LOM (1484.12.1-2002) in its XML binding (IEEE 1484.12.3, namespace
``http://ltsc.ieee.org/xsd/LOM``), with LOMv1.0 vocabulary values only, so records validate against
the strict composite schema (``lomv1.0/lom.xsd``).

Mapping: 1 General (identifiers, title, language, description, keywords, chapter as coverage),
2 Life cycle (version, status, publisher with a vCard), 3 Meta-metadata, 4 Technical (formats, size,
location, duration), 5 Educational (learning resource type, end-user role, context ``school``,
typical age range from grade or stage), 6 Rights (cost, restrictions, licence URI and holder),
9 Classification (``discipline`` = subject, ``educational level`` = stage and grade).
"""

from __future__ import annotations

import datetime as dt

from catalog.jsonld import license_uri, resource_url, typical_age_range
from catalog.models import Resource
from federation.oai.datestamps import format_datestamp
from federation.oai.formats import XSI, MetadataFormat, RecordContext, rights_of
from federation.oai.records import oai_identifier
from federation.oai.xml import XmlWriter

NAMESPACE = "http://ltsc.ieee.org/xsd/LOM"
SCHEMA = "http://ltsc.ieee.org/xsd/lomv1.0/lom.xsd"
ROOT_ATTRS = {"xmlns": NAMESPACE, "xmlns:xsi": XSI, "xsi:schemaLocation": f"{NAMESPACE} {SCHEMA}"}
VOCAB_SOURCE = "LOMv1.0"
TAXONOMY_SOURCE = "中华人民共和国基础教育课程 (national K-12 curriculum vocabulary)"
# LOMv1.0 learningResourceType value for each catalog resource type.
LEARNING_RESOURCE_TYPES = {
    "教案": "narrative text",
    "课件": "slide",
    "习题": "exercise",
    "学案": "narrative text",
    "试卷": "exam",
    "微课": "lecture",
    "素材": "figure",
    "教材": "narrative text",
}
END_USER_ROLES = {"teachers": "teacher", "students": "learner", "public": "learner"}
# Licences without copyright restrictions (LOM 6.2 "no").
UNRESTRICTED_LICENCES = {"CC0-1.0", "PDM-1.0"}


def _lom_datetime(value: dt.datetime) -> str:
    """A LOM DateTime value: the binding's pattern wants fractional seconds before the zone."""
    return format_datestamp(value)[:-1] + ".0Z"


def _lang_string(w: XmlWriter, name: str, values: list[tuple[str, str]]) -> None:
    values = [(text, lang) for text, lang in values if text]
    if not values:
        return
    with w.tag(name):
        for text, lang in values:
            w.element("string", text, {"language": lang})


def _vocab(w: XmlWriter, name: str, value: str) -> None:
    with w.tag(name):
        w.element("source", VOCAB_SOURCE)
        w.element("value", value)


def _vcard_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", " ")


def _vcard(name: str) -> str:
    org = _vcard_escape(name)
    return f"BEGIN:VCARD\nVERSION:3.0\nFN:{org}\nORG:{org}\nEND:VCARD\n"


def _taxon_path(w: XmlWriter, entries: list[tuple[str, str, str]]) -> None:
    """A taxon path of (id, Chinese label, English label) entries."""
    with w.tag("taxonPath"):
        _lang_string(w, "source", [(TAXONOMY_SOURCE, "zh-Hans")])
        for taxon_id, zh, en in entries:
            with w.tag("taxon"):
                w.element("id", taxon_id)
                _lang_string(w, "entry", [(zh, "zh-Hans"), (en, "en")])


def write(w: XmlWriter, resource: Resource, ctx: RecordContext) -> None:
    """Write ``<lom>`` for ``resource``."""
    labels = ctx.labels
    lang = resource.language or "zh-Hans"
    url = resource_url(resource, base_url=ctx.base_url)
    rights = rights_of(resource)
    files = list(resource.files.all())
    with w.tag("lom", ROOT_ATTRS):
        with w.tag("general"):
            with w.tag("identifier"):
                w.element("catalog", "oai")
                w.element("entry", oai_identifier(resource.pk))
            with w.tag("identifier"):
                w.element("catalog", "URI")
                w.element("entry", url)
            _lang_string(w, "title", [(resource.title, lang)])
            w.element("language", lang)
            _lang_string(w, "description", [(resource.description, lang)])
            for keyword in resource.keywords or []:
                _lang_string(w, "keyword", [(str(keyword), lang)])
            _lang_string(
                w, "coverage", [(" ".join(p for p in (resource.chapter, resource.section) if p), lang)]
            )
            _vocab(w, "structure", "atomic")
            _vocab(w, "aggregationLevel", "1")
        with w.tag("lifeCycle"):
            _lang_string(w, "version", [(str(resource.version), "en")])
            _vocab(w, "status", "final")
            with w.tag("contribute"):
                _vocab(w, "role", "publisher")
                w.element("entity", _vcard(resource.publisher_name))
                if resource.published_at:
                    with w.tag("date"):
                        w.element("dateTime", _lom_datetime(resource.published_at))
        with w.tag("metaMetadata"):
            with w.tag("identifier"):
                w.element("catalog", "oai")
                w.element("entry", oai_identifier(resource.pk))
            w.element("metadataSchema", "LOMv1.0")
            w.element("language", "zh-Hans")
        with w.tag("technical"):
            for mime in dict.fromkeys(f.mime for f in files):
                w.element("format", mime)
            if files:
                w.element("size", sum(f.size for f in files))
            w.element("location", url)
            seconds = sum(f.duration_seconds or 0 for f in files)
            if seconds:
                with w.tag("duration"):
                    w.element("duration", f"PT{seconds}S")
        with w.tag("educational"):
            if lrt := LEARNING_RESOURCE_TYPES.get(resource.resource_type):
                _vocab(w, "learningResourceType", lrt)
            _vocab(w, "intendedEndUserRole", END_USER_ROLES.get(rights.audience if rights else "", "teacher"))
            _vocab(w, "context", "school")
            age = typical_age_range(
                stage=resource.stage, grade=resource.grade, stage_data=labels.data("stage", resource.stage)
            )
            _lang_string(w, "typicalAgeRange", [(age or "", "en")])
            _lang_string(
                w,
                "description",
                [
                    (resource.resource_type, "zh-Hans"),
                    (labels.label_en("resource_type", resource.resource_type), "en"),
                ],
            )
            w.element("language", lang)
        if rights is not None:
            with w.tag("rights"):
                _vocab(w, "cost", "yes" if rights.price > 0 else "no")
                _vocab(
                    w,
                    "copyrightAndOtherRestrictions",
                    "no" if rights.license_id in UNRESTRICTED_LICENCES else "yes",
                )
                licence = rights.license
                _lang_string(
                    w,
                    "description",
                    [
                        (
                            f"© {rights.year} {rights.holder}。许可：{licence.name_zh or licence.name} "
                            f"{license_uri(licence)}"
                            + (f"。{rights.attribution}" if rights.attribution else ""),
                            "zh-Hans",
                        ),
                        (
                            f"© {rights.year} {rights.holder}. Licence: {licence.name} {license_uri(licence)}",
                            "en",
                        ),
                    ],
                )
        with w.tag("classification"):
            _vocab(w, "purpose", "discipline")
            _taxon_path(
                w,
                [
                    (
                        labels.code_en("subject", resource.subject) or resource.subject,
                        resource.subject,
                        labels.label_en("subject", resource.subject),
                    )
                ],
            )
        with w.tag("classification"):
            _vocab(w, "purpose", "educational level")
            path = [
                (
                    labels.code_en("stage", resource.stage) or resource.stage,
                    resource.stage,
                    labels.label_en("stage", resource.stage),
                )
            ]
            if resource.grade:
                path.append((resource.grade, resource.grade, labels.label_en("grade", resource.grade)))
            _taxon_path(w, path)


FORMAT = MetadataFormat(prefix="lom", schema=SCHEMA, namespace=NAMESPACE, write=write)
