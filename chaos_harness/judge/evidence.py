"""What the history says happened, in the shapes checkers ask about. The evidence is in four modules, gathered
here for the checkers: samples.py (when each runtime sample was read, how long it stands for its node, where a
node went unobserved), streams.py (where a watch was blind, and what each observation can tell), windows.py (when
a fault really held, and whether a claim about it can be judged), recorded.py (the run's timing and the
scenario's notes); below, the workload's names. Pure functions of the recorded events, like the checkers."""

from __future__ import annotations

import re
from collections.abc import Sequence

from chaos_harness.judge.recorded import facts, recorded_timing, timing_of
from chaos_harness.judge.samples import (CLOCK_STEP_SECONDS, MIN_STALENESS, STALE_CEILING, STALE_INTERVALS,
                                         clock_steps, observed_while_frozen, ok_sample_times, runtime_samples,
                                         sample_gaps, staleness, staleness_by_node, staleness_ceiling, unsent)
from chaos_harness.judge.streams import observed_since, outages_over, outages_within, unresumed, watch_outages
from chaos_harness.judge.windows import (NODE_FAULTS, FaultWindow, cut_short, detection_seconds, eviction_seconds,
                                         fault_claim, fault_marks, fault_window, fault_windows, inconclusive,
                                         minimum, window_reason)
from chaos_harness.record.events import Event, of_kind

__all__ = ["CLOCK_STEP_SECONDS", "MIN_STALENESS", "NODE_FAULTS", "STALE_CEILING", "STALE_INTERVALS", "FaultWindow",
           "clock_steps", "cut_short", "detection_seconds", "eviction_seconds", "expected_replicas", "facts",
           "fault_claim", "fault_marks", "fault_window", "fault_windows", "inconclusive", "is_ordinal_pod",
           "minimum", "observed_since", "observed_while_frozen", "ok_sample_times", "ordinal_of", "outages_over",
           "outages_within", "read_replicas", "recorded_timing", "recording_end", "runtime_samples", "sample_gaps",
           "staleness", "staleness_by_node", "staleness_ceiling", "timing_of", "unresumed", "unsent", "watch_outages",
           "window_reason", "workload_of"]


def workload_of(events: Sequence[Event]) -> str:
    """The StatefulSet a targetable scenario acted on (the user's --target or the bundled `mysql`)."""
    return str(facts(events).get("workload", "mysql"))


def read_replicas(events: Sequence[Event]) -> list[str]:
    """The replicas whose keys were read back, in the order they were read."""
    return list(dict.fromkeys(ev["replica"] for ev in of_kind(events, "read-keys")))


def expected_replicas(events: Sequence[Event]) -> list[str]:
    """The replicas the workload says can be read back (the `readable` fact written when the workload was
    set up), independent of which were read. An older recording without it: the bundled MySQL example's three."""
    f = facts(events)
    if "readable" in f:
        return list(f["readable"])
    if f.get("probe", "mysql") == "mysql":
        return [f"{workload_of(events)}-{n}" for n in range(3)]
    return []


def recording_end(events: Sequence[Event]) -> float:
    """The last moment anything was recorded."""
    return max((e["mono"] for e in events), default=0.0)


def is_ordinal_pod(name: str, statefulset: str) -> bool:
    return re.fullmatch(rf"{re.escape(statefulset)}-\d+", name) is not None


def ordinal_of(name: str) -> int:
    return int(name.rsplit("-", 1)[1])
