"""The fault scenarios on a user's own StatefulSet (--target), with the cheapest workload that shows them: the
keystore example (a shell appending keys to a file on its PVC), durability through exec probe commands.
Container kill, node pause, network partition and node drain each run once here; `make run` runs them on the
bundled MySQL example. Bad targets and a probe that raises are tried on the live cluster too."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos_harness.core.kube import Cluster
from chaos_harness.core import namespaces
from chaos_harness.workload import deploy


pytestmark = [pytest.mark.disruptive]

PROBE = ["--probe-write", 'sh -c "echo {key} >> /data/keys && sync"', "--probe-read", "cat /data/keys"]


# The keystore lives on this module's lane (tests/conftest.py): its runs' pool is the lane, so the steady state
# before a node fault never counts another lane's faulted worker as this pool's NotReady node.
LANE = ["--target-nodes", "chaos-harness.test/lane=side2"]


def harness(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chaos_harness", *args, *(LANE if args[0] == "run" else [])],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def keystore_home(cluster: Cluster, run_id: str, namespace_reaper, keystore_objects, side_lane,
                  pytestconfig: pytest.Config) -> Iterator[str]:
    """The user's StatefulSet, deployed once for this file the way the user's project deploys it (2 replicas,
    64Mi claims), with a second StatefulSet at 0 replicas beside it. Every test here must leave it as it found
    it: that is what the harness promises a user's target, and `keystore` checks it before each test."""
    from chaos_harness.core.labels import RUN_LABEL

    namespace = f"chaos-{run_id[-4:]}-user-target-{uuid.uuid4().hex[:4]}"
    namespaces.create_namespace(cluster, namespace, {RUN_LABEL: run_id})
    try:
        service, statefulset = keystore_objects(namespace, deploy.helper_image(cluster), 2)
        zero = json.loads(json.dumps(statefulset))
        zero["metadata"]["name"], zero["spec"]["replicas"] = "idle", 0
        idle = {"app": "idle"}
        zero["metadata"]["labels"], zero["spec"]["selector"]["matchLabels"] = {**idle, "tier": "data"}, idle
        zero["spec"]["template"]["metadata"]["labels"] = idle
        statefulset["metadata"]["labels"] = {**statefulset["metadata"]["labels"], "tier": "data"}
        with side_lane.placed(namespace):
            deploy.apply(cluster, namespace, [service, statefulset, zero])
        yield namespace
    finally:
        if not pytestconfig.getoption("--chaos-keep-namespaces"):
            namespace_reaper.delete(namespace)


BROKEN: list[str] = []  # set once the keystore was found broken: the tests after that fail at once


@pytest.fixture
def keystore(cluster: Cluster, keystore_home: str) -> str:
    """The module's keystore, 2/2 Ready: the test before this one left it whole, or this one fails here (and
    every later one at once, rather than each waiting out the deadline)."""
    if BROKEN:
        pytest.fail(f"the keystore is not whole since an earlier test: {BROKEN[0]}")
    try:
        deploy.wait_statefulset_ready(cluster, keystore_home, "keystore", 2, 180)
    except Exception as e:
        BROKEN.append(f"{type(e).__name__}: {e}")
        raise
    return keystore_home


def test_every_fault_scenario_on_a_users_statefulset(keystore: str, tmp_path: Path) -> None:
    result = harness("run", "s13", "s14", "s15", "s16", "s17", "--target", f"{keystore}/keystore", *PROBE,
                     "--report-dir", str(tmp_path))
    [run] = list(tmp_path.glob("2*/results.json"))
    results = json.loads(run.read_text())["results"]
    print("\n| scenario | status | seconds | checkers |")
    for r in results:
        print(f"| {r['scenario']} | {r['status']} | {r['seconds']} | "
              f"{', '.join(v['checker'] + ('' if v['ok'] else ' FAILED') for v in r['verdicts'])} |")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert [r["scenario"] for r in results] == ["s13_container_kill", "s14_node_pause", "s15_network_partition",
                                                "s16_node_drain", "s17_identity_and_dns"]
    dns = {v["checker"]: v for v in results[-1]["verdicts"]}
    assert dns["dns-names-pod"]["ok"] and dns["dns-names-pod"]["figures"]["lookups"] == 3
    for r in results[:-1]:
        verdicts = {v["checker"]: v for v in r["verdicts"]}
        assert r["namespace"] == keystore and verdicts["durability"]["figures"]["acknowledged"] > 0
        assert "split-brain" in verdicts and "samples" in verdicts["split-brain"]["summary"]
    assert result.stdout.count("PASS ") >= 20


def test_the_target_is_never_changed(cluster: Cluster, keystore: str, tmp_path: Path) -> None:
    before = cluster.apps.read_namespaced_stateful_set("keystore", keystore)
    result = harness("run", "s07", "s03", "--target", f"{keystore}/app=keystore", "--report-dir", str(tmp_path))
    after = cluster.apps.read_namespaced_stateful_set("keystore", keystore)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (after.metadata.generation, after.spec.replicas) == (before.metadata.generation, before.spec.replicas)
    [run] = list(tmp_path.glob("2*/results.json"))
    s07, s03 = json.loads(run.read_text())["results"]
    assert "durability" not in {v["checker"] for v in s07["verdicts"]}, "no probe: durability is not claimed"
    # S3 on a target is read-only: every pod deleted at once, and they came back one Ready after the other.
    assert [(v["checker"], v["ok"]) for v in s03["verdicts"]] == [("fault-took-effect", True),
                                                                  ("ordered-ready", True)]


def test_ordering_that_changes_the_target_needs_permission_and_restores_it(cluster: Cluster, keystore: str,
                                                                            tmp_path: Path) -> None:
    refused = harness("run", "s04", "--target", f"{keystore}/keystore", "--report-dir", str(tmp_path), timeout=60)
    assert refused.returncode == 2 and "--allow-target-changes" in refused.stderr and refused.stderr.count("\n") == 1
    before = cluster.apps.read_namespaced_stateful_set("keystore", keystore)
    result = harness("run", "s04", "s05", "--target", f"{keystore}/keystore", "--allow-target-changes",
                     "--report-dir", str(tmp_path))
    after = cluster.apps.read_namespaced_stateful_set("keystore", keystore)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    [run] = list(tmp_path.glob("2*/results.json"))
    s04, s05 = json.loads(run.read_text())["results"]
    assert [v["checker"] for v in s04["verdicts"]] == ["fault-took-effect", "reverse-order-termination",
                                                       "ordered-ready"]
    assert [v["checker"] for v in s05["verdicts"]] == ["fault-took-effect", "rolling-update"]
    # Its scale is back and it is Ready; the one lasting change is the rollout restart's annotation.
    assert (after.spec.replicas, after.status.ready_replicas) == (before.spec.replicas, before.spec.replicas)
    assert "kubectl.kubernetes.io/restartedAt" in (after.spec.template.metadata.annotations or {})


@pytest.mark.parametrize("target,expect", [
    ("{ns}/nothing", "no StatefulSet nothing in namespace"),
    ("{ns}/keystore-0", "keystore-0 is a Pod, not a StatefulSet"),
    ("{ns}/idle", "has 0 replicas"),
    ("{ns}/app=nothing", "must match exactly one StatefulSet, it matched none"),
    ("{ns}/tier=data", None),  # matches keystore and idle: two
])
def test_a_bad_target_is_one_line_and_exit_2(keystore: str, target: str, expect: str | None,
                                             tmp_path: Path) -> None:
    result = harness("run", "s07", "--target", target.format(ns=keystore), "--report-dir", str(tmp_path),
                     timeout=60)
    print(f"\n| {target} | exit {result.returncode} | {result.stderr.strip()} |")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert (expect or "it matched idle, keystore") in result.stderr
    assert not list(tmp_path.glob("2*")), "nothing was run"


def test_a_probe_that_raises_makes_the_scenario_error(cluster: Cluster, keystore: str, tmp_path: Path) -> None:
    (tmp_path / "broken_probe.py").write_text(
        "class Probe:\n    def __init__(self, target): pass\n    def write(self, key): pass\n"
        "    def read(self): raise RuntimeError('the database refused the read')\n")
    result = subprocess.run([sys.executable, "-m", "chaos_harness", "--kubeconfig", str(cluster.kubeconfig),
                             "run", "s07", "--target", f"{keystore}/keystore",
                             "--probe", "broken_probe:Probe", "--report-dir", str(tmp_path / "reports")],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    [run] = list((tmp_path / "reports").glob("2*/results.json"))
    [r] = json.loads(run.read_text())["results"]
    assert r["status"] == "error" and "the database refused the read" in r["error"]
    assert result.returncode == 1 and "ERROR" in result.stdout
