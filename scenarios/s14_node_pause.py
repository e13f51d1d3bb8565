"""S14: pod 0's node frozen (every process on it paused)."""

from __future__ import annotations

from contextlib import nullcontext

from harness import checkers
from harness.checkers import Verdict
from harness.faults import NodePause
from harness.history import Event
from harness.progress import observe
from harness.scenario import ScenarioEnv
from harness.settings import ClusterTiming
from harness.waits import node_not_ready, node_ready
from harness.workload.mysql_client import background_writer

HYPOTHESIS = ("Freezing pod 0's node (mysql-0's, or the --target's pod 0) makes the Node not-Ready within the grace "
              "period; while it is frozen pod 0 keeps its one pod object (nothing starts it elsewhere) and no "
              "second copy runs; once it thaws everything returns with no acknowledged write lost.")
FAULTS = ('node-pause',)
TYPICAL_SECONDS = 70  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True
TARGETABLE = True


def run(env: ScenarioEnv) -> None:
    w, node = env.workload()
    env.note(node=node, pod=w.pod(0))
    t = env.timing
    ledger = env.ledger()
    with env.recording(), w.writer(ledger) as writer:
        with background_writer(writer, pause=0.02) if writer else nullcontext():
            observe(2, "acknowledged writes before the fault")
            with env.faults.injected(NodePause(node)):
                node_not_ready(env.cluster, node, t)
                # Shorter than the unreachable toleration: the point is what happens while the node is merely
                # silent (S8 covers eviction past the toleration).
                observe(max(1.0, min(10.0, t.unreachable_toleration_seconds / 2)), f"nothing replaces {w.pod(0)}")
            node_ready(env.cluster, node)
            w.wait_ready(300)
            observe(2, "acknowledged writes after the thaw")
    primary = env.read_rows(w, 0)
    for i in w.readable_ordinals[1:]:
        env.read_rows(w, i, expected=primary)


def check(events: list[Event], t: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    name = checkers.workload_of(events)
    return [
        checkers.node_detection(events, f["node"], NodePause.type, t.node_monitor_grace_period, t.node_monitor_period),
        checkers.one_incarnation_during_fault(events, f["pod"], NodePause.type),
        checkers.split_brain(events, name),
        checkers.replacement_while_old_exists(events, name),
        *checkers.durability_if_probed(events, checkers.read_replicas(events) or [f"{name}-0"]),
    ]
