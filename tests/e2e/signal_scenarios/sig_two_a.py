"""Test-only scenario (loaded with --scenarios): holds a kubelet fault on $SIGNAL_NODE_A while its twin
sig_two_b (this module under another name) holds one on $SIGNAL_NODE_B, so that a signal meets two node faults
in flight."""

from __future__ import annotations

import os
import sys

from chaos_harness.faults import KubeletStop
from chaos_harness.core.cancellation import observe

HYPOTHESIS = "test-only: one of two kubelet faults in flight at once"
HOLDS = "pods"  # not true (it faults a node): declared so that the twins run side by side, each on its own node


def run(env) -> None:
    twin = env.history.events("scenario")[-1]["name"][-1]  # "a" or "b": which of the twins runs
    with env.faults.injected(KubeletStop(os.environ[f"SIGNAL_NODE_{twin.upper()}"])):
        sys.stdout.write(f"PHASE two-faults {twin}\n")  # one write: the twin prints at the same moment
        sys.stdout.flush()
        observe(30, "the signal")  # a wait: a worker is cancelled at it and heals


def check(events, timing):
    from chaos_harness.judge.checkers import Verdict

    return [Verdict("held", "pass", "held its fault until the end")]
