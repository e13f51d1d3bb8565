"""The kind cluster `chaos`: create or reuse it, wait until it is really up, delete it, export its logs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kubernetes import client

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.cancellation import waiting
from chaos_harness.core.control_plane import read_timing
from chaos_harness.core.errors import Conflict, HarnessError, WaitTimeout
from chaos_harness.core.kube import Cluster, connect
from chaos_harness.core.resources import MANIFESTS
from chaos_harness.core.waits import node_condition, poll_until
from chaos_harness.testbed import images, versions
from chaos_harness.testbed.shell import BuildError, run

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
    for kind in (bin_dir / "kind", Path(shutil.which("kind") or bin_dir / "kind")):
        if kind.exists() and is_pinned_kind(kind):
            return kind  # a kind already on PATH at the pinned version is used as it is
    kind = bin_dir / "kind"
    started = time.monotonic()
    log.info("installing kind %s into %s", versions.KIND, bin_dir)
    bin_dir.mkdir(parents=True, exist_ok=True)
    with waiting(f"go install sigs.k8s.io/kind@{versions.KIND}", 600):
        run(["go", "install", f"sigs.k8s.io/kind@{versions.KIND}"], env={**os.environ, "GOBIN": str(bin_dir),
                                                                           "CGO_ENABLED": "0"})
    log.info("kind installed in %.1fs", time.monotonic() - started)
    return kind


def is_pinned_kind(kind: Path) -> bool:
    try:
        out = subprocess.run([str(kind), "version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return f"kind {versions.KIND} " in out or out.startswith(f"kind {versions.KIND}")


def kubeconfig_path() -> Path:
    return Path(os.environ.get("CHAOS_HARNESS_KUBECONFIG", REPO_ROOT / ".kube" / "chaos.kubeconfig"))


def connect_testbed() -> Cluster:
    return connect(kubeconfig_path(), f"kind-{CLUSTER_NAME}")


def cluster_exists(kind: Path) -> bool:
    out = run([str(kind), "get", "clusters"], capture=True)
    return CLUSTER_NAME in out.split()


def _stamp_data(c: Cluster) -> dict[str, str]:
    try:
        cm = c.core.read_namespaced_config_map(STAMP_CONFIGMAP, "kube-system", _request_timeout=10)
    except Exception:  # absent, or the API does not answer: either way the cluster cannot be reused as is
        return {}
    return dict(cm.data or {})


def read_stamp(c: Cluster) -> str | None:
    return _stamp_data(c).get("stamp")


def read_node_image(c: Cluster) -> str | None:
    return _stamp_data(c).get("nodeImage")


def read_agent_image(c: Cluster) -> str | None:
    """The node agent's image the test bed put on its nodes (None for a cluster the test bed did not create)."""
    return _stamp_data(c).get("agentImage")


def read_profile(c: Cluster) -> str | None:
    """The timing profile the test bed was created with; None for a cluster the test bed did not create."""
    return _stamp_data(c).get("profile")


def write_stamp(c: Cluster, spec: ClusterSpec, agent_image: str) -> None:
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name=STAMP_CONFIGMAP), data={
        "stamp": spec.stamp, "profile": spec.profile, "nodeImage": spec.node_image, "agentImage": agent_image})
    try:
        with api_errors("writing the test bed's stamp"):
            c.core.create_namespaced_config_map("kube-system", cm, _request_timeout=10)
    except Conflict:
        with api_errors("replacing the test bed's stamp"):
            c.core.replace_namespaced_config_map(STAMP_CONFIGMAP, "kube-system", cm, _request_timeout=10)


def _pod_ready(pod: client.V1Pod) -> bool:
    if pod.status.phase == "Succeeded":
        return True
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def unready(c: Cluster, started: dict[str, datetime] | None = None) -> list[str]:
    """What is not Ready yet: nodes, and pods in kube-system and local-path-storage (none listed counts too).

    `started` maps node names to when their containers last started. After the engine restarts them, the API
    still shows every node and pod Ready as they were before: only a kubelet lease renewed since, and pod
    containers running since, count as evidence then."""
    missing = []
    started = started or {}
    nodes = c.core.list_node(_request_timeout=10).items
    if len(nodes) < 4:
        missing.append(f"{len(nodes)}/4 nodes registered")
    missing += [f"node {n.metadata.name}" for n in nodes if node_condition(n) != "True"]
    if started:
        leases = {lease.metadata.name: lease.spec.renew_time for lease in client.CoordinationV1Api(c.api)
                  .list_namespaced_lease("kube-node-lease", _request_timeout=10).items}
        missing += [f"node {n.metadata.name}: kubelet not heard from since the node restarted"
                    for n in nodes if n.metadata.name in started
                    and not _since(leases.get(n.metadata.name), started[n.metadata.name])]
    for ns in ("kube-system", "local-path-storage"):
        pods = c.core.list_namespaced_pod(ns, _request_timeout=10).items
        if not pods:
            missing.append(f"no pods in {ns} yet")
        missing += [f"pod {ns}/{p.metadata.name}" for p in pods
                    if not _pod_ready(p) or not _running_since(p, started.get(p.spec.node_name or ""))]
    return missing


def _since(moment: datetime | None, started: datetime) -> bool:
    # API timestamps have whole seconds: one second of slack against the engine's nanoseconds.
    return moment is not None and moment >= started - timedelta(seconds=1)


def _running_since(pod: client.V1Pod, started: datetime | None) -> bool:
    """Every container of the pod runs in the node's current life (always true without a known start)."""
    if started is None or pod.status.phase == "Succeeded":
        return True
    statuses = pod.status.container_statuses or []
    return bool(statuses) and all(s.state and s.state.running and _since(s.state.running.started_at, started)
                                  for s in statuses)


def inspect_nodes(kind: Path, fields: str) -> dict[str, list[str]]:
    """Each of the cluster's node containers by name, with the values of the `docker inspect` template `fields`
    (space-separated, e.g. "{{.State.Running}} {{.State.Paused}}"); empty when the cluster has no node."""
    names = run([str(kind), "get", "nodes", "--name", CLUSTER_NAME], capture=True, timeout=60).split()
    if not names:
        return {}
    lines = run(["docker", "inspect", "--format", f"{{{{.Name}}}} {fields}", *names], capture=True,
                timeout=60).splitlines()
    return {name.lstrip("/"): values for name, *values in (line.split() for line in lines)}


def node_start_times(kind: Path) -> dict[str, datetime]:
    """When each of the cluster's node containers last started (the engine's clock, which the nodes share)."""
    return {name: _parse_engine_time(at) for name, (at,) in inspect_nodes(kind, "{{.State.StartedAt}}").items()}


def _parse_engine_time(text: str) -> datetime:
    # The engine prints RFC 3339 with nanoseconds (2026-11-24T21:49:06.123456789Z); Python takes microseconds.
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac or '0')[:6]:0<6}").replace(tzinfo=timezone.utc)


def wait_ready(c: Cluster, deadline_seconds: float, started: dict[str, datetime] | None = None) -> float:
    """Wait until every node and every system pod is Ready (with `started`: Ready since the nodes restarted);
    return seconds waited; on timeout raise with the nodes, pods and events as diagnostics."""
    missing: list[str] = ["(not checked yet)"]

    def ready() -> bool | None:
        try:
            missing[:] = unready(c, started)
        except Exception as e:  # API not answering yet counts as not ready
            missing[:] = [f"API: {type(e).__name__}: {e}"]
        return not missing or None

    try:
        # Readiness spans many objects; a 1 s poll bounded by the deadline is simpler than a watch per kind.
        return poll_until(ready, deadline_seconds, "every node and system pod Ready", 1)[1]
    except WaitTimeout as e:
        raise BuildError(f"cluster {CLUSTER_NAME}: not Ready within {deadline_seconds:.0f}s: "
                         f"{', '.join(missing[:8])}\n{diagnostics(c)}") from e


def diagnostics(c: Cluster) -> str:
    lines = []
    try:
        for n in c.core.list_node(_request_timeout=10).items:
            lines.append(f"node {n.metadata.name}: Ready={node_condition(n)}")
        for p in c.core.list_pod_for_all_namespaces(_request_timeout=10).items:
            lines.append(f"pod {p.metadata.namespace}/{p.metadata.name} on {p.spec.node_name}: {p.status.phase}")
        events = c.core.list_event_for_all_namespaces(_request_timeout=10).items
        for e in sorted(events, key=lambda e: str(e.last_timestamp or e.event_time))[-20:]:
            lines.append(f"event {e.involved_object.kind}/{e.involved_object.name}: {e.reason}: {e.message}")
    except Exception as e:
        lines.append(f"(diagnostics incomplete: {type(e).__name__}: {e})")
    return "\n".join(lines)


def healthy_within(seconds: float, started: dict[str, datetime] | None = None) -> bool:
    try:
        wait_ready(connect_testbed(), seconds, started)
        return True
    except (BuildError, HarnessError) as e:
        log.info("existing cluster is not healthy: %s", str(e).splitlines()[0])
        return False


def up(profile: str = "fast", create_deadline: float = 600) -> ClusterSpec:
    """Create the cluster `chaos` (or reuse it when it was made from the same config and image and is healthy)."""
    if profile not in PROFILES:
        raise BuildError(f"unknown timing profile {profile!r}: use one of {', '.join(PROFILES)}")
    kind = kind_binary()
    timings = images.Timings()
    spec = ClusterSpec(profile, MANIFESTS / "kind" / f"{profile}.yaml", images.node_image(timings))
    # The offline node image has the agent pre-loaded; on the stock node image it is loaded after creation.
    agent = images.agent_image(timings)
    for stage, seconds in timings.stages.items():
        log.info("build stage %s: %.1fs", stage, seconds)

    # Before reuse too: after a reboot the host is back at its defaults and restarted nodes need the limits.
    raise_inotify_limits(required=False)
    kubeconfig = kubeconfig_path()
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    if cluster_exists(kind):
        # Refresh our kubeconfig from kind: the API port changes if the cluster was re-created elsewhere.
        run([str(kind), "export", "kubeconfig", "--name", CLUSTER_NAME, "--kubeconfig", str(kubeconfig)], capture=True)
        existing = connect_testbed()
        # After the engine restarts (a rebooted machine), kind's node containers come back or stay exited, and
        # their API server takes seconds to answer: judging the cluster before that re-creates a good one.
        start_exited_nodes(kind)
        if (api_answers_within(existing, 90) and read_stamp(existing) == spec.stamp
                and healthy_within(180, node_start_times(kind))):
            log.info("cluster %s: reusing the healthy cluster (profile %s)", CLUSTER_NAME, profile)
            if read_agent_image(existing) != agent.node_ref:
                load_images(agent.local_ref)
                write_stamp(existing, spec, agent.node_ref)
            return spec
        log.info("cluster %s: exists but does not match or is unhealthy; re-creating", CLUSTER_NAME)
        down()

    raise_inotify_limits()
    started = time.monotonic()
    log.info("cluster %s: creating from %s with %s", CLUSTER_NAME, spec.config, spec.node_image)
    with waiting(f"kind create cluster {CLUSTER_NAME} (typically ~30 s)", 600):
        run([str(kind), "create", "cluster", "--name", CLUSTER_NAME, "--config", str(spec.config),
             "--image", spec.node_image, "--kubeconfig", str(kubeconfig), "--retain"], capture=True)
    created = time.monotonic()
    c = connect_testbed()
    wait_ready(c, create_deadline)
    if spec.node_image == versions.STOCK_NODE_IMAGE:
        load_images(agent.local_ref)
    write_stamp(c, spec, agent.node_ref)
    log.info("cluster %s: created in %.1fs, all nodes and system pods Ready after %.1fs", CLUSTER_NAME,
             created - started, time.monotonic() - started)
    return spec


# Every kind node's kubelet, kube-proxy and containerd shims take inotify instances from one per-user budget
# of the host kernel (all run as root). The default 128 lasts for about 8 nodes: with 10, kube-proxy crash-loops
# with "too many open files". The values are the ones kind's known-issues page gives.
INOTIFY_LIMITS = {"max_user_instances": 512, "max_user_watches": 524288}


def raise_inotify_limits(proc: Path = Path("/proc/sys/fs/inotify"), required: bool = True) -> None:
    """Raise the limits where they are lower. One that cannot be raised is an error naming the fix when the
    cluster is about to be created (`required`), a warning otherwise (a running cluster may do without)."""
    for name, wanted in INOTIFY_LIMITS.items():
        path = proc / name
        try:
            if int(path.read_text()) >= wanted:
                continue
            path.write_text(str(wanted))
            log.info("host: fs.inotify.%s raised to %d (the cluster's nodes share it)", name, wanted)
        except (OSError, ValueError) as e:
            message = (f"fs.inotify.{name} is below {wanted}, which the test bed's nodes need, and cannot be "
                       f"raised here ({e}): run `sudo sysctl fs.inotify.{name}={wanted}`")
            if required:
                raise BuildError(message) from e
            log.warning("%s", message)


def down() -> None:
    kind = kind_binary()
    command = [str(kind), "delete", "cluster", "--name", CLUSTER_NAME, "--kubeconfig", str(kubeconfig_path())]
    try:
        run(command, capture=True)
    except BuildError:
        # A node killed while its runc held a pod's cgroup frozen (cgroup v1) never exits: the frozen tasks
        # cannot take SIGKILL, so `docker rm -f` fails with "did not receive an exit event". Thaw, then retry.
        if not thaw_frozen_cgroups(node_container_ids(kind)):
            raise
        run(command, capture=True)


def api_answers_within(c: Cluster, seconds: float) -> bool:
    def answers() -> bool | None:
        try:
            c.core.list_namespace(limit=1, _request_timeout=5)
            return True
        except Exception:  # connection refused or reset while the API server starts: ask again
            return None
    try:
        poll_until(answers, seconds, f"cluster {CLUSTER_NAME}'s API server answers", 1)
        return True
    except WaitTimeout:
        log.info("cluster %s: the API server did not answer within %.0fs", CLUSTER_NAME, seconds)
        return False


def start_exited_nodes(kind: Path) -> None:
    exited = [n for n, (state,) in inspect_nodes(kind, "{{.State.Status}}").items() if state in ("exited", "created")]
    if exited:
        log.info("cluster %s: starting stopped nodes %s", CLUSTER_NAME, ", ".join(exited))
        run(["docker", "start", *exited], capture=True, timeout=120)


def node_container_ids(kind: Path) -> list[str]:
    return [cid for (cid,) in inspect_nodes(kind, "{{.Id}}").values()]


def thaw_frozen_cgroups(container_ids: list[str], root: Path = Path("/sys/fs/cgroup/freezer")) -> list[Path]:
    """Thaw every frozen cgroup v1 freezer under the given containers; return the ones thawed."""
    thawed = []
    # The engine's cgroup driver decides where a container's cgroup is: cgroupfs, or systemd.
    for state in sorted(s for cid in container_ids
                        for top in (root / "docker" / cid, root / "system.slice" / f"docker-{cid}.scope")
                        for s in top.rglob("freezer.state")):
        try:
            if state.read_text().strip() != "THAWED":
                state.write_text("THAWED")
                thawed.append(state.parent)
        except OSError as e:  # not ours to write (rootless engine): the retry will say what is left
            log.info("cannot thaw %s: %s", state.parent, e)
    if thawed:
        log.warning("thawed %d frozen cgroup(s) left inside the node containers", len(thawed))
    return thawed


def export_logs(directory: Path) -> Path:
    kind = kind_binary()
    directory.mkdir(parents=True, exist_ok=True)
    run([str(kind), "export", "logs", str(directory), "--name", CLUSTER_NAME], capture=True, timeout=300)
    return directory


def status() -> dict[str, object]:
    """A short summary of the running cluster: nodes with readiness and versions, pods not Running."""
    c = connect_testbed()
    nodes = [{"name": n.metadata.name, "ready": node_condition(n), "kubelet": n.status.node_info.kubelet_version,
              "runtime": n.status.node_info.container_runtime_version}
             for n in c.core.list_node(_request_timeout=10).items]
    pods = c.core.list_pod_for_all_namespaces(_request_timeout=10).items
    not_running = [f"{p.metadata.namespace}/{p.metadata.name}: {p.status.phase}" for p in pods
                   if p.status.phase not in ("Running", "Succeeded")]
    return {"cluster": CLUSTER_NAME, "kubeconfig": str(kubeconfig_path()), "nodes": nodes, "pods": len(pods),
            "pods_not_running": not_running, "timing": read_timing(c).as_dict()}


def running_nodes(kind: Path) -> tuple[list[str], list[str]]:
    """The cluster's node containers as (running, paused or stopped). A node under a fault (`docker pause`)
    takes no exec, so `kind load` into it fails; nothing is scheduled there while it is NotReady."""
    states = inspect_nodes(kind, "{{.State.Running}} {{.State.Paused}}")
    up = [n for n, (running, paused) in states.items() if running == "true" and paused == "false"]
    return up, [n for n in states if n not in up]


def load_images(*refs: str, nodes: Collection[str] | None = None) -> None:
    """Make local images available on every running node, or on the running ones of `nodes` (each is a full copy:
    8 s per node for a 385 MB image, idle). A paused or stopped node (a fault in progress) is skipped, and named."""
    kind = kind_binary()
    up, down = running_nodes(kind)
    if nodes is not None:
        up, down = [n for n in up if n in nodes], [n for n in down if n in nodes]
    if down:
        log.warning("not loading into %s: paused or stopped (a fault in progress?)", ", ".join(down))
    if not up:
        raise BuildError(f"no running node in cluster {CLUSTER_NAME} to load images into")
    for ref in dict.fromkeys(refs):
        started = time.monotonic()
        missing = nodes_without(ref, up)
        if not missing:
            log.info("%s is already on every running node", ref)
            continue
        with waiting(f"kind load docker-image {ref} (into {len(missing)} nodes)", 600):
            run([str(kind), "load", "docker-image", ref, "--name", CLUSTER_NAME, "--nodes", ",".join(missing)],
                capture=True, timeout=600)
        log.info("loaded %s into cluster %s in %.1fs", ref, CLUSTER_NAME, time.monotonic() - started)


def nodes_without(ref: str, nodes: list[str]) -> list[str]:
    """The nodes whose containerd lacks the local image `ref` (by image id). kind does this check itself, but
    reads `status.id` from `crictl inspecti`, which newer crictl prints as `image.id`: it then re-sends the
    whole image to every node each time (about 30 s for the MySQL image into 6 nodes)."""
    wanted = run(["docker", "image", "inspect", "--format", "{{.Id}}", ref], capture=True, timeout=60).strip()
    return [n for n in nodes if node_image_id(n, ref) != wanted]


def node_image_id(node: str, ref: str) -> str | None:
    try:
        out = run(["docker", "exec", node, "crictl", "inspecti", "-o", "json", ref], capture=True, timeout=60)
    except BuildError:  # absent, or the node cannot say: load it
        return None
    return crictl_image_id(out)


def crictl_image_id(output: str) -> str | None:
    """The image id in `crictl inspecti -o json` output: under `status` (older crictl) or `image` (newer)."""
    try:
        document = json.loads(output)
    except ValueError:
        return None
    for key in ("image", "status"):
        section = document.get(key) if isinstance(document, dict) else None
        if isinstance(section, dict) and section.get("id"):
            return str(section["id"])
    return None
