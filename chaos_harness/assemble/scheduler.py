"""Which scenarios may run at the same time, and running them so: the one scheduler of the CLI and the plugin.

A scenario declares what it holds (`HOLDS`):
- "pods": it acts only on pods of its own workload (deletes, kills, scales, rolls). Any number of these run side
  by side, each in its own namespace.
- "nodes": it faults nodes (kubelet stop, pause, partition, drain) or needs every node undisturbed for its
  measurement. It runs alone: no other scenario's pods can be on the node it faults, and node faults never
  overlap on one node. Unless there are nodes enough for lanes: a scenario that deploys only through the
  harness (`PLACEABLE = True`, every built-in) is pinned to a node lane (two nodes: one to fault, one where a
  replacement could run) that no other scenario uses, and its faults are bounded by that lane; the pods
  scenarios are pinned to the nodes left. A scenario that needs more nodes (`LANE_NODES`) gets a lane that wide
  when the nodes allow and the scenarios' expected times say the run ends sooner; otherwise it runs alone.
  Node lanes then run beside each other and beside the pods scenarios, each lane one scenario at a time. A pod
  that cannot be pinned (a --target, a user's scenario that is not PLACEABLE) turns lanes off: node faults run
  alone as above.
Built-in scenarios need no declaration: FAULTS says it (a node fault means "nodes"). A user's scenario that
declares neither runs alone, the safe side. Scenarios on the same --target never overlap (one acting on a
database while another kills it measures neither).

Exclusive scenarios run in the calling (main) thread, so signals reach them as before; the others run in worker
threads. A signal while workers run cancels them at their next wait, they heal what they injected, and the
signal then unwinds the run. A declaration that cannot be satisfied is a UsageError before anything runs.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Generic, TypeVar

from chaos_harness.core import cancellation
from chaos_harness.core.errors import UsageError
from chaos_harness.faults.registry import NODE_FAULTS

HOLD_KINDS = ("pods", "nodes")

T = TypeVar("T")
R = TypeVar("R")


def holds(name: str, module: ModuleType) -> str:
    """"pods" or "nodes" (see the module's docstring); a declaration outside those is a UsageError."""
    declared = getattr(module, "HOLDS", None)
    if declared is not None:
        if declared not in HOLD_KINDS:
            raise UsageError(f"scenario {name} declares HOLDS = {declared!r}; use 'pods' (only its own pods: may "
                             f"run beside others) or 'nodes' (faults nodes: runs alone)")
        return str(declared)
    faults = getattr(module, "FAULTS", None)
    if faults is None:
        return "nodes"  # says nothing about what it does: it runs alone
    return "nodes" if NODE_FAULTS & set(faults) else "pods"


@dataclass(frozen=True)
class Slot(Generic[T]):
    item: T
    alone: bool      # holds "nodes": runs with nothing else, unless it can have nodes of its own (`placeable`)
    key: str = ""    # scenarios with the same key (their --target) never overlap
    expected: float = 0.0  # typical seconds: the longest start first, so none is left running alone at the end
    placeable: bool = False  # its workload is the harness's own, deployed into its namespace: it can be pinned
    lane_nodes: int = 2      # the nodes its workload needs to show what it shows (LANE_NODES; default a lane)
    heavy: bool = False      # a workload whose requests fill a node (the MySQL example: 3 x 600m CPU)


# A node lane: a node to fault and one where a replacement could run ("nowhere else" needs an elsewhere).
NODE_LANE_SIZE = 2


@dataclass(frozen=True)
class Lanes:
    """Node-disjoint placement: each node lane runs its node-fault scenarios one after the other on nodes no
    other scenario uses; the pods scenarios run side by side on the nodes left."""
    node_lanes: tuple[tuple[str, ...], ...]
    pods: tuple[str, ...]


def _lane_candidate(slot: Slot[T]) -> bool:
    return slot.alone and slot.placeable


def _assign(slots: Sequence[tuple[int, Slot[T]]], widths: Sequence[int]) -> tuple[list[list[int]], list[int]]:
    """The slot indexes per lane, and those no lane fits (they run alone). Those with the fewest lanes wide
    enough go first (S16 needs the wide lane; S8 can go anywhere), each longest first to the least loaded lane
    that fits, the narrowest on a tie: the wide lane stays free for what needs it, so the longest scenario does
    not end up in front of the one only the wide lane takes."""
    per_lane: list[list[int]] = [[] for _ in widths]
    load = [0.0] * len(widths)
    alone = []

    def fitting(slot: Slot[T]) -> list[int]:
        return [k for k, width in enumerate(widths) if width >= slot.lane_nodes]

    for i, slot in sorted(slots, key=lambda p: (len(fitting(p[1])), -p[1].expected)):
        lanes = fitting(slot)
        if not lanes:
            alone.append(i)
            continue
        k = min(lanes, key=lambda k: (load[k], widths[k]))
        per_lane[k].append(i)
        load[k] += slot.expected
    return per_lane, alone


def _lane_widths(slots: Sequence[Slot[T]], available: int) -> list[int]:
    """Two-node lanes; or, when a scenario needs more nodes (LANE_NODES, S16: one replica per node) and the
    expected times say it ends sooner, one lane that wide and two-node lanes in what is left. A scenario no
    lane fits runs alone."""
    candidates = list(enumerate(s for s in slots if _lane_candidate(s)))
    narrow = sum(1 for _, s in candidates if s.lane_nodes <= NODE_LANE_SIZE)
    options = [[NODE_LANE_SIZE] * min(narrow, available // NODE_LANE_SIZE)]
    widest = max((s.lane_nodes for _, s in candidates), default=NODE_LANE_SIZE)
    if NODE_LANE_SIZE < widest <= available:
        options.append([widest] + [NODE_LANE_SIZE] * min(narrow, (available - widest) // NODE_LANE_SIZE))

    def makespan(widths: list[int]) -> float:
        per_lane, alone = _assign(candidates, widths)
        expected = dict(candidates)
        return max((sum(expected[i].expected for i in lane) for lane in per_lane), default=0.0) + sum(
            expected[i].expected for i in alone)

    return min(options, key=lambda widths: (makespan(widths), -len(widths)))


def plan_lanes(slots: Sequence[Slot[T]], nodes: Sequence[str]) -> Lanes | None:
    """Lanes when they let something overlap that would otherwise wait: at least one node lane beside the pods
    scenarios, or two node lanes. None: the nodes are too few, and node faults run alone as before."""
    together = any(not s.alone for s in slots)
    if not any(_lane_candidate(s) for s in slots) or not all(s.placeable for s in slots if not s.alone):
        return None  # a pod that cannot be pinned could land on a lane's faulted node
    # What the pods scenarios keep: one node, or a lane's worth when a heavy workload is among them (three
    # MySQL replicas do not fit one 2-CPU node beside anything else: they would wait Pending).
    spare = (NODE_LANE_SIZE if any(s.heavy for s in slots if not s.alone) else 1) if together else 0
    widths = _lane_widths(slots, len(nodes) - spare)
    if not widths or (len(widths) == 1 and not together):
        return None
    ordered = sorted(nodes)
    lanes, used = [], 0
    for width in widths:
        lanes.append(tuple(ordered[used:used + width]))
        used += width
    return Lanes(tuple(lanes), tuple(ordered[used:]))


def run_all(slots: Sequence[Slot[T]], run_one: Callable[[T, tuple[str, ...]], R], parallel: int,
            nodes: Sequence[str] = ()) -> list[R]:
    """Run every slot: at most `parallel` side by side, results in the order of `slots`. `run_one(item,
    placement)` runs one; `placement` is the nodes its workload is pinned to and its faults are bounded by
    (() = wherever the run's target nodes allow). With enough `nodes`, node-fault scenarios that deploy their
    own workload get node lanes of their own and run beside the others; the rest of the `alone` ones each run
    by itself in this thread. With parallel 1 this is a plain loop in plan order."""
    if parallel <= 1 or len(slots) <= 1:
        return [run_one(s.item, ()) for s in slots]
    lanes = plan_lanes(slots, nodes)
    results: dict[int, R] = {}
    tasks: list[_Task] = []
    if lanes is not None:
        per_lane, _ = _assign([(i, s) for i, s in enumerate(slots) if _lane_candidate(s)],
                              [len(lane) for lane in lanes.node_lanes])
        for lane_nodes, lane in zip(lanes.node_lanes, per_lane):
            tasks.append(_Task(-1 - len(tasks), "", sum(slots[i].expected for i in lane) + 1e6,
                               [(i, slots[i].item) for i in lane], lane_nodes))
    pods = lanes.pods if lanes is not None else ()
    tasks += [_Task(i, s.key, s.expected, [(i, s.item)], pods) for i, s in enumerate(slots) if not s.alone]
    if len(tasks) > 1:
        # Node lanes first (the critical path), then side-by-side scenarios longest first.
        _run_side_by_side(sorted(tasks, key=lambda t: -t.expected), run_one, parallel, results)
    else:
        for task in tasks:
            for i, item in task.items:
                results[i] = run_one(item, task.placement)
    for i, s in enumerate(slots):
        if i not in results:
            results[i] = run_one(s.item, ())
    return [results[i] for i in range(len(slots))]


@dataclass
class _Task:
    """What one worker thread runs: one side-by-side scenario, or a node lane's scenarios one after another."""
    index: int
    key: str
    expected: float
    items: list
    placement: tuple[str, ...]


def _run_side_by_side(tasks: list[_Task], run_one: Callable[[T, tuple[str, ...]], R], parallel: int,
                      results: dict[int, R]) -> None:
    pending = list(tasks)
    running: dict[int, tuple[threading.Thread, str]] = {}  # task index -> (thread, key)
    done = threading.Condition()
    failures: list[BaseException] = []
    stopping = threading.Event()

    def work(task: _Task) -> None:
        try:
            for i, item in task.items:
                if stopping.is_set():
                    break
                results[i] = run_one(item, task.placement)
        except BaseException as e:  # a cancellation, or a bug outside the scenario's own error handling
            failures.append(e)
        finally:
            with done:
                running.pop(task.index, None)
                done.notify_all()

    def stop_all(reason: BaseException) -> None:
        stopping.set()
        for thread, _ in running.values():
            cancellation.cancel(thread.ident or 0, reason)
        while running:
            done.wait(1.0)

    try:
        with done:
            while pending or running:
                busy = {key for _, key in running.values() if key}
                startable = [t for t in pending if not (t.key and t.key in busy)]
                while startable and len(running) < parallel:
                    task = startable.pop(0)
                    pending.remove(task)
                    if task.key:
                        busy.add(task.key)
                        startable = [t for t in startable if t.key != task.key]
                    # Worker threads are daemons: a second signal may end the run without waiting for them.
                    thread = threading.Thread(target=work, args=(task,), name=f"scenario-{task.index}", daemon=True)
                    running[task.index] = (thread, task.key)
                    thread.start()
                if failures:
                    break
                done.wait(1.0)
    except BaseException as interrupt:  # a signal reached this (main) thread: stop the workers, let them heal
        with done:
            stop_all(copy.copy(interrupt))
        raise
    if failures:
        with done:
            stop_all(failures[0])
        raise failures[0]
