"""Multi-level federation between real node processes: the hub, Guangdong ``cn-44``, its city Guangzhou
``cn-4401``, that city's county Tianhe ``cn-440106`` and Beijing ``cn-11``, each enrolled with its parent
(the parent's operator approving after the fingerprint check) through the real commands.

A county's record travels county → city → province → hub → another province, verified at every hop
against its origin's certificate chain; the hub's national orders travel down to the county; a city
revoked by its province is refused above it and its county is cut off with it; a reader of the two-level
protocol is served only what it can verify."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests import servers
from tests.federation_e2e.cluster import ROOT, Node, node_from_template, prepare_template, wait_until
from tests.federation_e2e.test_federation_e2e_propagation import publish, search_ids, visible

pytestmark = [pytest.mark.slow, pytest.mark.nodes]
SEED = {"cn-440106": (40, 440106), "cn-11": (20, 11)}
PROPAGATION_LIMIT = 15.0  # seconds for four hops, each a poke and a pull


@dataclass
class Levels:
    hub: Node
    gd: Node  # cn-44
    gz: Node  # cn-4401
    th: Node  # cn-440106
    bj: Node  # cn-11

    @property
    def nodes(self) -> list[Node]:
        return [self.hub, self.gd, self.gz, self.th, self.bj]


def _fingerprint(node: Node) -> str:
    return json.loads(node.manage("node_init", "--json").stdout)["fingerprint"]


def _enrol(child: Node, parent: Node, hub: Node, hub_fingerprint: str) -> None:
    where = ["--hub", parent.url] if parent is hub else ["--parent", parent.url]
    child.manage("federation", "enrol", *where, "--hub-fingerprint", hub_fingerprint)
    parent.manage("federation", "approve", child.node_id, "--fingerprint", _fingerprint(child))
    child.manage("federation", "enrol", *where, "--wait", "--timeout", "30")


def _published(node: Node, origin: str) -> int:
    with node.db() as db:
        return db.execute("SELECT count(*) FROM catalog_resource WHERE origin_node = ? AND status = 'published'",
                          (origin,)).fetchone()[0]


def _records(node: Node, origin: str) -> set[tuple[str, int]]:
    """(record id, version) of every published record of ``origin`` the node holds."""
    with node.db() as db:
        return set(db.execute("SELECT record_id, version FROM catalog_resource WHERE origin_node = ? "
                              "AND status = 'published'", (origin,)).fetchall())


def _shell(node: Node, script: str) -> str:
    out = node.manage("shell", "-c", script).stdout
    return next(line for line in out.splitlines() if line.startswith("RESULT ")).removeprefix("RESULT ")


@pytest.fixture(scope="module")
def levels(tmp_path_factory) -> Iterator[Levels]:
    base = tmp_path_factory.mktemp("federation-levels")
    template = prepare_template(base / "template")
    ports = servers.free_ports(5)
    hub = Node("cn-hub", "hub", ports[0], base / "cn-hub")
    gd = Node("cn-44", "province", ports[1], base / "cn-44", hub_url=hub.url)
    gz = Node("cn-4401", "city", ports[2], base / "cn-4401", hub_url=hub.url)
    th = Node("cn-440106", "county", ports[3], base / "cn-440106", hub_url=hub.url)
    bj = Node("cn-11", "province", ports[4], base / "cn-11", hub_url=hub.url)
    tree = Levels(hub, gd, gz, th, bj)
    try:
        for node in tree.nodes:
            node_from_template(template, node)
            node.manage("seed_demo")
            node.manage("node_init")
            node.start()
        hub_fingerprint = _fingerprint(hub)
        for child, parent in ((gd, hub), (bj, hub), (gz, gd), (th, gz)):
            _enrol(child, parent, hub, hub_fingerprint)
        for node in (th, bj):
            n, seed = SEED[node.node_id]
            corpus = base / f"{node.node_id}.jsonl"
            subprocess.run([sys.executable, "-m", "catalog.sampledata", "--n", str(n), "--seed", str(seed),
                            "--out", str(corpus)], cwd=ROOT, check=True, timeout=120)
            # Placeholder files, as the flat cluster's seeds have: no test here reads a seeded record's file
            # or preview, and real sample documents with their previews took 45 of the fixture's 110 s.
            node.manage("import_corpus", str(corpus), "--no-progress", "--placeholder-files")
        for node in tree.nodes:
            # Scheduled pulls only back pokes up: four hops by them alone would outlast PROPAGATION_LIMIT.
            node.start_loop(interval=10)
        for node in tree.nodes:
            for origin, (n, _) in SEED.items():
                wait_until(lambda node=node, origin=origin, n=n: _published(node, origin) == n, timeout=120,
                           interval=0.5, what=f"{node.node_id} to hold the {n} records of {origin}")
        yield tree
    finally:
        for node in tree.nodes:
            node.stop()


def test_seeded_records_of_a_county_converge_everywhere(levels):
    """Every node holds the same records of the county and of Beijing (the same ids and versions; the
    content digest of the county's records is the same at the county and in Beijing)."""
    for origin, (n, _) in SEED.items():
        held = [_records(node, origin) for node in levels.nodes]
        assert all(records == held[0] for records in held) and len(held[0]) == n
    assert levels.th.digest("cn-440106") == levels.bj.digest("cn-440106")


def _tree(node: Node) -> dict:
    answer = node.api("GET", "/api/v1/federation/tree", token=node.token("hub_operator"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_operators_tree_shows_who_certified_whom_and_how_each_edge_stands(levels):
    """The hub's operators see the whole tree, with Guangdong's pull of Guangzhou as Guangdong reported it;
    Guangdong's operators see only Guangdong's subtree (not Beijing, not the hub's other children)."""
    def edges_reported() -> dict | None:
        nodes = {n["node_id"]: n for n in _tree(levels.hub)["nodes"]}
        city = nodes.get("cn-4401")
        return nodes if city and city["edge"] and city["edge"].get("last_success_at") else None

    nodes = wait_until(edges_reported, timeout=60, interval=1, what="the hub to learn how cn-44 pulls cn-4401")
    assert {node: (row["depth"], row["certified_by"]) for node, row in nodes.items()} == {
        "cn-hub": (0, ""), "cn-44": (1, "cn-hub"), "cn-11": (1, "cn-hub"), "cn-4401": (2, "cn-44"),
        "cn-440106": (3, "cn-4401")}
    assert nodes["cn-44"]["edge"]["first_hand"] is True
    assert (nodes["cn-4401"]["edge"]["first_hand"], nodes["cn-4401"]["edge"]["reported_by"]) == (False, "cn-44")
    province = _tree(levels.gd)
    assert province["parent"] == "cn-hub"
    assert [n["node_id"] for n in province["nodes"]] == ["cn-44", "cn-4401", "cn-440106"]


def test_published_at_the_county_is_searchable_in_another_province(levels):
    marker = f"lvl{secrets.token_hex(3)}"
    resource_id = publish(levels.th, f"人教版七年级数学上册 有理数 区县课件 {marker}")
    started = time.monotonic()
    wait_until(lambda: resource_id in search_ids(levels.bj, marker), timeout=60,
               what="the county's resource to be searchable in cn-11")
    assert time.monotonic() - started < PROPAGATION_LIMIT
    record = visible(levels.bj, resource_id)
    assert record["origin_node"] == "cn-440106" and record["is_remote"] is True
    for node in (levels.gz, levels.gd, levels.hub):
        assert visible(node, resource_id)["version"] == record["version"]


def test_a_national_takedown_reaches_the_county(levels):
    """A hub operator upholds a notice on a county's resource: the order travels hub → province → city →
    county, and the county withdraws its own resource and publishes the tombstone."""
    marker = f"ntl{secrets.token_hex(3)}"
    resource_id = publish(levels.th, f"人教版七年级数学上册 有理数 国家下架区县课件 {marker}")
    wait_until(lambda: visible(levels.hub, resource_id) and visible(levels.bj, resource_id), timeout=60,
               what="the county's resource at the hub and in cn-11")
    operator = levels.hub.token("hub_operator")
    notice = levels.hub.api("POST", "/api/v1/takedowns", token=operator,
                            json={"resource": resource_id, "grounds": "unlawful_content", "statement": "内容违规"})
    assert notice.status_code == 201, notice.text
    upheld = levels.hub.api("POST", f"/api/v1/takedowns/{notice.json()['id']}/uphold", token=operator,
                            json={"note": "国家层面下架"})
    assert upheld.status_code == 200, upheld.text
    wait_until(lambda: visible(levels.th, resource_id) is None, timeout=60, what="the takedown at the county")
    for node in (levels.gz, levels.gd, levels.bj):
        wait_until(lambda node=node: visible(node, resource_id) is None, timeout=30,
                   what=f"the takedown in {node.node_id}")
    with levels.th.db() as db:
        status, = db.execute("SELECT status FROM catalog_resource WHERE id = ?",
                             (resource_id.replace("-", ""),)).fetchone()
    assert status == "withdrawn"


def _notice(node: Node, token: str, notice_id: int) -> dict:
    answer = node.api("GET", f"/api/v1/takedowns/{notice_id}", token=token)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_takedown_notices_filed_at_a_county_travel_the_tree(levels):
    """Notices filed below a province (PROTOCOL.md §9.1, §5.3): a notice at the county about its own record
    is decided by the county's reviewers and the tombstone travels up and across to Beijing; a notice at the
    county about Beijing's record is not the county's to decide (no role there may uphold it) and goes to the
    hub, whose upheld order withdraws the record at every node, Beijing included, and whose decision comes
    back to the county's notice."""
    own = publish(levels.th, f"人教版七年级数学上册 有理数 区县自行下架课件 {secrets.token_hex(3)}")
    other = publish(levels.bj, f"人教版七年级数学上册 有理数 区县举报北京课件 {secrets.token_hex(3)}")
    wait_until(lambda: visible(levels.bj, own) and visible(levels.th, other), timeout=60,
               what="the county's record in cn-11 and cn-11's record at the county")
    admin = levels.th.token("province_admin")
    filed = levels.th.api("POST", "/api/v1/takedowns", token=admin,
                          json={"resource": own, "grounds": "copyright", "statement": "转载未授权"})
    assert filed.status_code == 201, filed.text
    assert filed.json()["forwarded_to"] == ""  # the county's own record: its own reviewers decide
    upheld = levels.th.api("POST", f"/api/v1/takedowns/{filed.json()['id']}/uphold",
                           token=levels.th.token("reviewer"), json={"note": "区县审核员下架"})
    assert upheld.status_code == 200, upheld.text
    for node in (levels.gz, levels.gd, levels.hub, levels.bj):
        wait_until(lambda node=node: visible(node, own) is None, timeout=60,
                   what=f"the county's own takedown in {node.node_id}")

    filed = levels.th.api("POST", "/api/v1/takedowns", token=admin,
                          json={"resource": other, "grounds": "copyright", "statement": "侵犯著作权"})
    assert filed.status_code == 201, filed.text
    notice = filed.json()
    assert notice["forwarded_to"] == "cn-hub"
    for role in ("reviewer", "province_admin", "hub_operator"):  # no one at the county takes Beijing's down
        refused = levels.th.api("POST", f"/api/v1/takedowns/{notice['id']}/uphold", token=levels.th.token(role),
                                json={"note": "越权"})
        # Refused (the role may not decide, or not this notice), or not even shown to a role that did not file it.
        assert (refused.status_code, refused.json()["error"]["code"]) in (
            (403, "permission_denied"), (403, "not_takedown_reviewer"), (404, "takedown_not_found")), (
            role, refused.text)
    assert visible(levels.th, other) and visible(levels.bj, other)
    operator = levels.hub.token("hub_operator")

    def at_hub() -> dict | None:
        rows = levels.hub.api("GET", "/api/v1/takedowns?status=open", token=operator).json()["results"]
        return next((row for row in rows if row["resource"] == other and row["forwarded_from"] == "cn-440106"),
                    None)

    forwarded = wait_until(at_hub, timeout=60, interval=0.5, what="the county's notice at the hub")
    decided = levels.hub.api("POST", f"/api/v1/takedowns/{forwarded['id']}/uphold", token=operator,
                             json={"note": "国家层面下架"})
    assert decided.status_code == 200, decided.text
    for node in (levels.bj, levels.gd, levels.gz, levels.th):
        wait_until(lambda node=node: visible(node, other) is None, timeout=60,
                   what=f"the hub's order in {node.node_id}")
    wait_until(lambda: _notice(levels.th, admin, notice["id"])["status"] == "upheld", timeout=60, interval=0.5,
               what="the hub's decision on the county's notice")


def test_a_reader_of_the_two_level_protocol_gets_only_what_it_can_verify(levels):
    """Beijing reads the hub's feed as a node of before would (no ``levels=1``): no envelope of the city or
    the county, whose certificates the hub did not sign; asking with ``levels=1`` brings them."""
    script = (
        "from federation.transport import build_url, signed_request\n"
        "from federation.models import Peer\n"
        "hub = Peer.objects.get(node_id='cn-hub')\n"
        "def origins(params):\n"
        "    body = signed_request('GET', build_url(hub.base_url, '/federation/v1/changes', params),\n"
        "                          expect_node='cn-hub').json()\n"
        "    return sorted({e['origin'] for e in body['envelopes']})\n"
        "print('RESULT', origins([('since', 0), ('limit', 2000)]), origins([('since', 0), ('limit', 2000),\n"
        "      ('levels', 1)]))\n"
    )
    legacy, levelled = _shell(levels.bj, script).split("] [")
    assert "cn-440106" not in legacy and "cn-4401'" not in legacy
    assert "cn-440106" in levelled


def _receipts(node: Node, resource_id: str) -> list[tuple[str, str, int]]:
    with node.db() as db:
        return db.execute("SELECT issuer, origin, price FROM federation_receivedreceipt WHERE resource_id = ?",
                          (resource_id.replace("-", ""),)).fetchall()


def test_a_paid_grant_in_another_province_reaches_the_county_and_the_hub_as_signed_receipts(levels):
    """A teacher in Beijing buys a county's priced resource: the signed receipt goes straight to the origin
    (the county, whose address and key Beijing learned from directories) and to the hub, and both verify
    it against the record they hold."""
    resource_id = publish(levels.th, f"人教版七年级数学上册 有理数 区县付费课件 {secrets.token_hex(3)}",
                          license="ALL-RIGHTS-RESERVED", price=4)
    wait_until(lambda: visible(levels.bj, resource_id), timeout=60, what="the priced county resource in cn-11")
    with levels.bj.db() as db:
        school, = db.execute("SELECT organisation_id FROM exchange_user WHERE username = 'teacher'").fetchone()
    funded = levels.bj.api("POST", "/api/v1/vouchers/fund", token=levels.bj.token("province_admin"),
                           json={"school": school, "per_student": 1, "memo": "e2e levels"})
    assert funded.status_code == 201, funded.text
    bought = levels.bj.api("POST", f"/api/v1/resources/{resource_id}/grants", token=levels.bj.token("teacher"),
                           json={"scope": "school"})
    assert bought.status_code == 201, bought.text
    for node in (levels.th, levels.hub):
        got = wait_until(lambda n=node: _receipts(n, resource_id), timeout=60, what=f"the receipt at {node.node_id}")
        assert got == [("cn-11", "cn-440106", 4)]


def _national_version(node: Node) -> int:
    answer = node.api("GET", "/api/v1/negative-list/local", token=node.token("province_admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()["versions"]["national"]


def test_the_national_negative_list_reaches_the_county(levels):
    """A new national version travels hub → province → city → county, each node verifying the hub's
    signature and passing on what was new to it."""
    added = levels.hub.api("POST", "/api/v1/federation/negative-list", token=levels.hub.token("hub_operator"),
                           json={"term": f"禁语{secrets.token_hex(3)}", "category": "other", "severity": "hard",
                                 "note": "e2e levels"})
    assert added.status_code == 201, added.text
    version = added.json()["version"]
    for node in (levels.gd, levels.gz, levels.th, levels.bj):
        wait_until(lambda node=node: _national_version(node) >= version, timeout=60,
                   what=f"{node.node_id} to hold national list version {version}")


def test_a_city_taking_only_its_own_province_still_relays_everything_to_its_county(levels):
    """Guangzhou chooses to receive only Guangdong's records (set ``region:44``). It still reads its
    parent's whole feed for its county: a record Beijing publishes afterwards reaches Tianhe through
    Guangzhou, while Guangzhou itself never applies it; a Guangdong record is applied there as before."""
    levels.gz.manage("federation", "sets", "cn-44", "region:44")
    try:
        elsewhere = publish(levels.bj, f"人教版七年级数学上册 有理数 北京课件 {secrets.token_hex(3)}")
        own = publish(levels.gd, f"人教版七年级数学上册 有理数 广东课件 {secrets.token_hex(3)}")
        for resource_id in (elsewhere, own):
            wait_until(lambda r=resource_id: visible(levels.th, r), timeout=60, what="the record at the county")
        assert visible(levels.gz, own) is not None
        assert visible(levels.gz, elsewhere) is None
        with levels.gz.db() as db:
            relayed = db.execute("SELECT count(*) FROM federation_outboxentry WHERE origin = 'cn-11' AND "
                                 "resource_id = ?", (elsewhere.replace("-", ""),)).fetchone()[0]
        assert relayed == 1  # in Guangzhou's feed, for its county, unchanged and once
    finally:
        levels.gz.manage("federation", "sets", "cn-44")


def test_a_revoked_city_is_refused_above_it_and_its_county_is_cut_off(levels):
    """Guangdong revokes Guangzhou. The revocation list travels to the hub and on to Beijing; there the
    city's key and the county's (certified by the city) are refused, and a record the county publishes
    afterwards reaches nobody above the city — while a record Guangdong publishes still reaches Beijing."""
    levels.gd.manage("federation", "revoke", "cn-4401", "--reason", "测试吊销")
    script = (
        "from federation import trust\n"
        "from federation.models import PeerKey\n"
        "out = []\n"
        "for node in ('cn-4401', 'cn-440106'):\n"
        "    key = PeerKey.objects.get(peer_id=node)\n"
        "    try:\n"
        "        trust.envelope_key_of(node, key.kid)\n"
        "        out.append('trusted')\n"
        "    except Exception as exc:\n"
        "        out.append(getattr(exc, 'code', type(exc).__name__))\n"
        "print('RESULT', ' '.join(out))\n"
    )
    for node in (levels.hub, levels.bj):
        wait_until(lambda node=node: _shell(node, script) == "certificate_revoked certificate_revoked", timeout=60,
                   interval=1, what=f"{node.node_id} to refuse the revoked city and its county")
    cut_off = publish(levels.th, f"人教版七年级数学上册 有理数 吊销后区县课件 {secrets.token_hex(3)}")
    wait_until(lambda: visible(levels.gz, cut_off), timeout=60, what="the county's record at its city")
    control = publish(levels.gd, f"人教版七年级数学上册 有理数 吊销后省级课件 {secrets.token_hex(3)}")
    wait_until(lambda: visible(levels.bj, control) and visible(levels.hub, control), timeout=60,
               what="Guangdong's record, published after the county's, at the hub and in cn-11")
    for node in (levels.gd, levels.hub, levels.bj):
        assert visible(node, cut_off) is None, node.node_id
    status = {p["node_id"]: p for p in levels.gd.status()["peers"]}
    assert status["cn-4401"]["status"] == "revoked" and status["cn-4401"]["pull"] is False

