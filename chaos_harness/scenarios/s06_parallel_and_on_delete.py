"""S6: Parallel pod management and the OnDelete update strategy."""

from __future__ import annotations

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import pod_delete
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv
from chaos_harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("With podManagementPolicy Parallel all pods start without waiting for each other; with updateStrategy "
              "OnDelete a template change reaches a pod only when that pod is deleted.")
FAULTS = ('pod-delete',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 30  # wall time on the fast-profile test bed (2 cores)


def run(env: ScenarioEnv) -> None:
    # Each pod takes 4 s to turn Ready: OrderedReady would create them 4 s apart, Parallel at once.
    web = Web(env.cluster, env.namespace, WebSpec(replicas=3, persistent=False, ready_after=4,
                                                  pod_management="Parallel", update_strategy="OnDelete"))
    with env.recording():
        web.deploy()
        old, _ = web.revisions()
        web.set_version("2")
        _, new = web.revisions()
        env.note(old_revision=old, new_revision=new)
        # Under RollingUpdate the controller would already be replacing web-2 by now; give it the time a
        # rolling step takes (pod exit + start + Ready) and see that nothing moves.
        web.wait_settled(observe_seconds=web.spec.ready_after + 6)
        with env.faults.injected(pod_delete(env.cluster, env.namespace, f"{NAME}-1")):
            pass
        web.wait_revision([1], new)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    return [
        checkers.fault_took_effect(events, *FAULTS),
        checkers.parallel_start(events, NAME, 3),
        checkers.on_delete_update(events, NAME, 3, [f"{NAME}-1"], f["old_revision"], f["new_revision"]),
    ]
