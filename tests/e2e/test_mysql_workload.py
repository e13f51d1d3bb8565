"""The tutorial's replicated MySQL StatefulSet on the live cluster: ordered start, replication, stable
storage across pod deletion, and the emptyDir variant's data loss."""

from __future__ import annotations

import threading
import time

import pytest
from harness.errors import HarnessError
from harness.kube import Cluster
from harness.testbed.images import MySQLImages
from harness.waits import watch_until
from harness.workload import deploy
from harness.workload.durability import check_durability
from harness.workload.ledger import Ledger
from harness.workload.mysql_client import Writer, ensure_schema, read_keys
from harness.workload.mysql_cluster import MySQLWorkload

pytestmark = [pytest.mark.slow]


def delete_pod_and_wait_replaced(cluster: Cluster, namespace: str, pod: str, grace: int | None = None) -> str:
    """Delete `pod` and wait until a pod of the same name with a new UID exists. Returns the new UID."""
    old_uid = cluster.core.read_namespaced_pod(pod, namespace).metadata.uid
    cluster.core.delete_namespaced_pod(pod, namespace, grace_period_seconds=grace)
    new, _ = watch_until(cluster.core.list_namespaced_pod, lambda p: p.metadata.uid != old_uid, 120,
                         f"{pod} re-created", namespace=namespace, field_selector=f"metadata.name={pod}")
    return new.metadata.uid


def write_rows(workload: MySQLWorkload, ordinal: int, count: int) -> Ledger:
    ledger = Ledger()
    with workload.endpoint(ordinal) as endpoint:
        ensure_schema(endpoint)
        writer = Writer(endpoint, ledger)
        writer.run(threading.Event(), count=count)
        writer.close()
    return ledger


def wait_replicated(workload: MySQLWorkload, ordinal: int, expected: set[int], deadline: float = 60) -> set[int]:
    with workload.endpoint(ordinal) as endpoint:
        end = time.monotonic() + deadline
        keys: set[int] = set()
        while time.monotonic() < end:
            keys = read_keys(endpoint)
            if expected <= keys:
                return keys
            time.sleep(0.5)  # replication is asynchronous; poll the replica until it caught up
    return keys


def test_replicated_mysql_comes_up_in_order_replicates_and_keeps_pvc(cluster: Cluster, namespace: str,
                                                                      mysql_images: MySQLImages) -> None:
    workload = MySQLWorkload(cluster, namespace, mysql_images)
    timeline, waited = workload.deploy()
    print(f"mysql 3/3 Ready after {waited:.1f}s ({mysql_images.flavour} images)")
    assert not timeline.ordered_ready_violations("mysql", 3), timeline.ordered_ready_violations("mysql", 3)

    ledger = write_rows(workload, 0, 300)
    assert [r.outcome for r in ledger] == ["ok"] * 300
    latencies = sorted(r.latency for r in ledger)
    elapsed = ledger.records()[-1].completed_mono - ledger.records()[0].invoked_mono
    print(f"writer through port-forward: {300 / elapsed:.0f} writes/s, p50 {latencies[150] * 1000:.1f} ms, "
          f"p99 {latencies[297] * 1000:.1f} ms")
    acknowledged = {r.key for r in ledger}

    reads = {workload.pod(i): wait_replicated(workload, i, acknowledged) for i in range(3)}
    verdict = check_durability(ledger, reads)
    assert verdict.ok, verdict.explain()

    # Reads through the mysql-read Service reach every replica (each has its own server-id 100+ordinal).
    seen: dict[int, int] = {}
    for _ in range(90):
        try:
            out = workload.sql_in_cluster("SELECT @@server_id, COUNT(*) FROM chaos.ledger", "mysql-read").split()
            seen[int(out[0])] = int(out[1])
        except (HarnessError, ValueError, IndexError):
            # in-cluster DNS or the exec stream can hiccup (e.g. CoreDNS rescheduled by an earlier drain test)
            time.sleep(0.5)
        if len(seen) == 3:
            break
    assert set(seen) == {100, 101, 102}, f"mysql-read reached only server ids {sorted(seen)}"
    assert set(seen.values()) == {300}, f"row counts per server id through mysql-read: {seen}"

    claim, volume = workload.pvc_of(1)
    started = time.monotonic()
    delete_pod_and_wait_replaced(cluster, namespace, "mysql-1")
    workload.wait_ready()
    print(f"mysql-1 deleted -> Ready again after {time.monotonic() - started:.1f}s")
    assert workload.pvc_of(1) == (claim, volume), "mysql-1 came back with a different PVC or volume"
    with workload.endpoint(1) as endpoint:
        assert acknowledged <= read_keys(endpoint), "mysql-1 lost rows across re-creation"


@pytest.mark.parametrize("variant,keeps_data", [(deploy.EPHEMERAL, False), (deploy.REPLICATED, True)])
def test_pod_deletion_loses_emptydir_data_but_not_pvc_data(cluster: Cluster, namespace: str, mysql_images: MySQLImages,
                                                           variant: str, keeps_data: bool) -> None:
    # One replica is enough to show what the volume keeps; the replicated set is covered above.
    workload = MySQLWorkload(cluster, namespace, mysql_images, variant, replicas=1)
    workload.deploy()
    ledger = write_rows(workload, 0, 50)
    assert len(ledger.by_outcome("ok")) == 50

    delete_pod_and_wait_replaced(cluster, namespace, workload.pod(0))
    workload.wait_ready()
    with workload.endpoint(0) as endpoint:
        present = read_keys(endpoint)
    verdict = check_durability(ledger, {workload.pod(0): present})
    if keeps_data:
        assert verdict.ok, verdict.explain()
    else:
        assert verdict.replicas[0].lost == tuple(sorted(r.key for r in ledger)), (
            f"the emptyDir pod should come back empty, it holds {len(present)} rows")
