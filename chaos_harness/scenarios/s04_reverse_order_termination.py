"""S4: ordered scale-down."""

from __future__ import annotations

from chaos_harness.core.errors import SelectionError
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import StatefulSetScale
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv
from chaos_harness.workload import deploy
from chaos_harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("Scaling a StatefulSet down, and deleting it the documented way (scale to 0, then delete), removes "
              "pods in reverse ordinal order, one at a time: pod n-1 starts terminating only after pod n is gone.")
FAULTS = ()
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 17  # wall time on the fast-profile test bed (2 cores)
TARGETABLE = True
CHANGES_TARGET = "scale to 0 and back"  # on a target: scaled to 0 and back (only with --allow-target-changes)


def run(env: ScenarioEnv) -> None:
    if env.target is not None:
        return _scale_target_to_zero(env)
    web = Web(env.cluster, env.namespace, WebSpec(replicas=4, persistent=False, ready_after=0))
    web.deploy()
    with env.recording():
        web.scale(2)
        deploy.wait_pods_gone(env.cluster, env.namespace, f"statefulset.kubernetes.io/pod-name in ({NAME}-2,{NAME}-3)",
                              120)
        web.scale(0)
        deploy.wait_pods_gone(env.cluster, env.namespace, f"app={NAME}", 120)
        web.delete_statefulset()


def _scale_target_to_zero(env: ScenarioEnv) -> None:
    """The user's StatefulSet scaled to 0 (journaled, so `cleanup` restores the scale a killed run left), then
    back to its replicas: they go n-1..0 and come back 0..n-1."""
    w, _ = env.workload()
    if w.pod_management == "Parallel":
        raise SelectionError(f"{w.name} has podManagementPolicy Parallel, which promises no termination order")
    if w.replicas < 2:
        raise SelectionError(f"{w.name} has {w.replicas} replica: an order needs at least 2")
    pods = f"statefulset.kubernetes.io/pod-name in ({','.join(w.pod(n) for n in range(w.replicas))})"
    with env.recording():
        with env.faults.injected(StatefulSetScale(env.namespace, w.name, 0, w.replicas)):
            deploy.wait_pods_gone(env.cluster, env.namespace, pods, 120 + 60 * w.replicas)
        _, env.figures["all_ready_again_after"] = w.wait_ready(120 + 60 * w.replicas)
    env.note(replicas=w.replicas)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    if "replicas" not in f:
        return [checkers.reverse_order_termination(events, NAME, 4)]
    name = checkers.workload_of(events)
    # Back up from 0 every pod is new: those seen before the scale-down (its first fault mark) do not count.
    start = next((e["seq"] for e in events if e["kind"] == "fault"), 0)
    gone_before = {e["uid"] for e in events if e["kind"] == "pod" and e["seq"] < start}
    fresh = [e for e in events if not (e["kind"] == "pod" and e.get("uid") in gone_before)]
    return [checkers.fault_took_effect(events, StatefulSetScale.type),
            checkers.reverse_order_termination(events, name, int(f["replicas"])),
            checkers.ordered_ready(fresh, name, int(f["replicas"]))]
