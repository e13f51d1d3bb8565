"""Test-only scenario (loaded with --scenarios) that passes through every phase a signal can land in and says
which on stdout: before injection, during a kubelet fault, during its heal, and (with a pod that takes its
grace period to stop) during the deletion of the run's namespace."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from chaos_harness.faults import FaultContext, KubeletStop
from chaos_harness.workload import deploy

HYPOTHESIS = "test-only: the phases a signal can interrupt"


@dataclass(frozen=True)
class SlowHealKubeletStop(KubeletStop):
    """A kubelet stop whose heal takes a few seconds (journaled as a plain kubelet-stop: cleanup heals it)."""

    def heal(self, ctx: FaultContext) -> None:
        print("PHASE during-heal", flush=True)
        time.sleep(3)
        super().heal(ctx)


def phase(name: str, seconds: float) -> None:
    print(f"PHASE {name}", flush=True)
    time.sleep(seconds)


def run(env) -> None:
    node = os.environ["SIGNAL_NODE"]
    if os.environ.get("SIGNAL_SLOW_NAMESPACE"):
        # sh as PID 1 ignores SIGTERM: the pod, and so its namespace, takes its grace period to go.
        deploy.apply(env.cluster, env.namespace, [{
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "slow-to-stop"},
            "spec": {"terminationGracePeriodSeconds": 8, "containers": [{
                "name": "sleep", "image": deploy.helper_image(env.cluster), "imagePullPolicy": "IfNotPresent",
                "command": ["sh", "-c", "sleep 3600"]}]}}])
    # Each phase only has to outlast the test's reaction to its line (it signals within milliseconds); the
    # kubelet stays stopped well inside the grace period, so the node need not come back from NotReady.
    phase("before-injection", 3)
    with env.faults.injected(SlowHealKubeletStop(node)):
        phase("during-fault", 4)
    env.note(done=True)


def check(events, timing):
    from chaos_harness.judge.checkers import Verdict

    return [Verdict("phases", True, "went through every phase")]
