"""S10: force delete of mysql-0 while its kubelet is stopped."""

from __future__ import annotations

import time

from harness import checkers
from harness.checkers import Verdict
from harness.faults import KubeletStop, pod_delete
from harness.progress import observe
from harness.history import Event
from harness.scenario import ScenarioEnv
from harness.settings import ClusterTiming
from harness.waits import node_condition, watch_until

HYPOTHESIS = ("Force-deleting mysql-0 while its kubelet is stopped makes the StatefulSet re-create mysql-0 at once; "
              "its node-bound local volume keeps the new pod from starting anywhere else (the events say why); "
              "after the kubelet restarts it runs with its data. The report shows the hazard window in which "
              "the old container still ran while the API had forgotten it.")
FAULTS = ('kubelet-stop', 'pod-delete')
TYPICAL_SECONDS = 80  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True


def run(env: ScenarioEnv) -> None:
    mysql, node = env.deploy_mysql()
    env.note(node=node)
    t = env.timing
    env.write_rows(mysql, 100)

    with env.recording():
        old_uid = env.cluster.core.read_namespaced_pod("mysql-0", env.namespace).metadata.uid
        with env.faults.injected(KubeletStop(node)):
            watch_until(env.cluster.core.list_node, lambda n: node_condition(n) != "True",
                        t.node_monitor_grace_period + t.node_monitor_period + 30, f"{node} not Ready",
                        field_selector=f"metadata.name={node}")
            with env.faults.injected(pod_delete(env.cluster, env.namespace, "mysql-0", force=True)):
                pass
            new, waited = watch_until(env.cluster.core.list_namespaced_pod, lambda p: p.metadata.uid != old_uid, 60,
                                      "mysql-0 re-created", namespace=env.namespace,
                                      field_selector="metadata.name=mysql-0")
            env.figures["recreated_after"] = waited
            # The new pod cannot go anywhere: its volume is bound to the stopped node. Give the scheduler time
            # to say so, then check it really did not start.
            watch_until(env.cluster.core.list_namespaced_event,
                        lambda e: e.involved_object.name == "mysql-0" and e.reason == "FailedScheduling", 60,
                        "FailedScheduling for the new mysql-0", namespace=env.namespace)
            # The hazard, observed: the API has forgotten the old mysql-0 while its container runs on. Keep the
            # node down for a while so the report shows that window and the new pod staying Pending through it.
            observe(10, "the new mysql-0 stays Pending while the old one runs on")
            pending = env.cluster.core.read_namespaced_pod("mysql-0", env.namespace)
            env.note(new_pod_phase=pending.status.phase, new_pod_node=pending.spec.node_name or "")
            env.figures["new_pod_phase_pending"] = float(pending.status.phase == "Pending")
        started = time.monotonic()
        mysql.wait_ready(300)
        env.figures["ready_after_kubelet_start"] = time.monotonic() - started
    env.read_rows(mysql, 0)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    node, phase, on = f["node"], f.get("new_pod_phase"), f.get("new_pod_node")
    return [
        checkers.split_brain(events, "mysql"),
        checkers.node_observed_during_fault(events, node, KubeletStop.type),
        checkers.events_mention(events, "Pod/mysql-0", "volume node affinity", "untolerated taint", "didn't match"),
        Verdict("new-pod-did-not-start-elsewhere", phase == "Pending" and not on,
                f"the re-created mysql-0 was {phase} on {on or 'no node'} while {node} was unreachable"),
        checkers.hazard_window(events, "mysql-0", node, "pod-delete"),
        checkers.durability(events, ["mysql-0"]),
    ]
