"""Safe on a shared cluster, proved on the test bed with the keystore (the cheapest user StatefulSet): one run
at a time (a second waits, a third is refused naming the holder, a SIGKILLed holder's lock is taken over after it
expires), nothing injected into a target with a replica not Ready (not-run), an abort condition that trips during
a kubelet stop and `chaos-harness stop` from a second process (both: healed at once, aborted). Each test runs the
harness as a user does, each run in a process (and so a run group) of its own, on a run lock of its own so that
this pytest session's runs never wait for it. In the main lane (tests/conftest.py): its faults go to the untainted
workers, which no other lane's test touches while it runs. Figures printed with -s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from chaos_harness.assemble.run_lock import GROUP_ENV, LOCK_NAMESPACE, RUNS_ANNOTATION
from chaos_harness.core import namespaces
from chaos_harness.core.kube import Cluster
from chaos_harness.core.waits import node_condition, watch_until
from chaos_harness.faults.journal import Journal
from chaos_harness.record.events import load
from chaos_harness.workload import deploy

pytestmark = [pytest.mark.disruptive]

# The main lane's workers: the untainted ones (the side lanes' carry their lane's taint), never the control plane.
MAIN = "!chaos-harness.test/lane,!node-role.kubernetes.io/control-plane"
PROBE = ["--probe-write", 'sh -c "echo {key} >> /data/keys && sync"', "--probe-read", "cat /data/keys"]


@pytest.fixture
def lock() -> str:
    return f"chaos-harness-run-test-{uuid.uuid4().hex[:6]}"


def env_alone() -> dict[str, str]:
    """The environment of a run of its own: not in this pytest session's run group."""
    return {k: v for k, v in os.environ.items() if k != GROUP_ENV}


def harness(cluster: Cluster, journal: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "chaos_harness", "--kubeconfig", str(cluster.kubeconfig), "--journal", str(journal),
            *args, "--target-nodes", MAIN]


def lease(cluster: Cluster, name: str) -> Any:
    try:
        return client.CoordinationV1Api(cluster.api).read_namespaced_lease(name, LOCK_NAMESPACE)
    except client.exceptions.ApiException as e:
        if e.status == 404:
            return None
        raise


def until(what: str, check: Any, seconds: float) -> Any:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if (found := check()) is not None and found is not False:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {seconds:.0f}s")


@pytest.fixture(scope="module")
def keystore(cluster: Cluster, run_id: str, namespace_reaper, keystore_objects,
             pytestconfig: pytest.Config) -> Iterator[str]:
    from chaos_harness.core.labels import RUN_LABEL

    namespace = f"chaos-{run_id[-4:]}-shared-{uuid.uuid4().hex[:4]}"
    namespaces.create_namespace(cluster, namespace, {RUN_LABEL: run_id})
    try:
        # Tolerating no taint, it lands on the main lane's workers.
        deploy.apply(cluster, namespace, list(keystore_objects(namespace, deploy.helper_image(cluster), 2)))
        yield namespace
    finally:
        if not pytestconfig.getoption("--chaos-keep-namespaces"):
            namespace_reaper.delete(namespace)


@pytest.fixture
def whole(cluster: Cluster, keystore: str) -> str:
    """The keystore 2/2 Ready before each test (and so after the one before it)."""
    deploy.wait_statefulset_ready(cluster, keystore, "keystore", 2, 180)
    return keystore


def results(report_dir: Path) -> dict[str, Any]:
    [path] = list(report_dir.glob("2*/results.json"))
    return json.loads(path.read_text())


def history(report_dir: Path, result: dict[str, Any]) -> list[dict[str, Any]]:
    [run_dir] = list(report_dir.glob("2*/"))
    return load(run_dir / result["history"])


def test_a_second_run_waits_for_the_first_and_a_third_is_refused(cluster: Cluster,
                                                                  whole: str, lock: str, tmp_path: Path) -> None:
    def run(name: str, *extra: str) -> list[str]:
        return harness(cluster, tmp_path / f"{name}.json", "run", "--target", f"{whole}/keystore",
                       "--run-lock", lock, "--report-dir", str(tmp_path / name), *extra)

    # The first run long enough to still hold the lock when the others start (a pod delete with writes around it).
    first = subprocess.Popen(run("first", "s07", *PROBE), env=env_alone(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        held = until("the first run takes the lock", lambda: lease(cluster, lock), 60)
        holder = next(iter(json.loads(held.metadata.annotations[RUNS_ANNOTATION])))
        time.sleep(5)
        second = subprocess.Popen(run("second", "s03", "--wait-for-run", "300"), env=env_alone(), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        started = time.monotonic()
        third = subprocess.run(run("third", "s03"), env=env_alone(), capture_output=True, text=True, timeout=60)
        refused_in = time.monotonic() - started
        first_out, _ = first.communicate(timeout=300)
        second_out, _ = second.communicate(timeout=300)
    finally:
        for p in (first,):
            if p.poll() is None:
                p.kill()
    print(f"\nthird run refused in {refused_in:.1f}s: {third.stderr.strip()}")
    assert third.returncode == 2 and third.stderr.count("\n") == 1, third.stdout + third.stderr
    assert holder in third.stderr and "s07" in third.stderr and "--wait-for-run" in third.stderr
    assert not (tmp_path / "third").exists(), "a refused run makes nothing"
    assert first.returncode == 0, first_out[-3000:]
    assert second.returncode == 0, second_out[-3000:]
    assert "waiting up to 300s for the run lock" in second_out and holder in second_out
    a, b = results(tmp_path / "first"), results(tmp_path / "second")
    waited = b["results"][0]["started_wall"] - a["finished"]
    print(f"second run started its scenario {waited:.1f}s after the first run finished; both: "
          f"{a['results'][0]['status']}, {b['results'][0]['status']}")
    assert waited >= 0 and [a["results"][0]["status"], b["results"][0]["status"]] == ["pass", "pass"]
    assert lease(cluster, lock) is None, "the last run lets go of the lock"


def test_a_sigkilled_holder_is_taken_over_once_its_lease_expires(cluster: Cluster, whole: str,
                                                                 lock: str, tmp_path: Path) -> None:
    from chaos_harness.assemble.run_lock import DURATION_SECONDS

    hold = ("import sys, time\nfrom pathlib import Path\nfrom chaos_harness.core.kube import connect\n"
            "from chaos_harness.assemble.run_lock import RunLock\n"
            f"c = connect(Path({str(cluster.kubeconfig)!r}), None, ('kind-*',))\n"
            f"RunLock(c, 'doomed-run', ('s08',), name={lock!r}).acquire(0)\nprint('held', flush=True)\n"
            "time.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", hold], env=env_alone(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    killed = time.monotonic()
    taker = subprocess.run(harness(cluster, tmp_path / "j.json", "run", "s03", "--target",
                                   f"{whole}/keystore", "--run-lock", lock, "--wait-for-run", "120", "--report-dir",
                                   str(tmp_path / "taker")), env=env_alone(), capture_output=True, text=True,
                           timeout=300)
    assert taker.returncode == 0, taker.stdout[-3000:] + taker.stderr[-2000:]
    assert "doomed-run" in taker.stdout
    taken = results(tmp_path / "taker")["results"][0]["started_wall"]
    took = taken - (time.time() - (time.monotonic() - killed))
    print(f"\nthe SIGKILLed holder's lock was taken over {took:.1f}s after the kill (duration {DURATION_SECONDS}s)")
    assert DURATION_SECONDS - 5 <= took <= DURATION_SECONDS + 60


def test_a_target_with_a_replica_not_ready_is_not_faulted(cluster: Cluster, whole: str,
                                                          lock: str, tmp_path: Path) -> None:
    journal = tmp_path / "j.json"
    cluster.exec(whole, "keystore-1", ["rm", "-f", "/data/keys"]).check("making keystore-1 not Ready")
    try:
        watch_until(cluster.core.list_namespaced_pod, lambda p: not any(
            c.type == "Ready" and c.status == "True" for c in p.status.conditions or []), 30, "keystore-1 not Ready",
            namespace=whole, field_selector="metadata.name=keystore-1")
        started = time.monotonic()
        result = subprocess.run(harness(cluster, journal, "run", "s13", "--target", f"{whole}/keystore",
                                        *PROBE, "--run-lock", lock, "--report-dir", str(tmp_path)),
                                env=env_alone(), capture_output=True, text=True, timeout=300)
        took = time.monotonic() - started
    finally:
        cluster.exec(whole, "keystore-1", ["touch", "/data/keys"]).check("making keystore-1 Ready again")
    print(f"\nnot-run after {took:.0f}s: {result.stdout[-600:]}")
    assert result.returncode == 6, result.stdout[-3000:] + result.stderr[-2000:]
    [r] = results(tmp_path)["results"]
    assert r["status"] == "not-run"
    assert "1/2 Ready" in r["verdicts"][0]["summary"], r["verdicts"]
    events = history(tmp_path, r)
    assert not [e for e in events if e["kind"] == "fault"], "nothing was injected"
    assert [e["ok"] for e in events if e["kind"] == "steady-state"] == [False]
    assert Journal(journal).entries() == []
    # Re-judged offline from the history alone: the same outcome.
    check = subprocess.run([sys.executable, "-m", "chaos_harness", "check", str(next(tmp_path.glob("2*/")))],
                           capture_output=True, text=True, timeout=60)
    assert "NOT-RUN" in check.stdout and "same as recorded" in check.stdout, check.stdout


def node_of_pod0(cluster: Cluster, namespace: str) -> str:
    return str(cluster.core.read_namespaced_pod("keystore-0", namespace).spec.node_name)


def not_ready(cluster: Cluster, node: str, seconds: float = 120) -> None:
    watch_until(cluster.core.list_node, lambda n: node_condition(n) != "True", seconds, f"{node} not Ready",
                field_selector=f"metadata.name={node}")


def healed_after(events: list[dict[str, Any]]) -> tuple[float, float]:
    """(seconds from the abort event to the fault's heal beginning, to its end) on the history's own clock."""
    abort = next(e for e in events if e["kind"] == "abort")
    heal = next(e for e in events if e["kind"] == "fault" and e.get("phase") == "heal" and e["mono"] >= abort["mono"])
    healed = next(e for e in events if e["kind"] == "fault" and e.get("phase") == "healed")
    return heal["mono"] - abort["mono"], healed["mono"] - abort["mono"]


def test_an_abort_condition_trips_during_a_kubelet_stop(cluster: Cluster, whole: str,
                                                        lock: str, tmp_path: Path) -> None:
    flag, journal = tmp_path / "shop-is-down", tmp_path / "j.json"
    node = node_of_pod0(cluster, whole)
    run = subprocess.Popen(harness(cluster, journal, "run", "s08", "--target", f"{whole}/keystore", *PROBE,
                                   "--run-lock", lock, "--report-dir", str(tmp_path / "r"),
                                   "--abort-when", f"command:test ! -e {flag}"),
                           env=env_alone(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        not_ready(cluster, node)
        flag.write_text("")
        breached = time.monotonic()
        out, _ = run.communicate(timeout=300)
        ended = time.monotonic() - breached
    finally:
        if run.poll() is None:
            run.kill()
    _, back = watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                          field_selector=f"metadata.name={node}")
    assert run.returncode == 5, out[-4000:]
    [r] = results(tmp_path / "r")["results"]
    assert r["status"] == "aborted" and "abort condition breached" in r["verdicts"][0]["summary"]
    to_heal, to_healed = healed_after(history(tmp_path / "r", r))
    print(f"\nabort condition: heal began {to_heal:.1f}s after the breach was seen, kubelet back "
          f"{to_healed:.1f}s after it; run ended {ended:.1f}s after the breach; {node} Ready {back:.1f}s after")
    assert to_heal < 15 and Journal(journal).entries() == []
    assert "run aborted" in out


def test_stop_from_a_second_process_during_a_kubelet_stop(cluster: Cluster, whole: str,
                                                          lock: str, tmp_path: Path) -> None:
    journal = tmp_path / "j.json"
    node = node_of_pod0(cluster, whole)
    run = subprocess.Popen(harness(cluster, journal, "run", "s08", "--target", f"{whole}/keystore", *PROBE,
                                   "--run-lock", lock, "--report-dir", str(tmp_path / "r")),
                           env=env_alone(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        not_ready(cluster, node)
        started = time.monotonic()
        stop = subprocess.run([sys.executable, "-m", "chaos_harness", "--kubeconfig", str(cluster.kubeconfig), "stop",
                               "--run-lock", lock], env=env_alone(), capture_output=True, text=True, timeout=200)
        let_go = time.monotonic() - started
        out, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    print(f"\nstop: {stop.stdout.strip()} ({let_go:.1f}s from the stop to the lock let go)")
    assert stop.returncode == 0 and "healed and let go" in stop.stdout, stop.stdout + stop.stderr
    assert run.returncode == 5, out[-4000:]
    [r] = results(tmp_path / "r")["results"]
    assert r["status"] == "aborted" and "chaos-harness stop" in r["verdicts"][0]["summary"]
    to_heal, to_healed = healed_after(history(tmp_path / "r", r))
    print(f"stop: heal began {to_heal:.1f}s after the stop was seen, kubelet back {to_healed:.1f}s after it")
    assert to_heal < 15 and Journal(journal).entries() == [] and lease(cluster, lock) is None
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")
