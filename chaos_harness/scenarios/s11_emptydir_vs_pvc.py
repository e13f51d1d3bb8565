"""S11: what the volume keeps."""

from __future__ import annotations

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import pod_delete
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv
from chaos_harness.workload import deploy
from chaos_harness.workload.mysql_cluster import MySQLWorkload

HYPOTHESIS = ("Deleting the pod of a one-replica MySQL StatefulSet loses every row when its data lives in an "
              "emptyDir, and keeps every row when it lives in a PVC.")
FAULTS = ('pod-delete',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 60  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True

ROWS = 50


def run(env: ScenarioEnv) -> None:
    assert env.mysql_images is not None, "S11 needs the mysql_images fixture"
    ephemeral = MySQLWorkload(env.cluster, env.namespace, env.mysql_images, deploy.EPHEMERAL, replicas=1)
    persistent = MySQLWorkload(env.cluster, env.namespace, env.mysql_images, deploy.REPLICATED, replicas=1,
                               storage_class=env.storage_class)
    ephemeral.deploy()
    persistent.deploy()
    for w in (ephemeral, persistent):
        env.write_rows(w, ROWS)
    with env.recording():
        for w in (ephemeral, persistent):
            with env.faults.injected(pod_delete(env.cluster, env.namespace, w.pod(0))):
                pass
        for w in (ephemeral, persistent):
            w.wait_ready()
    for w in (ephemeral, persistent):
        env.read_rows(w, 0)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    # Writes go to <pod>.<statefulset>: "mysql-ephemeral-0.mysql-ephemeral" and "mysql-0.mysql".
    written, ephemeral = checkers.recorded_durability(events, ["mysql-ephemeral-0"], "mysql-ephemeral-0.")
    lost = ephemeral.replicas[0].lost if ephemeral.replicas else ()
    return [
        checkers.fault_took_effect(events, *FAULTS),
        Verdict("emptydir-loses-rows", "unknown" if not (ephemeral.acknowledged and ephemeral.replicas) else
                len(lost) == ROWS, f"mysql-ephemeral-0 came back with {ROWS - len(lost)} of {ROWS} acknowledged rows "
                f"(expected 0: the emptyDir went with the pod)" if ephemeral.replicas and ephemeral.acknowledged else
                f"not observed: {ephemeral.acknowledged} acknowledged write(s), {len(ephemeral.replicas)} read(s) of "
                f"mysql-ephemeral-0 (nothing to judge)"),
        checkers.durability(events, ["mysql-0"], "mysql-0.", name="pvc-keeps-rows"),
        checkers.same_pvc_per_identity(events, "mysql"),
    ]
