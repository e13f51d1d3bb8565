"""Generated mutations of every recorded history in tests/data, and what each kind of mutation may do to a verdict.

Nothing here is written per checker: each mutation is generated from what the history holds (its streams, its
nodes, its faults, its workload's copies) and aims at the checkers by what they declare they read
(`@checker(..., reads=...)`, chaos_harness/judge/verdicts.py), so a new checker or a new recording is covered by
construction. Four families, four promises:

- removed: evidence taken away (a stream, the fault's proof, the faulted node's samples). A checker that reads
  it must not pass.
- blind: the harness made blind (a watch outage, the runtime unreachable, the sampler's clock stepping, the fault
  ending early). No verdict may become a `fail`: the harness's blindness is never the user's failure.
- forged: evidence rewritten to look like something else (a copy claiming another node's container id, a fault
  on another node than the one judged). A verdict that did not pass must not pass.
- reorder: the same events shuffled, duplicated or reversed. Every verdict stays what it was.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos_harness.assemble.catalogue import scenario_modules
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.judge import checkers
from chaos_harness.judge.evidence import runtime_samples
from chaos_harness.judge.rejudging import judge
from chaos_harness.judge.verdicts import CHECKERS, READS, Verdict

DATA = Path(__file__).resolve().parents[1] / "data"
Events = list[dict[str, Any]]
# What a checker reads implicitly besides its declared streams: the facts the scenario noted (its arguments),
# the run's meta (its timing), the recorder's own marks (each stream's outages belong to that stream).
IMPLICIT = {"fact", "meta", "recorder", "scenario", "step"}


@dataclass(frozen=True)
class Recording:
    name: str
    events: Events
    judge: Callable[[Events], list[Verdict]]


@dataclass(frozen=True)
class Mutation:
    name: str
    family: str  # removed | blind | forged | reorder
    apply: Callable[[Events], Events]
    reads: frozenset[str] = frozenset()  # removed: the checkers reading all of these must not pass...
    about: str | None = None  # ...and, when set, whose verdict on the whole history named this fault...
    held: bool = False  # ...and, when set, whose claim needs the fault held (they declare the need `held`)
    judged: str | None = None  # removed: a checker whose verdict names this node must not pass

    def aims_at(self, checker: str, before: Verdict | None = None, after: Verdict | None = None) -> bool:
        if self.judged is not None:  # a claim about the fault at that node
            return "fault" in READS.get(checker, ()) and after is not None and _names(after, self.judged)
        if not self.reads or not self.reads <= READS.get(checker, frozenset()):
            return False
        if self.held and "held" not in CHECKERS.get(checker, {}):
            return False
        return self.about is None or (before is not None and _names(before, self.about))


def _names(verdict: Verdict, what: str) -> bool:
    """Whether a verdict's evidence is about `what` (a fault type, or a node)."""
    return any(isinstance(e, dict) and what in (e.get("fault"), e.get("node")) for e in verdict.evidence)


def _load(path: Path) -> Events:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _scenario_judge(scenario: str, timing: ClusterTiming) -> Callable[[Events], list[Verdict]]:
    module = scenario_modules()[scenario]
    return lambda events: judge(module, events, timing)


def _split_brain_judge(events: Events) -> list[Verdict]:
    """What tests/e2e/test_split_brain.py asks of its recording."""
    return [checkers.split_brain(events, "web"), checkers.replacement_while_old_exists(events, "web"),
            checkers.node_detection(events, "chaos-worker3", "kubelet-stop", 16, 2)]


def _older_s8_judge(events: Events, node: str = "chaos-worker") -> list[Verdict]:
    """The older S8 recording (no facts): the checks tests/unit/test_checkers.py asks of it (mysql-0 ran on
    chaos-worker)."""
    return [checkers.split_brain(events, "mysql"), checkers.replacement_while_old_exists(events, "mysql"),
            checkers.not_recreated_during_fault(events, "mysql-0", "kubelet-stop"),
            checkers.same_pvc_per_identity(events, "mysql"), checkers.node_detection(events, node, "kubelet-stop", 16, 2)]


def recordings() -> list[Recording]:
    """Every recorded run directory under tests/data (results.json + one history per scenario) and the two
    standalone recordings."""
    found = []
    for results in sorted(DATA.glob("*/results.json")):
        document = json.loads(results.read_text())
        timing = ClusterTiming.from_dict(document["timing"])
        for r in document["results"]:
            found.append(Recording(f"{results.parent.name}/{r['scenario']}", _load(results.parent / r["history"]),
                                   _scenario_judge(r["scenario"], timing)))
    found.append(Recording("split-brain-kind", _load(DATA / "split-brain-kind.jsonl"), _split_brain_judge))
    found.append(Recording("kubelet-stop-mysql-kind", _load(DATA / "kubelet-stop-mysql-kind.jsonl"), _older_s8_judge))
    return found


# --- what a history holds ---------------------------------------------------------------------------------------

def _next_seq(events: Events) -> Iterator[int]:
    top = max((int(e.get("seq", 0)) for e in events), default=0)
    return iter(range(top + 1, top + 10**6))


def _sorted(events: Events) -> Events:
    return sorted(events, key=lambda e: (e["mono"], e.get("seq", 0)))


def _faults(events: Events) -> list[dict[str, Any]]:
    """Each fault of the history (by spec) with its marks' times: inject, injected, heal, healed."""
    found: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["kind"] == "fault":
            f = found.setdefault(json.dumps(e["fault"], sort_keys=True), {"spec": e["fault"]})
            f.setdefault(e["phase"], e["mono"])
    return list(found.values())


def _node_faults(events: Events) -> list[dict[str, Any]]:
    return [f for f in _faults(events) if f["spec"].get("node") and "injected" in f
            and f["spec"]["type"] in ("kubelet-stop", "node-pause", "network-partition")]


def _end(fault: dict[str, Any], events: Events) -> float:
    return fault.get("healed", fault.get("heal", max(e["mono"] for e in events)))


def _fact_node(events: Events) -> str | None:
    return checkers.facts(events).get("node")


def _sampled_nodes(events: Events) -> list[str]:
    return sorted({e["node"] for e in events if e["kind"] == "runtime"})


def _copies(events: Events) -> dict[str, dict[str, set[str]]]:
    """pod -> node -> the container ids of that pod the node's samples showed running."""
    found: dict[str, dict[str, set[str]]] = {}
    for e in events:
        if e["kind"] == "runtime" and e.get("ok"):
            for c in e.get("containers") or []:
                if c["state"] == "CONTAINER_RUNNING":
                    found.setdefault(c["pod"], {}).setdefault(e["node"], set()).add(c["id"])
    return found


# --- the mutations ----------------------------------------------------------------------------------------------

def drop_kind(kind: str) -> Callable[[Events], Events]:
    return lambda events: [e for e in events if e["kind"] != kind]


def _retime_marks(fault: dict[str, Any], seconds: float) -> Callable[[Events], Events]:
    """The fault's heal marks moved to `seconds` after its injected mark: a window that short."""
    def apply(events: Events) -> Events:
        key = json.dumps(fault["spec"], sort_keys=True)
        out = []
        for e in events:
            if e["kind"] == "fault" and json.dumps(e["fault"], sort_keys=True) == key and e["phase"] in (
                    "heal", "healed"):
                e = {**e, "mono": fault["injected"] + seconds + (0.001 if e["phase"] == "healed" else 0.0),
                     "wall": e["wall"] - e["mono"] + fault["injected"] + seconds}
            out.append(e)
        return _sorted(out)
    return apply


def _marks(fault: dict[str, Any], change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> Callable[[Events], Events]:
    def apply(events: Events) -> Events:
        key = json.dumps(fault["spec"], sort_keys=True)
        out = []
        for e in events:
            if e["kind"] == "fault" and json.dumps(e["fault"], sort_keys=True) == key:
                e = change(e)
            if e is not None:
                out.append(e)
        return out
    return apply


def _read_at(events: Events) -> dict[int, float]:
    """When each runtime sample was read (its placement: an agent's samples may arrive long after, as a
    partition's do), by id."""
    return {id(e): at for at, e in runtime_samples(events) if not e.get("unsent")}


def _samples_of(node: str, start: float, end: float) -> Callable[[Events], Events]:
    """The node's samples read inside [start, end] taken away."""
    def apply(events: Events) -> Events:
        read = _read_at(events)
        return [e for e in events if not (e["kind"] == "runtime" and e["node"] == node
                                          and start <= read.get(id(e), e["mono"]) <= end)]
    return apply


CHAIN = ("agent_prev", "agent_after", "agent_gap", "heartbeat")


def _thinned(node: str, start: float, end: float, every: float) -> Callable[[Events], Events]:
    """The node's samples read inside [start, end] thinned to one per `every` seconds, and those kept without
    the agent's word for the samples it did not send (its chain fields): a feed that looked that seldom."""
    def apply(events: Events) -> Events:
        read = _read_at(events)
        out, last = [], -1e18
        for e in sorted(events, key=lambda e: read.get(id(e), e["mono"])):
            at = read.get(id(e), e["mono"])
            if e["kind"] == "runtime" and e["node"] == node and start <= at <= end:
                if at - last < every:
                    continue
                last = at
                e = {k: v for k, v in e.items() if k not in CHAIN}
            out.append(e)
        return _sorted(out)
    return apply


def _other_node_fact(node: str, other: str) -> Callable[[Events], Events]:
    def apply(events: Events) -> Events:
        return [{**e, "node": other} if e["kind"] == "fact" and e.get("node") == node else e for e in events]
    return apply


def _object_key(kind: str, e: dict[str, Any]) -> str:
    if kind in ("pod", "pvc"):
        return str(e.get("uid"))
    if kind == "event":
        return f"{e.get('object')}|{e.get('reason')}|{e.get('message')}"
    return str(e.get("name"))


def outage(kind: str, a: float, b: float | None) -> Callable[[Events], Events]:
    """The `kind` watch out from `a` to `b` (None: to the end, never resumed), as the recorder records one: an
    error mark at a, nothing of the kind in between, then at b a re-list (each object's state then, a synthetic
    DELETED for each that went meanwhile) and the resumed mark."""
    def apply(events: Events) -> Events:
        seq = _next_seq(events)
        wall_at = {e["mono"]: e["wall"] for e in events}
        offset = next(iter(wall_at.items()))
        wall = lambda t: t + offset[1] - offset[0]  # noqa: E731
        end = b if b is not None else float("inf")
        kept = [e for e in events if not (e["kind"] == kind and a < e["mono"] < end)
                and not (b is None and e["kind"] == kind and e.get("type") == "FINAL")]
        added = [{"seq": next(seq), "mono": a, "wall": wall(a), "kind": "recorder", "what": f"{kind} watch",
                  "error": "ApiError: 500 (mutation)"}]
        if b is not None:
            before: dict[str, dict[str, Any]] = {}
            after: dict[str, dict[str, Any]] = {}
            for e in events:
                if e["kind"] != kind:
                    continue
                if e["mono"] <= a:
                    before[_object_key(kind, e)] = e
                if e["mono"] <= b:
                    after[_object_key(kind, e)] = e
            t = b
            for key, last in before.items():
                if last.get("type") != "DELETED" and (key not in after or after[key].get("type") == "DELETED"):
                    t += 1e-4
                    added.append({**last, "seq": next(seq), "mono": t, "wall": wall(t), "type": "DELETED",
                                  "synthetic": True})
            for key, last in after.items():
                if last.get("type") != "DELETED":
                    t += 1e-4
                    added.append({**last, "seq": next(seq), "mono": t, "wall": wall(t), "type": "LISTED"})
            t += 1e-4
            added.append({"seq": next(seq), "mono": t, "wall": wall(t), "kind": "recorder", "what": f"{kind} watch",
                          "resumed": True})
        return _sorted(kept + added)
    return apply


def runtime_unreachable(node: str, a: float, b: float) -> Callable[[Events], Events]:
    """The node's runtime unreachable from a to b: its samples there replaced by failed ones every 5 s."""
    def apply(events: Events) -> Events:
        seq = _next_seq(events)
        base = next(e for e in events)
        kept = [e for e in events if not (e["kind"] == "runtime" and e["node"] == node and a <= e["mono"] <= b)]
        t, added = a, []
        while t <= b:
            added.append({"seq": next(seq), "mono": t, "wall": base["wall"] - base["mono"] + t, "kind": "runtime",
                          "node": node, "ok": False, "error": "unreachable (mutation)"})
            t += 5.0
        return _sorted(kept + added)
    return apply


def clock_step(node: str, at: float, seconds: float) -> Callable[[Events], Events]:
    """The node's clock stepped by `seconds` at `at`: every later sample says so in its sampled_at."""
    return lambda events: [{**e, "sampled_at": e["sampled_at"] + seconds}
                           if e["kind"] == "runtime" and e["node"] == node and "sampled_at" in e and e["mono"] >= at
                           else e for e in events]


def ended_early(fault: dict[str, Any], fraction: float) -> Callable[[Events], Events]:
    """The node's own bound (the agent's dead man's switch) ended the fault `fraction` into its window."""
    def apply(events: Events) -> Events:
        node = fault["spec"]["node"]
        at = fault["injected"] + fraction * (_end(fault, events) - fault["injected"])
        last = max((e for e in events if e["kind"] == "runtime" and e["node"] == node and e["mono"] <= at),
                   key=lambda e: e["mono"], default={"containers": []})
        sample = {"seq": next(_next_seq(events)), "mono": at, "wall": events[0]["wall"] - events[0]["mono"] + at,
                  "kind": "runtime", "node": node, "ok": True, "containers": copy.deepcopy(last.get("containers", [])),
                  "source": "agent", "deadman": "no renewal for 12s (mutation)", "hold": ""}
        return _sorted(events + [sample])
    return apply


def same_id_elsewhere(pod: str, node: str, other: str, cid: str) -> Callable[[Events], Events]:
    """Every running copy of `pod` on `other` made to carry `node`'s container id."""
    def apply(events: Events) -> Events:
        out = []
        for e in events:
            if e["kind"] == "runtime" and e["node"] == other and e.get("containers"):
                e = {**e, "containers": [{**c, "id": cid} if c["pod"] == pod else c for c in e["containers"]]}
            out.append(e)
        return out
    return apply


def shuffled(seed: int) -> Callable[[Events], Events]:
    def apply(events: Events) -> Events:
        out = list(events)
        random.Random(seed).shuffle(out)
        return out
    return apply


# Streams a checker may read: removing one entirely is evidence removed.
STREAMS = ("pod", "node", "event", "pvc", "runtime", "fault", "write", "read-keys", "read", "dns")


def mutations(events: Events) -> list[Mutation]:
    """Every mutation that applies to this history, generated from what it holds."""
    found: list[Mutation] = []
    kinds = {e["kind"] for e in events}
    for kind in STREAMS:
        if kind in kinds:
            found.append(Mutation(f"no {kind} events", "removed", drop_kind(kind), frozenset({kind})))
    if "write" in kinds:
        found.append(Mutation("no write acknowledged", "removed", lambda ev: [
            {**e, "outcome": "unknown"} if e["kind"] == "write" else e for e in ev], frozenset({"write"})))
    replicas = list(dict.fromkeys(e["replica"] for e in events if e["kind"] == "read-keys"))
    if replicas:
        found.append(Mutation(f"{replicas[-1]} never read", "removed", lambda ev: [
            e for e in ev if not (e["kind"] == "read-keys" and e["replica"] == replicas[-1])], frozenset({"read-keys"})))
    sampled = _sampled_nodes(events)
    for f in _faults(events):
        spec, label = f["spec"], f["spec"]["type"]
        reads = frozenset({"fault"})
        if "injected" in f:
            found += [
                Mutation(f"{label}: no injected mark", "removed", _marks(f, lambda e: None if e["phase"] == "injected"
                                                                          else e), reads, label),
                Mutation(f"{label}: injected unverified", "removed", _marks(f, lambda e: {**e, "verified": False}
                                                                           if e["phase"] == "injected" else e), reads,
                         label),
                Mutation(f"{label}: only the heal kept", "removed", _marks(f, lambda e: None if e["phase"] in (
                    "inject", "injected") else e), reads, label)]
        if "injected" in f and ("healed" in f or "heal" in f) and spec.get("node"):
            found += [Mutation(f"{label}: a 0 s window", "removed", _retime_marks(f, 0.0), reads, label, True),
                      Mutation(f"{label}: a 2 s window", "removed", _retime_marks(f, 2.0), reads, label, True)]
        node = spec.get("node")
        if node and node in sampled and "injected" in f and spec["type"] in (
                "kubelet-stop", "node-pause", "network-partition"):
            start, end = f["injected"], _end(f, events)
            during = frozenset({"runtime", "fault"})  # a claim about the node's runtime while the fault held
            found += [
                Mutation(f"{label}: {node} unsampled during the fault", "removed",
                         _samples_of(node, start, end), during, label),
                Mutation(f"{label}: {node} sampled every 17 s during the fault", "removed",
                         _thinned(node, start, end, 17.0), during, label),
                Mutation(f"{label}: ended by the node right after injection", "removed", ended_early(f, 0.001), reads,
                         label, True),
                Mutation(f"{label}: ended by the node 20 % in", "blind", ended_early(f, 0.2)),
                Mutation(f"{label}: {node}'s clock back 60 s", "blind", clock_step(node, start, -60.0)),
                Mutation(f"{label}: {node}'s clock ahead 60 s", "blind", clock_step(node, start, 60.0)),
                Mutation(f"{label}: {node} unreachable during the fault", "blind",
                         runtime_unreachable(node, start, end)),
            ]
        if node and "injected" in f:
            others = [n for n in sampled if n != node] or [
                e["name"] for e in events if e["kind"] == "node" and e["name"] != node]
            if others and _fact_node(events) == node:
                found.append(Mutation(f"{label}: the facts name {others[0]}, not {node}", "removed",
                                      _other_node_fact(node, others[0]), judged=others[0]))
        if "injected" in f:
            start, end = f.get("inject", f["injected"]), _end(f, events)
            for kind in ("pod", "node"):
                if kind in kinds:
                    found += [Mutation(f"{label}: {kind} watch out through the fault", "blind",
                                       outage(kind, start, end + 1.0)),
                              Mutation(f"{label}: {kind} watch out from the fault on, never back", "blind",
                                       outage(kind, start, None))]
            changes = [e["mono"] for e in events if e["kind"] == "pod" and start <= e["mono"] <= end
                       and e.get("type") in ("MODIFIED", "ADDED", "DELETED")]
            for t in changes[:3]:
                found.append(Mutation(f"{label}: pod watch out across a change at +{t - start:.1f}s", "blind",
                                      outage("pod", t - 0.5, t + 3.0)))
    # Streams blinded where no fault is: around the first changes of the workload's pods (the ordering family).
    pod_changes = [e["mono"] for e in events if e["kind"] == "pod" and e.get("type") in ("ADDED", "MODIFIED")]
    for t in pod_changes[:: max(1, len(pod_changes) // 4)][:4]:
        found.append(Mutation(f"pod watch out across the change at {t - events[0]['mono']:.1f}s", "blind",
                              outage("pod", t - 0.5, t + 4.0)))
    if "pvc" in kinds:
        middle = events[len(events) // 2]["mono"]
        found.append(Mutation("pvc watch out from the middle on, never back", "blind", outage("pvc", middle, None)))
    for pod, by_node in _copies(events).items():
        nodes = sorted(by_node)
        if len(nodes) > 1:
            cid = sorted(by_node[nodes[0]])[0]
            found.append(Mutation(f"{pod}'s copy on {nodes[1]} carries {nodes[0]}'s id", "forged",
                                  same_id_elsewhere(pod, nodes[0], nodes[1], cid)))
    found += [Mutation("shuffled", "reorder", shuffled(1)), Mutation("shuffled again", "reorder", shuffled(2)),
              Mutation("every event twice", "reorder", lambda ev: [e for e in ev for _ in (0, 1)]),
              Mutation("reversed", "reorder", lambda ev: list(reversed(ev)))]
    return found


# --- the promises -----------------------------------------------------------------------------------------------

def statuses(verdicts: list[Verdict]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for v in verdicts:
        found.setdefault(v.checker, []).append(v.status)
    return found


def broken_promises(mutation: Mutation, before: list[Verdict], after: list[Verdict]) -> list[str]:
    """What the mutation made the verdicts do that its family forbids, one line each (empty: kept)."""
    was, now = statuses(before), statuses(after)
    whole: dict[str, list[Verdict]] = {}
    for v in before:
        whole.setdefault(v.checker, []).append(v)
    after_of: dict[str, list[Verdict]] = {}
    for v in after:
        after_of.setdefault(v.checker, []).append(v)
    problems = []
    for checker, states in now.items():
        earlier = was.get(checker, [])
        for i, status in enumerate(states):
            prior = earlier[i] if i < len(earlier) else None
            then = whole[checker][i] if i < len(whole.get(checker, [])) else None
            if mutation.family == "removed" and mutation.aims_at(checker, then, after_of[checker][i]) and status == "pass":
                problems.append(f"{checker} passed without its evidence")
            elif mutation.family == "blind" and status == "fail" and prior != "fail":
                problems.append(f"{checker} failed on the harness's blindness (was {prior})")
            elif mutation.family == "forged" and status == "pass" and prior != "pass":
                problems.append(f"{checker} passed on forged evidence (was {prior})")
            elif mutation.family == "reorder" and status != prior:
                problems.append(f"{checker} {prior} -> {status} on the same events reordered")
            if status == "error":
                problems.append(f"{checker} raised")
    if mutation.family == "reorder" and set(was) != set(now):
        problems.append(f"checkers {sorted(set(was) ^ set(now))} came or went")
    return problems
