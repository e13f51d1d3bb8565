"""`chaos-harness cleanup` heals what a crashed run left behind, and only on the cluster it belongs to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chaos_harness.faults.journal import Journal
from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.core.waits import node_condition, watch_until

pytestmark = [pytest.mark.disruptive]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chaos_harness", *args], capture_output=True, text=True, timeout=120)


def test_cleanup_heals_a_kubelet_left_stopped_by_a_crashed_run(cluster: Cluster, side_lane,
                                                               tmp_path: Path) -> None:
    node = side_lane.nodes[0]
    access = KindNodeAccess()
    journal = Journal(tmp_path / "journal.json")
    # What a run does before it crashes: journal (in a process that is gone by now), then inject.
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from chaos_harness.faults.journal import Journal; "
                    "Journal(Path(sys.argv[1])).add({'type': 'kubelet-stop', 'node': sys.argv[2]}, sys.argv[3], "
                    "sys.argv[4], 'crashed')", str(journal.path), node, cluster.fingerprint().kube_system_uid,
                    cluster.context], check=True)
    try:
        access.kubelet_stop(node)
        assert not access.kubelet_active(node)
        result = run_cli("--kubeconfig", str(cluster.kubeconfig), "--journal", str(journal.path), "cleanup")
        assert result.returncode == 0, result.stderr
        assert "healed kubelet-stop" in result.stdout
        assert access.kubelet_active(node), "cleanup did not start the kubelet again"
        assert journal.entries() == []
    finally:
        access.kubelet_start(node)  # the test's own heal, whatever cleanup did
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")


def test_cleanup_never_heals_another_clusters_entry_and_forgets_it_only_when_told(cluster: Cluster,
                                                                                  tmp_path: Path) -> None:
    """An entry of another cluster (a kind cluster deleted and created again is one) is not this cluster's to heal:
    cleanup leaves it in the journal and says where it belongs; this cluster is healed (exit 0), so a journal
    that outlived its cluster never fails every later cleanup. --forget-other-clusters drops it."""
    journal = Journal(tmp_path / "journal.json")
    journal.add({"type": "kubelet-stop", "node": "chaos-worker"}, "some-other-cluster-uid", "kind-other", "run")
    result = run_cli("--kubeconfig", str(cluster.kubeconfig), "--journal", str(journal.path), "cleanup")
    assert result.returncode == 0, result.stderr
    assert "belongs to cluster some-other-cluster-uid" in result.stderr and "left in the journal" in result.stderr
    assert "healed" not in result.stdout
    assert len(journal.entries()) == 1, "an entry of another cluster must stay in the journal"
    forgot = run_cli("--kubeconfig", str(cluster.kubeconfig), "--journal", str(journal.path), "cleanup",
                     "--forget-other-clusters")
    assert forgot.returncode == 0 and "forgotten" in forgot.stderr, forgot.stderr
    assert journal.entries() == []


def test_cleanup_skips_a_fault_whose_run_is_still_alive(cluster: Cluster, tmp_path: Path) -> None:
    """This very process journals a fault: it is alive, so its own `finally` heals it; cleanup leaves it
    (and says so) unless --force."""
    journal = Journal(tmp_path / "journal.json")
    journal.add({"type": "run-leftovers", "run_id": "alive-run"}, cluster.fingerprint().kube_system_uid,
                cluster.context, "alive-run")
    result = run_cli("--kubeconfig", str(cluster.kubeconfig), "--journal", str(journal.path), "cleanup")
    assert result.returncode == 0, result.stderr
    assert "skipped run-leftovers of run alive-run" in result.stdout and len(journal.entries()) == 1
    forced = run_cli("--kubeconfig", str(cluster.kubeconfig), "--journal", str(journal.path), "cleanup", "--force")
    assert forced.returncode == 0, forced.stderr
    assert journal.entries() == []
