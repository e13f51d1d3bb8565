"""Healing what the journal holds: the faults and leftovers a crashed or killed run left (`chaos-harness cleanup`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos_harness.core.errors import CleanupError, FaultError
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


@dataclass
class Healing:
    """What `heal_journal` did: healed and skipped entries, and those of other clusters it left (or forgot)."""

    healed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    other_clusters: list[str] = field(default_factory=list)


def heal_journal(cluster: Cluster, journal: Journal, access_for: Callable[[JournalEntry], NodeAccess],
                 force: bool = False, forget_other_clusters: bool = False) -> Healing:
    """Heal what crashed runs left in the journal, each fault through the node access that injected it
    (`access_for`); a run's leftovers (namespaces, agent) last. Entries whose writer still runs are skipped
    (its own `finally` heals them) unless `force`. An entry of another cluster is never healed here: it is left in
    the journal and reported (a kind cluster deleted and created again is another cluster, and so is the one a
    context was re-pointed from), or dropped when `forget_other_clusters` says its cluster is gone."""
    uid = cluster.fingerprint().kube_system_uid
    done, failures = Healing(), []
    entries = sorted(journal.entries(), key=lambda e: e.fault.get("type") == RunLeftovers.type)
    for entry in entries:
        if entry.cluster_uid != uid:
            done.other_clusters.append(_other_cluster(entry, cluster, uid, forget_other_clusters))
            if forget_other_clusters:
                journal.remove(entry.id)
            continue
        if not force and entry.owner_alive():
            done.skipped.append(f"{entry.fault['type']} of run {entry.run_id}: its process {entry.owner.get('pid')} "
                                f"still runs (--force heals it anyway)")
            continue
        try:
            fault_from_spec(entry.fault).heal(FaultContext(cluster, access_for(entry)))
        except Exception as e:
            failures.append(f"{entry.fault}: {e}")
            continue
        journal.remove(entry.id)
        through = f" (through {entry.access['name']})" if entry.access.get("name") else ""
        done.healed.append(f"{entry.fault['type']} {entry.fault}{through}")
    if failures:
        raise CleanupError("could not heal: " + "; ".join(failures))
    return done


def _other_cluster(entry: JournalEntry, cluster: Cluster, uid: str, forgotten: bool) -> str:
    what = (f"journal entry {entry.id} ({entry.fault.get('type')} of run {entry.run_id}) belongs to cluster "
            f"{entry.cluster_uid} (context {entry.context} when written), not to {cluster.context} ({uid})")
    if forgotten:
        return f"{what}: forgotten (--forget-other-clusters)"
    return (f"{what}: left in the journal; heal it with a kubeconfig that reaches that cluster, or drop it with "
            f"'cleanup --forget-other-clusters' if that cluster no longer exists")
