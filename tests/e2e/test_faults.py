"""The node-level faults on the live cluster: each really takes effect (the Node leaves Ready within the
window derived from the cluster's settings) and is healed (journal empty, Node Ready again)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_harness.judge import checkers
from chaos_harness.faults import FaultContext, FaultSession, NetworkPartition, NodeDrain, NodePause
from chaos_harness.record.history import History
from chaos_harness.faults.journal import Journal
from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.record.recorder import Recorder
from chaos_harness.core.control_plane import api_server_addresses, read_timing
from chaos_harness.core.waits import node_not_ready, node_ready

pytestmark = [pytest.mark.disruptive]


@pytest.mark.parametrize("make_fault", ["pause", "partition"])
def test_node_fault_makes_node_unready_and_heals(make_fault: str, cluster: Cluster,
                                                 namespace: str, tmp_path: Path, side_lane) -> None:
    node = side_lane.nodes[0]
    fault = NodePause(node) if make_fault == "pause" else NetworkPartition(node, tuple(api_server_addresses(cluster)))
    timing = read_timing(cluster)
    history, journal, access = History(), Journal(tmp_path / "journal.json"), KindNodeAccess()
    session = FaultSession(FaultContext(cluster, access), journal, history, "faults")
    with Recorder(cluster, history, namespace):
        with session.injected(fault) as evidence:
            print(f"{fault.type}: {evidence}")
            assert len(journal.entries()) == 1
            node_not_ready(cluster, node, timing)
        node_ready(cluster, node)
    assert journal.entries() == []
    verdict = checkers.node_detection(history.events(), node, fault.type, timing.node_monitor_grace_period,
                                      timing.node_monitor_period)
    print(verdict.explain())
    assert verdict.ok, verdict.explain()


def test_node_drain_cordons_and_heal_uncordons(cluster: Cluster, side_lane, tmp_path: Path) -> None:
    node = side_lane.nodes[0]
    session = FaultSession(FaultContext(cluster, KindNodeAccess()), Journal(tmp_path / "j.json"), History(), "drain")
    with session.injected(NodeDrain(node)) as evidence:
        assert "cordoned" in evidence
        assert cluster.core.read_node(node).spec.unschedulable
    assert not cluster.core.read_node(node).spec.unschedulable
