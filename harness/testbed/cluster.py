"""The kind cluster `chaos`: create or reuse it, wait until it is really up, delete it, export its logs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.testbed import images, versions
from harness.testbed.shell import BuildError, run

log = logging.getLogger("chaos_harness.cluster")

REPO_ROOT = images.REPO_ROOT
CLUSTER_NAME = "chaos"
PROFILES = ("fast", "faithful")
# Where the test bed records what it created the cluster from, so a reuse can tell the cluster still fits.
STAMP_CONFIGMAP = "chaos-harness-testbed"


@dataclass(frozen=True)
class ClusterSpec:
    profile: str
    config: Path
    node_image: str

    @property
    def stamp(self) -> str:
        return hashlib.sha256(self.config.read_bytes() + self.node_image.encode()).hexdigest()[:16]


def kind_binary() -> Path:
    """kind at the pinned version in the project's .bin/, installed with `go install` (kind's documented way)."""
    bin_dir = Path(os.environ.get("CHAOS_HARNESS_BIN", REPO_ROOT / ".bin"))
    kind = bin_dir / "kind"
    if kind.exists():
        out = subprocess.run([str(kind), "version"], capture_output=True, text=True).stdout
        if f"kind {versions.KIND} " in out or out.startswith(f"kind {versions.KIND}"):
            return kind
    started = time.monotonic()
    log.info("installing kind %s into %s", versions.KIND, bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    run(["go", "install", f"sigs.k8s.io/kind@{versions.KIND}"], env={**os.environ, "GOBIN": str(bin_dir),
                                                                       "CGO_ENABLED": "0"})
    log.info("kind installed in %.1fs", time.monotonic() - started)
    return kind


def kubeconfig_path() -> Path:
    return Path(os.environ.get("CHAOS_HARNESS_KUBECONFIG", REPO_ROOT / ".kube" / "chaos.kubeconfig"))


def kubectl(*args: str, capture: bool = True, timeout: float = 60) -> str:
    """kubectl against the test bed only (its own kubeconfig), never the user's current context."""
    return run(["kubectl", "--kubeconfig", str(kubeconfig_path()), "--context", f"kind-{CLUSTER_NAME}", *args],
               capture=capture, timeout=timeout)


def cluster_exists(kind: Path) -> bool:
    out = run([str(kind), "get", "clusters"], capture=True)
    return CLUSTER_NAME in out.split()


def read_stamp() -> str | None:
    try:
        return kubectl("-n", "kube-system", "get", "configmap", STAMP_CONFIGMAP, "-o", "jsonpath={.data.stamp}",
                       timeout=15).strip() or None
    except BuildError:
        return None


def write_stamp(spec: ClusterSpec) -> None:
    kubectl("-n", "kube-system", "create", "configmap", STAMP_CONFIGMAP, f"--from-literal=stamp={spec.stamp}",
            f"--from-literal=profile={spec.profile}", f"--from-literal=nodeImage={spec.node_image}")


def wait_ready(deadline_seconds: float) -> None:
    """Wait until every node is Ready and every kube-system pod is Ready; on timeout raise with diagnostics."""
    deadline = time.monotonic() + deadline_seconds
    for what, args in (
        ("nodes Ready", ["wait", "--for=condition=Ready", "node", "--all"]),
        ("kube-system pods Ready", ["-n", "kube-system", "wait", "--for=condition=Ready", "pod", "--all"]),
        ("local-path-storage pods Ready", ["-n", "local-path-storage", "wait", "--for=condition=Ready", "pod", "--all"]),
    ):
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BuildError(f"cluster {CLUSTER_NAME}: {what} not reached within {deadline_seconds:.0f}s\n"
                                 + diagnostics())
            try:
                kubectl(*args, f"--timeout={max(1, int(remaining))}s", timeout=remaining + 10)
                break
            except BuildError:
                # `kubectl wait` fails at once when nothing matches yet (pods not created): poll again.
                time.sleep(2)


def diagnostics() -> str:
    parts = []
    for args in (["get", "nodes", "-o", "wide"], ["get", "pods", "-A", "-o", "wide"],
                 ["get", "events", "-A", "--sort-by=.lastTimestamp"]):
        try:
            parts.append(f"$ kubectl {' '.join(args)}\n" + "\n".join(kubectl(*args, timeout=20).splitlines()[-25:]))
        except BuildError as e:
            parts.append(f"$ kubectl {' '.join(args)}\n{e}")
    return "\n".join(parts)


def healthy_within(seconds: float) -> bool:
    try:
        wait_ready(seconds)
        return True
    except BuildError as e:
        log.info("existing cluster is not healthy: %s", str(e).splitlines()[0])
        return False


def up(profile: str = "fast", create_deadline: float = 600) -> ClusterSpec:
    """Create the cluster `chaos` (or reuse it when it was made from the same config and image and is healthy)."""
    if profile not in PROFILES:
        raise BuildError(f"unknown timing profile {profile!r}: use one of {', '.join(PROFILES)}")
    kind = kind_binary()
    timings = images.Timings()
    spec = ClusterSpec(profile, REPO_ROOT / "manifests" / "kind" / f"{profile}.yaml", images.node_image(timings))
    for stage, seconds in timings.stages.items():
        log.info("build stage %s: %.1fs", stage, seconds)

    kubeconfig = kubeconfig_path()
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    if cluster_exists(kind):
        # Refresh our kubeconfig from kind: the API port changes if the cluster was re-created elsewhere.
        run([str(kind), "export", "kubeconfig", "--name", CLUSTER_NAME, "--kubeconfig", str(kubeconfig)], capture=True)
        if read_stamp() == spec.stamp and healthy_within(60):
            log.info("cluster %s: reusing the healthy cluster (profile %s)", CLUSTER_NAME, profile)
            return spec
        log.info("cluster %s: exists but does not match or is unhealthy; re-creating", CLUSTER_NAME)
        down()

    started = time.monotonic()
    log.info("cluster %s: creating from %s with %s", CLUSTER_NAME, spec.config.relative_to(REPO_ROOT), spec.node_image)
    run([str(kind), "create", "cluster", "--name", CLUSTER_NAME, "--config", str(spec.config),
         "--image", spec.node_image, "--kubeconfig", str(kubeconfig), "--retain"], capture=True)
    created = time.monotonic()
    wait_ready(create_deadline)
    write_stamp(spec)
    log.info("cluster %s: created in %.1fs, all nodes and system pods Ready after %.1fs", CLUSTER_NAME,
             created - started, time.monotonic() - started)
    return spec


def down() -> None:
    kind = kind_binary()
    run([str(kind), "delete", "cluster", "--name", CLUSTER_NAME, "--kubeconfig", str(kubeconfig_path())], capture=True)


def export_logs(directory: Path) -> Path:
    kind = kind_binary()
    directory.mkdir(parents=True, exist_ok=True)
    run([str(kind), "export", "logs", str(directory), "--name", CLUSTER_NAME], capture=True, timeout=300)
    return directory


def status() -> dict[str, object]:
    """A short summary of the running cluster: nodes with readiness and versions, pods not Running."""
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))
    summary = []
    for node in nodes["items"]:
        ready = next((c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready"), "Unknown")
        summary.append({"name": node["metadata"]["name"], "ready": ready,
                        "kubelet": node["status"]["nodeInfo"]["kubeletVersion"],
                        "runtime": node["status"]["nodeInfo"]["containerRuntimeVersion"]})
    pods = json.loads(kubectl("get", "pods", "-A", "-o", "json"))
    not_running = [f'{p["metadata"]["namespace"]}/{p["metadata"]["name"]}: {p["status"].get("phase")}'
                   for p in pods["items"] if p["status"].get("phase") not in ("Running", "Succeeded")]
    return {"cluster": CLUSTER_NAME, "kubeconfig": str(kubeconfig_path()), "nodes": summary,
            "pods": len(pods["items"]), "pods_not_running": not_running}
