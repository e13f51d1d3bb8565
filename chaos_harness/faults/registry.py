"""Every fault type by its name: what the journal's specs are rebuilt from, and what the scheduler asks
whether a fault holds a node. A new fault is one class in a module here, listed below."""

from __future__ import annotations

from chaos_harness.faults.node import KubeletStop, NetworkPartition, NodeDrain, NodePause
from chaos_harness.faults.pod import ContainerKill, PodDelete
from chaos_harness.faults.runs import RunLeftovers
from chaos_harness.faults.statefulset import RolloutRestart, StatefulSetScale

FAULT_TYPES: dict[str, type] = {cls.type: cls for cls in (KubeletStop, PodDelete, ContainerKill, NodePause,
                                                          NetworkPartition, NodeDrain, StatefulSetScale,
                                                          RolloutRestart, RunLeftovers)}
# The faults that take a node away (a scenario holding one runs in a node lane of its own).
NODE_FAULTS = frozenset(t for t, cls in FAULT_TYPES.items() if getattr(cls, "holds", "pods") == "nodes")
