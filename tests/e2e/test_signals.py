"""Signals as a table: SIGINT, SIGTERM, and SIGKILL followed by `chaos-harness cleanup`, each at four phases
(before injection, during a kubelet fault, during its heal, during the deletion of the run's namespace).
Afterwards: every kubelet active, every node Ready and schedulable, the journal empty, no namespace of the run
left; SIGINT/SIGTERM exit 130/143 with one line and no traceback. Printed with -s."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chaos_harness.faults.journal import Journal
from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.core.waits import node_condition, watch_until

if TYPE_CHECKING:
    from conftest import SideLane

pytestmark = [pytest.mark.disruptive, pytest.mark.slow]

SCENARIOS = Path(__file__).resolve().parent / "signal_scenarios"
PHASES = {"before-injection": "PHASE before-injection", "during-fault": "PHASE during-fault",
          "during-heal": "PHASE during-heal", "namespace-deletion": "waiting for namespaces"}
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL+cleanup": signal.SIGKILL}


def harness(cluster: Cluster, journal: Path, side: "SideLane", *args: str) -> list[str]:
    return [sys.executable, "-m", "chaos_harness", "--kubeconfig", str(cluster.kubeconfig), "--journal", str(journal),
            "--scenarios", str(SCENARIOS), "--target-nodes", side.selector, *args]


def wait_for_line(proc: subprocess.Popen, marker: str, deadline: float, times: int = 1) -> list[str]:
    """Read the run's merged output until `marker` appeared `times` times (the phase has started). Counted per
    occurrence, not per line: two worker threads printing at once can put both markers on one line."""
    seen: list[str] = []
    found = 0
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        found += line.count(marker)
        if found >= times:
            return seen
    raise AssertionError(f"never reached {marker!r} {times} time(s) (seen {found}): {seen[-10:]}")


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("sig", list(SIGNALS))
def test_a_signal_at_any_phase_leaves_nothing_behind(cluster: Cluster, side_lane: "SideLane", tmp_path: Path,
                                                     sig: str, phase: str) -> None:
    node = side_lane.nodes[-1]
    journal = tmp_path / "journal.json"
    env = {**__import__("os").environ, "SIGNAL_NODE": node, "PYTHONUNBUFFERED": "1"}
    if phase == "namespace-deletion":
        env["SIGNAL_SLOW_NAMESPACE"] = "1"
    proc = subprocess.Popen(harness(cluster, journal, side_lane, "run", "sig_phases", "--report-dir",
                                    str(tmp_path / "r")),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    docker = KindNodeAccess()
    cleanup = None
    try:
        wait_for_line(proc, PHASES[phase], time.monotonic() + 180)
        run_id = next(e.run_id for e in Journal(journal).entries())
        proc.send_signal(SIGNALS[sig])
        out, _ = proc.communicate(timeout=120)
        if sig == "SIGKILL+cleanup":
            cleanup = subprocess.run(harness(cluster, journal, side_lane, "cleanup"), capture_output=True,
                                     text=True, timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        kubelet_active = docker.kubelet_active(node)
        docker.kubelet_start(node)  # the test's own heal, whatever the harness did
    last = (cleanup.stdout.strip() if cleanup else out.strip()).splitlines()[-1] if (cleanup or out.strip()) else ""
    faults_left = [e.fault["type"] for e in Journal(journal).entries()]
    gone = wait_namespaces_gone(cluster, run_id)
    node_obj = cluster.core.read_node(node)
    print(f"\n| {sig} | {phase} | exit {proc.returncode} | {last[:150]} | kubelet active: {kubelet_active}, "
          f"journal: {faults_left or 'empty'}, run namespaces gone: {gone}, node schedulable: "
          f"{not node_obj.spec.unschedulable} |")
    assert kubelet_active and faults_left == [] and gone and not node_obj.spec.unschedulable
    if sig == "SIGKILL+cleanup":
        assert proc.returncode == -signal.SIGKILL and cleanup is not None and cleanup.returncode == 0
    else:
        assert proc.returncode == 128 + SIGNALS[sig], out[-2000:]
        assert f"interrupted by {sig}" in last and "Traceback" not in out
        assert sum("interrupted by" in line for line in out.splitlines()) == 1
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")


def wait_namespaces_gone(cluster: Cluster, run_id: str, deadline_seconds: float = 90) -> bool:
    """The run asked for its namespaces' deletion (or cleanup did); they go within their pods' grace period."""
    end = time.monotonic() + deadline_seconds
    while time.monotonic() < end:
        if not cluster.core.list_namespace(label_selector=f"chaos-harness/run-id={run_id}").items:
            return True
        time.sleep(1)  # a namespace's absence has no event to wait on once the list is empty
    return False


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_signal_with_two_node_faults_in_flight_heals_both(cluster: Cluster, side_lane: "SideLane", tmp_path: Path,
                                                           sig: str) -> None:
    """Scenarios side by side (the CLI's worker threads), each holding a kubelet stop on its own node: one
    signal heals both, deletes both namespaces, prints one line and exits 130/143."""
    node_a, node_b = side_lane.nodes[:2]
    journal = tmp_path / "journal.json"
    env = {**__import__("os").environ, "SIGNAL_NODE_A": node_a, "SIGNAL_NODE_B": node_b, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(harness(cluster, journal, side_lane, "run", "sig_two_a", "sig_two_b", "--parallel", "2",
                                    "--report-dir", str(tmp_path / "r")),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    docker = KindNodeAccess()
    try:
        deadline = time.monotonic() + 180
        seen = wait_for_line(proc, "PHASE two-faults", deadline, times=2)
        in_flight = [e.fault["node"] for e in Journal(journal).entries() if e.fault["type"] == "kubelet-stop"]
        stopped = [n for n in (node_a, node_b) if not docker.kubelet_active(n)]
        run_id = next(e.run_id for e in Journal(journal).entries())
        signalled = time.monotonic()
        proc.send_signal(getattr(signal, sig))
        out, _ = proc.communicate(timeout=120)
        healed_in = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            proc.kill()
        active = {n: docker.kubelet_active(n) for n in (node_a, node_b)}
        for n in (node_a, node_b):
            docker.kubelet_start(n)  # the test's own heal, whatever the harness did
    out = "\n".join(seen) + "\n" + out
    last = out.strip().splitlines()[-1]
    gone = wait_namespaces_gone(cluster, run_id)
    print(f"\n| {sig} | two kubelet faults in flight | exit {proc.returncode} after {healed_in:.1f}s | {last[:150]} | "
          f"kubelets active: {active}, journal: {[e.fault['type'] for e in Journal(journal).entries()] or 'empty'}, "
          f"run namespaces gone: {gone} |")
    assert sorted(in_flight) == sorted([node_a, node_b]) and sorted(stopped) == sorted([node_a, node_b]), out[-2000:]
    assert proc.returncode == 128 + getattr(signal, sig), out[-3000:]
    assert all(active.values()) and Journal(journal).entries() == [] and gone
    assert f"interrupted by {sig}" in last and "Traceback" not in out
    assert sum("interrupted by" in line for line in out.splitlines()) == 1
    for n in (node_a, node_b):
        watch_until(cluster.core.list_node, lambda o: node_condition(o) == "True", 120, f"{n} Ready",
                    field_selector=f"metadata.name={n}")


def test_a_run_paused_past_its_run_lease_is_fenced_off_and_says_who_took_it(cluster: Cluster,
                                                                            side_lane: "SideLane",
                                                                            tmp_path: Path) -> None:
    """Run A holds the run Lease and is paused (SIGSTOP) past its duration; run B, watching the Lease stand still
    on its own clock, takes it over. A, woken, finds the Lease another's: it injects nothing, ends `aborted` (exit
    5) naming B, and B's run goes on."""
    import os

    node = side_lane.nodes[-1]
    lock = f"fence-test-{int(time.time())}"
    env = {k: v for k, v in os.environ.items() if k != "CHAOS_HARNESS_RUN_GROUP"}  # two runs, two groups
    env.update(SIGNAL_NODE=node, PYTHONUNBUFFERED="1")
    a = subprocess.Popen(harness(cluster, tmp_path / "a.json", side_lane, "--run-lock", lock, "run", "sig_fenced",
                                 "--report-dir", str(tmp_path / "a")),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    b = None
    try:
        wait_for_line(a, "PHASE holding", time.monotonic() + 180)
        a.send_signal(signal.SIGSTOP)
        paused = time.monotonic()
        b = subprocess.Popen(harness(cluster, tmp_path / "b.json", side_lane, "--run-lock", lock, "run", "sig_fenced",
                                     "--wait-for-run", "180", "--report-dir", str(tmp_path / "b")),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env={**env, "SIGNAL_TAKER": "1"})
        wait_for_line(b, "PHASE taken", time.monotonic() + 240)
        took = time.monotonic() - paused
        a.send_signal(signal.SIGCONT)
        # Each run ends by confirming its namespaces gone, within the reaper's own 300 s deadline
        # (core/namespaces.py): a busy machine took A past the 120 s this test used to allow (ci4).
        out_a, _ = a.communicate(timeout=300 + 60)
        out_b, _ = b.communicate(timeout=300 + 60)
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
    import re

    print(f"B took the Lease {took:.0f}s after A was paused (A's Lease: 30 s, then 30 s watched on B's clock)")
    print(out_a[-1500:])
    assert "PHASE injected" not in out_a, "a run that lost its run Lease injected a fault"
    assert a.returncode == 5, (a.returncode, out_a[-2000:])
    named = re.search(r"lost the run lock to run (\S+) on ", out_a)
    assert named and (tmp_path / "b" / named.group(1)).is_dir(), out_a[-2000:]  # B's run, by its run directory
    assert b.returncode == 0, out_b[-2000:]
    assert took >= 30, "B took the Lease before it had watched it stand still for its duration"
    assert KindNodeAccess().kubelet_active(node)
