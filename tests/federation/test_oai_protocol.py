"""The OAI-PMH provider at /oai, request by request (Django test client): arguments, every protocol
error code, sets, datestamps, resumption tokens and both metadata formats. Every response is
validated against the shipped OAI-PMH 2.0, oai_dc, Dublin Core and IEEE LOM schemas."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from catalog.models import Resource
from federation.oai.records import oai_identifier
from tests.factories import ResourceFactory
from tests.federation.oai_support import NS, datestamp, error_codes, identifiers, oai_get, request_attrs

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2024, 3, 1, 8, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def catalog(orgs):
    """Published resources across stages and subjects, one withdrawn, one draft, one remote."""
    publisher = orgs["publisher"]

    def make(minutes: int, **kwargs) -> Resource:
        stamp = T0 + dt.timedelta(minutes=minutes)
        kwargs.setdefault("published_at", stamp if kwargs.get("status", "published") != "draft" else None)
        return ResourceFactory(
            publisher=publisher, created_at=stamp, updated_at=stamp, with_file=False, **kwargs
        )

    return {
        "math7": make(0),
        "math7b": make(1, price=5, license="ALL-RIGHTS-RESERVED"),
        "chinese1": make(
            2, stage="小学", subject="语文", grade="一年级", resource_type="教案", edition="统编版"
        ),
        "physics10": make(
            3,
            stage="高中",
            subject="物理",
            grade="高一",
            resource_type="微课",
            edition="人教版",
            volume="必修 第一册",
            license="CC0-1.0",
        ),
        "withdrawn": make(4, status=Resource.Status.WITHDRAWN),
        "draft": make(5, status=Resource.Status.DRAFT),
        "remote": make(6, origin_node="cn-11", is_remote=True, stage="初中", subject="英语", grade="八年级"),
    }


@pytest.fixture
def client():
    return Client()


def oai_id(resource: Resource) -> str:
    return oai_identifier(resource.pk)


# --- the six verbs ---------------------------------------------------------------------------


def test_identify_describes_the_repository(client, catalog):
    """Identify names the base URL, protocol 2.0, persistent deletions, second granularity and
    the earliest datestamp of an exposed record."""
    root = oai_get(client, verb="Identify")
    ident = root.find("oai:Identify", NS)
    assert ident.findtext("oai:protocolVersion", namespaces=NS) == "2.0"
    assert ident.findtext("oai:deletedRecord", namespaces=NS) == "persistent"
    assert ident.findtext("oai:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert ident.findtext("oai:earliestDatestamp", namespaces=NS) == datestamp(T0)
    assert ident.findtext("oai:baseURL", namespaces=NS).endswith("/oai")
    assert request_attrs(root) == {"verb": "Identify"}


def test_identify_carries_an_oai_identifier_description_for_domain_repository_ids(client, catalog, settings):
    """With a domain-style repository identifier the oai-identifier description is included (and
    validates against oai-identifier.xsd); node ids like ``cn-44`` are not domain names, so it is left out."""
    assert oai_get(client, verb="Identify").find(".//id:oai-identifier", NS) is None
    settings.OAI_REPOSITORY_IDENTIFIER = "cn-44.exchange.example"
    desc = oai_get(client, verb="Identify").find(".//id:oai-identifier", NS)
    assert desc.findtext("id:repositoryIdentifier", namespaces=NS) == "cn-44.exchange.example"
    assert desc.findtext("id:sampleIdentifier", namespaces=NS).startswith("oai:cn-44.exchange.example:")


def test_list_metadata_formats(client, catalog):
    """Both formats are listed, for the repository and for a live item."""
    for params in ({}, {"identifier": oai_id(catalog["math7"])}):
        root = oai_get(client, verb="ListMetadataFormats", **params)
        formats = {
            f.findtext("oai:metadataPrefix", namespaces=NS): f.findtext(
                "oai:metadataNamespace", namespaces=NS
            )
            for f in root.iterfind(".//oai:metadataFormat", NS)
        }
        assert formats == {"oai_dc": NS["oai_dc"], "lom": NS["lom"]}


def test_list_sets_uses_ascii_specs_and_chinese_names(client, catalog):
    """setSpecs come from the vocabulary's English codes; setNames are Chinese."""
    root = oai_get(client, verb="ListSets")
    sets = {
        s.findtext("oai:setSpec", namespaces=NS): s.findtext("oai:setName", namespaces=NS)
        for s in root.iterfind(".//oai:set", NS)
    }
    assert sets["stage"] == "学段"
    assert sets["stage:junior_secondary"] == "初中"
    assert sets["stage:junior_secondary:mathematics"] == "初中 数学"
    assert sets["subject"] == "学科"
    assert sets["subject:mathematics"] == "数学"
    assert "stage:primary:physics" not in sets  # physics is not taught in primary school
    english = root.find(".//oai:set[oai:setSpec='stage:junior_secondary']//dc:title", NS)
    assert english.text == "Junior secondary school"


def test_get_record_oai_dc_carries_rights_and_vocabulary(client, catalog):
    """GetRecord in oai_dc: title, subjects in Chinese and English, licence URI and holder in dc:rights."""
    resource = catalog["math7"]
    root = oai_get(client, verb="GetRecord", identifier=oai_id(resource), metadataPrefix="oai_dc")
    header = root.find(".//oai:header", NS)
    assert header.get("status") is None
    assert header.findtext("oai:identifier", namespaces=NS) == f"oai:cn-44:{resource.pk}"
    assert header.findtext("oai:datestamp", namespaces=NS) == datestamp(T0)
    assert [s.text for s in header.iterfind("oai:setSpec", NS)] == [
        "stage:junior_secondary:mathematics",
        "subject:mathematics",
    ]
    dc = root.find(".//oai_dc:dc", NS)
    assert dc.findtext("dc:title", namespaces=NS) == resource.title
    subjects = [s.text for s in dc.iterfind("dc:subject", NS)]
    assert {"数学", "Mathematics", "初中", "Junior secondary school", "七年级"} <= set(subjects)
    rights = [r.text for r in dc.iterfind("dc:rights", NS)]
    assert "https://creativecommons.org/licenses/by/4.0/" in rights
    assert f"© 2024 {resource.publisher_name}" in rights
    assert f"urn:uuid:{resource.pk}" in [i.text for i in dc.iterfind("dc:identifier", NS)]
    assert dc.findtext("dc:date", namespaces=NS) == "2024-03-01"
    assert dc.findtext("dc:language", namespaces=NS) == "zh-Hans"


def test_get_record_lom_maps_education_rights_and_classification(client, catalog):
    """GetRecord in IEEE LOM (validated against the strict LOMv1.0 composite schema): learning
    resource type, school context, age range from the grade, cost and restrictions, discipline."""
    root = oai_get(client, verb="GetRecord", identifier=oai_id(catalog["math7b"]), metadataPrefix="lom")
    lom = root.find(".//lom:lom", NS)

    def value(path: str) -> str:
        return lom.findtext(path, namespaces=NS)

    assert value("lom:general/lom:title/lom:string") == catalog["math7b"].title
    assert value("lom:general/lom:language") == "zh-Hans"
    assert value("lom:educational/lom:learningResourceType/lom:value") == "slide"
    assert value("lom:educational/lom:context/lom:value") == "school"
    assert value("lom:educational/lom:intendedEndUserRole/lom:value") == "teacher"
    assert value("lom:educational/lom:typicalAgeRange/lom:string") == "12-13"
    assert value("lom:rights/lom:cost/lom:value") == "yes"
    assert value("lom:rights/lom:copyrightAndOtherRestrictions/lom:value") == "yes"
    assert "http://rightsstatements.org/vocab/InC/1.0/" in value("lom:rights/lom:description/lom:string")
    assert value("lom:lifeCycle/lom:contribute/lom:role/lom:value") == "publisher"
    assert "FN:本省出版社" in value("lom:lifeCycle/lom:contribute/lom:entity")
    disciplines = lom.xpath(
        "lom:classification[lom:purpose/lom:value='discipline']//lom:taxon/lom:id", namespaces=NS
    )
    assert [d.text for d in disciplines] == ["mathematics"]

    free = oai_get(client, verb="GetRecord", identifier=oai_id(catalog["physics10"]), metadataPrefix="lom")
    assert free.findtext(".//lom:rights/lom:cost/lom:value", namespaces=NS) == "no"
    assert free.findtext(".//lom:rights/lom:copyrightAndOtherRestrictions/lom:value", namespaces=NS) == "no"
    assert free.findtext(".//lom:educational/lom:learningResourceType/lom:value", namespaces=NS) == "lecture"
    assert free.findtext(".//lom:educational/lom:typicalAgeRange/lom:string", namespaces=NS) == "15-16"


def test_withdrawn_resource_is_a_deleted_record(client, catalog):
    """A withdrawn resource keeps answering GetRecord with a deleted header and no metadata."""
    root = oai_get(client, verb="GetRecord", identifier=oai_id(catalog["withdrawn"]), metadataPrefix="oai_dc")
    record = root.find(".//oai:record", NS)
    assert record.find("oai:header", NS).get("status") == "deleted"
    assert record.find("oai:metadata", NS) is None


def test_lists_expose_published_and_deleted_records_only(client, catalog):
    """Drafts never appear; published (local and synced) and withdrawn ones do, in datestamp order."""
    for verb in ("ListIdentifiers", "ListRecords"):
        root = oai_get(client, verb=verb, metadataPrefix="oai_dc")
        expected = [
            oai_id(catalog[k]) for k in ("math7", "math7b", "chinese1", "physics10", "withdrawn", "remote")
        ]
        assert identifiers(root) == expected
        deleted = [
            h.findtext("oai:identifier", namespaces=NS)
            for h in root.iterfind(".//oai:header", NS)
            if h.get("status") == "deleted"
        ]
        assert deleted == [oai_id(catalog["withdrawn"])]
        assert root.find(".//oai:resumptionToken", NS) is None  # one page: no token at all


def test_remote_records_can_be_left_out(client, catalog, settings):
    """OAI_INCLUDE_REMOTE=False exposes only the node's own records."""
    settings.OAI_INCLUDE_REMOTE = False
    root = oai_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc")
    assert oai_id(catalog["remote"]) not in identifiers(root)


def test_post_requests_are_accepted_without_csrf(catalog):
    """Harvesters may POST form-encoded arguments; the endpoint is CSRF-exempt."""
    client = Client(enforce_csrf_checks=True)
    root = oai_get(client, method="post", verb="ListIdentifiers", metadataPrefix="lom")
    assert len(identifiers(root)) == 6
    assert Client().put("/oai?verb=Identify").status_code == 405


# --- selective harvesting --------------------------------------------------------------------


def test_sets_select_records(client, catalog):
    """set=stage:primary selects primary records; set=subject selects every record with a subject;
    a combined stage/subject set narrows both."""
    assert identifiers(
        oai_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc", set="stage:primary")
    ) == [oai_id(catalog["chinese1"])]
    assert (
        len(identifiers(oai_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc", set="subject"))) == 6
    )
    both = oai_get(
        client, verb="ListIdentifiers", metadataPrefix="oai_dc", set="stage:junior_secondary:mathematics"
    )
    assert identifiers(both) == [oai_id(catalog[k]) for k in ("math7", "math7b", "withdrawn")]


def test_from_and_until_at_second_and_day_granularity(client, catalog):
    """from is inclusive, until includes the whole named second (or day)."""
    t2 = datestamp(T0 + dt.timedelta(minutes=2))
    root = oai_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc", until=t2)
    assert identifiers(root) == [oai_id(catalog[k]) for k in ("math7", "math7b", "chinese1")]
    root = oai_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc", **{"from": t2})
    assert identifiers(root)[0] == oai_id(catalog["chinese1"])
    day = oai_get(
        client,
        verb="ListIdentifiers",
        metadataPrefix="oai_dc",
        **{"from": "2024-03-01", "until": "2024-03-01"},
    )
    assert len(identifiers(day)) == 6
    assert request_attrs(day) == {
        "verb": "ListIdentifiers",
        "metadataPrefix": "oai_dc",
        "from": "2024-03-01",
        "until": "2024-03-01",
    }


def test_until_includes_fractions_of_the_named_second(client, orgs):
    """A record stamped 08:00:00.7 belongs to until=08:00:00Z and to from=08:00:00Z."""
    stamp = T0.replace(microsecond=700000)
    resource = ResourceFactory(
        publisher=orgs["publisher"], created_at=stamp, updated_at=stamp, with_file=False
    )
    for params in ({"until": datestamp(T0)}, {"from": datestamp(T0)}):
        assert identifiers(oai_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc", **params)) == [
            oai_id(resource)
        ]
    assert "noRecordsMatch" in error_codes(
        oai_get(
            client,
            verb="ListIdentifiers",
            metadataPrefix="oai_dc",
            until=datestamp(T0 - dt.timedelta(seconds=1)),
        )
    )


# --- resumption ------------------------------------------------------------------------------


def test_resumption_tokens_page_through_the_list(client, catalog, settings):
    """Pages carry a token with completeListSize, cursor and a future expirationDate; the last page
    carries an empty token; the union of the pages is the whole list."""
    settings.OAI_PAGE_SIZE = 4
    root = oai_get(client, verb="ListRecords", metadataPrefix="lom")
    seen = identifiers(root)
    token = root.find(".//oai:resumptionToken", NS)
    assert (token.get("completeListSize"), token.get("cursor")) == ("6", "0")
    expires = dt.datetime.strptime(token.get("expirationDate"), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert expires > timezone.now()
    root = oai_get(client, verb="ListRecords", resumptionToken=token.text)
    assert request_attrs(root) == {"verb": "ListRecords", "resumptionToken": token.text}
    seen += identifiers(root)
    last = root.find(".//oai:resumptionToken", NS)
    assert last.text is None
    assert (last.get("completeListSize"), last.get("cursor")) == ("6", "4")
    assert len(seen) == len(set(seen)) == 6


# --- every error code ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"verb": "Harvest"},
        {"verb": ["Identify", "Identify"]},
        {"verb": "identify"},
    ],
)
def test_bad_verb(client, params):
    """Missing, unknown, repeated or miscased verbs are badVerb; the request element has no attributes."""
    root = oai_get(client, **params)
    assert error_codes(root) == ["badVerb"]
    assert request_attrs(root) == {}


@pytest.mark.parametrize(
    "params",
    [
        {"verb": "Identify", "metadataPrefix": "oai_dc"},
        {"verb": "ListRecords"},
        {"verb": "GetRecord", "metadataPrefix": "oai_dc"},
        {"verb": "ListRecords", "metadataPrefix": ["oai_dc", "lom"]},
        {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-13-01"},
        {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-03-01T08:00:00"},
        {
            "verb": "ListRecords",
            "metadataPrefix": "oai_dc",
            "from": "2024-03-01",
            "until": "2024-03-02T00:00:00Z",
        },
        {"verb": "ListRecords", "metadataPrefix": "oai_dc", "from": "2024-03-02", "until": "2024-03-01"},
        {"verb": "ListRecords", "metadataPrefix": "oai_dc", "resumptionToken": "x"},
        {"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "stage:初中"},
        {"verb": "ListRecords", "metadataPrefix": "oai dc"},
        {"verb": "ListRecords", "metadataPrefix": ""},
        {"verb": "ListMetadataFormats", "set": "stage"},
    ],
)
def test_bad_argument(client, catalog, params):
    """Illegal, missing, repeated or malformed arguments are badArgument, without echoed attributes."""
    root = oai_get(client, **params)
    assert error_codes(root) == ["badArgument"]
    assert request_attrs(root) == {}


def test_bad_resumption_token(client, catalog, settings):
    """Forged, damaged, expired and wrong-verb tokens are badResumptionToken; so is any token for
    ListSets, which this repository answers in one response."""
    settings.OAI_PAGE_SIZE = 2
    token = (
        oai_get(client, verb="ListRecords", metadataPrefix="oai_dc").find(".//oai:resumptionToken", NS).text
    )
    for verb, value in [
        ("ListRecords", "not-a-token"),
        ("ListRecords", token[:-3] + "AAA"),
        ("ListIdentifiers", token),
        ("ListSets", token),
    ]:
        root = oai_get(client, verb=verb, resumptionToken=value)
        assert error_codes(root) == ["badResumptionToken"], (verb, value)
        assert request_attrs(root)["resumptionToken"] == value
    settings.OAI_TOKEN_TTL_SECONDS = -1  # every token issued so far is now past its expiry
    assert error_codes(oai_get(client, verb="ListRecords", resumptionToken=token)) == ["badResumptionToken"]


def test_cannot_disseminate_format(client, catalog):
    for params in (
        {"verb": "ListRecords", "metadataPrefix": "marcxml"},
        {"verb": "ListIdentifiers", "metadataPrefix": "mods"},
        {"verb": "GetRecord", "metadataPrefix": "qdc", "identifier": oai_id(catalog["math7"])},
    ):
        root = oai_get(client, **params)
        assert error_codes(root) == ["cannotDisseminateFormat"]
        assert request_attrs(root)["metadataPrefix"] == params["metadataPrefix"]


@pytest.mark.parametrize(
    "identifier",
    [
        "oai:cn-44:00000000-0000-0000-0000-000000000000",
        "oai:cn-11:{id}",
        "oai:cn-44:not-a-uuid",
        "urn:uuid:{id}",
        "oai:cn-44:{draft}",
        "has spaces",
    ],
)
def test_id_does_not_exist(client, catalog, identifier):
    """Unknown, foreign, malformed and unpublished identifiers are idDoesNotExist."""
    identifier = identifier.format(id=catalog["math7"].pk, draft=catalog["draft"].pk)
    for verb, extra in (("GetRecord", {"metadataPrefix": "oai_dc"}), ("ListMetadataFormats", {})):
        root = oai_get(client, verb=verb, identifier=identifier, **extra)
        assert error_codes(root) == ["idDoesNotExist"]


def test_no_records_match(client, catalog):
    """An empty selection is noRecordsMatch: future dates, an unknown set, a set with no records."""
    for params in (
        {"from": "2999-01-01"},
        {"until": "2000-01-01"},
        {"set": "stage:kindergarten"},
        {"set": "subject:russian"},
    ):
        root = oai_get(client, verb="ListRecords", metadataPrefix="oai_dc", **params)
        assert error_codes(root) == ["noRecordsMatch"], params


def test_no_records_match_on_an_empty_repository(client):
    assert error_codes(oai_get(client, verb="ListIdentifiers", metadataPrefix="lom")) == ["noRecordsMatch"]


def test_no_metadata_formats_for_a_deleted_item(client, catalog):
    """A deleted record has no metadata left, so it lists no metadata formats."""
    root = oai_get(client, verb="ListMetadataFormats", identifier=oai_id(catalog["withdrawn"]))
    assert error_codes(root) == ["noMetadataFormats"]


def test_no_set_hierarchy_when_sets_are_switched_off(client, catalog, settings):
    """With OAI_SETS_ENABLED=False the repository has no sets: ListSets and set arguments answer
    noSetHierarchy, and headers carry no setSpec."""
    settings.OAI_SETS_ENABLED = False
    assert error_codes(oai_get(client, verb="ListSets")) == ["noSetHierarchy"]
    root = oai_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc", set="stage")
    assert error_codes(root) == ["noSetHierarchy"]
    assert oai_get(client, verb="ListIdentifiers", metadataPrefix="oai_dc").find(".//oai:setSpec", NS) is None


# --- robustness ------------------------------------------------------------------------------


def test_text_that_is_not_xml_safe_is_escaped_or_dropped(client, orgs):
    """Markup characters are escaped and control characters XML cannot carry are dropped."""
    title = 'a <b> & "c" \x07 \x1b end'
    resource = ResourceFactory(
        publisher=orgs["publisher"],
        title=title,
        description="x\x0by]]>z",
        keywords=["<k>", "&"],
        with_file=False,
    )
    for prefix in ("oai_dc", "lom"):
        root = oai_get(client, verb="GetRecord", identifier=oai_id(resource), metadataPrefix=prefix)
        assert 'a <b> & "c"   end' in "".join(root.itertext())
