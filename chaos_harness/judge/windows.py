"""When a fault really held, from evidence, not from the scenario's intent; and whether a claim about it can be
judged at all. Every checker of a claim about a fault asks here, so that what makes such a claim `unknown` is
decided in one place:

- no proof the fault took effect: no injection recorded, no `injected` mark, or one that says it could not be
  verified (need `fault`, need `effect`); a fault on another node or pod than the one the claim is about;
- a window too short for the claim: it ended early (the node's own bound, the kubelet seen running, a paused
  node answering) or was healed before the claim's minimum (each checker declares it, from the cluster's timing);
- the harness blind where the claim looks: a watch outage over the span in which what it expects could have
  happened (the claim then never fails on not having seen it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.judge.samples import runtime_samples
from chaos_harness.judge.streams import outages_over
from chaos_harness.judge.verdicts import HELD_FOR, Verdict, blind, lacking
from chaos_harness.record.events import Event, of_kind

_END_PHASES = ("healed", "heal-failed", "heal-interrupted")
# The node faults whose end a runtime sample can show (the node agent's own bounds, a kubelet running again, a
# paused node answering).
NODE_FAULTS = ("kubelet-stop", "node-pause", "network-partition")


def fault_marks(events: Iterable[Event], fault_type: str, phase: str) -> list[Event]:
    return [e for e in of_kind(events, "fault") if e["phase"] == phase and e["fault"]["type"] == fault_type]


@dataclass(frozen=True)
class FaultWindow:
    """When a fault really held: from its `injected` mark (the journal's `inject` when it has none) to the
    first evidence that it stopped holding. `ended_by` says what that evidence was; `early` is an end other
    than the harness's own heal (the node agent's dead man's switch, a kubelet seen running again, a paused
    node seen answering). `end` is None when nothing ended it in the recording. `verified`: an `injected` mark
    says the fault's effect was read back (`proof` is what it read, or why there is no proof)."""
    fault: dict[str, Any]
    start: float
    end: float | None
    ended_by: str
    verified: bool = True
    opened: float | None = None
    proof: str = ""

    @property
    def early(self) -> bool:
        return self.end is not None and self.ended_by not in _END_PHASES

    @property
    def until(self) -> float:
        return self.end if self.end is not None else float("inf")

    @property
    def seconds(self) -> float:
        return self.until - self.start

    @property
    def inject_at(self) -> float:
        return self.opened if self.opened is not None else self.start

    def about(self) -> dict[str, Any]:
        """The evidence every verdict about this fault carries: which fault, where, and its proof."""
        where = {k: self.fault[k] for k in ("node", "pod", "container_id") if self.fault.get(k)}
        return {"fault": self.fault["type"], **where, "injected": self.proof,
                "held_seconds": round(self.seconds, 1) if self.end is not None else None}


def _spec_key(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, default=str)


def fault_windows(events: Sequence[Event], fault_type: str) -> list[FaultWindow]:
    """Every `fault_type` fault of the history, in injection order, with its window from evidence. A window
    opens at the journal's `inject` mark (or an `injected` mark with none before it), starts holding at its
    `injected` mark, and closes at its heal mark or at evidence, read before its heal began (`heal` mark), that
    it stopped holding. A heal mark with no injection before it opens nothing."""
    opened: dict[str, dict[str, Any]] = {}
    spans: list[dict[str, Any]] = []
    for m in of_kind(events, "fault"):
        if m["fault"]["type"] != fault_type:
            continue
        key = _spec_key(m["fault"])
        span = opened.get(key)
        if m["phase"] in ("inject", "injected") and span is None:
            span = opened[key] = {"fault": m["fault"], "start": m["mono"], "opened": m["mono"], "injected": None,
                                  "end": None}
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
        # An `injected` mark from before `verified` was recorded was written only once verification passed.
        verified = injected is not None and injected.get("verified", True) is True
        proof = (str(injected.get("evidence", "")) if injected is not None
                 else "no injected mark: the injection was never confirmed")
        windows.append(FaultWindow(span["fault"], span["start"], end, ended_by, verified, span["opened"], proof))
    return windows


def fault_window(events: Sequence[Event], fault_type: str) -> FaultWindow | None:
    """The first `fault_type` fault's window (the one a scenario's checks are about), or None."""
    windows = fault_windows(events, fault_type)
    return windows[0] if windows else None


def fault_claim(name: str, events: Sequence[Event], fault_type: str, *, node: str | None = None,
                pod: str | None = None) -> tuple[FaultWindow | None, Verdict | None]:
    """The window of the first `fault_type` fault (on `node`, of `pod`, when given) that checker `name`'s claim
    is about, or None and the `unknown` verdict saying why there is nothing to judge: no injection of it was
    recorded there (need `fault`), or nothing shows it took effect (need `effect`)."""
    windows = fault_windows(events, fault_type)
    mine = [w for w in windows if (node is None or w.fault.get("node") == node)
            and (pod is None or w.fault.get("pod", pod) == pod)]
    w = mine[0] if mine else None
    missing = lacking(name, fault=w, effect=w is not None and w.verified)
    if missing is None:
        return w, None
    if w is None and windows:
        elsewhere = windows[0].fault.get("node") or windows[0].fault.get("pod")
        why = f": the {fault_type} recorded was on {elsewhere}, not {node or pod}"
    elif w is not None:
        why = f": {w.proof or 'its injected mark says it could not be verified'}"
    else:
        why = ""
    return None, Verdict(name, "unknown", missing.summary + why, missing.evidence)


def window_reason(w: FaultWindow) -> str:
    return f"{w.fault['type']} stopped holding {w.seconds:.1f}s after it took effect: {w.ended_by}"


def cut_short(w: FaultWindow, minimum: float | None) -> str | None:
    """Why the window cannot carry a claim that needs the fault held for `minimum` seconds (None: not known, as
    when the run recorded no timing), or None when it can."""
    if w.early:
        return window_reason(w)
    if minimum is None:
        return "the cluster's timing was not recorded: how long the fault had to hold is not known"
    if w.end is not None and w.seconds < minimum:
        return f"{w.fault['type']} held {w.seconds:.1f}s, less than the {minimum:.0f}s this claim needs"
    return None


def inconclusive(name: str, w: FaultWindow, events: Sequence[Event], minimum: float | None,
                 streams: Sequence[str] = (), upto: float | None = None) -> Verdict | None:
    """The `unknown` verdict for a claim that something happened (or was seen) while the fault held and it was
    not seen: the window too short for it, or the `streams` watches out somewhere between the injection and
    `upto` (default: the window's end), where it could have happened unseen. None when the absence stands."""
    if why := cut_short(w, minimum):
        return Verdict(name, "unknown", f"not observed, and it could not have been: {why}",
                       ({"missing": ["held"]}, w.about()))
    end = w.until if upto is None else upto
    return blind(name, outages_over(events, streams, w.inject_at, end), f"what {w.fault['type']} should have "
                 f"caused went unseen") if streams else None


def minimum(name: str, timing: ClusterTiming | None) -> float | None:
    """How long checker `name` needs its fault held, from its declaration (`held_for`) and the timing."""
    held_for = HELD_FOR.get(name)
    if held_for is None:
        return 0.0
    return None if timing is None else float(held_for(timing))


def detection_seconds(t: ClusterTiming) -> float:
    """Kubernetes owes a not-Ready node within its grace period plus one monitor period."""
    return t.node_monitor_grace_period + t.node_monitor_period


def eviction_seconds(t: ClusterTiming) -> float:
    """Its pods are evicted (Terminating) past the unreachable toleration after that."""
    return detection_seconds(t) + t.unreachable_toleration_seconds


def _ended_early(events: Sequence[Event], spec: dict[str, Any], start: float,
                 end: float | None) -> tuple[float, str] | None:
    """The first runtime sample, read inside the window, that shows the fault no longer held."""
    node = spec.get("node")
    fault = spec["type"]
    if not node or fault not in NODE_FAULTS:
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
