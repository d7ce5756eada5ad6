"""Smoke: the seeded catalogs of a real three-node federation converge."""

from __future__ import annotations


def test_seeded_catalogs_converge(cluster):
    """Every node holds the same records of each origin (same count, same content digest)."""
    for origin in ("cn-11", "cn-44"):
        digests = {node.node_id: node.digest(origin) for node in cluster.nodes}
        assert len({(d["count"], d["sha256"]) for d in digests.values()}) == 1, digests
