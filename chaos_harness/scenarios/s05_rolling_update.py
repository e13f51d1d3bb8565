"""S5: RollingUpdate with a partition."""

from __future__ import annotations

from datetime import datetime, timezone

from chaos_harness.core.errors import SelectionError
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import RolloutRestart
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv
from chaos_harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("RollingUpdate replaces pods in reverse ordinal order, one at a time; with partition k only ordinals "
              ">= k are updated, and lowering the partition to 0 then updates the rest.")
FAULTS = ()
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 22  # wall time on the fast-profile test bed (2 cores)
TARGETABLE = True
CHANGES_TARGET = "pod template by a rollout restart"  # on a target: `kubectl rollout restart` (only with --allow-target-changes)


def run(env: ScenarioEnv) -> None:
    if env.target is not None:
        return _restart_target(env)
    web = Web(env.cluster, env.namespace, WebSpec(replicas=3, persistent=False, ready_after=1))
    web.deploy()
    old, _ = web.revisions()
    with env.recording():
        web.set_version("2", partition=1)
        _, new = web.revisions()
        env.note(old_revision=old, new_revision=new)
        web.wait_revision([1, 2], new)
        web.wait_settled()
        env.history.record("step", what="partition 0")
        web.set_partition(0)
        web.wait_revision([0, 1, 2], new)


def _restart_target(env: ScenarioEnv) -> None:
    """`kubectl rollout restart` of the user's StatefulSet: its own strategy and partition roll the new
    revision out."""
    w, _ = env.workload()
    if w.update_strategy != "RollingUpdate":
        raise SelectionError(f"{w.name} has updateStrategy {w.update_strategy}: a template change rolls nothing")
    old, _ = w.revisions()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with env.recording():
        with env.faults.injected(RolloutRestart(env.namespace, w.name, stamp)):
            pass
        _, new = w.revisions()
        env.note(old_revision=old, new_revision=new, replicas=w.replicas, partition=w.partition)
        env.figures["rolled_out_after"] = w.wait_revision(list(range(w.partition, w.replicas)), new,
                                                          120 + 60 * w.replicas)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    if "partition" in f:  # a target, rolled by its own strategy
        return [checkers.fault_took_effect(events, RolloutRestart.type), checkers.rolling_update(events, checkers.workload_of(events), int(f["replicas"]),
                                        int(f["partition"]), f["old_revision"], f["new_revision"])]
    step = next((i for i, e in enumerate(events) if e["kind"] == "step" and e["what"] == "partition 0"), len(events))
    return [
        checkers.rolling_update(events[:step], NAME, 3, 1, f["old_revision"], f["new_revision"]),
        checkers.rolling_update(events, NAME, 3, 0, f["old_revision"], f["new_revision"]),
    ]
