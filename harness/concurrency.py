"""Which scenarios may run at the same time, and running them so: the one scheduler of the CLI and the plugin.

A scenario declares what it holds (`HOLDS`):
- "pods": it acts only on pods of its own workload (deletes, kills, scales, rolls). Any number of these run side
  by side, each in its own namespace.
- "nodes": it faults nodes (kubelet stop, pause, partition, drain) or needs every node undisturbed for its
  measurement. It runs alone: no other scenario's pods can be on the node it faults, and node faults never
  overlap on one node.
Built-in scenarios need no declaration: FAULTS says it (a node fault means "nodes"). A user's scenario that
declares neither runs alone, the safe side. Scenarios on the same --target never overlap (one acting on a
database while another kills it measures neither).

Exclusive scenarios run in the calling (main) thread, so signals reach them as before; the others run in worker
threads. A signal while workers run cancels them at their next wait, they heal what they injected, and the
signal then unwinds the run. A declaration that cannot be satisfied is a UsageError before anything runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Generic, TypeVar

from harness import progress
from harness.errors import UsageError

NODE_FAULTS = frozenset({"kubelet-stop", "node-pause", "network-partition", "node-drain"})
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
    alone: bool      # holds "nodes": runs with nothing else
    key: str = ""    # scenarios with the same key (their --target) never overlap
    expected: float = 0.0  # typical seconds: the longest start first, so none is left running alone at the end


def run_all(slots: Sequence[Slot[T]], run_one: Callable[[T], R], parallel: int) -> list[R]:
    """Run every slot: at most `parallel` side by side, the `alone` ones each by itself in this thread; results
    in the order of `slots`. With parallel 1 this is a plain loop in plan order."""
    if parallel <= 1 or sum(not s.alone for s in slots) <= 1:
        return [run_one(s.item) for s in slots]
    results: dict[int, R] = {}
    together = sorted(((i, s) for i, s in enumerate(slots) if not s.alone), key=lambda p: -p[1].expected)
    # Side-by-side scenarios first (their makespan), then each exclusive one alone.
    _run_side_by_side(together, run_one, parallel, results)
    for i, s in enumerate(slots):
        if s.alone:
            results[i] = run_one(s.item)
    return [results[i] for i in range(len(slots))]


def _run_side_by_side(slots: list[tuple[int, Slot[T]]], run_one: Callable[[T], R], parallel: int,
                      results: dict[int, R]) -> None:
    pending = list(slots)
    running: dict[int, tuple[threading.Thread, str]] = {}  # slot index -> (thread, key)
    done = threading.Condition()
    failures: list[BaseException] = []

    def work(index: int, item: T) -> None:
        try:
            results[index] = run_one(item)
        except BaseException as e:  # a cancellation, or a bug outside the scenario's own error handling
            failures.append(e)
        finally:
            with done:
                running.pop(index, None)
                done.notify_all()

    try:
        with done:
            while pending or running:
                busy = {key for _, key in running.values() if key}
                startable = [(i, s) for i, s in pending if not (s.key and s.key in busy)]
                while startable and len(running) < parallel:
                    i, s = startable.pop(0)
                    pending.remove((i, s))
                    if s.key:
                        busy.add(s.key)
                        startable = [(j, t) for j, t in startable if t.key != s.key]
                    # Worker threads are daemons: a second signal may end the run without waiting for them.
                    thread = threading.Thread(target=work, args=(i, s.item), name=f"scenario-{i}", daemon=True)
                    running[i] = (thread, s.key)
                    thread.start()
                if failures:
                    break
                done.wait(1.0)
    except BaseException as interrupt:  # a signal reached this (main) thread: stop the workers, let them heal
        with done:
            for thread, _ in running.values():
                progress.cancel(thread.ident or 0, type(interrupt)(*interrupt.args))
            while running:
                done.wait(1.0)
        raise
    if failures:
        with done:
            for thread, _ in running.values():
                progress.cancel(thread.ident or 0, failures[0])
            while running:
                done.wait(1.0)
        raise failures[0]
