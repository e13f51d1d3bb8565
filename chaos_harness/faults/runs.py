"""Not faults: what a run creates and must remove (its namespaces, its agent), journaled for the run's lifetime so
that `cleanup` removes what a killed run left."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.kube import Cluster
from chaos_harness.core.labels import RUN_LABEL
from chaos_harness.faults.base import FaultContext, spec_of
from chaos_harness.faults.journal import Journal


@dataclass(frozen=True)
class RunLeftovers:
    """Not a fault: what a run creates and must remove, journaled for the run's lifetime so that `cleanup`
    removes what a killed run left. Healing deletes every namespace labelled with the run id (its scenario
    namespaces and its node-agent namespace; deleting the agent also releases any kubelet it held)."""

    type: ClassVar[str] = "run-leftovers"
    run_id: str

    def inject(self, ctx: FaultContext) -> None:
        """Nothing to inject: the run itself creates the namespaces."""

    def verify_injected(self, ctx: FaultContext) -> str:
        return f"run {self.run_id} registered"

    def heal(self, ctx: FaultContext) -> None:
        from chaos_harness.core.namespaces import delete_namespace

        with api_errors(f"listing the namespaces of run {self.run_id}"):
            found = ctx.cluster.core.list_namespace(label_selector=f"{RUN_LABEL}={self.run_id}", _request_timeout=10)
        for ns in found.items:
            delete_namespace(ctx.cluster, ns.metadata.name, deadline_seconds=300)


# The runs this process registered (their leftovers journaled), so that the line printed on a signal can say
# whether anything was created at all. Process-wide on purpose: a signal ends the whole process.
STARTED_RUNS: list[str] = []


@contextmanager
def run_registered(cluster: Cluster, journal: Journal, run_id: str) -> Iterator[None]:
    """Journal the run's leftovers for its lifetime. The entry goes once the run has removed them itself (a
    normal end: its `finally` blocks deleted its namespaces and waited). On any exception, a signal or a crash
    in the final delete alike, it goes only when every namespace of the run is seen being deleted; otherwise
    it stays, for `cleanup`."""
    entry = journal.add(spec_of(RunLeftovers(run_id)), cluster.fingerprint().kube_system_uid, cluster.context, run_id)
    STARTED_RUNS.append(run_id)
    try:
        yield
    except BaseException:
        # The API server finishes a deletion already asked for; anything else is cleanup's to remove.
        if leftovers_going(cluster, run_id):
            journal.remove(entry.id)
        raise
    journal.remove(entry.id)


def leftovers_going(cluster: Cluster, run_id: str) -> bool:
    """Every namespace labelled with the run id is being deleted (or gone). False when that cannot be told."""
    try:
        found = cluster.core.list_namespace(label_selector=f"{RUN_LABEL}={run_id}", _request_timeout=5).items
    except Exception:
        return False
    return all(ns.metadata.deletion_timestamp is not None for ns in found)
