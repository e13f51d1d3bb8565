"""What every fault is: inject / verify_injected / heal on a FaultContext, and a spec (a plain dict) that the
journal stores and `chaos-harness cleanup` rebuilds the fault from."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.access import DEFAULT_TIME_BOX_SECONDS, NodeAccess

CHAOS_COMMENT = "chaos-harness"


@dataclass(frozen=True)
class FaultContext:
    cluster: Cluster
    nodes: NodeAccess
    # The nodes faults may touch (--target-nodes); None: not restricted (a test's own context).
    target_nodes: frozenset[str] | None = None
    # The longest a node fault may hold before the node undoes it itself (ClusterTiming.fault_time_box).
    time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS

    def access_record(self) -> dict[str, str]:
        """What the journal keeps so that `cleanup` heals through the same access (the agent's namespace
        follows from the entry's run id)."""
        return {"name": self.nodes.name}


class Fault(Protocol):
    type: ClassVar[str]

    def inject(self, ctx: FaultContext) -> None: ...

    def verify_injected(self, ctx: FaultContext) -> str: ...

    def heal(self, ctx: FaultContext) -> None: ...


def spec_of(fault: Fault) -> dict[str, Any]:
    return {"type": fault.type, **asdict(fault)}  # type: ignore[call-overload]


class Unverified(str):
    """Evidence that says the fault's effect could not be read (the check itself failed): recorded with
    verified=False, never as if it had been seen."""
