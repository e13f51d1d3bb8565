"""S7: a deleted pod comes back as itself."""

from __future__ import annotations

from harness import checkers
from harness.checkers import Verdict
from harness.faults import pod_delete
from harness.scenario import ScenarioEnv
from harness.workload.durability import check_durability

HYPOTHESIS = ("Deleting mysql-0 brings back a pod of the same name, with the same PVC (same claim, same volume) and "
              "every acknowledged row on it.")
FAULTS = ('pod-delete',)
TYPICAL_SECONDS = 79  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True


def run(env: ScenarioEnv) -> list[Verdict]:
    mysql, _ = env.deploy_mysql()
    ledger = env.write_rows(mysql, 200)
    claim_before = mysql.pvc_of(0)
    with env.recording():
        with env.faults.injected(pod_delete(env.cluster, env.namespace, "mysql-0")):
            pass
        _, waited = mysql.wait_ready(300)
        env.figures["ready_again_after"] = waited
    claim_after = mysql.pvc_of(0)
    present = env.read_rows(mysql, 0)
    events = env.history.events()
    durability = check_durability(ledger, {"mysql-0": present})
    return [
        checkers.stable_identity(events, "mysql", "mysql"),
        checkers.same_pvc_per_identity(events, "mysql"),
        Verdict("same-claim-and-volume", claim_before == claim_after,
                f"mysql-0's claim and volume before {claim_before}, after {claim_after}"),
        checkers.replacement_while_old_exists(events, "mysql"),
        Verdict("durability", durability.ok, durability.explain()),
    ]
