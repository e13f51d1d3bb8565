"""What keeps a run safe on a shared cluster, around every injection of the fault session:

- **steady state** before each fault a scenario injects while none of its own is in flight: the workload fully
  Ready at its spec's replicas, every PodDisruptionBudget over it allowing a disruption, and for a node fault the
  node Ready and schedulable and no other node of the pool NotReady (nodes this run is faulting itself aside).
  What was read is recorded (`steady-state`); when it does not settle within STEADY_SECONDS nothing is injected
  and the scenario's outcome is `not-run`.
- **blast radius**: at most `max_faulted_nodes` nodes faulted at once across the whole run (every lane); a node
  fault waits for a slot (up to the fault's time box), and one that could never get one is `not-run`.
- **abort conditions**, evaluated every `interval` seconds from a scenario's first injection until it ends (its
  recovery included): a breach, or `chaos-harness stop`, records an `abort` event in every running scenario's
  history and raises Aborted in its thread at its next wait, so its faults heal at once. Scenarios that start
  afterwards are `not-run`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes import client

from chaos_harness.core import cancellation
from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import Aborted, ClusterError, SteadyStateNotMet, WaitTimeout
from chaos_harness.core.kube import Cluster
from chaos_harness.core.light import nodes_named
from chaos_harness.core.scheduling import could_run_on
from chaos_harness.faults.registry import NODE_FAULTS
from chaos_harness.record.history import History

STEADY_SECONDS = 30.0   # a target that does not settle this long after the scenario asked to fault it is degraded
STEADY_POLL = 1.0


class AbortCondition(Protocol):
    """A probe of the user's own health signal (assemble/abort.py: a command, an HTTP URL, a Prometheus query)."""
    text: str

    def breached(self) -> tuple[bool, str]: ...


def _ready(node: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in (node.status.conditions or []))


def _matches(selector: Any, labels: dict[str, str]) -> bool:
    """A PodDisruptionBudget's label selector against a pod's labels (matchLabels and matchExpressions)."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.match_labels or {}).items()):
        return False
    for e in selector.match_expressions or []:
        present, value = e.key in labels, labels.get(e.key)
        if e.operator == "In" and value not in (e.values or []):
            return False
        if e.operator == "NotIn" and present and value in (e.values or []):
            return False
        if e.operator == "Exists" and not present:
            return False
        if e.operator == "DoesNotExist" and present:
            return False
    return bool(selector.match_labels or selector.match_expressions)


def steady_state(cluster: Cluster, namespace: str, workload: str | None, spec: dict[str, Any],
                 pool: Sequence[str], own_faulted: set[str]) -> list[dict[str, Any]]:
    """Fresh reads, each as {check, ok, detail}: what `spec` would disrupt, in its steady state or not."""
    with api_errors(f"reading the workload in {namespace} before {spec['type']}"):
        sets = client.AppsV1Api(cluster.api).list_namespaced_stateful_set(namespace, _request_timeout=10).items
        deployments = ([] if workload else
                       client.AppsV1Api(cluster.api).list_namespaced_deployment(namespace, _request_timeout=10).items)
        budgets = client.PolicyV1Api(cluster.api).list_namespaced_pod_disruption_budget(namespace,
                                                                                        _request_timeout=10).items
    nodes = None
    if spec["type"] in NODE_FAULTS and spec.get("node"):
        with api_errors(f"reading the nodes before {spec['type']} on {spec['node']}"):
            # Only the node and its pool are judged: their models, not every node's (core/light.py).
            nodes = {n.metadata.name: n for n in nodes_named(cluster.core, {spec["node"], *pool}, _request_timeout=10)}
    return judge_steady(namespace, [s for s in sets if workload is None or s.metadata.name == workload],
                        deployments, budgets, nodes, spec, pool, own_faulted)


def judge_steady(namespace: str, sets: Sequence[Any], deployments: Sequence[Any], budgets: Sequence[Any],
                 nodes: dict[str, Any] | None, spec: dict[str, Any], pool: Sequence[str],
                 own_faulted: set[str]) -> list[dict[str, Any]]:
    """The steady-state checks on what was read (`nodes`: None when the fault is not a node's)."""
    checks: list[dict[str, Any]] = []
    for kind, objs in (("StatefulSet", sets), ("Deployment", deployments)):
        for obj in objs:
            want = obj.spec.replicas if obj.spec.replicas is not None else 1
            ready = obj.status.ready_replicas or 0
            current = obj.status.observed_generation is None or obj.status.observed_generation >= obj.metadata.generation
            checks.append({"check": "workload-ready", "ok": ready >= want and current,
                           "detail": f"{kind} {namespace}/{obj.metadata.name}: {ready}/{want} Ready"
                                     f"{'' if current else ' (its controller has not seen its latest spec)'}"})
    labels = [dict((s.spec.template.metadata.labels or {})) for s in [*sets, *deployments] if s.spec.template.metadata]
    for pdb in budgets:
        if not any(_matches(pdb.spec.selector, ls) for ls in labels):
            continue
        allowed = pdb.status.disruptions_allowed if pdb.status else 0
        current = bool(pdb.status) and (pdb.status.observed_generation or 0) >= (pdb.metadata.generation or 0)
        checks.append({"check": "budget-allows", "ok": bool(current and (allowed or 0) >= 1),
                       "detail": f"PodDisruptionBudget {namespace}/{pdb.metadata.name}: {allowed or 0} disruption(s) "
                                 f"allowed{'' if current else ' (not yet computed)'}"})
    node = spec.get("node")
    if nodes is not None and node:
        target = nodes.get(node)
        checks.append({"check": "node-ready", "ok": target is not None and _ready(target)
                       and not target.spec.unschedulable,
                       "detail": f"{node}: " + ("absent" if target is None else
                                               f"{'Ready' if _ready(target) else 'not Ready'}"
                                               f"{', cordoned' if target.spec.unschedulable else ', schedulable'}")})
        # The pool that matters is where the workload could go: a tainted node it does not tolerate, or one its
        # selector or affinity rules out, takes none of its pods whether Ready or not.
        templates = [o.spec.template.spec for o in [*sets, *deployments] if o.spec.template and o.spec.template.spec]
        others = [n for n in pool if n != node and n not in own_faulted and n in nodes
                  and (not templates or any(could_run_on(t, nodes[n]) for t in templates))]
        down = [n for n in others if not _ready(nodes[n])]
        checks.append({"check": "pool-ready", "ok": not down,
                       "detail": f"other nodes of the pool not Ready: {', '.join(down)}" if down else
                                 f"the {len(others)} other node(s) of the pool the workload could use are Ready"})
    return checks


@dataclass
class RunGuard:
    """One per run, shared by its scenarios (their threads) and the fault sessions it hands out."""

    cluster: Cluster
    max_faulted_nodes: int | None = None           # None: no limit (the local kind test bed's lanes)
    conditions: Sequence[AbortCondition] = ()
    interval: float = 2.0
    steady_seconds: float = STEADY_SECONDS
    stopped: str = ""                               # why the run stopped (a breach, `stop`); empty: it did not
    # Proves the run may still inject (its run Lease: assemble/run_lock.RunLock.prove), or raises Aborted.
    fence: Callable[[], None] | None = None
    faulted: dict[str, int] = field(default_factory=dict)   # node -> this run's node faults on it in flight
    _lock: threading.Condition = field(default_factory=threading.Condition)
    _running: dict[int, History] = field(default_factory=dict)  # scenario thread -> its history
    _active: set[int] = field(default_factory=set)              # scenario threads between first fault and end
    _monitor: threading.Thread | None = None
    _done: threading.Event = field(default_factory=threading.Event)

    # --- a scenario's life ---------------------------------------------------------------------------------

    @contextmanager
    def scenario(self, history: History) -> Iterator[None]:
        """Around one scenario's run: a run already stopped records `not-run` and raises SteadyStateNotMet."""
        me = threading.get_ident()
        with self._lock:
            if self.stopped:
                history.record("not-run", reason=f"the run had stopped: {self.stopped}")
                raise SteadyStateNotMet(f"the run had stopped: {self.stopped}")
            self._running[me] = history
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(me, None)
                self._active.discard(me)

    def stop(self, source: str, reason: str, condition: str = "", output: str = "") -> None:
        """End every running scenario at its next wait (its faults heal), and start no other."""
        with self._lock:
            if self.stopped:
                return
            self.stopped = reason
            running = dict(self._running)
            self._lock.notify_all()
        for thread, history in running.items():
            history.record("abort", source=source, reason=reason, condition=condition, output=output[-2000:])
            cancellation.cancel(thread, Aborted(reason))

    # --- around an injection (called by FaultSession) -------------------------------------------------------

    def before(self, spec: dict[str, Any], history: History, namespace: str, workload: str | None,
               pool: Sequence[str], own_in_flight: int, time_box: float) -> None:
        """The steady state (skipped for a fault a scenario adds to its own fault in flight: that one is part of
        the same experiment), then a blast-radius slot for a node fault. SteadyStateNotMet when not."""
        if self.stopped:
            raise Aborted(self.stopped)
        if self.fence is not None:
            self.fence()  # a run that lost its run Lease injects nothing more
        if own_in_flight == 0:
            self._steady(spec, history, namespace, workload, pool)
        if spec["type"] in NODE_FAULTS and spec.get("node"):
            self._take_slot(spec, history, own_in_flight, time_box)
        with self._lock:
            self._active.add(threading.get_ident())
        self._start_monitor()

    def target_ready(self, history: History, namespace: str, name: str, wait_ready: Callable[[float], object]) -> None:
        """A user's StatefulSet, before a scenario touches it: Ready within the steady-state window, else the
        scenario is `not-run` (a target that is already degraded is not faulted further)."""
        try:
            wait_ready(self.steady_seconds)
        except WaitTimeout as e:
            spec = {"type": "none", "target": f"{namespace}/{name}"}
            try:
                checks = steady_state(self.cluster, namespace, name, spec, (), set())
            except ClusterError as read:
                checks = [{"check": "readable", "ok": False, "detail": str(read)}]
            checks = [c for c in checks if not c["ok"]] or [{"check": "workload-ready", "ok": False, "detail": str(e)}]
            reason = "; ".join(c["detail"] for c in checks) + f" (for {self.steady_seconds:.0f}s)"
            history.record("steady-state", ok=False, fault=spec, checks=checks, reason=reason)
            raise SteadyStateNotMet(f"the target {namespace}/{name} is not steady: {reason}") from e

    def after(self, spec: dict[str, Any]) -> None:
        """The fault healed (or never took): its node's slot is free."""
        node = spec.get("node")
        if spec["type"] in NODE_FAULTS and node:
            with self._lock:
                self.faulted[node] = self.faulted.get(node, 1) - 1
                if self.faulted[node] <= 0:
                    del self.faulted[node]
                self._lock.notify_all()

    def _steady(self, spec: dict[str, Any], history: History, namespace: str, workload: str | None,
                pool: Sequence[str]) -> None:
        started = time.monotonic()
        while True:
            with self._lock:
                own = set(self.faulted)
            try:
                checks = steady_state(self.cluster, namespace, workload, spec, pool, own)
            except ClusterError as e:
                checks = [{"check": "readable", "ok": False, "detail": str(e)}]
            bad = [c for c in checks if not c["ok"]]
            waited = time.monotonic() - started
            if not bad:
                history.record("steady-state", ok=True, fault=spec, checks=checks)
                return
            if waited + STEADY_POLL > self.steady_seconds:
                reason = "; ".join(c["detail"] for c in bad) + f" (for {waited:.0f}s)"
                history.record("steady-state", ok=False, fault=spec, checks=checks, reason=reason)
                raise SteadyStateNotMet(f"steady state not met before {spec['type']}: {reason}")
            with cancellation.waiting(f"steady state before {spec['type']}", self.steady_seconds):
                cancellation.sleep(STEADY_POLL)

    def _take_slot(self, spec: dict[str, Any], history: History, own_in_flight: int, time_box: float) -> None:
        limit, node = self.max_faulted_nodes, str(spec["node"])
        with self._lock:
            if limit is None or node in self.faulted or len(self.faulted) < limit:
                self.faulted[node] = self.faulted.get(node, 0) + 1
                return
            if own_in_flight:  # waiting would wait for ourselves
                reason = (f"blast radius: {node} would be node {len(self.faulted) + 1} faulted at once "
                          f"(--max-faulted-nodes {limit})")
                history.record("steady-state", ok=False, fault=spec, reason=reason,
                               checks=[{"check": "blast-radius", "ok": False, "detail": reason}])
                raise SteadyStateNotMet(reason)
        started = time.monotonic()
        with cancellation.waiting(f"a blast-radius slot for {spec['type']} on {node} (--max-faulted-nodes {limit})",
                                  time_box):
            while True:
                with self._lock:
                    if self.stopped:
                        raise Aborted(self.stopped)
                    if len(self.faulted) < limit:
                        self.faulted[node] = self.faulted.get(node, 0) + 1
                        break
                    held = sorted(self.faulted)
                if time.monotonic() - started > time_box:
                    reason = f"blast radius: {', '.join(held)} still faulted after {time_box:.0f}s"
                    history.record("steady-state", ok=False, fault=spec, reason=reason,
                                   checks=[{"check": "blast-radius", "ok": False, "detail": reason}])
                    raise SteadyStateNotMet(reason)
                cancellation.sleep(0.5)
        history.record("fact", blast_radius_wait=round(time.monotonic() - started, 1))

    # --- abort conditions ---------------------------------------------------------------------------------

    def _start_monitor(self) -> None:
        with self._lock:
            if not self.conditions or self._monitor is not None:
                return
            self._monitor = threading.Thread(target=self._watch, name="abort-conditions", daemon=True)
            self._monitor.start()

    def _watch(self) -> None:
        while not self._done.wait(self.interval):
            with self._lock:
                if not self._active or self.stopped:
                    continue
            for condition in self.conditions:
                try:
                    breached, output = condition.breached()
                except Exception as e:  # noqa: BLE001 - a probe that breaks mid-run is a breach: the signal is gone
                    breached, output = True, f"{type(e).__name__}: {e}"
                if breached:
                    self.stop("abort-condition", f"{condition.text}: {output.strip().splitlines()[-1] if output.strip() else 'breached'}"[:300],
                              condition=condition.text, output=output)
                    break

    def close(self) -> None:
        self._done.set()
