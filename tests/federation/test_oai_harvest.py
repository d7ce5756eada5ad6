"""Harvesting the node with a standard OAI-PMH client (sickle, from PyPI) over real HTTP: the node runs
as pytest-django's live server and every response is validated against the shipped schemas.

Live-server tests run on a transactional database that Django flushes after each test, which also
wipes the reference data (vocabularies, licences, role groups) the session loaded: each test here
reloads what it needs, and the module puts it back for the tests that follow.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone
from sickle.iterator import OAIResponseIterator
from sickle.oaiexceptions import BadArgument, BadVerb, CannotDisseminateFormat, IdDoesNotExist, NoRecordsMatch

from catalog.models import Resource, Term
from catalog.services import resource_withdraw
from federation.oai.records import oai_identifier
from tests import factories
from tests.factories import ResourceFactory
from tests.federation.oai_support import NS, ValidatingSickle, datestamp

T0 = dt.datetime(2024, 5, 1, 0, 0, 0, tzinfo=dt.UTC)
STAGES = [
    ("小学", "语文", "三年级"),
    ("初中", "数学", "七年级"),
    ("初中", "物理", "八年级"),
    ("高中", "化学", "高一"),
]


def _load_reference_data() -> None:
    from catalog.vocab import vocabularies_load
    from exchange.services import roles_ensure

    vocabularies_load()
    roles_ensure()


@pytest.fixture(scope="module", autouse=True)
def _restore_reference_data_after_module(django_db_blocker):
    yield
    with django_db_blocker.unblock():
        if not Term.objects.exists():
            _load_reference_data()


@pytest.fixture
def node(live_server, django_db_blocker, settings):
    """The live node with reference data, small pages, and its OAI base URL."""
    if not Term.objects.exists():
        _load_reference_data()
    settings.OAI_PAGE_SIZE = 5
    settings.OAI_BASE_URL = live_server.url + "/oai"
    return live_server.url + "/oai"


@pytest.fixture
def people(node, province):
    orgs = factories.demo_organisations(province)
    return orgs, factories.demo_users(orgs)


def make(
    orgs, n: int, *, start: dt.datetime = T0, step: dt.timedelta = dt.timedelta(minutes=1), **kwargs
) -> list[Resource]:
    """``n`` published resources stamped ``start``, ``start + step``, … across four stage/subjects."""
    out = []
    for i in range(n):
        stamp = start + i * step
        stage, subject, grade = STAGES[i % len(STAGES)]
        out.append(
            ResourceFactory(
                publisher=orgs["publisher"],
                stage=stage,
                subject=subject,
                grade=grade,
                created_at=stamp,
                updated_at=stamp,
                published_at=stamp,
                with_file=False,
                **kwargs,
            )
        )
    return out


def oai_ids(resources) -> list[str]:
    return [oai_identifier(r.pk) for r in resources]


def test_full_harvest_matches_the_published_catalog(node, people):
    """ListRecords through several resumption pages returns every published record once, withdrawn
    ones as deleted, and nothing unpublished; the same holds for ListIdentifiers and for LOM."""
    orgs, users = people
    published = make(orgs, 23)
    ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.DRAFT, with_file=False)
    ResourceFactory(publisher=orgs["publisher"], status=Resource.Status.SUBMITTED, with_file=False)
    gone = published[7]
    resource_withdraw(user=users["publisher"], resource=gone, reason="withdrawn_by_publisher")

    client = ValidatingSickle(node)
    records = list(client.ListRecords(metadataPrefix="oai_dc"))
    harvested = [r.header.identifier for r in records]
    assert len(client.responses) == 5  # 23 exposed records (22 live, 1 deleted), 5 per page
    assert sorted(harvested) == sorted(oai_ids(published))
    assert len(harvested) == len(set(harvested))
    assert [r.header.identifier for r in records if r.header.deleted] == [oai_identifier(gone.pk)]
    assert harvested[-1] == oai_identifier(gone.pk)  # the withdrawal is the newest change
    live = [r for r in records if not r.header.deleted]
    assert all(r.metadata["title"] and r.metadata["rights"] for r in live)
    assert live[0].metadata["rights"][0] == "https://creativecommons.org/licenses/by/4.0/"

    headers = list(ValidatingSickle(node).ListIdentifiers(metadataPrefix="lom"))
    assert [h.identifier for h in headers] == harvested
    lom = ValidatingSickle(node)
    assert len(list(lom.ListRecords(metadataPrefix="lom", ignore_deleted=True))) == 22
    tokens = [resp.xml.find(".//oai:resumptionToken", NS) for resp in lom.responses]
    assert [t.get("cursor") for t in tokens] == ["0", "5", "10", "15", "20"]
    assert {t.get("completeListSize") for t in tokens} == {"23"}


def test_incremental_harvest_returns_only_changes(node, people):
    """After a full harvest, from=<responseDate of its first request> returns exactly what changed:
    new records and the withdrawal (as deleted); until selects the old ones."""
    orgs, users = people
    old = make(orgs, 12)
    client = ValidatingSickle(node)
    assert len(list(client.ListIdentifiers(metadataPrefix="oai_dc"))) == 12
    since = client.responses[0].xml.findtext("oai:responseDate", namespaces=NS)

    fresh = make(orgs, 2, start=timezone.now() + dt.timedelta(seconds=1))
    resource_withdraw(user=users["publisher"], resource=old[3], reason="withdrawn_by_publisher")

    changes = list(ValidatingSickle(node).ListRecords(metadataPrefix="oai_dc", **{"from": since}))
    assert sorted(r.header.identifier for r in changes) == sorted(oai_ids([*fresh, old[3]]))
    assert {r.header.identifier for r in changes if r.header.deleted} == {oai_identifier(old[3].pk)}
    before = list(
        ValidatingSickle(node).ListIdentifiers(metadataPrefix="oai_dc", until=datestamp(old[-1].updated_at))
    )
    assert [h.identifier for h in before] == oai_ids(old[:3] + old[4:])
    today = timezone.now().strftime("%Y-%m-%d")
    assert len(list(ValidatingSickle(node).ListIdentifiers(metadataPrefix="oai_dc", **{"from": today}))) >= 3


def test_withdrawn_resource_comes_back_deleted(node, people):
    """GetRecord and ListIdentifiers report a withdrawn resource as deleted, persistently."""
    orgs, users = people
    [resource] = make(orgs, 1)
    client = ValidatingSickle(node)
    assert client.GetRecord(identifier=oai_identifier(resource.pk), metadataPrefix="lom").deleted is False
    resource_withdraw(user=users["publisher"], resource=resource, reason="withdrawn_by_publisher")
    record = client.GetRecord(identifier=oai_identifier(resource.pk), metadataPrefix="lom")
    assert record.deleted is True
    assert record.xml.find(".//oai:metadata", NS) is None
    [header] = list(client.ListIdentifiers(metadataPrefix="oai_dc"))
    assert header.deleted is True
    assert client.Identify().deletedRecord == "persistent"


def test_resumption_is_stable_under_concurrent_inserts(node, people, settings):
    """Records inserted while a harvest is under way, before, at and after its cursor, never make
    the harvest skip or repeat a record that was there when it started."""
    orgs, _ = people
    settings.OAI_PAGE_SIZE = 4
    original = make(orgs, 20, start=T0, step=dt.timedelta(seconds=30))
    same_stamp = [
        ResourceFactory(
            publisher=orgs["publisher"],
            created_at=original[9].updated_at,
            updated_at=original[9].updated_at,
            published_at=T0,
            with_file=False,
            id=uuid.UUID(int=i),
        )
        for i in (1, 2**128 - 1)
    ]
    original += same_stamp
    client = ValidatingSickle(node)
    iterator = client.ListIdentifiers(metadataPrefix="oai_dc")
    seen: list[str] = []
    inserted: list[Resource] = []
    for header in iterator:
        seen.append(header.identifier)
        if len(seen) in (4, 12):
            # one behind the cursor, one sharing the newest harvested datestamp, one ahead of it, one now
            inserted += make(orgs, 1, start=T0 - dt.timedelta(days=1))
            inserted += [
                ResourceFactory(
                    publisher=orgs["publisher"],
                    created_at=T0,
                    updated_at=original[9].updated_at,
                    published_at=T0,
                    with_file=False,
                )
            ]
            inserted += make(orgs, 1, start=T0 + dt.timedelta(hours=5))
            inserted += make(orgs, 1, start=timezone.now())
    originals = set(oai_ids(original))
    seen_originals = [i for i in seen if i in originals]
    assert sorted(seen_originals) == sorted(originals)
    assert len(seen_originals) == len(originals)
    assert len(seen) == len(set(seen))
    assert set(seen) - originals <= set(oai_ids(inserted))
    assert oai_identifier(inserted[-1].pk) in seen  # inserts ahead of the cursor are picked up
    sizes = [
        int(resp.xml.find(".//oai:resumptionToken", NS).get("completeListSize")) for resp in client.responses
    ]
    assert sizes[0] == 22 and sizes[-1] == 30  # the list grew by the eight inserts


def test_six_verbs_and_error_codes_through_a_standard_client(node, people):
    """sickle drives all six verbs, over GET and POST, and maps the node's errors to its exceptions."""
    orgs, _ = people
    resources = make(orgs, 6)
    for method in ("GET", "POST"):
        client = ValidatingSickle(node, http_method=method)
        identify = client.Identify()
        assert identify.protocolVersion == "2.0"
        assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ"
        assert {f.metadataPrefix for f in client.ListMetadataFormats()} == {"oai_dc", "lom"}
        assert {
            f.metadataPrefix for f in client.ListMetadataFormats(identifier=oai_identifier(resources[0].pk))
        } == {"oai_dc", "lom"}
        specs = {s.setSpec: s.setName for s in client.ListSets()}
        assert specs["stage:primary"] == "小学"
        record = client.GetRecord(identifier=oai_identifier(resources[1].pk), metadataPrefix="oai_dc")
        assert record.metadata["title"] == [resources[1].title]
        assert len(list(client.ListIdentifiers(metadataPrefix="lom", set="stage:junior_secondary"))) == 3
        assert len(list(client.ListRecords(metadataPrefix="lom", set="subject:chemistry"))) == 1
        with pytest.raises(BadVerb, match="exactly one verb"):
            OAIResponseIterator(client, {"verb": "Explain"})
        with pytest.raises(BadArgument):
            next(iter(client.ListRecords(metadataPrefix="oai_dc", set="bad set")))
        with pytest.raises(CannotDisseminateFormat):
            next(iter(client.ListRecords(metadataPrefix="marcxml")))
        with pytest.raises(IdDoesNotExist):
            client.GetRecord(identifier=oai_identifier(uuid.uuid4()), metadataPrefix="oai_dc")
        with pytest.raises(NoRecordsMatch):
            next(iter(client.ListRecords(metadataPrefix="oai_dc", **{"from": "2999-01-01"})))
