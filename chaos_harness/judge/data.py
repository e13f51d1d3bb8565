"""Checkers of the data: every acknowledged write read back from every replica that should hold it (durability), and reads through a load-balanced Service reaching every replica."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from chaos_harness.judge.evidence import expected_replicas, facts
from chaos_harness.judge.verdicts import Verdict, checker, lacking
from chaos_harness.record.events import Event, of_kind


def durability_if_probed(events: Sequence[Event], replicas: Iterable[str] | None = None) -> list[Verdict]:
    """The durability verdict when the scenario wrote into its workload; none when a user's target was run
    without a probe (nothing was written, and the run's facts say so: durability was not part of the claim).
    `replicas` default: every replica the workload says is readable (not the ones that happened to be read)."""
    if facts(events).get("probe") == "none":
        return []
    return [durability(events, expected_replicas(events) if replicas is None else list(replicas))]


def recorded_durability(events: Sequence[Event], replicas: Iterable[str], writes_to: str = "") -> tuple[int, Any]:
    """(writes, DurabilityVerdict) from the history: the "write" events sent to a target starting with
    `writes_to`, against each replica's last recorded read ("read-keys" events)."""
    from chaos_harness.judge.durability import check_durability
    from chaos_harness.record.events import WriteRecord

    writes = [WriteRecord(**{k: ev[k] for k in WriteRecord.__dataclass_fields__ if k in ev})
              for ev in of_kind(events, "write") if str(ev.get("target", "")).startswith(writes_to)]
    wanted = set(replicas)
    reads = {ev["replica"]: ev["keys"] for ev in of_kind(events, "read-keys") if ev["replica"] in wanted}
    # A user's target (written through a probe) holds other data too; the bundled workload starts empty.
    return len(writes), check_durability(writes, reads, shared_store=facts(events).get("probe") == "yes")


@checker("durability", reads=('write', 'read-keys'), replicas="the replicas to read back named by the workload",
         acknowledged="at least one acknowledged write", every_replica_read="a read of every expected replica")
def durability(events: Sequence[Event], replicas: Iterable[str], writes_to: str = "", name: str = "durability") -> Verdict:
    """Every acknowledged write is on every expected replica's last read; unknown outcomes may be present,
    failed ones must not."""
    replicas = list(replicas)
    writes, verdict = recorded_durability(events, replicas, writes_to)
    unread = sorted(set(replicas) - {r.replica for r in verdict.replicas})
    figures = {"acknowledged": float(verdict.acknowledged), "unknown": float(verdict.unknown),
               "failed": float(verdict.failed)}
    if missing := lacking("durability", replicas=replicas, acknowledged=verdict.acknowledged,
                          every_replica_read=not unread):
        detail = f"; never read: {', '.join(unread)}" if unread and replicas else ""
        return Verdict(name, "unknown", f"{missing.summary}: {writes} write(s), {verdict.acknowledged} acknowledged"
                       f"{detail}", missing.evidence, figures)
    return Verdict(name, "pass" if verdict.ok else "fail", verdict.explain(), figures=figures)


@checker("reads-reach-every-replica", reads=("read", "write"), replicas="the replicas' server ids named",
         rows="at least one acknowledged row", read="a read recorded")
def reads_reach_every_replica(events: Sequence[Event], server_ids: Iterable[int], rows: int) -> Verdict:
    """Reads through a load-balanced Service (recorded as `read` events with server_id and rows) reached every
    replica, and each returned all `rows` acknowledged rows."""
    name = "reads-reach-every-replica"
    want = set(server_ids)
    seen: dict[int, int] = {}
    for ev in of_kind(events, "read"):
        seen[ev["server_id"]] = max(seen.get(ev["server_id"], 0), ev["rows"])
    if missing := lacking(name, replicas=want, rows=rows > 0, read=seen):
        return missing
    short = {sid: n for sid, n in seen.items() if n < rows}
    if set(seen) != want or short:
        return Verdict(name, "fail", f"reached server ids {sorted(seen)} (want {sorted(want)}); short of {rows} rows: "
                       f"{short}", ({"rows_by_server_id": seen},))
    return Verdict(name, "pass", f"reads reached server ids {sorted(seen)}, each with all {rows} rows",
                   ({"rows_by_server_id": seen},))
