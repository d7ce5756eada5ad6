"""Multi-level trust (PROTOCOL.md §3.8): certificates issued by a node's certified parent, verified as a chain
up to the pinned hub key, each link certifying only inside its own scope; revocation by any issuer of the
chain cuts off everything below it; a parent's feed and its children's are read by where a node stands.

The node under test is Beijing ``cn-11`` (a province certified by the hub) unless a test makes it
Guangdong ``cn-44`` or Guangzhou ``cn-4401`` (a parent). Other nodes are ``FakeNode``s with real keys."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from catalog.models import Resource
from catalog.takedowns import takedown_standing
from exchange.errors import ExchangeError
from federation import hub, identity, trust
from federation.errors import EnrolmentInvalidError, NotAParentError
from federation.models import IssuedCertificate, OutboxEntry, Peer, PeerKey
from federation.outbox import feed_page, feed_scope, parse_sets
from federation.signing import (
    CERTIFICATE_TYPE,
    SCOPE_ROLES,
    CertificateExpiredError,
    CertificateInvalidError,
    CertificateRevokedError,
    UnknownKeyError,
    issue_certificate,
    issue_revocation_list,
    jws_sign,
    scope_of_region,
    verify_certificate,
)
from federation.sync import Page, PullResult, apply_page, verify_page
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    FakeNode,
    fed_fixture,
    province_node_fixture,
    record,
)

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC)
DEFAULT = object()


def cert(issuer: FakeNode, node: FakeNode, region: str, *, scope=DEFAULT, start: datetime | None = None,
         end: datetime | None = None, serial: str | None = None) -> str:
    """A certificate ``issuer`` signs for ``node`` of ``region`` (scope as the region gives, unless said)."""
    return issue_certificate(
        hub_key=issuer.key.private_key, hub_kid=issuer.key.kid, hub_id=issuer.node_id, node_id=node.node_id,
        role=SCOPE_ROLES[len(scope_of_region(region))], region=region, node_public_jwk=node.jwk,
        not_before=start or timezone.now() - timedelta(minutes=5), not_after=end or timezone.now() + timedelta(days=7),
        serial=serial, scope=scope_of_region(region) if scope is DEFAULT else scope)


class Tree:
    """The hub, Guangdong, Guangzhou, Tianhe (its county) and their certificates."""

    def __init__(self) -> None:
        self.hub = FakeNode("cn-hub", role="hub")
        self.gd = FakeNode("cn-44")
        self.gz = FakeNode("cn-4401", role="city")
        self.th = FakeNode("cn-440106", role="county")
        # The hub's certificate of Guangdong as it was before levels: no scope claim (means "44").
        self.gd_cert = cert(self.hub, self.gd, "440000", scope=None, serial="gd-1")
        self.gz_cert = cert(self.gd, self.gz, "440100", serial="gz-1")
        self.th_cert = cert(self.gz, self.th, "440106", serial="th-1")

    def pin_hub(self) -> None:
        peer = Peer.objects.create(node_id="cn-hub", role="hub", status="active", pull=True, relation="parent",
                                   base_url="http://127.0.0.1:8100")
        PeerKey.objects.create(peer=peer, kid=self.hub.key.kid, public_jwk=self.hub.jwk, anchor=True)


@pytest.fixture
def tree() -> Tree:
    return Tree()


@pytest.fixture
def beijing(fed, db, tree: Tree) -> Tree:
    """This node is Beijing (cn-11), certified by the hub, the hub's key pinned."""
    fed.EXCHANGE_NODE_ID, fed.EXCHANGE_NODE_ROLE, fed.EXCHANGE_NODE_REGION = "cn-11", "province", "110000"
    identity.node_key_ensure()
    tree.pin_hub()
    me = FakeNode("cn-11", key=identity.signing_key())
    trust.certificate_store(cert(tree.hub, me, "110000"))
    return tree


def test_a_countys_chain_verifies_up_to_the_hub_in_any_order(beijing):
    counts = trust.certificates_store_all([beijing.th_cert, beijing.gz_cert, beijing.gd_cert])
    assert counts == {"certificates": 3, "invalid": 0}
    found = trust.envelope_key_of("cn-440106", beijing.th.key.kid)
    assert found.chain == ("cn-440106", "cn-4401", "cn-44")
    _, who = trust.request_key(beijing.th.key.kid)
    assert (who.node_id, who.role) == ("cn-440106", "county")
    peer = Peer.objects.get(node_id="cn-440106")
    assert (peer.scope, peer.certified_by, peer.role) == ("440106", "cn-4401", "county")
    assert trust.subtree("cn-44") == {"cn-44", "cn-4401", "cn-440106"}


def test_certificates_of_before_mean_their_provinces_scope(tree):
    cert_ = verify_certificate(tree.gd_cert, hub_public_keys={tree.hub.key.kid: tree.hub.key.public_key},
                               now=timezone.now(), revoked=())
    assert cert_.scope == "44" and cert_.role == "province"


def test_a_city_certifying_another_provinces_county_is_refused(beijing):
    """Guangzhou (scope 4401) certifies a county of Beijing: refused however it is presented."""
    rogue = FakeNode("cn-110105", role="county")
    forged = cert(beijing.gz, rogue, "110105", serial="rogue-1")
    trust.certificates_store_all([beijing.gd_cert, beijing.gz_cert])
    with pytest.raises(CertificateInvalidError, match="outside its scope"):
        trust.certificate_store(forged)
    assert trust.certificates_store_all([forged]) == {"certificates": 0, "invalid": 1}
    assert not Peer.objects.filter(node_id="cn-110105").exists()
    with pytest.raises(UnknownKeyError):
        trust.envelope_key_of("cn-110105", rogue.key.kid)


def test_a_child_claiming_a_scope_as_wide_as_its_parents_or_wider_is_refused(beijing):
    trust.certificates_store_all([beijing.gd_cert, beijing.gz_cert])
    clone = FakeNode("cn-44-clone")
    for token in (cert(beijing.gz, clone, "440000"),   # a province's scope from a city
                  cert(beijing.gd, clone, "440000"),   # Guangdong's own scope again
                  cert(beijing.gz, clone, "440200")):  # another city of the province
        with pytest.raises(CertificateInvalidError):
            trust.certificate_store(token)
    assert not PeerKey.objects.filter(peer_id="cn-44-clone").exists()


def test_a_forged_chain_link_is_refused(beijing):
    """A county certificate signed by a key that merely claims to be Guangzhou's, and a certificate whose
    claims were changed after signing, are refused; the real chain still verifies."""
    impostor = FakeNode("cn-4401")
    trust.certificates_store_all([beijing.gd_cert, beijing.gz_cert])
    with pytest.raises(UnknownKeyError):
        trust.certificate_store(cert(impostor, beijing.th, "440106"))
    header, payload, signature = beijing.th_cert.split(".")
    claims = jws_sign({"iss": "cn-4401", "sub": "cn-440106", "jti": "x", "iat": 1, "nbf": 1, "exp": 2 ** 31,
                       "role": "county", "region": "440103", "scope": "440103",
                       "cnf": {"jwk": beijing.th.jwk}}, key=beijing.th.key.private_key, kid=beijing.gz.key.kid,
                      typ=CERTIFICATE_TYPE).split(".")[1]
    with pytest.raises(CertificateInvalidError):
        trust.certificate_store(f"{header}.{claims}.{signature}")
    assert not Peer.objects.filter(node_id="cn-440106").exists()
    trust.certificate_store(beijing.th_cert)
    assert trust.envelope_key_of("cn-440106", beijing.th.key.kid).chain[-1] == "cn-44"


def test_a_revoked_middle_node_cuts_off_everything_below_it(beijing):
    """Guangdong revokes Guangzhou: Guangzhou's and Tianhe's keys are refused for requests and envelopes;
    Guangdong itself is not."""
    trust.certificates_store_all([beijing.gd_cert, beijing.gz_cert, beijing.th_cert])
    revocations = issue_revocation_list(hub_key=beijing.gd.key.private_key, hub_kid=beijing.gd.key.kid,
                                        hub_id="cn-44", serials=["gz-1"], number=1, issued_at=timezone.now())
    assert trust.revocation_list_apply(revocations, received_from="cn-hub") == (1, 1)
    for node in (beijing.gz, beijing.th):
        with pytest.raises(CertificateRevokedError):
            trust.request_key(node.key.kid)
        with pytest.raises(CertificateRevokedError):
            trust.envelope_key_of(node.node_id, node.key.kid)
    assert trust.request_key(beijing.gd.key.kid)[1].node_id == "cn-44"


def test_an_issuer_revokes_only_what_it_issued(beijing):
    """A revocation list of Guangzhou naming the serial of a certificate the hub issued (Beijing's peer
    Guangdong) changes nothing: lists are per issuer."""
    trust.certificates_store_all([beijing.gd_cert, beijing.gz_cert])
    revocations = issue_revocation_list(hub_key=beijing.gz.key.private_key, hub_kid=beijing.gz.key.kid,
                                        hub_id="cn-4401", serials=["gd-1"], number=1, issued_at=timezone.now())
    assert trust.revocation_list_apply(revocations, received_from="cn-44") == (1, 0)
    assert trust.request_key(beijing.gd.key.kid)[1].node_id == "cn-44"
    forged = issue_revocation_list(hub_key=beijing.gz.key.private_key, hub_kid=beijing.gz.key.kid,
                                   hub_id="cn-44", serials=["gz-1"], number=5, issued_at=timezone.now())
    with pytest.raises(ExchangeError, match="trusted"):  # Guangzhou signing as Guangdong
        trust.revocation_list_apply(forged, received_from="cn-4401")


def test_the_hub_revoking_a_province_cuts_off_its_cities_and_counties(beijing):
    trust.certificates_store_all([beijing.gd_cert, beijing.gz_cert, beijing.th_cert])
    revocations = issue_revocation_list(hub_key=beijing.hub.key.private_key, hub_kid=beijing.hub.key.kid,
                                        hub_id="cn-hub", serials=["gd-1"], number=1, issued_at=timezone.now())
    trust.revocation_list_apply(revocations, received_from="cn-hub")
    with pytest.raises(CertificateRevokedError):
        trust.envelope_key_of("cn-440106", beijing.th.key.kid)
    with pytest.raises(CertificateRevokedError):
        trust.request_key(beijing.th.key.kid)


def test_an_expired_link_in_the_chain(beijing):
    """Guangzhou's certificate has ended: Tianhe's own, still valid, is refused for requests, and what Tianhe
    signed after Guangzhou's certificate ended is not accepted as signed in time."""
    gz_cert = cert(beijing.gd, beijing.gz, "440100", start=timezone.now() - timedelta(days=8),
                   end=timezone.now() - timedelta(days=1))
    trust.certificates_store_all([beijing.gd_cert, gz_cert, beijing.th_cert])
    with pytest.raises(CertificateExpiredError):
        trust.request_key(beijing.th.key.kid)
    found = trust.envelope_key_of("cn-440106", beijing.th.key.kid)
    assert found.valid_until < timezone.now()
    with pytest.raises(ExchangeError, match="valid"):
        trust.check_envelope_time(origin="cn-440106", kid=beijing.th.key.kid, issued_at=timezone.now(),
                                  valid_until=found.valid_until)


# --- parents ----------------------------------------------------------------------------------------------

@pytest.fixture
def guangzhou(fed, db, tree: Tree) -> Tree:
    """This node is Guangzhou (cn-4401), certified by Guangdong, whose certificate the hub signed."""
    fed.EXCHANGE_NODE_ID, fed.EXCHANGE_NODE_ROLE, fed.EXCHANGE_NODE_REGION = "cn-4401", "city", "440100"
    identity.node_key_ensure()
    tree.pin_hub()
    Peer.objects.filter(node_id="cn-hub").update(relation="", pull=False)
    trust.certificate_store(tree.gd_cert, base_url="http://127.0.0.1:8101")
    Peer.objects.filter(node_id="cn-44").update(relation="parent", pull=True)
    tree.gz = FakeNode("cn-4401", key=identity.signing_key())
    trust.certificate_store(cert(tree.gd, tree.gz, "440100", end=timezone.now() + timedelta(days=2)))
    return tree


def test_a_city_certifies_its_county_inside_its_scope_only(guangzhou):
    """Guangzhou approves Tianhe after the fingerprint check: the certificate is signed with Guangzhou's
    certified key, carries Tianhe's scope and ends no later than Guangzhou's own; a county of another
    province, a county of another city and a node claiming to be a province are refused."""
    for node_id, role, region in (("cn-110105", "county", "110105"), ("cn-440203", "county", "440203"),
                                  ("cn-44x", "province", "440000"), ("cn-440106", "city", "440106")):
        other = FakeNode(node_id)
        with pytest.raises(EnrolmentInvalidError) as info:
            hub.enrolment_receive(node_id=node_id, role=role, region=region, base_url="http://127.0.0.1:8199",
                                  name="", jwk=other.jwk, signer_kid=other.key.kid)
        assert "region" in info.value.details
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:8103",
                          name="天河区", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    issued = hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    own = identity.own_certificate()
    assert issued.not_after <= own.certificate_not_after
    chain = trust.certificate_chain(issued.token)
    assert [(c.node_id, c.scope) for c in chain] == [("cn-440106", "440106"), ("cn-4401", "4401"), ("cn-44", "44")]
    assert chain[0].url == "http://127.0.0.1:8103"
    peer = Peer.objects.get(node_id="cn-440106")
    assert (peer.relation, peer.pull, peer.status) == ("child", True, "active")


def test_a_parent_revokes_its_child_with_its_own_list(guangzhou):
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:8103",
                          name="", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    state = hub.node_revoke(node_id="cn-440106", actor="op", reason="test")
    assert state.issuer == "cn-4401" and state.number == 1
    serials = set(IssuedCertificate.objects.filter(node_id="cn-440106").values_list("serial", flat=True))
    assert set(state.serials) == serials
    assert trust.revocation_lists_held()[-1] == state.token
    with pytest.raises(CertificateRevokedError):
        trust.request_key(guangzhou.th.key.kid)


def test_a_county_and_an_uncertified_node_certify_nobody(fed, db, tree):
    fed.EXCHANGE_NODE_ID, fed.EXCHANGE_NODE_ROLE, fed.EXCHANGE_NODE_REGION = "cn-440106", "county", "440106"
    identity.node_key_ensure()
    other = FakeNode("cn-440106x")
    with pytest.raises(NotAParentError):
        hub.enrolment_receive(node_id="cn-440106x", role="county", region="440106", base_url="http://x.example",
                              name="", jwk=other.jwk, signer_kid=other.key.kid)
    fed.EXCHANGE_NODE_ID, fed.EXCHANGE_NODE_ROLE, fed.EXCHANGE_NODE_REGION = "cn-4401", "city", "440100"
    assert not trust.may_certify()  # a city without a certificate of its own


# --- relaying ---------------------------------------------------------------------------------------------

def _process(peer_id: str, envelopes: list[dict]) -> PullResult:
    peer = Peer.objects.get(node_id=peer_id)
    page = Page(envelopes=envelopes, next=peer.cursor + len(envelopes), more=False,
                head=peer.cursor + len(envelopes))
    result = PullResult(node_id=peer_id)
    verified = verify_page(peer, page, result)
    assert apply_page(peer, since=peer.cursor, page=page, verified=verified, result=result)
    return result


def test_a_child_may_relay_only_origins_certified_at_or_below_it(guangzhou):
    """From Tianhe (its child) Guangzhou takes Tianhe's own envelopes and relays them (it has a child), but
    a page carrying an envelope of Guangdong — or of any origin outside Tianhe's subtree — is refused whole."""
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:8103",
                          name="", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    result = _process("cn-440106", [guangzhou.th.envelope(record())])
    assert result.applied == 1 and result.relayed == 1
    before = (Resource.objects.count(), OutboxEntry.objects.count())
    with pytest.raises(ExchangeError) as info:
        _process("cn-440106", [guangzhou.th.envelope(record()), guangzhou.gd.envelope(record())])
    assert info.value.code == "envelope_origin_mismatch"
    assert (Resource.objects.count(), OutboxEntry.objects.count()) == before


def test_a_child_relaying_an_origin_unknown_here_is_a_mismatch_not_an_unknown_key(guangzhou):
    """An envelope from Tianhe that claims Beijing as its origin, with a key nobody certified for Beijing,
    is refused as what it is — Tianhe relaying an origin not below it (``envelope_origin_mismatch``, as a
    two-level hub answers a province doing so) — after one look at Tianhe's directory, not as an
    unknown key; nothing of the page is stored."""
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:9",
                          name="", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    forged = guangzhou.th.envelope(record())
    forged["origin"] = "cn-11"
    before = (Resource.objects.count(), OutboxEntry.objects.count())
    for page in ([forged], [guangzhou.th.envelope(record()), forged]):
        with pytest.raises(ExchangeError) as info:
            _process("cn-440106", page)
        assert info.value.code == "envelope_origin_mismatch"
    assert (Resource.objects.count(), OutboxEntry.objects.count()) == before


def test_a_relay_never_forwards_a_version_older_than_it_holds(guangzhou):
    """Guangzhou held versions 1-3 of a Guangdong record before it had a child (relaying nothing). Once it
    approves Tianhe it re-reads Guangdong's feed: versions 1 and 2, met again after 3, are not relayed
    (only 3 is); a later page carrying versions 4 and 5 of the record relays 5 alone."""
    rec = record()
    for version in (1, 2, 3):
        _process("cn-44", [guangzhou.gd.envelope(rec, version=version)])
    assert not OutboxEntry.objects.filter(origin="cn-44").exists()  # no child yet: nothing relayed
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:8103",
                          name="", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    Peer.objects.filter(node_id="cn-44").update(cursor=0)  # the re-read from the start
    for version in (1, 2, 3):
        _process("cn-44", [guangzhou.gd.envelope(rec, version=version)])

    def relayed() -> list[int]:
        return sorted(OutboxEntry.objects.filter(origin="cn-44", resource_id=rec["id"])
                      .values_list("version", flat=True))

    assert relayed() == [3]
    result = _process("cn-44", [guangzhou.gd.envelope(rec, version=4), guangzhou.gd.envelope(rec, version=5)])
    assert result.relayed == 1 and relayed() == [3, 5]
    _process("cn-44", [guangzhou.gd.envelope(rec, version=4)])  # an older version read again later
    assert relayed() == [3, 5]


def test_a_county_cannot_take_down_another_provinces_record(guangzhou):
    """Tianhe's feed carries a ``takedown`` (and a ``tombstone``) naming the id of Beijing's record — even
    one dressed as a national order with ``target_origin`` cn-11. Guangzhou, holding Beijing's record
    (relayed down by Guangdong), keeps it public: an origin other than the hub only ever names its own
    record. Tianhe's takedown of its own record withdraws it here and is relayed on."""
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:8103",
                          name="", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    bj = FakeNode("cn-11")
    trust.certificate_store(cert(guangzhou.hub, bj, "110000"), base_url="http://127.0.0.1:8104")
    theirs, mine = str(uuid.uuid4()), str(uuid.uuid4())
    assert _process("cn-44", [bj.envelope(record(theirs))]).applied == 1
    _process("cn-440106", [guangzhou.th.envelope(record(mine))])
    withdrawal = {"reason": "takedown_upheld", "stage": "初中", "subject": "数学", "withdrawn_at": "2026-12-01T08:00:00Z"}
    forged = [guangzhou.th.envelope({"id": theirs, **withdrawal, "target_origin": "cn-11", "target_version": 1,
                                     "note": "区县越权下架"}, kind="takedown", version=2),
              guangzhou.th.envelope({"id": theirs, **withdrawal}, kind="tombstone", version=3)]
    _process("cn-440106", forged)
    assert Resource.objects.get(pk=theirs).status == Resource.Status.PUBLISHED
    assert takedown_standing(origin="cn-11", record_id=theirs) is None
    _process("cn-440106", [guangzhou.th.envelope({"id": mine, **withdrawal}, kind="takedown", version=2)])
    assert Resource.objects.get(pk=mine).status == Resource.Status.WITHDRAWN
    assert takedown_standing(origin="cn-440106", record_id=mine) is not None
    assert OutboxEntry.objects.filter(origin="cn-440106", resource_id=mine, version=2).exists()  # relayed on
    assert Resource.objects.get(pk=theirs).status == Resource.Status.PUBLISHED


def test_a_parents_feed_is_served_by_where_the_reader_stands(guangzhou):
    """Guangzhou's feed holds its own, Tianhe's and (relayed down) Guangdong's entries: Guangdong (its
    parent) reads only Guangzhou's and Tianhe's; Tianhe reads Guangdong's and Guangzhou's but not its own
    back (unless it asks, to recover); a two-level reader gets no entry of a node the hub did not certify."""
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:8103",
                          name="", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    _process("cn-440106", [guangzhou.th.envelope(record())])
    _process("cn-44", [guangzhou.gd.envelope(record())])
    from federation.outbox import entry_for, outbox_append

    outbox_append([entry_for(FakeNode("cn-4401", key=identity.signing_key()).envelope(record()))])

    def origins(reader: str, **kwargs) -> list[str]:
        page = feed_page(since=0, limit=100, scope=feed_scope(reader=reader, **kwargs))
        return sorted(e.split('"origin":"')[1].split('"')[0] for e in page.envelopes)

    assert origins("cn-44") == ["cn-4401", "cn-440106"]
    assert origins("cn-440106") == ["cn-44", "cn-4401"]
    assert origins("cn-440106", echo=True) == ["cn-44", "cn-4401", "cn-440106"]
    assert origins("cn-44", levels=False) == []  # Guangzhou's certificate is not the hub's
    region_only = feed_page(since=0, limit=100, sets=parse_sets(["region:440106"]))
    assert len(region_only.envelopes) == 1 and '"origin":"cn-440106"' in region_only.envelopes[0]


# --- the operators' tree ----------------------------------------------------------------------------------

def test_the_operators_see_the_tree_of_their_own_subtree(guangzhou, users, api_as, client):
    """Guangzhou's operators see Guangzhou and Tianhe (certified by Guangzhou, with the lag and error of
    Guangzhou's pull of it first hand, and a node Tianhe reported below it), their parent Guangdong — and
    nothing of Beijing or of another city of Guangdong, though this node knows both from directories."""
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:8103",
                          name="天河区", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    Peer.objects.filter(node_id="cn-440106").update(cursor=3, remote_head=10, last_error_code="peer_unreachable")
    Peer.objects.create(node_id="cn-11", role="province", region="110000", status="active", certified_by="cn-hub",
                        base_url="http://127.0.0.1:8104", scope="11")
    Peer.objects.create(node_id="cn-4403", role="city", region="440300", status="active", certified_by="cn-44",
                        base_url="http://127.0.0.1:8105", scope="4403")
    body = api_as(users["hub_operator"]).get("/api/v1/federation/tree").json()
    assert body["parent"] == "cn-44"
    assert [(n["node_id"], n["depth"], n["certified_by"]) for n in body["nodes"]] == [
        ("cn-4401", 0, "cn-44"), ("cn-440106", 1, "cn-4401")]
    edge = body["nodes"][1]["edge"]
    assert (edge["lag_entries"], edge["last_error_code"], edge["first_hand"]) == (7, "peer_unreachable", True)
    client.force_login(users["hub_operator"])
    html = client.get(reverse("hub-dashboard")).content.decode()
    assert 'class="tree-depth-1"' in html and "cn-440106" in html and "peer_unreachable" in html
    assert "cn-11" not in html and "cn-4403" not in html
    for role in ("teacher", "reviewer"):
        assert api_as(users[role]).get("/api/v1/federation/tree").status_code == 403


def test_the_peers_api_status_command_and_page_show_only_the_operators_subtree(guangzhou, users, api_as, client):
    """The peers API, ``federation status`` and the operator page list the same nodes as the tree: this
    node's subtree, its parent and the hub — not Beijing nor another city of Guangdong, though this node
    holds both as peers (learnt from directories, one even pulled)."""
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:8103",
                          name="天河区", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    Peer.objects.create(node_id="cn-11", role="province", region="110000", status="active", certified_by="cn-hub",
                        base_url="http://127.0.0.1:8104", scope="11", pull=True, last_error_code="peer_unreachable")
    Peer.objects.create(node_id="cn-4403", role="city", region="440300", status="active", certified_by="cn-44",
                        base_url="http://127.0.0.1:8105", scope="4403")
    expected = {"cn-hub", "cn-44", "cn-440106"}
    api = {row["node_id"] for row in api_as(users["hub_operator"]).get("/api/v1/federation/peers").json()["results"]}
    assert api == expected
    out = io.StringIO()
    call_command("federation", "status", "--json", stdout=out)
    assert {row["node_id"] for row in json.loads(out.getvalue())["peers"]} == expected
    out = io.StringIO()
    call_command("federation", "status", stdout=out)
    listed = {line.split()[0] for line in out.getvalue().splitlines()[3:] if line.strip()}
    assert listed == expected
    out = io.StringIO()
    call_command("federation", "status", "--json", "--all", stdout=out)  # the host's shell: every peer held
    assert {row["node_id"] for row in json.loads(out.getvalue())["peers"]} == expected | {"cn-11", "cn-4403"}
    client.force_login(users["hub_operator"])
    html = client.get(reverse("hub-dashboard")).content.decode()
    assert "cn-440106" in html and "cn-11" not in html and "cn-4403" not in html
    # The same rule everywhere: what the tree lists, with the parent and the hub.
    tree = api_as(users["hub_operator"]).get("/api/v1/federation/tree").json()
    assert {n["node_id"] for n in tree["nodes"]} - {"cn-4401"} | {tree["parent"], "cn-hub"} == expected


def test_the_hubs_operators_see_every_peer(fed, db, users, api_as, tree):
    """On the hub the subtree is the whole federation: a province of before (certified without a scope,
    ``certified_by`` empty) and a county far below are both listed."""
    fed.EXCHANGE_NODE_ID, fed.EXCHANGE_NODE_ROLE, fed.EXCHANGE_NODE_REGION = "cn-hub", "hub", ""
    identity.node_key_ensure()
    Peer.objects.create(node_id="cn-11", role="province", region="110000", status="active", base_url="http://a")
    Peer.objects.create(node_id="cn-440106", role="county", region="440106", status="active", certified_by="cn-4401",
                        base_url="http://b", scope="440106")
    api = {row["node_id"] for row in api_as(users["hub_operator"]).get("/api/v1/federation/peers").json()["results"]}
    assert api == {"cn-11", "cn-440106"}


def test_the_messages_of_levels_match_the_protocols_schemas(guangzhou, client):
    """PROTOCOL.md §13 as v1 additions: a city's well-known document (its chain, scope and parent), a
    county's enrolment request, the certificate a city signs (scope, url), the city's directory and its own
    revocation list all match the schemas."""
    from tests.federation.test_federation_protocol import _claims, validate

    validate("node", client.get("/.well-known/exchange-node").json())
    body = {"node_id": "cn-440106", "role": "county", "region": "440106", "base_url": "http://127.0.0.1:8103",
            "name": "天河区", "jwk": guangzhou.th.jwk, "protocol_versions": ["1"]}
    validate("enrolment-request", body)
    hub.enrolment_receive(node_id="cn-440106", role="county", region="440106", base_url="http://127.0.0.1:8103",
                          name="天河区", jwk=guangzhou.th.jwk, signer_kid=guangzhou.th.key.kid)
    issued = hub.enrolment_approve(node_id="cn-440106", fingerprint_seen=guangzhou.th.fingerprint, actor="op")
    claims = _claims(issued.token)
    assert (claims["iss"], claims["scope"], claims["role"]) == ("cn-4401", "440106", "county")
    validate("certificate-claims", claims)
    validate("directory", hub.directory_document())
    state = hub.node_revoke(node_id="cn-440106", actor="op", reason="test")
    validate("revocation-claims", _claims(state.token))
    validate("directory", hub.directory_document())
