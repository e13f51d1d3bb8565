"""Faults inject and heal; nothing else. Each is a small object with inject / verify_injected / heal and a
spec (a plain dict) that the journal stores and `chaos-harness cleanup` rebuilds it from (base.py).

The families: node.py (kubelet stop, pause, partition, drain), pod.py (delete, container kill),
statefulset.py (scale, rollout restart); registry.py lists them all. `FaultSession.injected(fault)`
(session.py) is the only way faults are applied: journaled before injecting (journal.py), marked in the
history, healed on exit. runs.py journals what a run creates; cleanup.py heals what a killed run left.

The names below are the scenarios' contract: `from chaos_harness.faults import pod_delete, KubeletStop`.
"""

from chaos_harness.faults.base import Fault, FaultContext, Unverified, spec_of
from chaos_harness.faults.cleanup import fault_from_spec, heal_journal
from chaos_harness.faults.node import KubeletStop, NetworkPartition, NodeDrain, NodePause
from chaos_harness.faults.pod import ContainerKill, PodDelete, node_running_pod, pod_delete, pods_by_label
from chaos_harness.faults.registry import FAULT_TYPES, NODE_FAULTS
from chaos_harness.faults.runs import STARTED_RUNS, RunLeftovers, run_registered
from chaos_harness.faults.session import FaultSession
from chaos_harness.faults.statefulset import RolloutRestart, StatefulSetScale

__all__ = ["FAULT_TYPES", "NODE_FAULTS", "STARTED_RUNS", "ContainerKill", "Fault", "FaultContext", "FaultSession",
           "KubeletStop", "NetworkPartition", "NodeDrain", "NodePause", "PodDelete", "RolloutRestart",
           "RunLeftovers", "StatefulSetScale", "Unverified", "fault_from_spec", "heal_journal", "node_running_pod",
           "pod_delete", "pods_by_label", "run_registered", "spec_of"]
