"""What a run recorded about itself, besides observations: the cluster's timing it ran under (its `meta` event)
and what the scenario noted while acting (`fact` events)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.record.events import Event, of_kind


def recorded_timing(events: Iterable[Event]) -> ClusterTiming | None:
    """The node-health timing the run recorded in its meta event, or None (a hand-made or older history)."""
    for e in of_kind(events, "meta"):
        timing = e.get("timing")
        if isinstance(timing, dict):
            try:
                found = ClusterTiming.from_dict(timing)
            except (TypeError, ValueError):
                return None
            return None if found.problem() else found
    return None


def timing_of(events: Iterable[Event], given: ClusterTiming | None = None) -> ClusterTiming | None:
    """The timing a claim is judged with: the one given (a scenario's check is handed it), else the recorded one."""
    return given if given is not None else recorded_timing(events)


def facts(events: Iterable[Event]) -> dict[str, Any]:
    """Everything the scenario noted while acting (`env.note`), later notes winning."""
    merged: dict[str, Any] = {}
    for ev in of_kind(events, "fact"):
        merged.update({k: v for k, v in ev.items() if k not in ("seq", "mono", "wall", "kind")})
    return merged
