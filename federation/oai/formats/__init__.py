"""Metadata formats the repository disseminates, by metadataPrefix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from catalog.jsonld import TermLabels
from catalog.models import Resource, RightsStatement
from federation.oai.xml import XmlWriter

XSI = "http://www.w3.org/2001/XMLSchema-instance"


@dataclass(frozen=True)
class RecordContext:
    """What metadata writers need besides the resource: vocabulary labels and the node's base URL."""

    labels: TermLabels
    base_url: str


@dataclass(frozen=True)
class MetadataFormat:
    prefix: str
    schema: str
    namespace: str
    write: Callable[[XmlWriter, Resource, RecordContext], None]


def rights_of(resource: Resource) -> RightsStatement | None:
    try:
        return resource.rights
    except RightsStatement.DoesNotExist:
        return None


def metadata_formats() -> dict[str, MetadataFormat]:
    """Every format, oai_dc first (the protocol requires it)."""
    from federation.oai.formats import lom, oai_dc

    return {f.prefix: f for f in (oai_dc.FORMAT, lom.FORMAT)}
