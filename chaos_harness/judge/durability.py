"""Durability check: a pure function of the write ledger and what each replica holds after recovery."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chaos_harness.record.events import WriteRecord


@dataclass(frozen=True)
class ReplicaDurability:
    replica: str
    present: int
    lost: tuple[int, ...]               # acknowledged (ok) but absent: the promise broken
    recovered: tuple[int, ...]          # unknown outcome, present: the write did happen
    unexpected: tuple[int, ...]         # present but never written by the workload
    failed_but_present: tuple[int, ...]  # reported failed yet present: the client lied

    @property
    def ok(self) -> bool:
        return not (self.lost or self.unexpected or self.failed_but_present)


@dataclass(frozen=True)
class DurabilityVerdict:
    acknowledged: int
    unknown: int
    failed: int
    replicas: tuple[ReplicaDurability, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return bool(self.replicas) and all(r.ok for r in self.replicas)

    def explain(self) -> str:
        if not self.replicas:
            return "no replica was read: nothing was checked"
        parts = [f"{self.acknowledged} acknowledged, {self.unknown} unknown, {self.failed} failed writes"]
        for r in self.replicas:
            parts.append(f"{r.replica}: {r.present} rows, {_ids('lost', r.lost)}, {len(r.recovered)} recovered, "
                         f"{_ids('unexpected', r.unexpected)}, {_ids('failed but present', r.failed_but_present)}")
        return "; ".join(parts)


def _ids(what: str, ids: tuple[int, ...]) -> str:
    """'none lost', or '2 lost (ids 5, 7)': the first ten ids, then how many more."""
    if not ids:
        return f"none {what}"
    shown = ", ".join(str(i) for i in ids[:10]) + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
    return f"{len(ids)} {what} (ids {shown})"


def check_durability(ledger: Iterable[WriteRecord], reads: Mapping[str, Iterable[int]],
                     shared_store: bool = False) -> DurabilityVerdict:
    """Compare the ledger with the keys each replica holds. A replica with no reads is not silently passed:
    with no replicas at all the verdict is not ok. `shared_store`: the store is a user's, holding data of its
    own and of earlier runs, so a key is "unexpected" only inside the range of keys this run wrote."""
    records = list(ledger)
    acknowledged = {r.key for r in records if r.outcome == "ok"}
    unknown = {r.key for r in records if r.outcome == "unknown"}
    failed = {r.key for r in records if r.outcome == "fail"} - acknowledged - unknown
    written = acknowledged | unknown | failed
    replicas = []
    for replica, keys in sorted(reads.items()):
        present = set(keys)
        if shared_store:
            present = {k for k in present if written and min(written) <= k <= max(written)}
        replicas.append(ReplicaDurability(
            replica=replica,
            present=len(present),
            lost=tuple(sorted(acknowledged - present)),
            recovered=tuple(sorted(unknown & present)),
            unexpected=tuple(sorted(present - written)),
            failed_but_present=tuple(sorted(failed & present)),
        ))
    return DurabilityVerdict(len(acknowledged), len(unknown), len(failed), tuple(replicas))
