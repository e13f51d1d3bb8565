"""S11: what the volume keeps."""

from __future__ import annotations

from harness import checkers
from harness.checkers import Verdict
from harness.faults import pod_delete
from harness.scenario import ScenarioEnv
from harness.workload import deploy
from harness.workload.durability import check_durability
from harness.workload.mysql_cluster import MySQLWorkload

HYPOTHESIS = ("Deleting the pod of a one-replica MySQL StatefulSet loses every row when its data lives in an "
              "emptyDir, and keeps every row when it lives in a PVC.")
FAULTS = ('pod-delete',)
TYPICAL_SECONDS = 60  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True

ROWS = 50


def run(env: ScenarioEnv) -> list[Verdict]:
    assert env.mysql_images is not None, "S11 needs the mysql_images fixture"
    ephemeral = MySQLWorkload(env.cluster, env.namespace, env.mysql_images, deploy.EPHEMERAL, replicas=1)
    persistent = MySQLWorkload(env.cluster, env.namespace, env.mysql_images, deploy.REPLICATED, replicas=1,
                               storage_class=env.storage_class)
    ephemeral.deploy()
    persistent.deploy()
    ledgers = {w.name: env.write_rows(w, ROWS) for w in (ephemeral, persistent)}
    with env.recording():
        for w in (ephemeral, persistent):
            with env.faults.injected(pod_delete(env.cluster, env.namespace, w.pod(0))):
                pass
        for w in (ephemeral, persistent):
            w.wait_ready()
    kept = {w.name: check_durability(ledgers[w.name], {w.pod(0): env.read_rows(w, 0)}) for w in (ephemeral, persistent)}
    lost_ephemeral = kept[ephemeral.name].replicas[0].lost
    events = env.history.events()
    return [
        Verdict("emptydir-loses-rows", len(lost_ephemeral) == ROWS,
                f"{ephemeral.pod(0)} came back with {ROWS - len(lost_ephemeral)} of {ROWS} acknowledged rows "
                f"(expected 0: the emptyDir went with the pod)"),
        Verdict("pvc-keeps-rows", kept[persistent.name].ok, kept[persistent.name].explain()),
        checkers.same_pvc_per_identity(events, "mysql"),
    ]
