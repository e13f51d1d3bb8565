"""S14: pod 0's node frozen (every process on it paused)."""

from __future__ import annotations

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import NodePause
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv

HYPOTHESIS = ("Freezing pod 0's node (mysql-0's, or the --target's pod 0) makes the Node not-Ready within the grace "
              "period; while it is frozen pod 0 keeps its one pod object (nothing starts it elsewhere) and no "
              "second copy runs; once it thaws everything returns with no acknowledged write lost.")
FAULTS = ('node-pause',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 70  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True
TARGETABLE = True


def run(env: ScenarioEnv) -> None:
    w, node = env.workload()
    env.note(node=node, pod=w.pod(0))
    with env.recording(), env.writing_throughout(w):
        env.silent_node(w, NodePause(node), node)
    env.read_back(w)


def check(events: list[Event], t: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    name = checkers.workload_of(events)
    return [
        checkers.node_detection(events, f["node"], NodePause.type, t.node_monitor_grace_period, t.node_monitor_period),
        checkers.one_incarnation_during_fault(events, f["pod"], NodePause.type, t),
        checkers.split_brain(events, name),
        # Through the node agent the frozen node's runtime stays readable: "no second copy" is then seen there.
        *([checkers.node_observed_during_fault(events, f["node"], NodePause.type, timing=t)]
          if checkers.observed_while_frozen(events, f["node"]) else []),
        checkers.replacement_while_old_exists(events, name),
        *checkers.durability_if_probed(events),  # every replica the workload can read, read or not
    ]
