"""The scheduler of scenarios side by side (chaos_harness/assemble/scheduler.py), with stand-in jobs that record when they
ran: node faults alone, one target at a time, never more than `parallel`, results in plan order, a bad HOLDS
declaration refused before anything runs, and a cancelled worker stopped at its next wait."""

from __future__ import annotations

import copy
import signal
import threading
import time
from types import SimpleNamespace

import pytest

from chaos_harness.core import cancellation
from chaos_harness.assemble.scheduler import Slot, holds, run_all
from chaos_harness.core.errors import UsageError


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.spans: dict[str, tuple[float, float, str]] = {}
        self.placements: dict[str, tuple[str, ...]] = {}

    def run(self, job: tuple[str, float, bool]) -> str:
        name, seconds, _ = job
        started = time.monotonic()
        time.sleep(seconds)
        with self.lock:
            self.spans[name] = (started, time.monotonic(), threading.current_thread().name)
        return name.upper()

    def run_placed(self, job: tuple[str, float, bool], placement: tuple[str, ...]) -> str:
        """`run`, noting the nodes the job was given."""
        self.placements[job[0]] = placement
        return self.run(job)

    def overlap(self, a: str, b: str) -> bool:
        (s1, e1, _), (s2, e2, _) = self.spans[a], self.spans[b]
        return s1 < e2 and s2 < e1


def test_side_by_side_where_allowed_alone_where_not_results_in_plan_order() -> None:
    rec = Recorder()
    plan = [("pods-a", 0.3, False), ("node-x", 0.1, True), ("pods-b", 0.3, False), ("pods-c", 0.3, False),
            ("tgt-1", 0.2, False), ("tgt-2", 0.2, False), ("node-y", 0.1, True)]
    slots = [Slot(job, alone=job[2], key="ns/db" if job[0].startswith("tgt") else "", expected=job[1])
             for job in plan]
    started = time.monotonic()
    results = run_all(slots, lambda job, _: rec.run(job), parallel=3)
    took = time.monotonic() - started
    assert results == [name.upper() for name, _, _ in plan]
    for alone in ("node-x", "node-y"):
        assert not any(rec.overlap(alone, other) for other in rec.spans if other != alone), alone
        assert rec.spans[alone][2] == threading.current_thread().name, "node faults run in the calling thread"
    assert not rec.overlap("tgt-1", "tgt-2"), "one target, one scenario at a time"
    assert rec.overlap("pods-a", "pods-b") and rec.overlap("pods-a", "pods-c")
    # Never more than three at once: sample each start instant.
    for name, (s, _, _) in rec.spans.items():
        assert sum(1 for o in rec.spans.values() if o[0] <= s < o[1]) <= 3, name
    assert took < 1.2, f"serially 1.5 s; side by side {took:.2f}s"


def test_parallel_one_is_a_plain_loop_in_plan_order() -> None:
    seen: list[str] = []
    slots = [Slot((n, 0, False), alone=False) for n in "abc"]
    assert run_all(slots, lambda job, _: seen.append(job[0]) or job[0], parallel=1) == ["a", "b", "c"]
    assert seen == ["a", "b", "c"]


@pytest.mark.parametrize("declared,faults,expect", [
    (None, ("kubelet-stop",), "nodes"), (None, ("pod-delete",), "pods"), (None, (), "pods"),
    ("pods", ("kubelet-stop",), "pods"), ("nodes", (), "nodes"),
])
def test_what_a_scenario_holds(declared: str | None, faults: tuple[str, ...], expect: str) -> None:
    module = SimpleNamespace(FAULTS=faults, **({"HOLDS": declared} if declared else {}))
    assert holds("s", module) == expect  # type: ignore[arg-type]


def test_a_scenario_that_declares_nothing_runs_alone_and_a_bad_declaration_is_refused() -> None:
    assert holds("mine", SimpleNamespace()) == "nodes"  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="HOLDS = 'cluster'.*use 'pods'"):
        holds("mine", SimpleNamespace(HOLDS="cluster"))  # type: ignore[arg-type]


def test_a_signal_stops_the_workers_at_their_next_wait_and_they_clean_up() -> None:
    cleaned: list[str] = []

    def job(item: tuple[str, float, bool], placement: tuple[str, ...]) -> str:
        try:
            if item[0] == "signal":
                time.sleep(0.2)
                raise KeyboardInterrupt()  # stands for a signal handled in a worker's caller
            cancellation.sleep(30)  # a wait: the cancellation ends it at once
            return "finished"
        finally:
            cleaned.append(item[0])

    slots = [Slot(("a", 0, False), alone=False), Slot(("b", 0, False), alone=False),
             Slot(("signal", 0, False), alone=False)]
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_all(slots, job, parallel=3)
    assert time.monotonic() - started < 5 and sorted(cleaned) == ["a", "b", "signal"]


def _healing_sleeper(cleaned: list[str]):  # type: ignore[no-untyped-def]
    """A scenario that waits 30 s (a cancellable wait) and heals on the way out, noting its name."""
    def job(item: tuple[str, float, bool], placement: tuple[str, ...]) -> str:
        try:
            cancellation.sleep(30)
            return "finished"
        finally:
            time.sleep(0.2)  # a heal: the run ends only after it
            cleaned.append(item[0])
    return job


def test_ctrl_c_in_the_main_thread_cancels_every_worker_which_cleans_up_first() -> None:
    import _thread

    cleaned: list[str] = []
    job = _healing_sleeper(cleaned)
    slots = [Slot((n, 0, False), alone=False) for n in ("a", "b", "c")]
    threading.Timer(0.3, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_all(slots, job, parallel=3)
    assert time.monotonic() - started < 5 and sorted(cleaned) == ["a", "b", "c"]


def test_node_lanes_let_node_faults_run_beside_pods_scenarios_on_nodes_of_their_own() -> None:
    rec = Recorder()
    seen, job = rec.placements, rec.run_placed

    plan = [("pods-a", 0.3, False), ("node-x", 0.3, True), ("pods-b", 0.3, False), ("node-y", 0.3, True)]
    slots = [Slot(j, alone=j[2], expected=j[1], placeable=True) for j in plan]
    results = run_all(slots, job, parallel=3, nodes=["w3", "w1", "w2"])
    assert results == [n.upper() for n, _, _ in plan]
    assert seen["node-x"] == seen["node-y"] == ("w1", "w2"), "one lane of two nodes: its scenarios one at a time"
    assert not rec.overlap("node-x", "node-y")
    assert seen["pods-a"] == seen["pods-b"] == ("w3",)
    assert rec.overlap("node-x", "pods-a") or rec.overlap("node-x", "pods-b"), "a node lane runs beside pods"


def test_two_lanes_overlap_and_never_share_a_node() -> None:
    rec = Recorder()
    seen, job = rec.placements, rec.run_placed

    slots = [Slot((n, 0.3, True), alone=True, expected=0.3, placeable=True) for n in ("x", "y")]
    run_all(slots, job, parallel=3, nodes=["a", "b", "c", "d"])
    assert set(seen["x"]).isdisjoint(seen["y"]) and len(seen["x"]) == len(seen["y"]) == 2
    assert rec.overlap("x", "y")


@pytest.mark.parametrize("nodes,pods_placeable,target,why", [
    (["w1", "w2"], True, False, "two nodes: no spare for the pods scenarios"),
    (["w1", "w2", "w3"], False, False, "a pods scenario that cannot be pinned"),
    (["w1", "w2", "w3"], True, True, "a scenario on a --target"),
    (["w1", "w2", "w3"], True, "heavy", "three nodes, and a heavy pods scenario would keep one node only"),
])
def test_no_lanes_when_a_pod_could_land_on_a_faulted_node(nodes: list[str], pods_placeable: bool, target: object,
                                                          why: str) -> None:
    from chaos_harness.assemble.scheduler import plan_lanes

    heavy = target == "heavy"
    slots = [Slot("node", alone=True, placeable=heavy or not target, key="ns/db" if target is True else ""),
             Slot("pods", alone=False, placeable=pods_placeable, heavy=heavy)]
    assert plan_lanes(slots, nodes) is None, why
    if heavy:
        lanes = plan_lanes(slots, nodes + ["w4"])
        assert lanes is not None and lanes.node_lanes == (("w1", "w2"),) and lanes.pods == ("w3", "w4")


def test_a_pinned_workload_keeps_its_own_node_terms_and_gains_the_lane() -> None:
    from chaos_harness.workload.placement import pinned

    sts = {"kind": "StatefulSet", "spec": {"template": {"spec": {"affinity": {"nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}, {}]}}}}}}}
    before = copy.deepcopy(sts)
    out = pinned(sts, ["w1", "w2"])
    terms = out["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    # The API takes one name per metadata.name term; terms are ORed: (ssd and w1) or (ssd and w2) or w1 or w2.
    assert [(t.get("matchExpressions", [{}])[0].get("key"), t["matchFields"][0]["values"]) for t in terms] == [
        ("disk", ["w1"]), ("disk", ["w2"]), (None, ["w1"]), (None, ["w2"])]
    assert sts == before, "the input is not changed"
    pod = pinned({"kind": "Pod", "spec": {}}, ["w1"])
    assert pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["w1"]}]}]}
    assert pinned({"kind": "Service", "spec": {}}, ["w1"]) == {"kind": "Service", "spec": {}}


def test_a_scenario_that_needs_more_nodes_than_a_lane_runs_alone() -> None:
    rec = Recorder()
    seen, job = rec.placements, rec.run_placed

    slots = [Slot(("drain", 0.2, True), alone=True, placeable=True, lane_nodes=3),
             Slot(("kubelet", 0.2, True), alone=True, placeable=True), Slot(("pods", 0.2, False), alone=False,
                                                                           placeable=True)]
    run_all(slots, job, parallel=3, nodes=["w1", "w2", "w3"])
    assert seen == {"drain": (), "kubelet": ("w1", "w2"), "pods": ("w3",)}
    assert not any(rec.overlap("drain", other) for other in ("kubelet", "pods"))


def test_a_named_pool_is_tolerated_but_never_a_taint_kubernetes_sets_from_node_state() -> None:
    from chaos_harness.workload.placement import pinned, pool_tolerations

    def node(*taints: tuple[str, str, str]) -> SimpleNamespace:
        return SimpleNamespace(spec=SimpleNamespace(taints=[SimpleNamespace(key=k, value=v, effect=e)
                                                            for k, v, e in taints]))

    found = pool_tolerations([node(("pool", "chaos", "NoSchedule"), ("node.kubernetes.io/unreachable", "", "NoExecute")),
                              node(("pool", "chaos", "NoSchedule"), ("soft", "x", "PreferNoSchedule")),
                              node(("node-role.kubernetes.io/control-plane", "", "NoSchedule"))])
    assert found == (("pool", "chaos", "NoSchedule"),)
    out = pinned({"kind": "Deployment", "spec": {"template": {"spec": {"tolerations": [{"operator": "Exists"}]}}}},
                 [], found)
    assert out["spec"]["template"]["spec"]["tolerations"] == [
        {"operator": "Exists"}, {"key": "pool", "operator": "Equal", "value": "chaos", "effect": "NoSchedule"}]
    assert "affinity" not in out["spec"]["template"]["spec"]


@pytest.mark.parametrize("nodes,lanes,drain_alone", [
    (7, (3, 2), False),  # a lane wide enough for the drain, one of two beside it, two nodes for MySQL
    (6, (2, 2), True),   # one wide lane would hold everything: two narrow lanes and the drain alone end sooner
    (4, (2,), True),     # room for one narrow lane beside MySQL's two nodes
    (3, (), True),       # no room for a lane beside MySQL
])
def test_a_wider_lane_when_a_scenario_needs_more_nodes_and_it_ends_sooner(nodes: int, lanes: tuple[int, ...],
                                                                           drain_alone: bool) -> None:
    from chaos_harness.assemble.scheduler import _assign, plan_lanes

    names = [f"w{i}" for i in range(1, nodes + 1)]
    faults = [Slot("drain", alone=True, placeable=True, lane_nodes=3, expected=70)] + [
        Slot(f"f{i}", alone=True, placeable=True, expected=e) for i, e in enumerate((140, 60, 60, 60, 80))]
    slots = [*faults, Slot("mysql", alone=False, placeable=True, heavy=True, expected=100)]
    plan = plan_lanes(slots, names)
    if not lanes:
        assert plan is None
        return
    assert plan is not None and tuple(len(lane) for lane in plan.node_lanes) == lanes
    assert len(plan.pods) == 2 and not set(plan.pods) & {n for lane in plan.node_lanes for n in lane}
    per_lane, alone = _assign(list(enumerate(faults)), [len(lane) for lane in plan.node_lanes])
    assert (alone == [0]) == drain_alone and sorted([i for lane in per_lane for i in lane] + alone) == list(range(6))


def test_the_longest_scenario_does_not_take_the_wide_lane_the_drain_needs() -> None:
    """make run's node faults on its 9 workers: S16 (a replica per node) has only the wide lane; S8, the
    longest, goes to a narrow one instead of queueing in front of S16 (measured: lane 239 s -> ~190 s)."""
    from chaos_harness.assemble.scheduler import _assign, plan_lanes

    expected = {"s08": 145, "s09": 58, "s10": 60, "s14": 70, "s15": 90, "s16": 70}
    faults = [Slot(n, alone=True, placeable=True, lane_nodes=3 if n == "s16" else 2, expected=e)
              for n, e in expected.items()]
    plan = plan_lanes([*faults, Slot("mysql", alone=False, placeable=True, heavy=True, expected=60)],
                      [f"w{i}" for i in range(9)])
    assert plan is not None and [len(lane) for lane in plan.node_lanes] == [3, 2, 2]
    per_lane, alone = _assign(list(enumerate(faults)), [3, 2, 2])
    lanes = [[faults[i].item for i in lane] for lane in per_lane]
    assert alone == [] and lanes[0][0] == "s16" and ["s08"] in lanes
    assert max(sum(expected[n] for n in lane) for lane in lanes) < expected["s08"] + expected["s16"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_sigterm_in_the_main_thread_cancels_every_worker_which_heals_first(signum: int) -> None:
    """SIGTERM arrives as Interrupted (a signal handler raises it in the main thread): every worker gets its
    own copy at its next wait and heals; the run ends with that Interrupted, its exit code intact. (Rebuilding
    it from its args raised ValueError: signal.Signals('SIGTERM').)"""
    from chaos_harness.core.errors import Interrupted

    assert copy.copy(Interrupted(signum)).exit_code == 128 + signum
    cleaned: list[str] = []
    job = _healing_sleeper(cleaned)
    previous = signal.signal(signum, lambda s, f: (_ for _ in ()).throw(Interrupted(s)))
    try:
        threading.Timer(0.3, lambda: signal.pthread_kill(threading.main_thread().ident or 0, signum)).start()
        started = time.monotonic()
        with pytest.raises(Interrupted) as raised:
            run_all([Slot((n, 0, False), alone=False) for n in ("a", "b", "c")], job, parallel=3)
    finally:
        signal.signal(signum, previous)
    assert raised.value.exit_code == 128 + signum
    assert time.monotonic() - started < 5 and sorted(cleaned) == ["a", "b", "c"]
