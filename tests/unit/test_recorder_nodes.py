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


def test_the_node_watch_reads_plain_json_and_still_sees_error_events() -> None:
    """The node watch yields plain JSON (no models for every node of a large cluster) through a list method
    without its return type, so the client's Watch keeps `raw_object` for an ERROR event (410 Gone) and raises
    it as an ApiException, which the recorder turns into an outage and a re-list. (`deserialize=False` fails there
    with KeyError.)"""
    import json

    import pytest
    from kubernetes import watch
    from kubernetes.client import CoreV1Api
    from kubernetes.client.exceptions import ApiException

    from chaos_harness.record.recorder import _untyped

    gone = {"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}}
    node = {"type": "MODIFIED", "object": {"metadata": {"name": "w1", "uid": "u1", "resourceVersion": "7"}}}

    class Response:
        status = 200

        def __init__(self, *events: dict) -> None:
            self.body = "".join(json.dumps(e) + "\n" for e in events).encode()

        def stream(self, amt=None, decode_content=False):  # type: ignore[no-untyped-def]
            yield self.body

        def close(self) -> None:
            pass

        def release_conn(self) -> None:
            pass

    class Core(CoreV1Api):
        def __init__(self, response: Response) -> None:
            self.response = response

        def list_node(self, **kwargs):  # type: ignore[no-untyped-def, override]
            return self.response

    assert watch.Watch().get_return_type(_untyped(CoreV1Api.list_node)) == ""
    [ev] = list(watch.Watch().stream(_untyped(Core(Response(node)).list_node), timeout_seconds=1))
    assert ev["object"]["metadata"]["name"] == "w1"
    with pytest.raises(ApiException):
        list(watch.Watch().stream(_untyped(Core(Response(gone)).list_node), timeout_seconds=1))
