"""What the recorder keeps of nodes on a large cluster: the target nodes and the nodes its namespace's pods run
on, not every node's status heartbeat (make scale: a thousand simulated nodes)."""

from __future__ import annotations

from chaos_harness.record.history import History
from chaos_harness.record.recorder import Recorder, _same


def node(name: str, ready: str = "True", rv: str = "1") -> dict:
    return {"name": name, "ready": ready, "taints": [], "unschedulable": False, "rv": rv}


def test_only_target_nodes_and_the_nodes_of_the_namespace_s_pods_are_recorded() -> None:
    history = History()
    rec = Recorder(None, history, "ns", nodes=["w1"])  # type: ignore[arg-type]
    rec._record("node", type="LISTED", **node("w1"))
    rec._record("node", type="LISTED", **node("w2"))
    rec._record("node", type="MODIFIED", **node("w2", ready="False", rv="2"))
    assert [e["name"] for e in history.events("node")] == ["w1"]
    # A pod of the namespace lands on w2: w2's latest state is recorded at once, and its changes from then on.
    rec._record("pod", type="ADDED", name="web-0", uid="u", node="w2")
    rec._record("node", type="MODIFIED", **node("w2", ready="True", rv="3"))
    assert [(e["name"], e["ready"]) for e in history.events("node")] == [("w1", "True"), ("w2", "False"),
                                                                          ("w2", "True")]


def test_every_node_is_recorded_when_the_recorder_has_no_target_nodes() -> None:
    history = History()
    rec = Recorder(None, history, "ns")  # type: ignore[arg-type]
    rec._record("node", type="LISTED", **node("w2"))
    assert len(history.events("node")) == 1


def test_an_update_that_changed_only_the_resource_version_is_alike() -> None:
    assert _same(node("w1", rv="1"), node("w1", rv="2"))
    assert not _same(node("w1"), node("w1", ready="False"))
