"""S2: stable storage."""

from __future__ import annotations

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import pod_delete
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv
from chaos_harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("Each pod gets one PVC named data-<sts>-<n>; the PVCs survive pod deletion and StatefulSet deletion, "
              "and a re-created StatefulSet of the same name mounts them again, with their data.")
FAULTS = ('pod-delete',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 25  # wall time on the fast-profile test bed (2 cores)


def run(env: ScenarioEnv) -> None:
    web = Web(env.cluster, env.namespace, WebSpec(replicas=2, ready_after=0, storage_class=env.storage_class))
    with env.recording():
        web.deploy()
        with env.faults.injected(pod_delete(env.cluster, env.namespace, f"{NAME}-0")):
            pass
        web.wait_ready(2)
        env.history.record("step", what="delete the StatefulSet")
        web.delete_statefulset()
        env.history.record("step", what="re-create the StatefulSet")
        web.create_statefulset_only()
        web.wait_ready(2)
        env.history.record("volume", logs={f"{NAME}-{n}": web.log_of(n) for n in (0, 1)})


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    logs = next((e["logs"] for e in reversed(events) if e["kind"] == "volume"), {})
    # web-0 mounted its volume three times (first start, after its deletion, after the StatefulSet's return),
    # web-1 twice; each incarnation appended one line with its hostname.
    want = {f"{NAME}-0": 3, f"{NAME}-1": 2}
    lines_ok = "unknown" if set(want) - set(logs) else \
        all(len(logs[p]) == n and all(line.split()[1] == p for line in logs[p]) for p, n in want.items())
    return [
        checkers.fault_took_effect(events, *FAULTS),
        checkers.claims_kept(events, [f"data-{NAME}-0", f"data-{NAME}-1"]),
        checkers.same_pvc_per_identity(events, NAME),
        Verdict("volume-remembers-incarnations", lines_ok,
                f"lines per volume {({p: len(v) for p, v in logs.items()})}, expected {want}",
                tuple({"pod": p, "lines": v} for p, v in logs.items())),
    ]
