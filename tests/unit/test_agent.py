"""The harness side of the node agent, without a cluster: sample parsing, names, the DaemonSet's shape, and
the permissions doctor checks."""

from __future__ import annotations

import json
from types import SimpleNamespace

from chaos_harness.nodes.agent import AgentConfig, NodeAgent, agent_namespace, micro_time, parse_sample, sample_containers
from chaos_harness.assemble.doctor import needed_permissions

SAMPLE = {"node": "w1", "seq": 7, "sampled_at": 1.5, "ok": True, "kubelet": "inactive", "holding": True,
          "containers": [{"id": "c1", "name": "mysql", "pod": "mysql-0", "namespace": "ns", "pod_uid": "u1",
                          "state": "CONTAINER_RUNNING", "created_ns": 12}]}


def test_samples_parse_into_runtime_containers() -> None:
    sample = parse_sample(SimpleNamespace(data={"sample": json.dumps(SAMPLE)}))
    [c] = sample_containers(sample)
    assert (c.node, c.container_id, c.pod_name, c.pod_namespace, c.state) == ("w1", "c1", "mysql-0", "ns",
                                                                              "CONTAINER_RUNNING")


def test_a_configmap_without_a_sample_or_with_garbage_is_no_sample() -> None:
    assert parse_sample(SimpleNamespace(data=None)) is None
    assert parse_sample(SimpleNamespace(data={"sample": "{not json"})) is None


def test_names_are_valid_kubernetes_names() -> None:
    ns = agent_namespace("20261123-150000-ABCD_x" * 4)
    assert len(ns) <= 63 and ns == ns.lower() and not ns.endswith("-") and "_" not in ns
    assert micro_time(0).startswith("1970-01-01T00:00:00.000000Z")


def test_each_node_gets_its_own_privileged_agent_with_its_own_identity_and_the_nodes_limits() -> None:
    agent = NodeAgent(None, "r1", AgentConfig("img:1", runtime_endpoint="unix:///var/run/crio/crio.sock"),  # type: ignore[arg-type]
                      ["w2", "w1"])
    ds = agent.daemon_set({"a": "b"}, "w1")
    spec = ds.spec.template.spec
    terms = spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
    assert [t.match_fields[0].values for t in terms] == [["w1"]]
    assert ds.metadata.name == spec.service_account_name == "chaos-agent-w1"  # node A's agent is not node B's
    assert spec.host_pid and spec.containers[0].security_context.privileged
    # The limits are the agent's flags, set here at install: a Lease cannot lift them.
    assert {"-max-hold=1200s", "-max-switch=120s"} <= set(spec.containers[0].args)
    assert AgentConfig("i", deadman_seconds=121).problem(392) is not None
    assert AgentConfig("i").problem(1201) is not None and AgentConfig("i").problem(1000) is None
    # The socket is reached through /proc/1/root (hostPID): no hostPath guesses its directory in advance.
    assert not spec.volumes and not spec.containers[0].volume_mounts
    assert "-runtime-endpoint=unix:///var/run/crio/crio.sock" in spec.containers[0].args
    assert not any(a.startswith("-kubelet-unit") for a in spec.containers[0].args)  # found on each node
    # Kept on a faulted node: every taint tolerated (NoExecute too), evicted last.
    assert [(t.operator, t.key, t.effect) for t in spec.tolerations] == [("Exists", None, None)]
    assert spec.priority_class_name == "system-node-critical"


def test_the_agent_is_told_what_the_nodes_say_of_themselves() -> None:
    def node(name: str, port: int, runtime: str) -> dict:
        # As the API sends it (read as plain JSON): DaemonEndpoint's field is "Port", capitalised.
        return {"metadata": {"name": name}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
                                                       "nodeInfo": {"containerRuntimeVersion": runtime}}}

    nodes = [node("w1", 10255, "containerd://1.7.2"), node("w2", 10255, "containerd://1.6.20"),
             node("w3", 10255, "cri-o://1.28.1"), node("other", 1, "docker://1")]
    body = json.dumps({"kind": "NodeList", "items": nodes}).encode()
    cluster = SimpleNamespace(core=SimpleNamespace(list_node=lambda **kw: SimpleNamespace(data=body)))
    agent = NodeAgent(cluster, "r1", AgentConfig("img:1", kubelet_unit="k3s-agent"), ["w1", "w2", "w3"])  # type: ignore[arg-type]
    agent.read_nodes()
    args = agent.args()
    assert "-kubelet-port=10255" in args and "-kubelet-unit=k3s-agent" in args
    assert "-expect-runtime=containerd://1.6.20,containerd://1.7.2,cri-o://1.28.1" in args
    assert not any(a.startswith("-runtime-endpoint") for a in args)


def test_a_layout_missing_a_part_names_the_node_and_the_option() -> None:
    from chaos_harness.nodes.agent import parse_layout

    def cm(layout: dict) -> SimpleNamespace:
        return SimpleNamespace(data={"layout": json.dumps(layout)},
                               metadata=SimpleNamespace(labels={"chaos-harness.io/node": "w1"}))

    whole = parse_layout(cm({"kubelet_unit": "k3s-agent", "kubelet_how": "the cgroup of pid 7 (serving port 10250)",
                             "runtime_endpoint": "unix:///run/k3s/containerd/containerd.sock",
                             "runtime_how": "the first known socket that answered", "runtime": "containerd://1.7"}))
    assert whole is not None and whole.problem() is None and "k3s-agent" in whole.describe()
    no_unit = parse_layout(cm({"kubelet_how": "not found: no process serves port 10250",
                               "runtime_endpoint": "unix:///x.sock", "runtime_how": "given"}))
    assert no_unit is not None and "w1" in no_unit.problem() and "--agent-kubelet-unit" in no_unit.problem()
    no_runtime = parse_layout(cm({"kubelet_unit": "kubelet", "runtime_how": "not found: no CRI answered"}))
    assert no_runtime is not None and "--agent-runtime-endpoint" in no_runtime.problem()
    assert parse_layout(SimpleNamespace(data={"layout": "{oops"}, metadata=None)) is None


def test_the_go_agent_parses_cgroups_flags_and_kubelet_configs() -> None:
    """images/agent's own tests (layout_test.go): the layout detection's parsing, without a node."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    go = shutil.which("go")
    assert go or os.environ.get("CI") != "true", "Go is needed (the offline build needs it too)"
    if go is None:
        import pytest

        pytest.skip("no Go on PATH")
    agent_dir = Path(__file__).resolve().parents[2] / "images" / "agent"
    result = subprocess.run([go, "test", "./..."], cwd=agent_dir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


def test_doctor_checks_every_rule_of_the_harness_role() -> None:
    needed = needed_permissions()
    assert ("create", "", "pods", "exec") in needed
    assert ("patch", "coordination.k8s.io", "leases", None) in needed
    assert ("patch", "", "nodes", None) in needed
    assert len(needed) > 40


def test_storage_class_is_configuration_and_default_is_the_clusters() -> None:
    from chaos_harness.workload.images import MySQLImages
    from chaos_harness.workload import deploy
    from chaos_harness.workload.web import WebSpec, objects

    rendered = deploy.render(deploy.REPLICATED, deploy.manifest_params(MySQLImages("m", "x", "mysql")))
    [sts] = [o for o in deploy.with_storage_class(rendered, "fast-ssd") if o["kind"] == "StatefulSet"]
    assert {t["spec"]["storageClassName"] for t in sts["spec"]["volumeClaimTemplates"]} == {"fast-ssd"}
    [default] = [o for o in deploy.render(deploy.REPLICATED, deploy.manifest_params(MySQLImages("m", "x", "mysql")))
                 if o["kind"] == "StatefulSet"]
    assert all("storageClassName" not in t["spec"] for t in default["spec"]["volumeClaimTemplates"])
    web = [o for o in objects("img", WebSpec(storage_class="gold")) if o["kind"] == "StatefulSet"][0]
    assert web["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gold"


def test_an_update_carries_every_sample_not_yet_published_oldest_first() -> None:
    from chaos_harness.nodes.agent import parse_samples

    recent = [dict(SAMPLE, seq=9), dict(SAMPLE, seq=8)]
    cm = SimpleNamespace(data={"sample": json.dumps(dict(SAMPLE, seq=9)), "recent": json.dumps(recent)})
    assert [s["seq"] for s in parse_samples(cm)] == [8, 9]
    # An agent that writes only data.sample (or garbage in data.recent) still gives its one sample.
    assert [s["seq"] for s in parse_samples(SimpleNamespace(data={"sample": json.dumps(SAMPLE)}))] == [7]
    assert [s["seq"] for s in parse_samples(SimpleNamespace(data={"sample": json.dumps(SAMPLE), "recent": "[1]"}))] == [7]
    assert parse_samples(SimpleNamespace(data=None)) == []


def test_the_feed_records_each_sample_once_and_follows_a_restarted_agent() -> None:
    import threading

    from kubernetes.client.exceptions import ApiException

    from chaos_harness.nodes.agent_access import AgentFeed

    def update(*samples: dict) -> SimpleNamespace:
        return SimpleNamespace(data={"sample": json.dumps(samples[-1]), "recent": json.dumps(list(samples))},
                               metadata=SimpleNamespace(name="chaos-agent-w1"))

    first, restarted = dict(SAMPLE, started=100.0), dict(SAMPLE, started=200.0)
    updates = [update(dict(first, seq=1)), update(dict(first, seq=1), dict(first, seq=2), dict(first, seq=3)),
               update(dict(restarted, seq=1)), update(dict(restarted, seq=2))]
    stop = threading.Event()

    class Core:
        def list_namespaced_config_map(self, *args: object, **kwargs: object) -> SimpleNamespace:
            if kwargs.get("watch"):  # one listing; the watch that follows fails and the feed ends
                stop.set()
                raise ApiException(status=500)
            return SimpleNamespace(items=updates, metadata=SimpleNamespace(resource_version="1"))

    seen: list[tuple[float | None, int]] = []
    feed = AgentFeed(FakeAccess(Core()), {"w1"})  # type: ignore[arg-type]
    feed.loops()["agent-samples"](stop, lambda node, ok, **extra: seen.append((extra.get("sampled_at"),
                                                                                 extra["agent_seq"])))
    assert [seq for _, seq in seen] == [1, 2, 3, 1, 2]


def test_a_sample_claiming_another_node_is_rejected_and_recorded() -> None:
    """A node's ConfigMap speaks for that node: w2's carrying a sample that says it is w1's (a forged or confused
    writer) is not taken as w1's view, nor as w2's: it is recorded as a failed sample of w2 that says what it
    claimed, and the samples of w1's own ConfigMap are taken as they are."""
    import threading

    from kubernetes.client.exceptions import ApiException

    from chaos_harness.nodes.agent_access import AgentFeed

    def cm(name: str, sample: dict) -> SimpleNamespace:
        return SimpleNamespace(data={"sample": json.dumps(sample)}, metadata=SimpleNamespace(name=name))

    stop = threading.Event()

    class Core:
        def list_namespaced_config_map(self, *args: object, **kwargs: object) -> SimpleNamespace:
            if kwargs.get("watch"):
                stop.set()
                raise ApiException(status=500)
            return SimpleNamespace(items=[cm("chaos-agent-w1", dict(SAMPLE, seq=1)),
                                          cm("chaos-agent-w2", dict(SAMPLE, seq=5))],
                                   metadata=SimpleNamespace(resource_version="1"))

    seen: list[tuple[str, bool, dict]] = []
    AgentFeed(FakeAccess(Core()), {"w1", "w2"}).loops()["agent-samples"](  # type: ignore[arg-type]
        stop, lambda node, ok, **extra: seen.append((node, ok, extra)))
    assert [(node, ok) for node, ok, _ in seen] == [("w1", True), ("w2", False)]
    assert seen[1][2]["rejected"] == "w1" and "claims to be of 'w1'" in seen[1][2]["error"]


class FakeAccess:
    """What AgentFeed asks of its node access: the cluster, the agent namespace, the scope, the reads."""

    def __init__(self, core: object) -> None:
        from chaos_harness.nodes.sample_watch import SampleWatch

        self.cluster = SimpleNamespace(core=core)
        self.namespace = "ns"
        self.samples = SampleWatch(self.cluster, "ns", "app=x")  # type: ignore[arg-type]
        self.scopes: list[tuple[tuple[str, ...], str, str]] = []
        self.read: list[tuple[str, float, int]] = []

    def reporting(self, nodes, namespace):  # type: ignore[no-untyped-def]
        from contextlib import contextmanager

        @contextmanager
        def ctx():  # type: ignore[no-untyped-def]
            self.scopes.append((tuple(nodes), namespace, "asked"))
            yield
            self.scopes.append((tuple(nodes), namespace, "released"))
        return ctx()

    def read_up_to(self, feed: int, node: str, started: float, seq: int, changed: bool = True) -> None:
        self.read.append((node, started, seq))

    def stop_reading(self, feed: int) -> None:
        pass


def test_the_feed_asks_for_its_namespace_and_takes_only_samples_that_cover_it() -> None:
    """Samples published before the agent reports the recording's namespace say nothing of it: not taken (the
    checkers see a gap, never an empty node). What was taken is acknowledged (the agent may then drop it)."""
    import threading

    from kubernetes.client.exceptions import ApiException

    from chaos_harness.nodes.agent_access import AgentFeed

    chained = dict(SAMPLE, started=100.0, after=0, prev=0, gap=0.0, heartbeat=10.0)
    samples = [dict(chained, seq=1, namespaces=[]), dict(chained, seq=2, namespaces=["other"], prev=1, after=1),
               dict(chained, seq=3, namespaces=["mine", "other"], prev=2, after=2)]
    stop = threading.Event()

    class Core:
        def list_namespaced_config_map(self, *args: object, **kwargs: object) -> SimpleNamespace:
            if kwargs.get("watch"):  # one listing; the watch that follows fails and the feed ends
                stop.set()
                raise ApiException(status=500)
            return SimpleNamespace(items=[SimpleNamespace(data={"sample": json.dumps(samples[-1]),
                                                                "recent": json.dumps(samples)},
                                                          metadata=SimpleNamespace(name="chaos-agent-w1"))],
                                   metadata=SimpleNamespace(resource_version="1"))

    access = FakeAccess(Core())
    taken: list[dict] = []
    AgentFeed(access, {"w1"}, "mine").loops()["agent-samples"](  # type: ignore[arg-type]
        stop, lambda node, ok, **extra: taken.append(extra))
    assert [t["agent_seq"] for t in taken] == [3]
    assert taken[0]["agent_prev"] == 2 and taken[0]["heartbeat"] == 10.0 and taken[0]["agent_started"] == 100.0
    assert access.scopes == [(("w1",), "mine", "asked"), (("w1",), "mine", "released")]
    assert access.read == [("w1", 100.0, 3)]


def test_a_node_fault_is_time_boxed_from_the_clusters_timing() -> None:
    """KubeletStop hands the node its time box: twice the grace and unreachable toleration, plus five minutes
    (never reached by a run still in control; the node undoes the fault past it by itself)."""
    from chaos_harness.core.timing import ClusterTiming
    from chaos_harness.faults.base import FaultContext
    from chaos_harness.faults.node import KubeletStop

    timing = ClusterTiming(40, 5, 300, 300)
    assert timing.fault_time_box() == 2 * (40 + 300) + 300
    asked: list[tuple[str, float]] = []
    nodes = SimpleNamespace(kubelet_stop=lambda node, box: asked.append((node, box)))
    KubeletStop("w1").inject(FaultContext(None, nodes, None, timing.fault_time_box()))  # type: ignore[arg-type]
    assert asked == [("w1", 980)]


def test_acknowledgements_follow_changes_and_wait_for_every_feed(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """One Lease write per node at most every ACK_SECONDS, only once a change was read (a quiet node's
    heartbeats replace each other on the node: nothing to acknowledge), and only what every feed has read."""
    from chaos_harness.nodes import agent_access
    from chaos_harness.nodes.agent import SCOPE_ANNOTATION, SEEN_ANNOTATION, AgentConfig
    from chaos_harness.nodes.agent_access import AgentNodeAccess

    clock = [1000.0]
    monkeypatch.setattr(agent_access.time, "monotonic", lambda: clock[0])
    access = AgentNodeAccess(None, SimpleNamespace(namespace="ns", run_id="r",  # type: ignore[arg-type]
                                                   config=AgentConfig(image="x")))
    written: list[tuple[str, dict]] = []
    monkeypatch.setattr(access, "_annotate", lambda node, ann: written.append((node, ann)))
    with access.reporting(["w1"], "mine"), access.reporting(["w1"], "other"):
        assert written == [("w1", {SCOPE_ANNOTATION: "mine"}), ("w1", {SCOPE_ANNOTATION: "mine,other"})]
        written.clear()
        access.read_up_to(1, "w1", 5.0, 3, changed=False)
        assert written == []  # heartbeats only
        access.read_up_to(1, "w1", 5.0, 4, changed=True)
        access.read_up_to(2, "w1", 5.0, 2, changed=True)
        assert written == [("w1", {SEEN_ANNOTATION: "4@5.0"})]  # feed 2 had not read yet when feed 1 did
        access.read_up_to(1, "w1", 5.0, 9, changed=True)
        assert len(written) == 1  # within ACK_SECONDS of the last
        clock[0] += agent_access.ACK_SECONDS
        access.read_up_to(2, "w1", 5.0, 7, changed=False)
        assert written[-1] == ("w1", {SEEN_ANNOTATION: "7@5.0"})  # the slower feed's
    assert written[-1] == ("w1", {SCOPE_ANNOTATION: None})


def test_two_feeds_of_one_run_share_one_sample_watch() -> None:
    """S8 and S7 side by side record the same samples: one list and one watch stream for both, and a feed that
    joins later starts from the latest sample of each node rather than listing again."""
    import threading

    from kubernetes.client.exceptions import ApiException

    from chaos_harness.nodes.agent_access import AgentFeed

    cm = SimpleNamespace(data={"sample": json.dumps(dict(SAMPLE, seq=4))}, metadata=SimpleNamespace(name="chaos-agent-w1"))
    calls = {"list": 0, "watch": 0}
    first_stop, second_stop, watching, release = (threading.Event() for _ in range(4))

    class Core:
        def list_namespaced_config_map(self, *args: object, **kwargs: object) -> SimpleNamespace:
            calls["watch" if kwargs.get("watch") else "list"] += 1
            if kwargs.get("watch"):
                watching.set()
                release.wait(5)  # the stream stays open while the feeds read
                first_stop.set()
                raise ApiException(status=500)
            return SimpleNamespace(items=[cm], metadata=SimpleNamespace(resource_version="1"))

    access = FakeAccess(Core())
    seen: dict[str, list[int]] = {"first": [], "second": []}
    first = threading.Thread(target=AgentFeed(access, {"w1"}).loops()["agent-samples"],  # type: ignore[arg-type]
                             args=(first_stop, lambda node, ok, **extra: seen["first"].append(extra["agent_seq"])))
    first.start()
    assert watching.wait(5)
    second_stop.set()  # the second feed reads what the watch has, then ends at once
    AgentFeed(access, {"w1"}).loops()["agent-samples"](  # type: ignore[arg-type]
        second_stop, lambda node, ok, **extra: seen["second"].append(extra["agent_seq"]))
    assert calls == {"list": 1, "watch": 1}, calls
    release.set()
    first.join(10)
    assert seen == {"first": [4], "second": [4]}


def test_the_readmes_table_of_rights_is_the_manifests() -> None:
    from pathlib import Path

    from chaos_harness.assemble.doctor import rights_table

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("<!-- rights:begin -->\n", 1)[1].split("\n<!-- rights:end -->", 1)[0]
    assert table == rights_table(), "regenerate it from chaos_harness.assemble.doctor.rights_table()"
