"""S3: OrderedReady start."""

from __future__ import annotations

from harness import checkers
from harness.checkers import Verdict
from harness.history import Event
from harness.scenario import ScenarioEnv
from harness.settings import ClusterTiming
from harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("With podManagementPolicy OrderedReady, pods are created 0..N-1, each Running and Ready before "
              "the next one is created.")
FAULTS = ()
TYPICAL_SECONDS = 15  # wall time on the fast-profile test bed (2 cores)


def run(env: ScenarioEnv) -> None:
    # Each pod takes 3 s to turn Ready, so a controller that did not wait would show overlapping starts.
    web = Web(env.cluster, env.namespace, WebSpec(replicas=3, persistent=False, ready_after=3))
    with env.recording():
        web.deploy()


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    return [checkers.ordered_ready(events, NAME, 3)]
