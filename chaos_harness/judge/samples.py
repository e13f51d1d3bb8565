"""The nodes' runtime samples as evidence: when each was read (on the recording's clock, across clock steps of the
node and samples an agent did not send), how long a sample stands for its node in this run, and where a node went
unobserved. Pure functions of the recorded events."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any, cast

from chaos_harness.judge.recorded import recorded_timing
from chaos_harness.record.events import Event, RuntimeEvent, of_kind

# The finest resolution a copy checker claims: a node's runtime sample stands for that node for at least this
# long, however fast the feed. Above it the staleness follows the run's own measured sampling interval
# (STALE_INTERVALS of them), so a slower feed (the node agent) or a busy host is judged by its own rhythm.
MIN_STALENESS = 3.0
STALE_INTERVALS = 6
# The ceiling when the run recorded no timing: the fast profile's grace period (the shortest the test bed runs).
STALE_CEILING = 16.0


# A sampler's clock that jumps by more than this between two of its samples (beyond what the harness's own
# monotonic clock saw pass) stepped: each run of samples between steps gets its own clock offset. A step back is
# seen from any size over half a second (its samples' times go backwards); a step forward only from this size up
# (below it, batched deliveries look alike), so an undetected step misplaces samples by at most this much.
CLOCK_STEP_SECONDS = 5.0


def _segments(chain: Sequence[RuntimeEvent]) -> list[list[RuntimeEvent]]:
    """One sampler's samples, in the order it read them, cut where its clock stepped."""
    segments: list[list[RuntimeEvent]] = []
    for e in chain:
        if segments:
            prev = segments[-1][-1]
            read, received = e["sampled_at"] - prev["sampled_at"], e["mono"] - prev["mono"]
            if read < -0.5 or read - received > CLOCK_STEP_SECONDS:
                segments.append([e])
                continue
            segments[-1].append(e)
        else:
            segments.append([e])
    return segments


def _sampler_chains(samples: Sequence[RuntimeEvent]) -> dict[tuple[str, Any], list[RuntimeEvent]]:
    """Each sampler's samples that carry their node-side time, in the order it read them: per node and agent
    process (its own sequence orders them exactly), else in the order received (one stream per node)."""
    chains: dict[tuple[str, Any], list[RuntimeEvent]] = {}
    for e in samples:
        if "sampled_at" in e:
            chains.setdefault((e["node"], e.get("agent_started")), []).append(e)
    for chain in chains.values():
        if all("agent_seq" in e for e in chain):
            chain.sort(key=lambda e: e["agent_seq"])
    return chains


def clock_steps(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Where a node's sampler clock stepped (node, when on the recording's clock, by how much): evidence shown
    beside the verdicts that read the node's samples."""
    steps = []
    for (node, _), chain in _sampler_chains(list(of_kind(events, "runtime"))).items():
        segments = _segments(chain)
        for before, after in zip(segments, segments[1:]):
            a, b = before[-1], after[0]
            steps.append({"node": node, "at_mono": b["mono"], "seconds": round(
                (b["sampled_at"] - a["sampled_at"]) - (b["mono"] - a["mono"]), 1)})
    return steps


def runtime_samples(events: Sequence[Event]) -> list[tuple[float, RuntimeEvent]]:
    """The runtime samples in the order the runtimes were read, each with the time it was read on the
    recording's monotonic clock.

    A sample reaches the harness some time after the node read its runtime (through the API server for the
    node agent: seconds when the control plane is busy) and carries the node's own `sampled_at`; one without
    it (an older recording) counts as read when recorded. Per sampler, and per run of its samples between two
    steps of its clock (CLOCK_STEP_SECONDS), the smallest (received - sampled_at) is taken as clock offset plus
    the shortest transit; each sample is placed at its own sampled_at plus that. Clock skew between harness and
    node cancels out, a node whose clock steps is placed right on both sides of the step, and the estimate errs
    late by at most the shortest transit. The harness's own clock is its monotonic one: a step of its wall clock
    changes nothing."""
    samples = list(of_kind(events, "runtime"))
    placed: dict[int, float] = {}
    for chain in _sampler_chains(samples).values():
        for segment in _segments(chain):
            offset = min(e["mono"] - e["sampled_at"] for e in segment)
            placed.update((id(e), e["sampled_at"] + offset) for e in segment)
    timed = [(placed.get(id(e), e["mono"]), e) for e in samples]
    return sorted([*timed, *unsent(timed)], key=lambda te: (te[0], te[1]["seq"]))


# At most this many unsent samples are put back between two received ones (a day of one-second samples).
MAX_UNSENT = 86400


def unsent(timed: Sequence[tuple[float, RuntimeEvent]]) -> list[tuple[float, RuntimeEvent]]:
    """The samples an agent read but did not send, put back. An agent that publishes on change sends a sample
    when what it saw changed, and a heartbeat between; each names the last change (`agent_after`) and the
    previous sample it sent (`agent_prev`). Between two received samples A and B of one agent process, when B
    says its last change and its previous sample are at or before A, every sample the agent read in between
    looked like A: they are put back as copies of A, spread over the span so that none of its steps is shorter
    than the longest step the agent reports (`agent_gap`) would allow. When B says otherwise (samples sent but
    never received: a watch that lost them, a backlog over its bound), nothing is put back: a gap."""
    chains: dict[tuple[str, Any], list[tuple[float, RuntimeEvent]]] = {}
    for at, e in timed:
        if "agent_prev" in e:
            chains.setdefault((e["node"], e.get("agent_started")), []).append((at, e))
    out: list[tuple[float, RuntimeEvent]] = []
    for chain in chains.values():
        chain.sort(key=lambda te: te[1]["agent_seq"])
        for (ta, a), (tb, b) in zip(chain, chain[1:]):
            missing = min(b["agent_seq"] - a["agent_seq"] - 1, MAX_UNSENT)
            if missing <= 0 or tb <= ta or b["agent_after"] > a["agent_seq"] or b["agent_prev"] > a["agent_seq"]:
                continue
            gap = float(b.get("agent_gap") or 0.0)
            start, span = (ta, tb - ta) if gap <= (tb - ta) / (missing + 1) else (ta + gap, tb - ta - gap)
            if span <= 0:
                continue
            step = span / (missing + 1) if start == ta else span / missing
            first = start + step if start == ta else start
            copy = {k: v for k, v in a.items() if k not in ("agent_prev", "agent_after", "agent_gap")}
            out.extend((first + i * step, cast(RuntimeEvent, {**copy, "unsent": True})) for i in range(missing))
    return out


def ok_sample_times(events: Sequence[Event], node: str) -> list[float]:
    return [at for at, e in runtime_samples(events) if e["node"] == node and e.get("ok")]


def _staleness_of(times: Sequence[float], heartbeat: float = 0.0) -> float:
    """STALE_INTERVALS of the median step between successive sample times, never less than MIN_STALENESS; for
    an agent that sends unchanged samples only as a heartbeat, never less than the heartbeat and two steps (its
    next heartbeat is what proves a quiet node still watched)."""
    steps = [b - a for a, b in zip(times, times[1:]) if b > a]
    step = statistics.median(steps) if steps else 0.0
    return max(MIN_STALENESS, STALE_INTERVALS * step, heartbeat + 2 * step if heartbeat else 0.0)


def _heartbeats(events: Sequence[Event]) -> dict[str, float]:
    beats: dict[str, float] = {}
    for e in of_kind(events, "runtime"):
        if e.get("heartbeat"):
            beats[e["node"]] = max(beats.get(e["node"], 0.0), float(e["heartbeat"]))
    return beats


def staleness_ceiling(events: Sequence[Event]) -> float:
    """The longest a node's sample may ever stand for it: the node monitor's grace period of the recorded run
    (a node silent that long is one Kubernetes itself declares lost), STALE_CEILING when none was recorded."""
    timing = recorded_timing(events)
    return timing.node_monitor_grace_period if timing is not None else STALE_CEILING


def staleness(events: Sequence[Event], node: str) -> float:
    """How long a sample of `node` stands for that node in this run: STALE_INTERVALS of its measured sampling
    interval (the samples an agent did not send included), at least its agent's heartbeat, never less than
    MIN_STALENESS and never more than the staleness ceiling (a feed slowed down to one sample a minute does not
    make a minute's gap "observed")."""
    return min(_staleness_of(ok_sample_times(events, node), _heartbeats(events).get(node, 0.0)),
               staleness_ceiling(events))


def staleness_by_node(events: Sequence[Event]) -> dict[str, float]:
    """staleness() for every sampled node, from one pass over the samples (the copy checkers ask for all)."""
    times: dict[str, list[float]] = {}
    for at, e in runtime_samples(events):
        times.setdefault(e["node"], [])
        if e.get("ok"):
            times[e["node"]].append(at)
    beats, ceiling = _heartbeats(events), staleness_ceiling(events)
    return {node: min(_staleness_of(ts, beats.get(node, 0.0)), ceiling) for node, ts in times.items()}


def sample_gaps(events: Sequence[Event], node: str, start: float, end: float,
                allowed: float | None = None) -> list[dict[str, Any]]:
    """The spans of [start, end] in which no successful runtime sample of `node` was read for longer than
    `allowed` (default: the run's staleness for that node)."""
    allowed = staleness(events, node) if allowed is None else allowed
    inside = [t for t in ok_sample_times(events, node) if start <= t <= end]
    edges = [start, *inside, end]
    return [{"node": node, "stream": "runtime samples", "from": round(a - start, 2), "seconds": round(b - a, 2),
             "allowed": round(allowed, 2)} for a, b in zip(edges, edges[1:]) if b - a > allowed]


def observed_while_frozen(events: Sequence[Event], node: str) -> bool:
    """The node's runtime is sampled by the node agent, which a node pause leaves running (kind's docker pause
    freezes every process of the node, its sampler's too)."""
    sources = {e.get("source", "docker") for e in of_kind(events, "runtime") if e["node"] == node}
    return sources == {"agent"}
