"""Test-only scenario (loaded with --scenarios): holds the run Lease and waits before a kubelet fault on
$SIGNAL_NODE, so that the test can pause it past the Lease's duration and let another run take the Lease over;
with SIGNAL_TAKER set it is that other run, holding the Lease a while."""

from __future__ import annotations

import os

from chaos_harness.core.cancellation import observe
from chaos_harness.faults import KubeletStop

HYPOTHESIS = "test-only: a run that lost its run Lease never injects again"


def run(env) -> None:
    if os.environ.get("SIGNAL_TAKER"):
        print("PHASE taken", flush=True)
        observe(25, "holding the run Lease it took over")
        return
    print("PHASE holding", flush=True)
    observe(300, "the test pausing this run past its run Lease")
    with env.faults.injected(KubeletStop(os.environ["SIGNAL_NODE"])):
        print("PHASE injected", flush=True)


def check(events, timing):
    from chaos_harness.judge.checkers import Verdict

    return [Verdict("fenced", True, "held the run Lease")]
