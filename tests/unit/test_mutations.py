"""Mutation proof on real recordings: take each recorded history of tests/data/run-all, remove the evidence a
checker needs, re-judge with the scenario's own check(), and the checker must never pass (it is `unknown`, or
`fail` where the missing piece is itself a finding)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from chaos_harness.judge.evidence import facts, runtime_samples
from chaos_harness.assemble.catalogue import scenario_modules
from chaos_harness.core.timing import ClusterTiming

RUN = Path(__file__).resolve().parents[1] / "data" / "run-all"
DOCUMENT = json.loads((RUN / "results.json").read_text())
Events = list[dict]


def no_runtime_samples(events: Events) -> Events:
    return [e for e in events if e["kind"] != "runtime"]


def no_acknowledged_write(events: Events) -> Events:
    return [{**e, "outcome": "unknown"} if e["kind"] == "write" else e for e in events]


def one_replica_unread(events: Events) -> Events:
    read = [e["replica"] for e in events if e["kind"] == "read-keys"]
    return [e for e in events if not (e["kind"] == "read-keys" and e["replica"] == read[-1])]


def nothing_read_back(events: Events) -> Events:
    return [e for e in events if e["kind"] != "read-keys"]


def faulted_node_unseen_during_fault(events: Events) -> Events:
    node = facts(events).get("node")
    marks = [e["mono"] for e in events if e["kind"] == "fault" and e["phase"] in ("injected", "healed")]
    start, end = min(marks), max(marks)
    placed = {id(e): at for at, e in runtime_samples(events)}
    return [e for e in events if not (e["kind"] == "runtime" and e["node"] == node and start <= placed[id(e)] <= end)]


def fault_window_without_end(events: Events) -> Events:
    return [e for e in events if not (e["kind"] == "fault" and e["phase"] in ("healed", "heal-failed"))]


def no_fault_marks(events: Events) -> Events:
    return [e for e in events if e["kind"] != "fault"]


# mutation -> the checkers whose evidence it removes
MUTATIONS: dict[str, tuple[Callable[[Events], Events], set[str]]] = {
    "no runtime samples": (no_runtime_samples, {"split-brain", "concurrent-copies", "hazard-window",
                                                "node-observed-during-fault", "restarted-in-place"}),
    "no acknowledged write": (no_acknowledged_write, {"durability", "pvc-keeps-rows", "emptydir-loses-rows"}),
    "one replica never read": (one_replica_unread, {"durability"}),
    "nothing read back": (nothing_read_back, {"durability", "pvc-keeps-rows", "emptydir-loses-rows"}),
    "faulted node unseen during the fault": (faulted_node_unseen_during_fault, {"node-observed-during-fault"}),
    "fault window without an end": (fault_window_without_end, {"node-observed-during-fault",
                                                               "not-recreated-during-fault",
                                                               "one-incarnation-during-fault"}),
    "no fault marks": (no_fault_marks, {"node-detection", "not-recreated-during-fault",
                                        "one-incarnation-during-fault", "node-observed-during-fault",
                                        "hazard-window", "restarted-in-place", "stayed-unscheduled"}),
}

def _events(result: dict) -> Events:
    return [json.loads(line) for line in (RUN / result["history"]).read_text().splitlines() if line.strip()]


def _applies(result: dict, mutation: str) -> bool:
    """The recording holds something the mutation removes (S3 has no faulted node to hide, for one)."""
    try:
        return MUTATIONS[mutation][0](_events(result)) != _events(result)
    except (ValueError, IndexError, KeyError):
        return False


CASES = [(r["scenario"], m) for r in DOCUMENT["results"] for m in MUTATIONS if _applies(r, m)]


def _judge(scenario: str, events: Events) -> dict[str, list[str]]:
    module = scenario_modules()[scenario]
    found: dict[str, list[str]] = {}
    for v in module.check(events, ClusterTiming.from_dict(DOCUMENT["timing"])):
        found.setdefault(v.checker, []).append(v.status)
    return found


@pytest.mark.parametrize("scenario,mutation", CASES)
def test_a_checker_never_passes_without_its_evidence(scenario: str, mutation: str) -> None:
    result = next(r for r in DOCUMENT["results"] if r["scenario"] == scenario)
    events = _events(result)
    mutate, affected = MUTATIONS[mutation]
    mutated = mutate(events)
    before, after = _judge(scenario, events), _judge(scenario, mutated)
    touched = [c for c in after if c in affected]
    for checker in touched:
        assert "pass" not in after[checker], f"{checker} passed without its evidence ({mutation}): {after[checker]}"
        assert "error" not in after[checker], f"{checker} raised on {mutation}"
    # The mutation touched something real: each checker it aims at passed on the whole recording.
    assert all(s == "pass" for c in touched for s in before[c])
