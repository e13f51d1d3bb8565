"""The writer, the reader and the durability check against a real MySQL-compatible server."""

from __future__ import annotations

import threading
import time

from chaos_harness.judge.durability import check_durability
from chaos_harness.workload.ledger import Ledger
from chaos_harness.workload.mysql_client import Writer, background_writer, ensure_schema, read_keys


def test_writes_are_acknowledged_and_read_back(mysql_server) -> None:
    endpoint = mysql_server.endpoint()
    ensure_schema(endpoint)
    ledger = Ledger()
    writer = Writer(endpoint, ledger)
    writer.run(threading.Event(), count=200)
    writer.close()
    assert len(ledger) == 200
    assert [r.outcome for r in ledger] == ["ok"] * 200
    latencies = sorted(r.latency for r in ledger)
    print(f"200 writes: p50 {latencies[100] * 1000:.1f} ms, p99 {latencies[198] * 1000:.1f} ms")
    verdict = check_durability(ledger, {"server": read_keys(endpoint)})
    assert verdict.ok, verdict.explain()
    assert verdict.replicas[0].present == 200


def test_server_killed_mid_stream_loses_no_acknowledged_write(mysql_server) -> None:
    endpoint = mysql_server.endpoint()
    ensure_schema(endpoint)
    ledger = Ledger()
    writer = Writer(endpoint, ledger)
    with background_writer(writer):
        deadline = time.monotonic() + 60
        while len(ledger.by_outcome("ok")) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        mysql_server.kill()  # SIGKILL: no clean shutdown, writes in flight
        deadline = time.monotonic() + 30
        while not [r for r in ledger if r.outcome != "ok"] and time.monotonic() < deadline:
            time.sleep(0.05)
    acknowledged = ledger.by_outcome("ok")
    not_ok = [r for r in ledger if r.outcome != "ok"]
    assert len(acknowledged) >= 100, "the writer never got going"
    assert not_ok, "killing the server produced no failed or unknown write: the kill did not happen"
    # After the kill, nothing may be acknowledged: the first write that noticed the kill ends the acks.
    first_failure = min(r.invoked_mono for r in not_ok)
    assert all(r.invoked_mono < first_failure for r in acknowledged)

    mysql_server.restart()
    present = read_keys(mysql_server.endpoint())
    verdict = check_durability(ledger, {"server": present})
    assert verdict.ok, verdict.explain()
    print(f"kill mid-stream: {verdict.explain()}")
