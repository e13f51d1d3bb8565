"""What the history says happened, in the shapes checkers ask about: when each runtime sample was read, when a
fault really held (from evidence, not from the scenario's intent), how stale a node's view may be in this run,
and where the recording was blind. Pure functions of the recorded events, like the checkers that use them.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from chaos_harness.record.events import Event, RuntimeEvent, of_kind

# The finest resolution a copy checker claims: a node's runtime sample stands for that node for at least this
# long, however fast the feed. Above it the staleness follows the run's own measured sampling interval
# (STALE_INTERVALS of them), so a slower feed (the node agent) or a busy host is judged by its own rhythm.
MIN_STALENESS = 3.0
STALE_INTERVALS = 6


def runtime_samples(events: Sequence[Event]) -> list[tuple[float, RuntimeEvent]]:
    """The runtime samples in the order the runtimes were read, each with the time it was read on the
    recording's monotonic clock.

    A sample reaches the harness some time after the node read its runtime (through the API server for the
    node agent: seconds when the control plane is busy) and carries the node's own `sampled_at`; one without
    it (an older recording) counts as read when recorded. Per node, the smallest (received wall - sampled_at)
    is taken as clock offset plus the shortest transit; each sample is placed that much plus its own extra
    delay earlier than it was received. Clock skew between harness and node cancels out, and the estimate errs
    late by at most the shortest transit."""
    samples = list(of_kind(events, "runtime"))
    offset: dict[str, float] = {}
    for e in samples:
        if "sampled_at" in e:
            lag = e["wall"] - e["sampled_at"]
            offset[e["node"]] = min(lag, offset.get(e["node"], lag))
    timed = [(e["mono"] - (e["wall"] - e["sampled_at"] - offset[e["node"]]) if "sampled_at" in e else e["mono"], e)
             for e in samples]
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


def staleness(events: Sequence[Event], node: str) -> float:
    """How long a sample of `node` stands for that node in this run: STALE_INTERVALS of its measured sampling
    interval (the samples an agent did not send included), at least its agent's heartbeat, and never less than
    MIN_STALENESS."""
    return _staleness_of(ok_sample_times(events, node), _heartbeats(events).get(node, 0.0))


def staleness_by_node(events: Sequence[Event]) -> dict[str, float]:
    """staleness() for every sampled node, from one pass over the samples (the copy checkers ask for all)."""
    times: dict[str, list[float]] = {}
    for at, e in runtime_samples(events):
        times.setdefault(e["node"], [])
        if e.get("ok"):
            times[e["node"]].append(at)
    beats = _heartbeats(events)
    return {node: _staleness_of(ts, beats.get(node, 0.0)) for node, ts in times.items()}


def sample_gaps(events: Sequence[Event], node: str, start: float, end: float,
                allowed: float | None = None) -> list[dict[str, Any]]:
    """The spans of [start, end] in which no successful runtime sample of `node` was read for longer than
    `allowed` (default: the run's staleness for that node)."""
    allowed = staleness(events, node) if allowed is None else allowed
    inside = [t for t in ok_sample_times(events, node) if start <= t <= end]
    edges = [start, *inside, end]
    return [{"node": node, "stream": "runtime samples", "from": round(a - start, 2), "seconds": round(b - a, 2),
             "allowed": round(allowed, 2)} for a, b in zip(edges, edges[1:]) if b - a > allowed]


def watch_outages(events: Sequence[Event], kind: str) -> list[tuple[float, float]]:
    """The spans in which the recorder's `kind` watch was not delivering: from a watch error (or a first list
    that did not complete in time) to the re-list that resumed it (its `resumed` mark, or the first object it
    listed again); an outage never resumed lasts to the end."""
    spans: list[tuple[float, float]] = []
    began: float | None = None
    for e in events:
        if began is not None and ((e["kind"] == kind and e.get("type") in ("LISTED", "FINAL"))
                                  or (e["kind"] == "recorder" and e.get("what") == f"{kind} watch"
                                      and e.get("resumed"))):
            spans.append((began, e["mono"]))
            began = None
        elif began is None and e["kind"] == "recorder" and e.get("what") == f"{kind} watch" and e.get("error"):
            began = e["mono"]
    if began is not None:
        spans.append((began, float("inf")))
    return spans


def outages_within(events: Sequence[Event], kind: str, start: float, end: float,
                   names: Callable[[str], bool] = lambda _: True) -> list[dict[str, Any]]:
    """The `kind` watch's outages overlapping [start, end] across which an object selected by `names` changed
    (another UID, or there on one side only): the spans in which the watch could have missed a deletion or a
    creation. An outage across which every object kept its UID hid nothing a UID-based checker asks about."""
    spans = []
    for a, b in watch_outages(events, kind):
        if a > end or b < start:
            continue
        before: dict[str, str | None] = {}
        after: dict[str, str | None] = {}
        for e in of_kind(events, kind):
            if not names(e.get("name", "")):
                continue
            uid = None if e.get("type") == "DELETED" else e.get("uid")
            if e["mono"] < a:
                before[e["name"]] = uid
            elif e["mono"] >= b and e["name"] not in after:
                after[e["name"]] = uid
        changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
        if changed or b == float("inf"):
            spans.append({"stream": f"the {kind} watch", "from": round(max(a, start) - start, 2),
                          "seconds": round(min(b, end) - max(a, start), 2), "allowed": 0.0, "changed": changed})
    return spans


# --- faults -------------------------------------------------------------------------------------------------

def fault_marks(events: Iterable[Event], fault_type: str, phase: str) -> list[Event]:
    return [e for e in of_kind(events, "fault") if e["phase"] == phase and e["fault"]["type"] == fault_type]


_END_PHASES = ("healed", "heal-failed", "heal-interrupted")


@dataclass(frozen=True)
class FaultWindow:
    """When a fault really held: from its `injected` mark (the journal's `inject` when it has none) to the
    first evidence that it stopped holding. `ended_by` says what that evidence was; `early` is an end other
    than the harness's own heal (the node agent's dead man's switch, a kubelet seen running again, a paused
    node seen answering). `end` is None when nothing ended it in the recording."""
    fault: dict[str, Any]
    start: float
    end: float | None
    ended_by: str
    verified: bool = True

    @property
    def early(self) -> bool:
        return self.end is not None and self.ended_by not in _END_PHASES

    @property
    def until(self) -> float:
        return self.end if self.end is not None else float("inf")


def _spec_key(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=str)


def fault_windows(events: Sequence[Event], fault_type: str) -> list[FaultWindow]:
    """Every `fault_type` fault of the history, in injection order, with its window from evidence. A window
    opens at the journal's `inject` mark (or an `injected` mark with none before it), starts holding at its
    `injected` mark, and closes at its heal mark or at evidence, read before its heal began (`heal` mark), that
    it stopped holding."""
    opened: dict[str, dict[str, Any]] = {}
    spans: list[dict[str, Any]] = []
    for m in of_kind(events, "fault"):
        if m["fault"]["type"] != fault_type:
            continue
        key = _spec_key(m["fault"])
        span = opened.get(key)
        if m["phase"] in ("inject", "injected") and span is None:
            span = opened[key] = {"fault": m["fault"], "start": m["mono"], "injected": None, "end": None}
            spans.append(span)
        if span is None:
            continue
        if m["phase"] == "injected" and span["injected"] is None:
            span["injected"], span["start"] = m, m["mono"]
        elif m["phase"] == "heal":
            span.setdefault("heal", m["mono"])
        elif m["phase"] in _END_PHASES:
            span["end"], span["ended_by"] = m["mono"], m["phase"]
            del opened[key]
    windows = []
    for span in spans:
        end, ended_by = span["end"], span.get("ended_by", "")
        # Evidence of an early end counts only before the heal began (a kubelet the heal started is no early end).
        early = _ended_early(events, span["fault"], span["start"], span.get("heal", end))
        if early is not None:
            end, ended_by = early
        injected = span["injected"]
        windows.append(FaultWindow(span["fault"], span["start"], end, ended_by,
                                   verified=injected is not None and injected.get("verified", True)))
    return windows


def fault_window(events: Sequence[Event], fault_type: str) -> FaultWindow | None:
    """The first `fault_type` fault's window (the one a scenario's checks are about), or None."""
    windows = fault_windows(events, fault_type)
    return windows[0] if windows else None


def _ended_early(events: Sequence[Event], spec: dict[str, Any], start: float,
                 end: float | None) -> tuple[float, str] | None:
    """The first runtime sample, read inside the window, that shows the fault no longer held."""
    node = spec.get("node")
    fault = spec["type"]
    if not node or fault not in ("kubelet-stop", "node-pause", "network-partition"):
        return None
    inside = [(at, e) for at, e in runtime_samples(events)
              if e["node"] == node and at > start and (end is None or at < end)]
    # A sample is placed at most its shortest transit late; the agent's own order is exact. One that the node
    # read before a sample of the same agent process that shows the fault held was read before the hold began.
    held_from: dict[Any, int] = {}
    for _, e in inside:
        if "agent_seq" in e and e.get("hold") == fault:
            chain = e.get("agent_started")
            held_from[chain] = min(e["agent_seq"], held_from.get(chain, e["agent_seq"]))
    for at, e in inside:
        if "agent_seq" in e and e["agent_seq"] < held_from.get(e.get("agent_started"), -1):
            continue
        if e.get("deadman"):
            return at, f"the node agent's dead man's switch on {node} ({e['deadman']})"
        if "hold" in e and e["hold"] != fault:  # the node agent says what it holds in every sample
            return at, f"the node agent on {node} no longer held {fault} ({e['hold'] or 'nothing'} held)"
        if fault == "kubelet-stop" and e.get("kubelet") == "active":
            return at, f"the kubelet on {node} seen running again ({e.get('source', 'docker')} sample)"
        if fault == "node-pause" and e.get("ok") and e.get("source", "docker") != "agent":
            # docker pause freezes the whole node, sampler included; the agent's pause leaves it running.
            return at, f"{node} answered a runtime sample while it should have been paused"
    return None


def observed_while_frozen(events: Sequence[Event], node: str) -> bool:
    """The node's runtime is sampled by the node agent, which a node pause leaves running (kind's docker pause
    freezes every process of the node, its sampler's too)."""
    sources = {e.get("source", "docker") for e in of_kind(events, "runtime") if e["node"] == node}
    return sources == {"agent"}


# --- what the scenario noted --------------------------------------------------------------------------------

def facts(events: Iterable[Event]) -> dict[str, Any]:
    """Everything the scenario noted while acting (`env.note`), later notes winning."""
    merged: dict[str, Any] = {}
    for ev in of_kind(events, "fact"):
        merged.update({k: v for k, v in ev.items() if k not in ("seq", "mono", "wall", "kind")})
    return merged


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


def window_reason(w: FaultWindow) -> str:
    return f"{w.fault['type']} stopped holding {w.until - w.start:.1f}s after it took effect: {w.ended_by}"
