"""SIGINT and SIGTERM during a kubelet fault: the harness heals what it injected, deletes its namespaces, says
so in one line and exits 130 / 143. Printed as a table: signal -> exit -> the line -> what was left."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.journal import Journal
from harness.kube import Cluster
from harness.nodes import KindNodeAccess
from harness.waits import node_condition, watch_until

pytestmark = [pytest.mark.disruptive, pytest.mark.slow]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_a_kubelet_fault_heals_and_cleans_up(cluster: Cluster, tmp_path: Path,
                                                             signum: signal.Signals) -> None:
    journal = tmp_path / "journal.json"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "--kubeconfig", str(cluster.kubeconfig),
                             "--journal", str(journal), "run", "s09_kubelet_stop_deployment", "--report-dir",
                             str(tmp_path / "reports")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    docker = KindNodeAccess()
    node = run_id = None
    try:
        deadline = time.monotonic() + 240
        while node is None or docker.kubelet_active(node):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run never stopped a kubelet"
            entries = Journal(journal).entries() if journal.exists() else []
            node = next((e.fault["node"] for e in entries if e.fault["type"] == "kubelet-stop"), None)
            run_id = next((e.run_id for e in entries), run_id)
            time.sleep(0.5)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        if node:
            kubelet_was_active = docker.kubelet_active(node)
            docker.kubelet_start(node)  # the test's own heal, whatever the harness did
    faults_left = [e.fault for e in Journal(journal).entries() if e.fault["type"] != "run-leftovers"]
    namespaces_left = [n.metadata.name for n in cluster.core.list_namespace(
        label_selector=f"chaos-harness/run-id={run_id}").items]
    # stderr also carries the progress lines (what the run waited for); the verdict on the signal is the last.
    last = err.strip().splitlines()[-1]
    print(f"\n| {signum.name} during a kubelet fault | exit {proc.returncode} | {last} | kubelet active: "
          f"{kubelet_was_active}, faults left: {faults_left}, namespaces left: {namespaces_left} |")
    assert proc.returncode == 128 + signum
    assert f"interrupted by {signum.name}" in last and "Traceback" not in err
    assert sum("interrupted by" in line for line in err.splitlines()) == 1
    assert "every injected fault was healed" in last
    assert kubelet_was_active and faults_left == [] and namespaces_left == []
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")
