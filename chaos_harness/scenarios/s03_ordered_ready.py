"""S3: OrderedReady start."""

from __future__ import annotations

from contextlib import ExitStack

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import pod_delete
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv
from chaos_harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("With podManagementPolicy OrderedReady, pods are created 0..N-1, each Running and Ready before "
              "the next one is created (on a --target: after all its pods are deleted at once; a Parallel target's "
              "come back without waiting for each other).")
FAULTS = ('pod-delete',)  # on a target only
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 15  # wall time on the fast-profile test bed (2 cores)
TARGETABLE = True  # read-only on a target: its pods are deleted, its spec and scale are untouched


def run(env: ScenarioEnv) -> None:
    if env.target is not None:
        return _recreate_target(env)
    # Each pod takes 3 s to turn Ready, so a controller that did not wait would show overlapping starts.
    web = Web(env.cluster, env.namespace, WebSpec(replicas=3, persistent=False, ready_after=3))
    with env.recording():
        web.deploy()


def _recreate_target(env: ScenarioEnv) -> None:
    """Every pod of the user's StatefulSet deleted at once: the controller brings them back in the order its
    podManagementPolicy promises, which is what a first start would show, without changing the set."""
    w, _ = env.workload()
    env.note(pod_management=w.pod_management, replicas=w.replicas)
    with env.recording():
        deletes = [pod_delete(env.cluster, env.namespace, w.pod(n)) for n in range(w.replicas)]
        env.note(replaced_uids=[d.uid for d in deletes])
        with ExitStack() as faults:
            for d in deletes:
                faults.enter_context(env.faults.injected(d))
        # OrderedReady recreates one pod per Ready predecessor: the deadline grows with the replicas.
        _, env.figures["all_ready_again_after"] = w.wait_ready(120 + 60 * w.replicas)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    if "replaced_uids" not in f:
        return [checkers.ordered_ready(events, NAME, 3)]
    # On a target only the pods created after the deletion count: the deleted ones were there before.
    old = set(f["replaced_uids"])
    fresh = [e for e in events if not (e["kind"] == "pod" and e.get("uid") in old)]
    name, replicas = checkers.workload_of(events), int(f["replicas"])
    deleted = checkers.fault_took_effect(events, *FAULTS)
    if f["pod_management"] == "Parallel":
        return [deleted, checkers.parallel_start(fresh, name, replicas)]
    return [deleted, checkers.ordered_ready(fresh, name, replicas)]
