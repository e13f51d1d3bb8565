"""S8: kubelet stopped on mysql-0's node."""

from __future__ import annotations

from chaos_harness.core.cancellation import observe
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.core.waits import node_not_ready, watch_until
from chaos_harness.faults import KubeletStop
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv

HYPOTHESIS = ("With the kubelet of pod 0's node stopped (mysql-0, or the --target's pod 0), the Node goes not-Ready "
              "within the grace period; pod 0 is not re-created anywhere while the node is unreachable, through "
              "and past the unreachable toleration (the pod ends Terminating); no second copy of it ever runs; "
              "after the kubelet starts, everything returns with no acknowledged write lost.")
FAULTS = ('kubelet-stop',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 145  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True
TARGETABLE = True  # with --target: the user's StatefulSet's pod 0 and its node, durability through the probe


def run(env: ScenarioEnv) -> None:
    w, node = env.workload()
    pod = w.pod(0)
    env.note(node=node)
    t = env.timing

    with env.recording(), env.writing_throughout(w):
        with env.faults.injected(KubeletStop(node)):
            node_not_ready(env.cluster, node, t)
            # Past the unreachable toleration the taint manager evicts the pod: it turns Terminating and stays
            # so, since no kubelet confirms the kill. Watch it happen, then keep watching a while.
            watch_until(env.cluster.core.list_namespaced_pod, lambda p: p.metadata.deletion_timestamp is not None,
                        t.unreachable_toleration_seconds + t.node_monitor_grace_period + 60,
                        f"{pod} Terminating", namespace=env.namespace, field_selector=f"metadata.name={pod}")
            observe(min(30.0, t.unreachable_toleration_seconds), f"no second {pod} appears")
        _, env.figures["recover_3of3_seconds"] = w.wait_ready(300)
    env.read_back(w)


def check(events: list[Event], t: ClusterTiming) -> list[Verdict]:
    node = checkers.facts(events)["node"]
    name = checkers.workload_of(events)
    return [
        checkers.node_detection(events, node, KubeletStop.type, t.node_monitor_grace_period, t.node_monitor_period),
        checkers.not_recreated_during_fault(events, f"{name}-0", KubeletStop.type, t),
        checkers.split_brain(events, name),
        checkers.node_observed_during_fault(events, node, KubeletStop.type, timing=t),
        checkers.replacement_while_old_exists(events, name),
        checkers.same_pvc_per_identity(events, name),
        *checkers.durability_if_probed(events),  # every replica the workload can read, read or not
    ]
