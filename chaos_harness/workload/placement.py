"""Where a scenario's workload runs: the nodes it is pinned to (the run's target nodes, or a node lane chosen
by chaos_harness/assemble/scheduler.py) and the pool taints it tolerates. The session sets a namespace's
placement around a scenario (`placed`); chaos_harness/workload/deploy.py's `apply` pins every object to it."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from chaos_harness.core import scheduling


@dataclass(frozen=True)
class Placement:
    """Where a scenario's workload runs: only on `nodes` (none: anywhere), tolerating `tolerations` (the taints
    of a node pool the user named with --target-nodes, so that the pool's NoSchedule taint does not keep the
    harness's workload off the very nodes it was asked to fault)."""
    nodes: tuple[str, ...] = ()
    tolerations: tuple[tuple[str, str, str], ...] = ()   # (key, value, effect)


# Each namespace's placement (the run's target nodes, or a node lane: chaos_harness/assemble/scheduler.py); set by the
# session around a scenario, read by `apply`, so every workload a scenario deploys lands there.
_placement: dict[str, Placement] = {}


_placement_lock = threading.Lock()


@contextmanager
def placed(namespace: str, placement: Placement) -> Iterator[None]:
    """Pods of the workloads deployed into `namespace` during the block follow `placement`."""
    if not placement.nodes and not placement.tolerations:
        yield
        return
    with _placement_lock:
        _placement[namespace] = placement
    try:
        yield
    finally:
        with _placement_lock:
            _placement.pop(namespace, None)


def placement_of(namespace: str) -> Placement:
    with _placement_lock:
        return _placement.get(namespace, Placement())


# Taints Kubernetes itself sets from a node's state (unreachable, not-ready, unschedulable, ...): never
# tolerated on the harness's behalf, since the faults under test work through them.
# The state taints (core/scheduling.py) and the control plane's role: never tolerated for a pool.
STATE_TAINT_PREFIXES = (*scheduling.STATE_TAINT_PREFIXES, "node-role.kubernetes.io/")


def pool_tolerations(nodes: Sequence[Any]) -> tuple[tuple[str, str, str], ...]:
    """The user-set taints (NoSchedule, NoExecute) that the given Node objects carry."""
    found = {(t.key, t.value or "", t.effect) for n in nodes for t in (n.spec.taints or [])
             if t.effect in ("NoSchedule", "NoExecute") and not t.key.startswith(STATE_TAINT_PREFIXES)}
    return tuple(sorted(found))


POD_SPEC_PATHS = {"Pod": ("spec",), "StatefulSet": ("spec", "template", "spec"),
                  "Deployment": ("spec", "template", "spec"), "ReplicaSet": ("spec", "template", "spec"),
                  "DaemonSet": ("spec", "template", "spec"), "Job": ("spec", "template", "spec")}


def pinned(obj: dict[str, Any], nodes: Sequence[str],
           tolerations: Sequence[tuple[str, str, str]] = ()) -> dict[str, Any]:
    """`obj` with its pods required onto `nodes` by node name (matchFields metadata.name holds on any cluster,
    unlike the hostname label) and tolerating `tolerations`. The field takes one name per term and terms are
    ORed: each term the object already has becomes one term per node."""
    path = POD_SPEC_PATHS.get(obj.get("kind", ""))
    if (not nodes and not tolerations) or path is None:
        return obj
    obj = copy.deepcopy(obj)
    spec = obj
    for key in path:
        spec = spec.setdefault(key, {})
    spec["tolerations"] = [*spec.get("tolerations", []), *({"key": k, "operator": "Equal", "value": v, "effect": e}
                                                           for k, v, e in tolerations)]
    if not spec["tolerations"]:
        del spec["tolerations"]
    if not nodes:
        return obj
    required = spec.setdefault("affinity", {}).setdefault("nodeAffinity", {}).setdefault(
        "requiredDuringSchedulingIgnoredDuringExecution", {})
    terms = required.get("nodeSelectorTerms") or [{}]
    required["nodeSelectorTerms"] = [
        {**term, "matchFields": [*term.get("matchFields", []),
                                 {"key": "metadata.name", "operator": "In", "values": [node]}]}
        for term in terms for node in nodes]
    return obj
