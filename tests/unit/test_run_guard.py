"""The run guard (chaos_harness/faults/guard.py): the steady-state checks on what was read, the blast radius, an
abort or `stop` reaching a scenario's thread at its next wait, and the outcomes judged from the history alone."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import SimpleNamespace as NS
from typing import Any, ClassVar

import pytest

from chaos_harness.core import cancellation
from chaos_harness.core.errors import Aborted, SteadyStateNotMet
from chaos_harness.faults.guard import RunGuard, judge_steady
from chaos_harness.frontends.cli import exit_code
from chaos_harness.judge.rejudging import halted, judge
from chaos_harness.judge.verdicts import outcome
from chaos_harness.record.history import History

KILL = {"type": "kubelet-stop", "node": "w1"}
DELETE = {"type": "pod-delete", "namespace": "ns", "pod": "db-0"}


def sts(name: str, want: int, ready: int, generation: int = 1, observed: int = 1, tolerates: tuple[str, ...] = (),
        selector: dict[str, str] | None = None) -> Any:
    pod = NS(tolerations=[NS(key=k, operator="Exists", value=None, effect=None) for k in tolerates],
             node_selector=selector, affinity=None)
    return NS(metadata=NS(name=name, generation=generation),
              spec=NS(replicas=want, template=NS(metadata=NS(labels={"app": name}), spec=pod)),
              status=NS(ready_replicas=ready, observed_generation=observed))


def pdb(allowed: int, labels: dict[str, str], generation: int = 1, observed: int = 1) -> Any:
    return NS(metadata=NS(name="budget", generation=generation),
              spec=NS(selector=NS(match_labels=labels, match_expressions=None)),
              status=NS(disruptions_allowed=allowed, observed_generation=observed))


def node(name: str, ready: bool = True, cordoned: bool = False, taints: tuple[str, ...] = (),
         labels: dict[str, str] | None = None) -> Any:
    return NS(metadata=NS(name=name, labels=labels or {}),
              spec=NS(unschedulable=cordoned, taints=[NS(key=k, value="", effect="NoSchedule") for k in taints]),
              status=NS(conditions=[NS(type="Ready", status="True" if ready else "False")]))


def failed(checks: list[dict[str, Any]]) -> list[str]:
    return [c["check"] for c in checks if not c["ok"]]


def test_steady_when_everything_is_ready() -> None:
    nodes = {n: node(n) for n in ("w1", "w2", "w3")}
    checks = judge_steady("ns", [sts("db", 3, 3)], [], [pdb(1, {"app": "db"})], nodes, KILL, ["w1", "w2", "w3"], set())
    assert failed(checks) == [] and {c["check"] for c in checks} == {"workload-ready", "budget-allows", "node-ready",
                                                                    "pool-ready"}


@pytest.mark.parametrize("sets, budgets, nodes, pool, own, expect", [
    ([sts("db", 3, 2)], [], None, [], set(), ["workload-ready"]),
    ([sts("db", 3, 3, generation=2, observed=1)], [], None, [], set(), ["workload-ready"]),
    ([sts("db", 3, 3)], [pdb(0, {"app": "db"})], None, [], set(), ["budget-allows"]),
    ([sts("db", 3, 3)], [pdb(1, {"app": "db"}, generation=2)], None, [], set(), ["budget-allows"]),
    ([sts("db", 3, 3)], [pdb(0, {"app": "other"})], None, [], set(), []),  # a budget over something else
    ([sts("db", 3, 3)], [], {"w1": node("w1", ready=False), "w2": node("w2")}, ["w1", "w2"], set(), ["node-ready"]),
    ([sts("db", 3, 3)], [], {"w1": node("w1", cordoned=True), "w2": node("w2")}, ["w1", "w2"], set(), ["node-ready"]),
    ([sts("db", 3, 3)], [], {"w1": node("w1"), "w2": node("w2", ready=False)}, ["w1", "w2"], set(), ["pool-ready"]),
    # the run's own fault on w2 (another lane) is not the pool's degradation
    ([sts("db", 3, 3)], [], {"w1": node("w1"), "w2": node("w2", ready=False)}, ["w1", "w2"], {"w2"}, []),
    # a node outside the pool may be down
    ([sts("db", 3, 3)], [], {"w1": node("w1"), "w9": node("w9", ready=False)}, ["w1"], set(), []),
    # a pool node the workload could never use (a taint it does not tolerate, a selector it fails) does not count
    ([sts("db", 3, 3)], [], {"w1": node("w1"), "w2": node("w2", ready=False, taints=("lane",))}, ["w1", "w2"],
     set(), []),
    ([sts("db", 3, 3, tolerates=("lane",))], [], {"w1": node("w1"), "w2": node("w2", ready=False, taints=("lane",))},
     ["w1", "w2"], set(), ["pool-ready"]),
    ([sts("db", 3, 3, selector={"disk": "ssd"})], [],
     {"w1": node("w1"), "w2": node("w2", ready=False), "w3": node("w3", ready=False, labels={"disk": "ssd"})},
     ["w1", "w2", "w3"], set(), ["pool-ready"]),
    ([sts("db", 3, 3, selector={"disk": "ssd"})], [], {"w1": node("w1"), "w2": node("w2", ready=False)},
     ["w1", "w2"], set(), []),
    # the state taints of a NotReady node never take it out of the pool
    ([sts("db", 3, 3)], [], {"w1": node("w1"), "w2": node("w2", ready=False, taints=("node.kubernetes.io/unreachable",))},
     ["w1", "w2"], set(), ["pool-ready"]),
])
def test_what_is_not_steady(sets: list, budgets: list, nodes: dict | None, pool: list, own: set, expect: list) -> None:
    spec = KILL if nodes is not None else DELETE
    assert failed(judge_steady("ns", sets, [], budgets, nodes, spec, pool, own)) == expect


def guard(**kw: Any) -> RunGuard:
    return RunGuard(cluster=NS(context="kind-x"), **kw)  # type: ignore[arg-type]


def test_the_blast_radius_waits_for_a_slot_across_lanes() -> None:
    g, history = guard(max_faulted_nodes=1), History()
    g._take_slot({"type": "kubelet-stop", "node": "w1"}, history, 0, 60)
    took: list[float] = []

    def other_lane() -> None:
        started = time.monotonic()
        g._take_slot({"type": "node-pause", "node": "w2"}, History(), 0, 60)
        took.append(time.monotonic() - started)

    t = threading.Thread(target=other_lane)
    t.start()
    time.sleep(1.2)
    assert not took and sorted(g.faulted) == ["w1"]
    g.after({"type": "kubelet-stop", "node": "w1"})
    t.join(30)
    assert took and took[0] >= 1.0 and sorted(g.faulted) == ["w2"]


def test_a_second_node_in_one_scenario_over_the_limit_is_not_run() -> None:
    g, history = guard(max_faulted_nodes=1), History()
    g._take_slot({"type": "kubelet-stop", "node": "w1"}, history, 0, 60)
    with pytest.raises(SteadyStateNotMet, match="blast radius"):
        g._take_slot({"type": "kubelet-stop", "node": "w2"}, history, 1, 60)
    assert halted(history.events()).status == "not-run"


def test_no_limit_takes_every_node() -> None:
    g = guard(max_faulted_nodes=None)
    for n in ("w1", "w2", "w3"):
        g._take_slot({"type": "kubelet-stop", "node": n}, History(), 0, 1)
    assert sorted(g.faulted) == ["w1", "w2", "w3"]


def scenario_thread(g: RunGuard, history: History, first: Any = None) -> tuple[threading.Thread, list[BaseException]]:
    """A scenario in a thread of its own, under the guard, waiting 30 s (after `first`); what it raised."""
    seen: list[BaseException] = []

    def scenario() -> None:
        try:
            with g.scenario(history):
                if first:
                    first()
                cancellation.sleep(30)
        except BaseException as e:  # noqa: BLE001
            seen.append(e)

    t = threading.Thread(target=scenario)
    t.start()
    return t, seen


def test_a_stop_reaches_the_scenario_at_its_next_wait_and_later_ones_do_not_start() -> None:
    g, history = guard(), History()
    t, seen = scenario_thread(g, history)
    time.sleep(0.3)
    started = time.monotonic()
    g.stop("stop", "stopped by ops@laptop")
    t.join(30)
    assert seen and isinstance(seen[0], Aborted) and time.monotonic() - started < 15  # not the 30 s sleep
    verdict = halted(history.events())
    assert verdict.status == "aborted" and "ops@laptop" in verdict.summary
    later = History()
    with pytest.raises(SteadyStateNotMet):
        with g.scenario(later):
            pass
    assert halted(later.events()).status == "not-run"


def test_a_breached_condition_stops_an_active_scenario() -> None:
    class Breaches:
        text = "command:false"

        def __init__(self) -> None:
            self.calls = 0

        def breached(self) -> tuple[bool, str]:
            self.calls += 1
            return self.calls > 1, "exit 1: shop is down"

    condition = Breaches()
    g, history = guard(conditions=[condition], interval=0.1), History()

    def active() -> None:  # as after the scenario's first injection
        with g._lock:
            g._active.add(threading.get_ident())
        g._start_monitor()

    t, seen = scenario_thread(g, history, active)
    t.join(30)
    g.close()
    assert seen and isinstance(seen[0], Aborted)
    [abort] = history.events("abort")
    assert abort["source"] == "abort-condition" and "shop is down" in abort["output"]
    assert halted(history.events()).status == "aborted"


def test_a_halted_history_is_judged_without_its_checkers() -> None:
    module = NS(check=lambda events, timing: pytest.fail("a stopped scenario's checkers are not asked"))
    history = History()
    history.record("steady-state", ok=False, fault=KILL, reason="w1: not Ready",
                   checks=[{"check": "node-ready", "ok": False, "detail": "w1: not Ready"}])
    [verdict] = judge(module, history.events(), None)  # type: ignore[arg-type]
    assert verdict.status == "not-run" and "w1: not Ready" in verdict.summary


def test_outcomes_and_exit_codes() -> None:
    assert outcome(["pass", "aborted"]) == "aborted" and outcome(["fail", "aborted"]) == "fail"
    assert outcome(["not-run", "unknown"]) == "not-run"
    assert exit_code(["pass", "aborted"]) == 5 and exit_code(["not-run", "pass"]) == 6
    assert exit_code(["fail", "aborted"]) == 1 and exit_code(["aborted", "not-run"]) == 5
    assert exit_code(["unknown", "pass"]) == 4


@dataclass
class Recorded:
    type: ClassVar[str] = "kubelet-stop"
    node: str
    calls: list[str] = field(default_factory=list, repr=False)

    def inject(self, ctx: Any) -> None:
        self.calls.append("inject")

    def verify_injected(self, ctx: Any) -> str:
        return "stopped"

    def heal(self, ctx: Any) -> None:
        self.calls.append("heal")


def fault_session(g: RunGuard, history: History, tmp_path: Any) -> Any:
    from chaos_harness.faults import FaultContext, FaultSession
    from chaos_harness.faults.journal import Journal

    cluster = NS(context="kind-x", fingerprint=lambda: NS(kube_system_uid="uid"))
    ctx = FaultContext(cluster, NS(name="docker"), frozenset({"w1", "w2"}))  # type: ignore[arg-type]
    return FaultSession(ctx, Journal(tmp_path / "j.json"), history, "run", g, "ns"), Journal(tmp_path / "j.json")


def test_nothing_is_journaled_or_injected_when_the_steady_state_does_not_hold(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaos_harness.faults import guard as guard_module

    monkeypatch.setattr(guard_module, "steady_state", lambda *a: [{"check": "workload-ready", "ok": False,
                                                                   "detail": "StatefulSet ns/db: 1/2 Ready"}])
    g, history, calls = guard(steady_seconds=1.5), History(), []
    session, journal = fault_session(g, history, tmp_path)
    with pytest.raises(SteadyStateNotMet, match="1/2 Ready"):
        with session.injected(Recorded("w1", calls)):
            pytest.fail("the block must not run")
    assert calls == [] and journal.entries() == [] and g.faulted == {}
    assert halted(history.events()).status == "not-run"


def test_an_abort_during_the_block_heals_and_frees_the_slot(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from chaos_harness.faults import guard as guard_module

    monkeypatch.setattr(guard_module, "steady_state", lambda *a: [{"check": "node-ready", "ok": True, "detail": ""}])
    g, history, calls = guard(max_faulted_nodes=1), History(), []
    session, journal = fault_session(g, history, tmp_path)
    with pytest.raises(Aborted):
        with g.scenario(history):
            with session.injected(Recorded("w1", calls)):
                assert g.faulted == {"w1": 1}
                g.stop("abort-condition", "command:false: exit 1", condition="command:false", output="exit 1")
                cancellation.sleep(10)
    assert calls == ["inject", "heal"] and journal.entries() == [] and g.faulted == {}
    kinds = [e["kind"] for e in history.events()]
    assert kinds.index("steady-state") < kinds.index("fault") < kinds.index("abort")
    assert halted(history.events()).status == "aborted"


def test_a_cancellation_interrupts_a_blocking_read() -> None:
    """A watch waiting for its next event is a blocked socket read: the cancellation shuts the socket, so an abort
    reaches the scenario within a second, not at the watch's timeout."""
    import socket

    mine, theirs = socket.socketpair()
    ended: list[float] = []

    def reader() -> None:
        started = time.monotonic()
        with cancellation.interruptible(lambda: mine.shutdown(socket.SHUT_RDWR)):
            mine.recv(1)  # nothing is ever sent
        ended.append(time.monotonic() - started)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.3)
    cancellation.cancel(t.ident or 0, Aborted("stop"))
    t.join(30)
    theirs.close()
    mine.close()
    assert ended and ended[0] < 15  # not forever
    cancellation._cancelled.pop(t.ident or 0, None)
