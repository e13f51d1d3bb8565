"""S9: the S8 fault on a Deployment."""

from __future__ import annotations

from chaos_harness.core.cancellation import observe
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.core.waits import node_not_ready, node_ready, watch_until
from chaos_harness.faults import KubeletStop, node_running_pod, pods_by_label
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv
from chaos_harness.workload.deploy import apply, helper_image

HYPOTHESIS = ("The same kubelet stop on a Deployment's node: after the unreachable toleration a replacement pod "
              "with a new name runs on another node while the old container still runs on the stopped node "
              "(the double start that StatefulSets avoid).")
FAULTS = ('kubelet-stop',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 58  # wall time on the fast-profile test bed (2 cores)


def deployment(image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"terminationGracePeriodSeconds": 5, "containers": [{
                                      "name": "app", "image": image, "imagePullPolicy": "IfNotPresent",
                                      "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]}]}}}}


def run(env: ScenarioEnv) -> None:
    apply(env.cluster, env.namespace, [deployment(helper_image(env.cluster))])
    first, _ = watch_until(env.cluster.core.list_namespaced_pod, lambda p: p.status.phase == "Running", 120,
                           "web pod running", namespace=env.namespace, label_selector="app=web")
    pod = first.metadata.name
    node = node_running_pod(env.cluster, env.namespace, pod)
    env.note(node=node)
    t = env.timing
    with env.recording():
        with env.faults.injected(KubeletStop(node)):
            node_not_ready(env.cluster, node, t)
            replacement, waited = watch_until(
                env.cluster.core.list_namespaced_pod,
                lambda p: p.metadata.name != pod and p.status.phase == "Running", t.unreachable_toleration_seconds + 120,
                "replacement web pod running elsewhere", namespace=env.namespace, label_selector="app=web")
            env.figures["replacement_running_after"] = waited
            observe(3, "several runtime samples with both copies running")
        node_ready(env.cluster, node)
    assert pods_by_label(env.cluster, env.namespace, "app=web")


def check(events: list[Event], t: ClusterTiming) -> list[Verdict]:
    node = checkers.facts(events)["node"]
    return [
        checkers.node_detection(events, node, KubeletStop.type, t.node_monitor_grace_period, t.node_monitor_period),
        checkers.concurrent_copies(events, "web-", expected=1),
    ]
