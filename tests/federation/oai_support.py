"""Helpers shared by the OAI-PMH tests: namespaces, a schema-checking request helper and a sickle
client that validates every response it receives."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lxml import etree
from sickle import Sickle

from tests.federation.schemas import validation_errors

NS = {
    "oai": "http://www.openarchives.org/OAI/2.0/",
    "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "lom": "http://ltsc.ieee.org/xsd/LOM",
    "id": "http://www.openarchives.org/OAI/2.0/oai-identifier",
}


def parse_valid(body: bytes) -> etree._Element:
    """Parse an OAI-PMH response after checking it against the shipped schemas."""
    errors = validation_errors(body)
    assert errors == [], "\n".join(errors[:5])
    return etree.fromstring(body)


def oai_get(client: Any, method: str = "get", **params: Any) -> etree._Element:
    """One request to ``/oai`` through Django's test client; the response must be schema-valid XML."""
    response = getattr(client, method)("/oai", params)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    return parse_valid(response.content)


def error_codes(root: etree._Element) -> list[str]:
    return [e.get("code") for e in root.findall("oai:error", NS)]


def request_attrs(root: etree._Element) -> dict[str, str]:
    return dict(root.find("oai:request", NS).attrib)


def identifiers(root: etree._Element) -> list[str]:
    return [e.text for e in root.iterfind(".//oai:header/oai:identifier", NS)]


def datestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ValidatingSickle(Sickle):
    """A sickle client that checks every response against the OAI-PMH schemas and counts them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.responses: list[Any] = []

    def harvest(self, **kwargs: Any) -> Any:
        response = super().harvest(**kwargs)
        errors = validation_errors(response.http_response.content)
        assert errors == [], "\n".join(errors[:5])
        assert response.http_response.headers["Content-Type"] == "text/xml; charset=utf-8"
        self.responses.append(response)
        return response
