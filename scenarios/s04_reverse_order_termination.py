"""S4: ordered scale-down."""

from __future__ import annotations

from harness import checkers
from harness.checkers import Verdict
from harness.history import Event
from harness.scenario import ScenarioEnv
from harness.settings import ClusterTiming
from harness.workload import deploy
from harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("Scaling a StatefulSet down, and deleting it the documented way (scale to 0, then delete), removes "
              "pods in reverse ordinal order, one at a time: pod n-1 starts terminating only after pod n is gone.")
FAULTS = ()
TYPICAL_SECONDS = 17  # wall time on the fast-profile test bed (2 cores)


def run(env: ScenarioEnv) -> None:
    web = Web(env.cluster, env.namespace, WebSpec(replicas=4, persistent=False, ready_after=0))
    web.deploy()
    with env.recording():
        web.scale(2)
        deploy.wait_pods_gone(env.cluster, env.namespace, f"statefulset.kubernetes.io/pod-name in ({NAME}-2,{NAME}-3)",
                              120)
        web.scale(0)
        deploy.wait_pods_gone(env.cluster, env.namespace, f"app={NAME}", 120)
        web.delete_statefulset()


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    return [checkers.reverse_order_termination(events, NAME)]
