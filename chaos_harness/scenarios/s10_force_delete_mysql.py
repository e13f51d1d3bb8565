"""S10: force delete of mysql-0 while its kubelet is stopped."""

from __future__ import annotations

import time

from chaos_harness.core.cancellation import observe
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.core.waits import node_not_ready, poll_until, watch_until
from chaos_harness.faults import KubeletStop, pod_delete
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv

HYPOTHESIS = ("Force-deleting pod 0 (mysql-0, or the --target's) while its kubelet is stopped makes the StatefulSet "
              "re-create it at once; its node-bound volume keeps the new pod from starting anywhere else (the "
              "events say why); after the kubelet restarts it runs with its data. The report shows the hazard "
              "window in which the old container still ran while the API had forgotten it (and, when the kubelet "
              "comes back, any moment in which it already ran the new container beside the old one on that node). "
              "On a target whose volumes are not node-bound the new pod may start elsewhere: that is the hazard, "
              "and it fails.")
FAULTS = ('kubelet-stop', 'pod-delete')
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 60  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True
TARGETABLE = True


def run(env: ScenarioEnv) -> None:
    w, node = env.workload()
    pod = w.pod(0)
    env.note(node=node, pod=pod)
    t = env.timing
    env.write_rows(w, 100)

    with env.recording():
        old_uid = env.cluster.core.read_namespaced_pod(pod, env.namespace).metadata.uid
        env.note(old_uid=old_uid)
        with env.faults.injected(KubeletStop(node)):
            node_not_ready(env.cluster, node, t)
            with env.faults.injected(pod_delete(env.cluster, env.namespace, pod, force=True)):
                pass
            new, waited = watch_until(env.cluster.core.list_namespaced_pod, lambda p: p.metadata.uid != old_uid, 60,
                                      f"{pod} re-created", namespace=env.namespace,
                                      field_selector=f"metadata.name={pod}")
            env.figures["recreated_after"] = waited
            # The new pod cannot go anywhere while its volume is bound to the stopped node: give the scheduler
            # time to say so (or, on a target with network volumes, to place it elsewhere: the hazard).
            watch_until(env.cluster.core.list_namespaced_event,
                        lambda e: e.involved_object.name == pod and e.reason in ("FailedScheduling", "Scheduled")
                        and e.involved_object.uid != old_uid, 60,
                        f"the scheduler's decision on the new {pod}", namespace=env.namespace)
            # The hazard, observed: the API has forgotten the old pod while its container runs on. Keep the
            # node down for a while so the report shows that window and what the new pod does through it.
            # Where the new pod went is judged from the pod watch over the whole window (stayed-unscheduled).
            observe(10, f"the new {pod} while the old one runs on")
        started = time.monotonic()
        w.wait_ready(300)
        env.figures["ready_after_kubelet_start"] = time.monotonic() - started
        # The recording ends only once the node's runtime has dropped the old container (the hazard window's
        # end), or past a deadline, after which hazard-window judges what the samples showed.
        poll_until(lambda: None if any(c.pod_uid == old_uid and c.state == "CONTAINER_RUNNING"
                                       for c in env.nodes.runtime_containers(node, timeout=15)) else True,
                   60, f"the old {pod} container gone from {node}", 1.0, on_timeout=lambda: False)
    env.read_rows(w, 0)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    node = f["node"]
    name = checkers.workload_of(events)
    pod = f.get("pod", f"{name}-0")
    # The force-deleted pod's UID (older recordings: the one its pod-delete fault was aimed at).
    old_uid = f.get("old_uid") or next((e["fault"].get("uid", "") for e in events if e["kind"] == "fault"
                                        and e["fault"]["type"] == "pod-delete"), "")
    return [
        # The claim is "nowhere else": back, the kubelet may start the replacement a moment before it has killed
        # the force-deleted pod's container (two pod UIDs, one node); that overlap is part of the hazard shown.
        checkers.split_brain(events, name, across_nodes_only=True),
        checkers.node_observed_during_fault(events, node, KubeletStop.type, timing=timing),
        checkers.events_mention(events, f"Pod/{pod}", "volume node affinity", "untolerated taint", "didn't match"),
        checkers.stayed_unscheduled(events, pod, KubeletStop.type, old_uid, node),
        checkers.hazard_window(events, pod, node, "pod-delete"),
        *checkers.durability_if_probed(events, [pod]),
    ]
