"""The XML schemas OAI-PMH responses are validated against, shipped so validation runs offline.

See ``README.md`` beside this file for where each schema comes from.
"""

from __future__ import annotations

import socket
from functools import cache
from pathlib import Path

import xmlschema

HERE = Path(__file__).resolve().parent
LOCATIONS = [
    ("http://www.openarchives.org/OAI/2.0/oai_dc/", HERE / "oai_dc.xsd"),
    ("http://purl.org/dc/elements/1.1/", HERE / "dc.xsd"),
    ("http://www.openarchives.org/OAI/2.0/oai-identifier", HERE / "oai-identifier.xsd"),
    ("http://ltsc.ieee.org/xsd/LOM", HERE / "lom" / "lom.xsd"),
]


@cache
def oai_pmh_schema() -> xmlschema.XMLSchema:
    """OAI-PMH 2.0 with the oai_dc, Dublin Core, oai-identifier and IEEE LOM schemas it imports."""
    return xmlschema.XMLSchema(
        str(HERE / "OAI-PMH.xsd"), locations=[(ns, str(path)) for ns, path in LOCATIONS]
    )


def validation_errors(document: str | bytes) -> list[str]:
    """Every schema violation of an OAI-PMH response (empty when it is valid). Location hints in the
    document (``xsi:schemaLocation``) are ignored, so nothing is fetched from the network."""
    source = document.encode("utf-8") if isinstance(document, str) else document
    return [str(error) for error in oai_pmh_schema().iter_errors(source, use_location_hints=False)]


def no_network() -> None:
    """Raise if anything below tries to open a socket (used to prove validation is offline)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("network access attempted during schema validation")

    socket.socket.connect = refuse  # type: ignore[method-assign]
