"""The OAI-PMH 2.0 protocol: argument checking, the six verbs, and the response document.

:func:`respond` turns the arguments of one request into the complete XML response. Protocol errors
are part of the response (HTTP 200); for ``badVerb`` and ``badArgument`` the ``<request>`` element
carries no attributes, as the specification requires (section 3.2).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings

from catalog.jsonld import TermLabels
from catalog.models import Resource
from federation.oai import records, tokens
from federation.oai.datestamps import GRANULARITY, date_range, format_datestamp
from federation.oai.errors import (
    BadArgumentError,
    BadResumptionTokenError,
    BadVerbError,
    CannotDisseminateFormatError,
    IdDoesNotExistError,
    NoMetadataFormatsError,
    NoRecordsMatchError,
    NoSetHierarchyError,
    OAIProtocolError,
)
from federation.oai.formats import XSI, MetadataFormat, RecordContext, metadata_formats
from federation.oai.formats import oai_dc as dc_format
from federation.oai.records import RecordQuery
from federation.oai.sets import SPEC, SetHierarchy
from federation.oai.xml import XmlWriter

OAI_NAMESPACE = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_IDENTIFIER_NAMESPACE = "http://www.openarchives.org/OAI/2.0/oai-identifier"
OAI_IDENTIFIER_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai-identifier.xsd"
ROOT_ATTRS = {"xmlns": OAI_NAMESPACE, "xmlns:xsi": XSI, "xsi:schemaLocation": f"{OAI_NAMESPACE} {OAI_SCHEMA}"}
PREFIX = re.compile(r"^[A-Za-z0-9\-_.!~*'()]+$")
# Characters an identifier may hold and still be echoed as an xs:anyURI attribute.
URI_SAFE = re.compile(r"^[^\s<>\"{}|\\^`]+$")
# oai-identifier scheme: the repository identifier must be a domain name.
DOMAIN_IDENTIFIER = re.compile(r"^[a-zA-Z][a-zA-Z0-9\-]*(\.[a-zA-Z][a-zA-Z0-9\-]*)+$")


@dataclass(frozen=True)
class VerbSpec:
    required: frozenset[str]
    optional: frozenset[str]
    resumable: bool


VERBS: dict[str, VerbSpec] = {
    "Identify": VerbSpec(frozenset(), frozenset(), False),
    "ListMetadataFormats": VerbSpec(frozenset(), frozenset({"identifier"}), False),
    "ListSets": VerbSpec(frozenset(), frozenset(), True),
    "GetRecord": VerbSpec(frozenset({"identifier", "metadataPrefix"}), frozenset(), False),
    "ListIdentifiers": VerbSpec(frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"}), True),
    "ListRecords": VerbSpec(frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"}), True),
}


@dataclass(frozen=True)
class OAIRequest:
    verb: str
    args: dict[str, str]


def parse_request(arguments: Iterable[tuple[str, list[str]]]) -> OAIRequest:
    """Check the arguments of a request against its verb. Raises BadVerbError for a missing,
    repeated or unknown verb, BadArgumentError for any illegal, missing, repeated or malformed
    argument."""
    given = {name: values for name, values in arguments}
    verbs = given.pop("verb", [])
    if len(verbs) != 1 or verbs[0] not in VERBS:
        shown = ", ".join(repr(v) for v in verbs) or "none"
        raise BadVerbError(f"Expected exactly one verb out of {', '.join(VERBS)}; got {shown}.")
    verb, spec = verbs[0], VERBS[verbs[0]]
    repeated = sorted(name for name, values in given.items() if len(values) != 1)
    if repeated:
        raise BadArgumentError(f"Repeated argument(s): {', '.join(repeated)}.")
    args = {name: values[0] for name, values in given.items()}
    allowed = spec.required | spec.optional | ({"resumptionToken"} if spec.resumable else set())
    illegal = sorted(set(args) - allowed)
    if illegal:
        raise BadArgumentError(f"Illegal argument(s) for {verb}: {', '.join(illegal)}.")
    if "resumptionToken" in args:
        if len(args) != 1:
            raise BadArgumentError("resumptionToken is an exclusive argument.")
        if not args["resumptionToken"]:
            raise BadArgumentError("The resumptionToken argument is empty.")
        return OAIRequest(verb, args)
    missing = sorted(spec.required - set(args))
    if missing:
        raise BadArgumentError(f"Missing required argument(s) for {verb}: {', '.join(missing)}.")
    empty = sorted(name for name, value in args.items() if not value)
    if empty:
        raise BadArgumentError(f"Empty argument(s): {', '.join(empty)}.")
    if "metadataPrefix" in args and not PREFIX.match(args["metadataPrefix"]):
        raise BadArgumentError("The metadataPrefix argument has an illegal syntax.")
    if "set" in args and not SPEC.match(args["set"]):
        raise BadArgumentError("The set argument is not a legal setSpec.")
    date_range(args.get("from"), args.get("until"))
    return OAIRequest(verb, args)


class _Handler:
    """Answers one well-formed request; writes the verb's element into ``self.body``."""

    def __init__(self, request: OAIRequest, *, now: dt.datetime) -> None:
        self.request = request
        self.now = now
        self.body = XmlWriter()
        self.labels = TermLabels.load()
        self.context = RecordContext(labels=self.labels, base_url=settings.EXCHANGE_BASE_URL)
        self.formats = metadata_formats()

    # --- shared pieces ----------------------------------------------------------------------
    def _format(self, prefix: str) -> MetadataFormat:
        try:
            return self.formats[prefix]
        except KeyError:
            raise CannotDisseminateFormatError(
                f"This repository disseminates {', '.join(self.formats)}, not {prefix!r}."
            ) from None

    def _resource(self, identifier: str) -> Resource:
        resource_id = records.parse_oai_identifier(identifier)
        resource = records.record_get(resource_id) if resource_id else None
        if resource is None:
            raise IdDoesNotExistError(f"No item has the identifier {identifier!r} in this repository.")
        return resource

    def _header(self, resource: Resource, hierarchy: SetHierarchy) -> None:
        w = self.body
        with w.tag("header", {"status": "deleted"} if records.is_deleted(resource) else None):
            w.element("identifier", records.oai_identifier(resource.pk))
            w.element("datestamp", format_datestamp(resource.updated_at))
            for spec in hierarchy.specs_for(resource):
                w.element("setSpec", spec)

    def _record(self, resource: Resource, fmt: MetadataFormat, hierarchy: SetHierarchy) -> None:
        w = self.body
        with w.tag("record"):
            self._header(resource, hierarchy)
            if not records.is_deleted(resource):
                with w.tag("metadata"):
                    fmt.write(w, resource, self.context)

    # --- verbs --------------------------------------------------------------------------------
    def identify(self) -> None:
        w = self.body
        earliest = records.earliest_datestamp() or self.now
        repository_id = records.repository_identifier()
        with w.tag("Identify"):
            w.element(
                "repositoryName",
                settings.OAI_REPOSITORY_NAME
                or f"{settings.EXCHANGE_NODE_NAME or settings.EXCHANGE_NODE_ID} 课件资源交换节点",
            )
            w.element("baseURL", settings.OAI_BASE_URL)
            w.element("protocolVersion", "2.0")
            for email in settings.OAI_ADMIN_EMAILS:
                w.element("adminEmail", email)
            w.element("earliestDatestamp", format_datestamp(earliest))
            w.element("deletedRecord", "persistent")
            w.element("granularity", GRANULARITY)
            if DOMAIN_IDENTIFIER.match(repository_id):
                with w.tag("description"):
                    with w.tag(
                        "oai-identifier",
                        {
                            "xmlns": OAI_IDENTIFIER_NAMESPACE,
                            "xmlns:xsi": XSI,
                            "xsi:schemaLocation": f"{OAI_IDENTIFIER_NAMESPACE} {OAI_IDENTIFIER_SCHEMA}",
                        },
                    ):
                        w.element("scheme", "oai")
                        w.element("repositoryIdentifier", repository_id)
                        w.element("delimiter", ":")
                        w.element(
                            "sampleIdentifier", records.oai_identifier("0f8fad5b-d9cb-469f-a165-70867728950e")
                        )

    def list_metadata_formats(self) -> None:
        if identifier := self.request.args.get("identifier"):
            if records.is_deleted(self._resource(identifier)):
                raise NoMetadataFormatsError(
                    f"{identifier} is a deleted record: it has no metadata left to disseminate."
                )
        w = self.body
        with w.tag("ListMetadataFormats"):
            for fmt in self.formats.values():
                with w.tag("metadataFormat"):
                    w.element("metadataPrefix", fmt.prefix)
                    w.element("schema", fmt.schema)
                    w.element("metadataNamespace", fmt.namespace)

    def list_sets(self) -> None:
        hierarchy = SetHierarchy.load(self.labels)
        if not hierarchy.enabled:
            raise NoSetHierarchyError()
        if "resumptionToken" in self.request.args:
            raise BadResumptionTokenError(
                "ListSets is answered in one response; this repository issued no token for it."
            )
        w = self.body
        with w.tag("ListSets"):
            for oai_set in hierarchy.sets:
                with w.tag("set"):
                    w.element("setSpec", oai_set.spec)
                    w.element("setName", oai_set.name)
                    if oai_set.name_en:
                        with w.tag("setDescription"), w.tag("oai_dc:dc", dc_format.ROOT_ATTRS):
                            w.element("dc:title", oai_set.name_en, {"xml:lang": "en"})
                            w.element("dc:description", oai_set.name, {"xml:lang": "zh-Hans"})

    def get_record(self) -> None:
        fmt = self._format(self.request.args["metadataPrefix"])
        resource = self._resource(self.request.args["identifier"])
        hierarchy = SetHierarchy.load(self.labels)
        with self.body.tag("GetRecord"):
            self._record(resource, fmt, hierarchy)

    def list_identifiers(self) -> None:
        self._list(with_metadata=False)

    def list_records(self) -> None:
        self._list(with_metadata=True)

    def _list(self, *, with_metadata: bool) -> None:
        args, verb = self.request.args, self.request.verb
        hierarchy = SetHierarchy.load(self.labels)
        if "resumptionToken" in args:
            state = tokens.decode(args["resumptionToken"], verb=verb, max_age=settings.OAI_TOKEN_TTL_SECONDS)
            if state.metadata_prefix not in self.formats:
                raise BadResumptionTokenError("The token's metadata format is no longer disseminated.")
            fmt, set_spec, start, end = (
                self.formats[state.metadata_prefix],
                state.set_spec,
                state.start,
                state.end,
            )
            after, returned = state.last, state.returned
        else:
            fmt, set_spec = self._format(args["metadataPrefix"]), args.get("set")
            start, end = date_range(args.get("from"), args.get("until"))
            after, returned = None, 0
        filters: dict[str, str] = {}
        if set_spec is not None:
            if not hierarchy.enabled:
                raise NoSetHierarchyError()
            oai_set = hierarchy.get(set_spec)
            if oai_set is None:
                raise NoRecordsMatchError(f"There is no set {set_spec!r} in this repository.")
            filters = oai_set.filters
        query = RecordQuery(filters=filters, start=start, end=end)
        page_size = max(1, int(settings.OAI_PAGE_SIZE))
        page = records.record_page(query, after=after, limit=page_size, with_metadata=with_metadata)
        while not page.resources and page.more:  # every row of the page left the list meanwhile
            page = records.record_page(query, after=page.last, limit=page_size, with_metadata=with_metadata)
        if not page.resources or page.last is None:
            raise NoRecordsMatchError()
        w = self.body
        with w.tag(verb):
            for resource in page.resources:
                if with_metadata:
                    self._record(resource, fmt, hierarchy)
                else:
                    self._header(resource, hierarchy)
            if page.more or returned:
                delivered = returned + len(page.resources)
                size = max(records.record_count(query), delivered + (1 if page.more else 0))
                attrs: dict[str, object] = {"completeListSize": size, "cursor": returned}
                if not page.more:
                    w.empty("resumptionToken", attrs)
                    return
                token = tokens.encode(
                    tokens.ListState(
                        verb=verb,
                        metadata_prefix=fmt.prefix,
                        set_spec=set_spec,
                        start=start,
                        end=end,
                        returned=delivered,
                        last=page.last,
                    )
                )
                expires = self.now + dt.timedelta(seconds=settings.OAI_TOKEN_TTL_SECONDS)
                w.element("resumptionToken", token, {"expirationDate": format_datestamp(expires), **attrs})

    def run(self) -> None:
        {
            "Identify": self.identify,
            "ListMetadataFormats": self.list_metadata_formats,
            "ListSets": self.list_sets,
            "GetRecord": self.get_record,
            "ListIdentifiers": self.list_identifiers,
            "ListRecords": self.list_records,
        }[self.request.verb]()


def _request_attrs(request: OAIRequest) -> dict[str, object]:
    attrs: dict[str, object] = {"verb": request.verb}
    for name, value in request.args.items():
        if name == "identifier" and not URI_SAFE.match(value):
            continue  # not echoable as xs:anyURI; the error explains it
        attrs[name] = value
    return attrs


def respond(arguments: Iterable[tuple[str, list[str]]], *, now: dt.datetime) -> str:
    """The complete OAI-PMH response document for one request's arguments."""
    echo: dict[str, object] | None = None
    body = XmlWriter()
    try:
        request = parse_request(arguments)
        echo = _request_attrs(request)
        handler = _Handler(request, now=now)
        handler.run()
        body = handler.body
    except OAIProtocolError as exc:
        if isinstance(exc, BadVerbError | BadArgumentError):
            echo = None
        body = XmlWriter()
        body.element("error", exc.message, {"code": exc.oai_code})
    w = XmlWriter()
    w.declaration()
    with w.tag("OAI-PMH", ROOT_ATTRS):
        w.element("responseDate", format_datestamp(now))
        w.element("request", settings.OAI_BASE_URL, echo)
        w.extend(body)
    return w.getvalue()
