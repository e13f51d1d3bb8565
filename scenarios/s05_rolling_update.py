"""S5: RollingUpdate with a partition."""

from __future__ import annotations

from harness import checkers
from harness.checkers import Verdict
from harness.scenario import ScenarioEnv
from harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("RollingUpdate replaces pods in reverse ordinal order, one at a time; with partition k only ordinals "
              ">= k are updated, and lowering the partition to 0 then updates the rest.")
FAULTS = ()
TYPICAL_SECONDS = 22  # wall time on the fast-profile test bed (2 cores)


def run(env: ScenarioEnv) -> list[Verdict]:
    web = Web(env.cluster, env.namespace, WebSpec(replicas=3, persistent=False, ready_after=1))
    web.deploy()
    old, _ = web.revisions()
    with env.recording():
        web.set_version("2", partition=1)
        _, new = web.revisions()
        web.wait_revision([1, 2], new)
        web.wait_settled()
        partitioned = env.history.events()
        env.history.record("step", what="partition 0")
        web.set_partition(0)
        web.wait_revision([0, 1, 2], new)
    return [
        checkers.rolling_update(partitioned, NAME, 3, 1, old, new),
        checkers.rolling_update(env.history.events(), NAME, 3, 0, old, new),
    ]
