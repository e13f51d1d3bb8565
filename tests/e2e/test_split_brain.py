"""A real split brain, on purpose: a StatefulSet pod whose storage does not bind it to its node (emptyDir),
its node's kubelet stopped, the pod force-deleted. The StatefulSet controller starts a replacement elsewhere
while the old container still runs on the stopped node: two copies of one identity. The runtime-level
split-brain checker must flag it with both nodes and container ids, and see the old copy go once the kubelet
is back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chaos_harness.judge import checkers
from chaos_harness.faults import FaultContext, FaultSession, KubeletStop, node_running_pod, pod_delete
from chaos_harness.record.history import History
from chaos_harness.faults.journal import Journal
from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.record.recorder import Recorder
from chaos_harness.core.control_plane import read_timing
from chaos_harness.core.waits import node_not_ready, watch_until
from chaos_harness.workload.deploy import apply, helper_image, wait_statefulset_ready

pytestmark = [pytest.mark.disruptive, pytest.mark.slow]


def web_statefulset(image: str) -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
         "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]}},
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
         "spec": {"serviceName": "web", "replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"terminationGracePeriodSeconds": 5,
                                        "nodeSelector": {"kubernetes.io/os": "linux"},
                                        "tolerations": [],
                                        "containers": [{"name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
                                                        "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
                                                        "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                                        "volumes": [{"name": "data", "emptyDir": {}}]}}}},
    ]



def test_force_delete_with_stopped_kubelet_makes_a_real_split_brain(cluster: Cluster, namespace: str, run_id: str,
                                                                    tmp_path: Path, side_lane) -> None:
    with side_lane.placed(namespace):  # both side workers: the replacement has somewhere else to go
        apply(cluster, namespace, web_statefulset(helper_image(cluster)))
    wait_statefulset_ready(cluster, namespace, "web", 1, 180)
    victim_node = node_running_pod(cluster, namespace, "web-0")
    if victim_node.endswith("control-plane"):
        pytest.fail("web-0 landed on the control plane, which has a NoSchedule taint: the test bed is misconfigured")
    nodes = sorted(n.metadata.name for n in cluster.core.list_node().items)
    timing = read_timing(cluster)
    access = KindNodeAccess()
    history = History(Path("reports") / "histories" / f"split-brain-{run_id}.jsonl")
    session = FaultSession(FaultContext(cluster, access), Journal(tmp_path / "journal.json"), history, run_id)

    with Recorder(cluster, history, namespace, access, nodes, sample_interval=0.5):
        with session.injected(KubeletStop(victim_node)) as evidence:
            print(f"fault: {evidence}")
            node_not_ready(cluster, victim_node, timing)
            with session.injected(pod_delete(cluster, namespace, "web-0", force=True)) as deleted:
                print(f"fault: {deleted}")
            replacement, waited = watch_until(
                cluster.core.list_namespaced_pod,
                lambda p: p.spec.node_name not in (None, victim_node) and p.status.phase == "Running",
                120, "replacement web-0 running on another node", namespace=namespace,
                field_selector="metadata.name=web-0")
            print(f"replacement web-0 running on {replacement.spec.node_name} after {waited:.1f}s")
            time.sleep(3)  # let the sampler see both copies for several periods: this is the hazard we record
        # Kubelet is back: it finds its pod gone from the API and kills the old container.
        def old_copy_gone() -> bool:
            return not [c for c in access.runtime_containers(victim_node) if c.pod_namespace == namespace
                        and c.pod_name == "web-0"]
        deadline = time.monotonic() + 90
        while not old_copy_gone() and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(2)  # a few more samples after the old copy is gone
    history.close()

    events = history.events()
    verdict = checkers.split_brain(events, "web")
    print(verdict.explain())
    assert not verdict.ok, "the split-brain checker missed two running copies of web-0"
    [violation] = verdict.evidence
    assert set(violation["nodes"]) == {victim_node, replacement.spec.node_name}
    assert len({c["container"] for c in violation["copies"]}) == 2

    # After the heal the old copy went away: the last samples of every node show one copy at most.
    last = {}
    for ev in events:
        if ev["kind"] == "runtime" and ev["ok"]:
            last[ev["node"]] = [c for c in ev["containers"] if c["pod"] == "web-0" and c["state"] == "CONTAINER_RUNNING"]
    assert sum(len(v) for v in last.values()) == 1, f"after the heal: {last}"
    assert not last[victim_node], f"the old copy still runs on {victim_node}"

    detection = checkers.node_detection(events, victim_node, "kubelet-stop", timing.node_monitor_grace_period,
                                        timing.node_monitor_period)
    print(detection.explain())
    assert detection.ok, detection.explain()
