"""``oai_dc``: unqualified Dublin Core, the format every OAI-PMH repository must offer."""

from __future__ import annotations

from catalog.jsonld import license_uri, resource_url
from catalog.models import Resource
from federation.oai.datestamps import format_day
from federation.oai.formats import XSI, MetadataFormat, RecordContext, rights_of
from federation.oai.xml import XmlWriter

NAMESPACE = "http://www.openarchives.org/OAI/2.0/oai_dc/"
SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC = "http://purl.org/dc/elements/1.1/"
ROOT_ATTRS = {
    "xmlns:oai_dc": NAMESPACE,
    "xmlns:dc": DC,
    "xmlns:xsi": XSI,
    "xsi:schemaLocation": f"{NAMESPACE} {SCHEMA}",
}
# DCMI Type Vocabulary term for each resource type (anything else is Text).
DCMI_TYPES = {"微课": "MovingImage", "素材": "Image", "课件": "InteractiveResource"}
ZH = {"xml:lang": "zh-Hans"}
EN = {"xml:lang": "en"}


def _term(w: XmlWriter, element: str, vocabulary: str, code: str, ctx: RecordContext) -> None:
    if not code:
        return
    w.element(element, code, ZH)
    w.element(element, ctx.labels.label_en(vocabulary, code), EN)


def write(w: XmlWriter, resource: Resource, ctx: RecordContext) -> None:
    """Write ``<oai_dc:dc>`` for ``resource``."""
    lang = {"xml:lang": resource.language or "zh-Hans"}
    rights = rights_of(resource)
    with w.tag("oai_dc:dc", ROOT_ATTRS):
        w.element("dc:title", resource.title, lang)
        w.element("dc:creator", rights.holder if rights else resource.publisher_name)
        _term(w, "dc:subject", "subject", resource.subject, ctx)
        _term(w, "dc:subject", "stage", resource.stage, ctx)
        _term(w, "dc:subject", "grade", resource.grade, ctx)
        for keyword in resource.keywords or []:
            w.element("dc:subject", keyword, lang)
        w.element("dc:subject", " ".join(p for p in (resource.chapter, resource.section) if p), lang)
        w.element("dc:description", resource.description, lang)
        w.element("dc:publisher", resource.publisher_name)
        if resource.published_at:
            w.element("dc:date", format_day(resource.published_at))
        w.element("dc:type", DCMI_TYPES.get(resource.resource_type, "Text"))
        _term(w, "dc:type", "resource_type", resource.resource_type, ctx)
        for mime in dict.fromkeys(f.mime for f in resource.files.all()):
            w.element("dc:format", mime)
        w.element("dc:identifier", resource_url(resource, base_url=ctx.base_url))
        w.element("dc:identifier", f"urn:uuid:{resource.pk}")
        w.element("dc:language", resource.language)
        textbook = " ".join(
            p for p in (resource.edition, resource.subject, resource.grade, resource.volume) if p
        )
        if resource.edition:
            w.element("dc:relation", f"教材：{textbook}", ZH)
        if rights is not None:
            w.element("dc:rights", license_uri(rights.license))
            w.element("dc:rights", f"© {rights.year} {rights.holder}")
            w.element(
                "dc:rights",
                rights.license.name_zh or rights.license.name,
                ZH if rights.license.name_zh else EN,
            )
            w.element("dc:rights", rights.attribution, ZH)


FORMAT = MetadataFormat(prefix="oai_dc", schema=SCHEMA, namespace=NAMESPACE, write=write)
