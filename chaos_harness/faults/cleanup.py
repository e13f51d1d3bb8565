"""Healing what the journal holds: the faults and leftovers a crashed or killed run left (`chaos-harness cleanup`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chaos_harness.core.errors import CleanupError, FaultError, GuardError
from chaos_harness.core.kube import Cluster
from chaos_harness.faults.base import Fault, FaultContext
from chaos_harness.faults.journal import Journal, JournalEntry
from chaos_harness.faults.registry import FAULT_TYPES
from chaos_harness.faults.runs import RunLeftovers
from chaos_harness.nodes.access import NodeAccess


def fault_from_spec(spec: dict[str, Any]) -> Fault:
    params = dict(spec)
    kind = params.pop("type")
    if kind not in FAULT_TYPES:
        raise FaultError(f"unknown fault type {kind!r} in journal; known: {sorted(FAULT_TYPES)}")
    return FAULT_TYPES[kind](**params)  # type: ignore[no-any-return]


def heal_journal(cluster: Cluster, journal: Journal, access_for: Callable[[JournalEntry], NodeAccess],
                 force: bool = False) -> tuple[list[str], list[str]]:
    """Heal what crashed runs left in the journal, each fault through the node access that injected it
    (`access_for`); a run's leftovers (namespaces, agent) last. Entries whose writer still runs are skipped
    (its own `finally` heals them) unless `force`. An entry of another cluster is refused and reported; the
    others are still healed. Returns (healed, skipped)."""
    uid = cluster.fingerprint().kube_system_uid
    healed, skipped, failures, foreign = [], [], [], []
    entries = sorted(journal.entries(), key=lambda e: e.fault.get("type") == RunLeftovers.type)
    for entry in entries:
        if entry.cluster_uid != uid:
            foreign.append(f"journal entry {entry.id} ({entry.fault['type']}) belongs to cluster {entry.cluster_uid} "
                           f"(context {entry.context}), not to {cluster.context} ({uid}); refusing to heal it")
            continue
        if not force and entry.owner_alive():
            skipped.append(f"{entry.fault['type']} of run {entry.run_id}: its process {entry.owner.get('pid')} "
                           f"still runs (--force heals it anyway)")
            continue
        try:
            fault_from_spec(entry.fault).heal(FaultContext(cluster, access_for(entry)))
        except Exception as e:
            failures.append(f"{entry.fault}: {e}")
            continue
        journal.remove(entry.id)
        through = f" (through {entry.access['name']})" if entry.access.get("name") else ""
        healed.append(f"{entry.fault['type']} {entry.fault}{through}")
    if failures:
        raise CleanupError("could not heal: " + "; ".join(failures + foreign))
    if foreign:
        raise GuardError("; ".join(foreign) + (f" (healed meanwhile: {'; '.join(healed)})" if healed else ""))
    return healed, skipped
