"""S7: a deleted pod comes back as itself."""

from __future__ import annotations

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import pod_delete
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv

HYPOTHESIS = ("Deleting pod 0 (mysql-0, or the --target's) brings back a pod of the same name, with the same PVC "
              "(same claim, same volume) and every acknowledged write on it.")
FAULTS = ('pod-delete',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 60  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True
TARGETABLE = True  # with --target: the user's StatefulSet's pod 0, durability through the probe


def run(env: ScenarioEnv) -> None:
    w, _ = env.workload()
    env.write_rows(w, 200)
    env.note(claim_before=list(w.pvc_of(0)))
    with env.recording():
        with env.faults.injected(pod_delete(env.cluster, env.namespace, w.pod(0))):
            pass
        _, waited = w.wait_ready(300)
        env.figures["ready_again_after"] = waited
    env.note(claim_after=list(w.pvc_of(0)))
    env.read_rows(w, 0)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    name = checkers.workload_of(events)
    claim_before, claim_after = tuple(f["claim_before"]), tuple(f["claim_after"])
    verdicts = [checkers.fault_took_effect(events, *FAULTS), checkers.stable_identity(events, name, f.get("service", name))]
    if any(claim_before):  # a StatefulSet without claim templates has no claim to keep
        verdicts += [checkers.same_pvc_per_identity(events, name),
                     Verdict("same-claim-and-volume", claim_before == claim_after,
                             f"{name}-0's claim and volume before {claim_before}, after {claim_after}")]
    return verdicts + [checkers.replacement_while_old_exists(events, name),
                       *checkers.durability_if_probed(events, [f"{name}-0"])]
