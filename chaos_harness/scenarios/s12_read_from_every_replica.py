"""S12: replication, seen through the mysql-read Service."""

from __future__ import annotations

from chaos_harness.core.errors import HarnessError
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.core.waits import poll_until
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv

HYPOTHESIS = ("The replicated MySQL StatefulSet starts in order (each pod Ready before the next); rows written through mysql-0.mysql (the primary) are read back through the mysql-read Service "
              "from every replica (server ids 100, 101, 102), each with all acknowledged rows.")
FAULTS = ()
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 30  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True

ROWS = 300


def run(env: ScenarioEnv) -> None:
    with env.recording():
        mysql = env.mysql()
        mysql.apply()
        # The rows go in through the primary as soon as it is Ready, while the replicas clone it and start in
        # order: what each replica holds then comes from its clone and from replication alike.
        mysql.wait_ready(600, first=1)
        ledger = env.write_rows(mysql, ROWS)
        mysql.wait_ready(600)
        records = ledger.records()
        elapsed = records[-1].completed_mono - records[0].invoked_mono
        latencies = sorted(r.latency for r in records)
        env.figures.update(writes_per_second=len(records) / elapsed, p50_ms=latencies[len(latencies) // 2] * 1000,
                           p99_ms=latencies[int(len(latencies) * 0.99) - 1] * 1000)
        acknowledged = len(ledger.by_outcome("ok"))
        # mysql-read balances connections over the Ready replicas: ask until every server id has answered
        # with all rows (replicas apply the primary's log asynchronously).
        best: dict[int, int] = {}

        def every_replica_answered() -> bool | None:
            try:
                out = mysql.sql_in_cluster("SELECT @@server_id, COUNT(*) FROM chaos.ledger", "mysql-read").split()
                server_id, rows = int(out[0]), int(out[1])
            except (HarnessError, ValueError, IndexError) as e:
                env.history.record("read-error", error=str(e)[:200])  # DNS or exec hiccup: ask again
                return None
            env.history.record("read", via="mysql-read", server_id=server_id, rows=rows)
            best[server_id] = max(best.get(server_id, 0), rows)
            return (len(best) == 3 and min(best.values()) >= acknowledged) or None

        # What was read by the deadline is the record: the checker judges it.
        poll_until(every_replica_answered, 90, "mysql-read answered by every replica with all rows", 0.1,
                   on_timeout=lambda: False)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    acknowledged = sum(1 for e in events if e["kind"] == "write" and e["outcome"] == "ok")
    return [checkers.ordered_ready(events, "mysql", 3),
            checkers.reads_reach_every_replica(events, (100, 101, 102), acknowledged)]
