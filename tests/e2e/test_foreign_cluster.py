"""The test bed addressed as a user's cluster: a kubeconfig whose context is not kind-* (explicitly allowed),
authenticated as the least-privileged ServiceAccount of manifests/rbac/harness.yaml, and a harness process
with no docker CLI on its PATH. `--node-access auto` must pick the node agent;
S8, S14 and S15 pass through it on the user's own StatefulSet (--target, durability through exec probes), with
runtime samples of the faulted node throughout the fault (for the partition, delivered after it); a harness
SIGKILLed during each node fault (kubelet stop, partition, pause) leaves a node that heals itself within the dead
man's switch, and `cleanup` removes the rest. After every run no agent namespace, Lease or run namespace remains."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from kubernetes import client

from chaos_harness.faults.journal import Journal
from chaos_harness.core.kube import Cluster
from chaos_harness.core.waits import node_condition, watch_until
from chaos_harness.testbed.layouts import K3S_SOCKET, k3s_like, unit_active
from chaos_harness.testbed.node_state import heal_by_hand, kubelet_frozen, partitioned

pytestmark = [pytest.mark.disruptive, pytest.mark.slow]

CONTEXT = "staging-chaos"


RBAC_MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "rbac" / "harness.yaml"


def token_kubeconfig(cluster: Cluster, account: str, context: str, path: Path) -> Path:
    """A kubeconfig for `context` that authenticates as the ServiceAccount chaos-harness/<account>."""
    token = cluster.core.create_namespaced_service_account_token(
        account, "chaos-harness", client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))).status.token
    original = yaml.safe_load(Path(cluster.kubeconfig).read_text())
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "clusters": original["clusters"],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": original["clusters"][0]["name"], "user": account}}],
        "current-context": context}))
    return path


@pytest.fixture(scope="module")
def user_kubeconfig(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's view of their cluster: context staging-chaos (not kind-*), authenticated as the harness's
    least-privileged ServiceAccount from manifests/rbac/harness.yaml, so every run below proves that role."""
    from kubernetes import utils

    rbac = client.RbacAuthorizationV1Api(cluster.api)
    try:
        for doc in (d for d in yaml.safe_load_all(RBAC_MANIFEST.read_text()) if d):
            try:
                utils.create_from_dict(cluster.api, doc)
            except utils.FailToCreateError as e:
                if any(x.status != 409 for x in e.api_exceptions):
                    raise
        yield token_kubeconfig(cluster, "chaos-harness", CONTEXT, tmp_path_factory.mktemp("user") / "kubeconfig")
    finally:
        rbac.delete_cluster_role_binding("chaos-harness")
        rbac.delete_cluster_role("chaos-harness")
        admission = client.AdmissionregistrationV1Api(cluster.api)
        for name in ("chaos-harness-own-namespaces", "chaos-harness-namespaces-and-nodes"):
            admission.delete_validating_admission_policy_binding(name)
            admission.delete_validating_admission_policy(name)
        # The namespace stays: it also holds the run Lease of this pytest session's run group, whose renewer makes
        # it again when it goes (deleting it here raced that renewer and timed out waiting for it to be gone).
        try:
            client.CoreV1Api(cluster.api).delete_namespaced_service_account("chaos-harness", "chaos-harness")
        except client.ApiException as e:
            if e.status != 404:
                raise


@pytest.fixture(scope="module")
def no_docker_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    empty_bin = tmp_path_factory.mktemp("bin")
    env = {k: v for k, v in os.environ.items() if k not in ("CHAOS_HARNESS_ALLOWED_CONTEXTS",)}
    env["PATH"] = str(empty_bin)
    assert shutil.which("docker", path=env["PATH"]) is None
    return env


# The side lane's workers (tests/conftest.py): the agent, and the harness's own workload, go only there.
SIDE = "chaos-harness.test/lane=side"


def harness(kubeconfig: Path, journal: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "chaos_harness", "--kubeconfig", str(kubeconfig), "--allow-context", CONTEXT,
            "--journal", str(journal), "--target-nodes", SIDE, *args]


@pytest.fixture(scope="module", autouse=True)
def k3s_node(cluster: Cluster, side_lane) -> Iterator[str]:
    """One of the lane's two workers laid out like a k3s agent (its kubelet under k3s-agent, its runtime at
    k3s's socket), the other as kubeadm lays it out: every run below covers both layouts."""
    node = side_lane.nodes[0]
    with k3s_like(node):
        watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready as k3s-agent",
                    field_selector=f"metadata.name={node}")
        yield node
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")


def kubelet_unit(node: str, k3s_node: str) -> str:
    return "k3s-agent" if node == k3s_node else "kubelet"


@pytest.fixture
def began() -> datetime:
    """When the test began (the API server's clock is the host's on the test bed)."""
    return datetime.now(timezone.utc)


def leftovers(cluster: Cluster, since: datetime) -> list[str]:
    """What this module's runs may have left: agents (and their leases) but those of another lane's run, whose
    agent covers nodes outside this lane (tests/conftest.py runs the lanes at the same time): by the nodes its
    namespace names (NODES_ANNOTATION, there while the namespace is being deleted), else by its DaemonSet's
    pinning. A namespace with neither (made by an older harness, DaemonSet gone) is this test's only if it was
    made after `since`, when the test began."""
    from chaos_harness.nodes.agent import NODES_ANNOTATION

    lane = {n.metadata.name for n in cluster.core.list_node(label_selector=SIDE).items}
    apps = client.AppsV1Api(cluster.api)
    agents = {n.metadata.name: n for n in cluster.core.list_namespace(
        label_selector="app.kubernetes.io/name=chaos-agent").items}

    def ours(namespace: str) -> bool:
        named = (agents[namespace].metadata.annotations or {}).get(NODES_ANNOTATION) if namespace in agents else None
        if named is not None:
            return bool(set(named.split(",")) & lane)
        try:  # one agent per node, each pinned to its node
            sets = apps.list_namespaced_daemon_set(namespace, label_selector="app.kubernetes.io/name=chaos-agent").items
        except client.ApiException:
            sets = []
        if not sets:
            made = agents[namespace].metadata.creation_timestamp if namespace in agents else None
            return made is None or made >= since - timedelta(seconds=1)
        pinned = {v for ds in sets for t in ds.spec.template.spec.affinity.node_affinity
                  .required_during_scheduling_ignored_during_execution.node_selector_terms
                  for f in t.match_fields or [] for v in f.values}
        return bool(pinned & lane)

    found = [f"namespace {name}" for name in agents if ours(name)]
    found += [f"lease {lease.metadata.namespace}/{lease.metadata.name}" for lease in
              client.CoordinationV1Api(cluster.api).list_lease_for_all_namespaces(
                  label_selector="app.kubernetes.io/name=chaos-agent").items if ours(lease.metadata.namespace)]
    return found


def test_a_context_outside_kind_is_refused_unless_named(user_kubeconfig: Path, no_docker_env: dict[str, str],
                                                        tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "chaos_harness", "--kubeconfig", str(user_kubeconfig),
                             "--journal", str(tmp_path / "j.json"), "doctor"], env=no_docker_env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and f"--allow-context {CONTEXT}" in result.stderr


def test_doctor_on_the_user_cluster(user_kubeconfig: Path, no_docker_env: dict[str, str], tmp_path: Path,
                                    k3s_node: str) -> None:
    result = subprocess.run(harness(user_kubeconfig, tmp_path / "j.json", "doctor"),
                            env=no_docker_env, capture_output=True, text=True, timeout=120)
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agent (auto: no docker CLI on PATH)" in result.stdout
    # What the agent found on each node of the lane, and how: both layouts.
    k3s = next(line for line in result.stdout.splitlines() if line.startswith(f"node {k3s_node}:"))
    assert "kubelet unit k3s-agent (the cgroup of pid" in k3s and f"unix://{K3S_SOCKET}" in k3s, k3s
    [usual] = [line for line in result.stdout.splitlines()
               if line.startswith("node ") and "kubelet unit" in line and k3s_node not in line]
    assert "kubelet unit kubelet (" in usual and "unix:///run/containerd/containerd.sock" in usual, usual
    assert "permissions:          all" in result.stdout and "doctor: ready" in result.stdout


def test_the_harness_identity_writes_and_execs_only_where_it_may(cluster: Cluster, user_kubeconfig: Path) -> None:
    """The harness's ServiceAccount holds the ClusterRole's rights, confined by the manifest's admission policies:
    an exec into a kube-system pod, a ConfigMap or a Lease written in kube-system or kube-node-lease, a namespace
    without the harness's label: each refused (403). In a namespace it made, the same write goes through."""
    import time as clock

    from kubernetes import config as kubeconfig_loader
    from kubernetes.stream import stream

    from chaos_harness.core.labels import MANAGED_BY

    configuration = client.Configuration()
    kubeconfig_loader.load_kube_config(config_file=str(user_kubeconfig), client_configuration=configuration)
    core = client.CoreV1Api(client.ApiClient(configuration))
    # The policies are read by the API server a moment after they are made.
    deadline = clock.monotonic() + 30
    while True:
        try:
            core.create_namespaced_config_map("kube-system", client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="chaos-harness-probe")))
            core.delete_namespaced_config_map("chaos-harness-probe", "kube-system")
            assert clock.monotonic() < deadline, "a ConfigMap in kube-system was let through"
            clock.sleep(1)
        except client.ApiException as e:
            assert e.status == 403 and "writes only in namespaces it made" in e.body, e
            break
    victim = next(p.metadata.name for p in cluster.core.list_namespaced_pod("kube-system").items
                  if p.status.phase == "Running")
    with pytest.raises(client.ApiException) as refused:
        stream(core.connect_get_namespaced_pod_exec, victim, "kube-system", command=["true"], stderr=True,
               stdout=True, stdin=False, tty=False)
    assert refused.value.status == 403 or "403" in str(refused.value), refused.value
    node = cluster.core.list_node().items[0].metadata.name
    with pytest.raises(client.ApiException) as heartbeat:
        client.CoordinationV1Api(client.ApiClient(configuration)).patch_namespaced_lease(
            node, "kube-node-lease", {"metadata": {"annotations": {"x": "1"}}})
    assert heartbeat.value.status == 403
    with pytest.raises(client.ApiException) as unlabelled:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="chaos-harness-unlabelled")))
    assert unlabelled.value.status == 403
    own = f"chaos-harness-own-{int(clock.time())}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=own, labels=dict(MANAGED_BY))))
    try:
        core.create_namespaced_config_map(own, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="fine")))
    finally:
        core.delete_namespace(own)
    print(f"harness identity: refused in kube-system (ConfigMap, exec into {victim}), on {node}'s heartbeat Lease "
          f"and for an unlabelled namespace; allowed in its own {own}")


def test_node_faults_through_the_agent_without_docker(cluster: Cluster, began: datetime, user_kubeconfig: Path,
                                                      no_docker_env: dict[str, str], namespace: str,
                                                      keystore_objects, tmp_path: Path, side_lane) -> None:
    from chaos_harness.workload import deploy

    assert side_lane.selector == SIDE
    with side_lane.placed(namespace):
        deploy.apply(cluster, namespace, list(keystore_objects(namespace, deploy.helper_image(cluster), 2)))
    deploy.wait_statefulset_ready(cluster, namespace, "keystore", 2, 180)
    reports = Path("reports") / "foreign-cluster"
    journal = tmp_path / "journal.json"
    started = time.monotonic()
    result = subprocess.run(harness(user_kubeconfig, journal, "run", "s08", "s14", "s15",
                                    "--target", f"{namespace}/keystore",
                                    "--probe-write", 'sh -c "echo {key} >> /data/keys && sync"',
                                    "--probe-read", "cat /data/keys", "--report-dir", str(reports)),
                            env=no_docker_env, capture_output=True, text=True, timeout=1200)
    print(result.stdout[-6000:], result.stderr[-3000:])
    print(f"S8, S14, S15 through the agent: {time.monotonic() - started:.0f}s")
    assert "node access: agent (auto: no docker CLI on PATH)" in result.stdout
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = Path(result.stdout.split("results: ")[1].split()[0]).parent
    results = json.loads((run_dir / "results.json").read_text())
    assert results["node_access"].startswith("agent")
    assert sorted(s["scenario"][:3] for s in results["results"]) == ["s08", "s14", "s15"]
    for scenario in results["results"]:
        assert scenario["status"] == "pass", scenario
        observed = next((v for v in scenario["verdicts"] if v["checker"] == "node-observed-during-fault"), None)
        if observed is None:  # S14: kind's docker pause cannot be observed, so it does not ask
            continue
        # S15's samples of the cut-off node arrive after the heal, placed at the time the node read them.
        assert observed["ok"], observed
        assert observed["figures"]["samples"] >= observed["figures"]["window"] / 2, observed
        assert observed["evidence"][0]["sources"] == ["agent"]
        durability = next(v for v in scenario["verdicts"] if v["checker"] == "durability")
        assert durability["ok"] and durability["figures"]["acknowledged"] > 0, durability
        print(f"{scenario['scenario']}: {observed['summary']}")
    assert Journal(journal).entries() == []
    assert leftovers(cluster, began) == []


# Each node fault, through the run that a SIGKILL ends while it holds: (scenario, fault, whether it needs a target,
# how to see from outside that the fault is in force on a node).
SIGKILLED = {
    "kubelet-stop": ("s09_kubelet_stop_deployment", False, lambda node, k3s: not unit_active(node, kubelet_unit(node, k3s))),
    "network-partition": ("s15_network_partition", True, lambda node, k3s: partitioned(node)),
    "node-pause": ("s14_node_pause", True, lambda node, k3s: kubelet_frozen(node)),
}


@pytest.mark.parametrize("fault", list(SIGKILLED))
def test_sigkill_during_a_node_fault_heals_by_itself(fault: str, cluster: Cluster, began: datetime,
                                                      user_kubeconfig: Path, no_docker_env: dict[str, str],
                                                      namespace: str, keystore_objects, tmp_path: Path,
                                                      k3s_node: str, side_lane) -> None:
    from chaos_harness.workload import deploy

    scenario, needs_target, in_force = SIGKILLED[fault]
    target: tuple[str, ...] = ()
    if needs_target:  # the cheapest workload whose pod 0's node the scenario faults
        with side_lane.placed(namespace):
            deploy.apply(cluster, namespace, list(keystore_objects(namespace, deploy.helper_image(cluster), 2)))
        deploy.wait_statefulset_ready(cluster, namespace, "keystore", 2, 180)
        target = ("--target", f"{namespace}/keystore", "--probe-write", 'sh -c "echo {key} >> /data/keys"',
                  "--probe-read", "cat /data/keys")
    deadman = 15
    journal = tmp_path / "journal.json"
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(harness(user_kubeconfig, journal, "run", scenario, *target,
                                    "--report-dir", str(tmp_path / "reports"), "--agent-deadman-seconds", str(deadman)),
                            env=no_docker_env, stdout=log, stderr=subprocess.STDOUT)
    node = None
    try:
        deadline = time.monotonic() + 240
        while node is None or not in_force(node, k3s_node):
            assert proc.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"the run never held {fault}"
            held = [e for e in Journal(journal).entries() if e.fault["type"] == fault] if journal.exists() else []
            node = held[0].fault["node"] if held else None
            time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed = time.monotonic()
        while in_force(node, k3s_node):
            assert time.monotonic() - killed < deadman + 15, f"{fault} on {node} still in force {deadman + 15}s " \
                                                             f"after the harness was killed"
            time.sleep(0.5)
        print(f"harness SIGKILLed holding {fault} on {node} ({kubelet_unit(node, k3s_node)}): undone by the node after "
              f"{time.monotonic() - killed:.1f}s with no cleanup run (dead man's switch {deadman}s)")
    finally:
        if proc.poll() is None:
            proc.kill()
        if node:  # the test's own last resort
            heal_by_hand(node)
            if not unit_active(node, kubelet_unit(node, k3s_node)):
                subprocess.run(["docker", "exec", node, "systemctl", "start", kubelet_unit(node, k3s_node)], timeout=30)
    run_ids = {e.run_id for e in Journal(journal).entries()}
    assert run_ids, "the killed run left no journal entry for cleanup to act on"
    cleanup = subprocess.run(harness(user_kubeconfig, journal, "cleanup"), env=no_docker_env,
                             capture_output=True, text=True, timeout=600)
    print(cleanup.stdout, cleanup.stderr)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert Journal(journal).entries() == []
    assert leftovers(cluster, began) == []
    left = [n.metadata.name for n in cluster.core.list_namespace(label_selector="chaos-harness/run-id").items
            if n.metadata.labels["chaos-harness/run-id"] in run_ids]
    assert left == [], f"cleanup left the killed run's namespaces: {left}"
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")


def test_target_nodes_matching_nothing_is_exit_2(cluster: Cluster, began: datetime, user_kubeconfig: Path,
                                                 no_docker_env: dict[str, str],
                                                 tmp_path: Path) -> None:
    result = subprocess.run(harness(user_kubeconfig, tmp_path / "j.json", "run", "s01_stable_identity",
                                    "--target-nodes", "chaos-harness/no-such-label=1"),
                            env=no_docker_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "matches no node" in result.stderr
    assert leftovers(cluster, began) == []


def test_an_agent_image_the_nodes_cannot_pull_is_named_with_its_option(cluster: Cluster, began: datetime,
                                                                       user_kubeconfig: Path,
                                                                       no_docker_env: dict[str, str],
                                                                       tmp_path: Path) -> None:
    # A registry on the nodes' own loopback: the pull is refused at once, no traffic leaves the test bed.
    image = "127.0.0.1:1/chaos-harness/no-such-agent:0"
    result = subprocess.run(harness(user_kubeconfig, tmp_path / "j.json", "--agent-image", image, "run",
                                    "s01_stable_identity"), env=no_docker_env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    # One line of error; a wait that outlasted 2 s may have said what it waited for before it (progress).
    *progress, last = result.stderr.strip().splitlines()
    assert image in last and "--agent-image" in last and "Traceback" not in result.stderr
    assert all(line.lstrip().startswith(("waiting for", "done", "gave up")) for line in progress), progress
    assert leftovers(cluster, began) == []


def test_an_identity_without_the_role_is_told_what_it_lacks(cluster: Cluster, user_kubeconfig: Path,
                                                             tmp_path: Path, no_docker_env: dict[str, str]) -> None:
    # The chaos-harness namespace outlives the module (it holds the run Lease), so the account may be left from a
    # run that was killed before its cleanup: reuse it, and remove it after.
    try:
        cluster.core.create_namespaced_service_account(
            "chaos-harness", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="nobody")))
    except client.ApiException as e:
        if e.status != 409:
            raise
    try:
        kubeconfig = token_kubeconfig(cluster, "nobody", "sa-nobody", tmp_path / "nobody.kubeconfig")
        result = subprocess.run(harness(kubeconfig, tmp_path / "j.json", "--allow-context", "sa-nobody", "doctor"),
                                env=no_docker_env, capture_output=True, text=True, timeout=120)
    finally:
        cluster.core.delete_namespaced_service_account("nobody", "chaos-harness")
    print(result.stdout, result.stderr)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and 'cannot get resource "namespaces"' in result.stderr
