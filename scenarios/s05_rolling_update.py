"""S5: RollingUpdate with a partition."""

from __future__ import annotations

from harness import checkers
from harness.checkers import Verdict
from harness.history import Event
from harness.scenario import ScenarioEnv
from harness.settings import ClusterTiming
from harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("RollingUpdate replaces pods in reverse ordinal order, one at a time; with partition k only ordinals "
              ">= k are updated, and lowering the partition to 0 then updates the rest.")
FAULTS = ()
TYPICAL_SECONDS = 22  # wall time on the fast-profile test bed (2 cores)


def run(env: ScenarioEnv) -> None:
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


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    step = next((i for i, e in enumerate(events) if e["kind"] == "step" and e["what"] == "partition 0"), len(events))
    return [
        checkers.rolling_update(events[:step], NAME, 3, 1, f["old_revision"], f["new_revision"]),
        checkers.rolling_update(events, NAME, 3, 0, f["old_revision"], f["new_revision"]),
    ]
