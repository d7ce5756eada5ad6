"""Hostile and broken peers against this node (in process; the same attacks against real node processes
are in tests/federation_e2e/test_federation_e2e_hostile.py): no single peer can stall the node, however
slowly it answers, nor hold up the pulls of other peers."""

from __future__ import annotations

import pytest

from catalog.models import Resource
from federation.errors import PeerDeadlineExceededError
from federation.models import Peer
from federation.sync import pull_peer, pull_peers_due
from federation.transport import build_url, signed_request
from tests.federation.federation_support import (  # noqa: F401 - fixtures
    FakeNode,
    enrol_and_approve,
    fed_fixture,
    hub_node_fixture,
    province_node_fixture,
    record,
)
from tests.hostile import HostilePeer, bounded


@pytest.fixture
def hostile():
    peers: list[HostilePeer] = []

    def make(node_id: str, **kwargs) -> HostilePeer:
        peer = HostilePeer(node_id, **kwargs)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["dribble_body", "dribble_headers"])
def test_a_peer_that_dribbles_its_answer_is_cut_at_the_total_deadline(hub_node, hostile, mode):
    """One byte every 0.2 s never trips a per-read timeout; the total deadline ends the exchange."""
    hub_node.FEDERATION_REQUEST_DEADLINE, hub_node.FEDERATION_HTTP_TIMEOUT = 2, 30
    slow = hostile("cn-12", mode=mode)
    slow.feed = [slow.envelope(record()) for _ in range(3)]
    enrol_and_approve(FakeNode("cn-12", key=slow.key), base_url=slow.url)
    outcome = bounded(lambda: signed_request("GET", build_url(slow.url, "/federation/v1/changes", {"since": 0}),
                                             expect_node="cn-12"))
    assert isinstance(outcome, PeerDeadlineExceededError), outcome
    assert outcome.code == "peer_deadline_exceeded" and outcome.details["deadline_seconds"] == 2


def test_a_slow_peer_does_not_hold_up_the_others_and_backs_off(committed_db, hub_node, hostile):
    """The hub's scheduled pull: cn-10 dribbles, cn-11 is honest. cn-11 is pulled and applied while
    cn-10 is still being waited for; cn-10's pull ends at its deadline and it backs off."""
    hub_node.FEDERATION_REQUEST_DEADLINE, hub_node.FEDERATION_PULL_CONCURRENCY = 3, 4
    slow, honest = hostile("cn-10", mode="dribble_body"), hostile("cn-11")
    slow.feed = [slow.envelope(record()) for _ in range(2)]
    honest.feed = [honest.envelope(record()) for _ in range(3)]
    enrol_and_approve(FakeNode("cn-10", key=slow.key), base_url=slow.url)
    enrol_and_approve(FakeNode("cn-11", key=honest.key), base_url=honest.url)

    results = {r.node_id: r for r in bounded(lambda: pull_peers_due(interval=0))}
    assert results["cn-11"].ok and results["cn-11"].applied == 3
    assert results["cn-10"].error_code == "peer_deadline_exceeded"
    peers = {p.node_id: p for p in Peer.objects.all()}
    assert peers["cn-11"].last_success_at < peers["cn-10"].last_error_at  # not queued behind the slow one
    assert Resource.objects.filter(origin_node="cn-11").count() == 3
    assert not Resource.objects.filter(origin_node="cn-10").exists()
    assert peers["cn-10"].consecutive_failures == 1 and peers["cn-10"].next_attempt_at > peers["cn-10"].last_error_at

    again = bounded(lambda: pull_peers_due(interval=0))
    assert [r.node_id for r in again] == ["cn-11"]  # backing off: the slow peer is not tried every tick
    slow.mode = "honest"
    Peer.objects.filter(node_id="cn-10").update(pull_requested_at=peers["cn-10"].last_error_at)  # it poked us
    recovered = {r.node_id: r for r in bounded(lambda: pull_peers_due(interval=0))}
    assert recovered["cn-10"].ok and recovered["cn-10"].applied == 2
    assert Peer.objects.get(node_id="cn-10").consecutive_failures == 0


@pytest.mark.django_db
def test_two_pulls_of_one_peer_never_run_at_once(hub_node, hostile):
    """A lease per peer: pulls queued by pokes or ticks cannot pile up on a slow peer."""
    peer = hostile("cn-11")
    peer.feed = [peer.envelope(record())]
    enrol_and_approve(FakeNode("cn-11", key=peer.key), base_url=peer.url)
    from django.utils import timezone

    Peer.objects.filter(node_id="cn-11").update(pulling_until=timezone.now() + timezone.timedelta(minutes=5))
    busy = pull_peer(node_id="cn-11")
    assert busy.busy and busy.pages == 0 and not peer.requests
    Peer.objects.filter(node_id="cn-11").update(pulling_until=timezone.now() - timezone.timedelta(seconds=1))
    done = pull_peer(node_id="cn-11")  # an expired lease (its pull died) does not block for ever
    assert done.ok and done.applied == 1 and Peer.objects.get(node_id="cn-11").pulling_until is None


@pytest.mark.django_db
def test_a_lease_left_by_a_killed_process_of_this_host_is_taken_over_at_once(hub_node, hostile):
    import socket
    import subprocess

    peer = hostile("cn-11")
    peer.feed = [peer.envelope(record())]
    enrol_and_approve(FakeNode("cn-11", key=peer.key), base_url=peer.url)
    gone = subprocess.Popen(["true"])
    gone.wait()
    from django.utils import timezone

    Peer.objects.filter(node_id="cn-11").update(pulling_until=timezone.now() + timezone.timedelta(minutes=5),
                                                pulling_by=f"{socket.gethostname()}:{gone.pid}")
    done = pull_peer(node_id="cn-11")
    assert done.ok and not done.busy and done.applied == 1
