"""S7: a deleted pod comes back as itself."""

from __future__ import annotations

from harness import checkers
from harness.checkers import Verdict
from harness.faults import pod_delete
from harness.history import Event
from harness.scenario import ScenarioEnv
from harness.settings import ClusterTiming

HYPOTHESIS = ("Deleting mysql-0 brings back a pod of the same name, with the same PVC (same claim, same volume) and "
              "every acknowledged row on it.")
FAULTS = ('pod-delete',)
TYPICAL_SECONDS = 79  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True


def run(env: ScenarioEnv) -> None:
    mysql, _ = env.deploy_mysql()
    env.write_rows(mysql, 200)
    env.note(claim_before=list(mysql.pvc_of(0)))
    with env.recording():
        with env.faults.injected(pod_delete(env.cluster, env.namespace, "mysql-0")):
            pass
        _, waited = mysql.wait_ready(300)
        env.figures["ready_again_after"] = waited
    env.note(claim_after=list(mysql.pvc_of(0)))
    env.read_rows(mysql, 0)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    claim_before, claim_after = tuple(f["claim_before"]), tuple(f["claim_after"])
    return [
        checkers.stable_identity(events, "mysql", "mysql"),
        checkers.same_pvc_per_identity(events, "mysql"),
        Verdict("same-claim-and-volume", claim_before == claim_after,
                f"mysql-0's claim and volume before {claim_before}, after {claim_after}"),
        checkers.replacement_while_old_exists(events, "mysql"),
        checkers.durability(events, ["mysql-0"]),
    ]
