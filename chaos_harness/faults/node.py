"""Faults on a node: its kubelet stopped, the node frozen, cut off from the control plane, or drained. Pause and
partition need a node access that can do them (its `capabilities`)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from kubernetes import client
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_fixed

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import FaultError
from chaos_harness.faults.base import CHAOS_COMMENT, FaultContext, Unverified


@dataclass(frozen=True)
class KubeletStop:
    """systemctl stop kubelet on a node: its containers keep running, the API stops hearing from it."""

    type: ClassVar[str] = "kubelet-stop"
    holds: ClassVar[str] = "nodes"  # takes the node away: its scenario runs in a node lane
    node: str

    def inject(self, ctx: FaultContext) -> None:
        ctx.nodes.kubelet_stop(self.node, ctx.time_box_seconds)

    def verify_injected(self, ctx: FaultContext) -> str:
        try:
            active = ctx.nodes.kubelet_active(self.node)
        except FaultError as e:  # the stop went through; reading it back did not (a hung engine, no sample yet)
            return Unverified(f"could not verify that the kubelet on {self.node} stopped: {e}")
        if active:
            raise FaultError(f"kubelet on {self.node} is still active after systemctl stop")
        return f"systemctl is-active kubelet on {self.node}: inactive"

    def heal(self, ctx: FaultContext) -> None:
        ctx.nodes.kubelet_start(self.node)


def _docker(*args: str, timeout: float = 30) -> str:
    try:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except (FileNotFoundError, subprocess.TimeoutExpired) as e:
        raise FaultError(f"docker {' '.join(args)}: {e}") from e
    if result.returncode != 0:
        raise FaultError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout.strip()


@dataclass(frozen=True)
class NodePause:
    """docker pause a kind node: every process on it freezes (kubelet, runtime, containers). kind only."""

    type: ClassVar[str] = "node-pause"
    holds: ClassVar[str] = "nodes"  # takes the node away: its scenario runs in a node lane
    node: str

    def inject(self, ctx: FaultContext) -> None:
        if "pause" not in ctx.nodes.capabilities:
            raise FaultError(f"node pause needs the docker node access (kind); this run uses {ctx.nodes.name}")
        _pause(self.node)

    def verify_injected(self, ctx: FaultContext) -> str:
        try:
            paused = _docker("inspect", "-f", "{{.State.Paused}}", self.node, timeout=15)
        except FaultError as e:
            # The engine's hang that heal() describes can begin with the pause itself: then the kernel says it.
            if _kernel_frozen(self.node):
                return f"{self.node}'s freezer cgroup is frozen (the engine did not answer: {e})"
            raise
        if paused != "true":
            raise FaultError(f"{self.node} is not paused")
        return f"docker inspect {self.node}: State.Paused=true"

    def heal(self, ctx: FaultContext) -> None:
        try:
            paused = _docker("inspect", "-f", "{{.State.Paused}}", self.node, timeout=15)
        except FaultError as e:
            # The engine stops answering for a node frozen while a `docker exec` into it was starting (a
            # sampler's, another run's): that exec's `runc init` froze with the node, and the engine waits on it
            # holding the container. Thawing the node's freezer cgroup from the host lets the exec finish and
            # the engine answer again. The engine still records the node as paused and runc refuses to resume
            # a thawed container, so it is frozen once more through the kernel for the unpause to clear both.
            if not _freeze_container(self.node, False):
                raise FaultError(f"{e}; and the node's freezer cgroup could not be thawed from this host") from e
            if _docker("inspect", "-f", "{{.State.Paused}}", self.node) == "true":
                _freeze_container(self.node, True)
                _docker("unpause", self.node)
            return
        if paused == "true":
            _docker("unpause", self.node)


# runc's freeze races with a process joining the cgroup at that moment (a `docker exec` into the node starting:
# the runtime sampler's, a fault's): the kernel does not report the cgroup frozen in time, runc thaws it again and
# says "unable to freeze" (opencontainers/runc#2791: "still a game of chances"). Seen once in a CI run with ten
# nodes sampled; asking again is the known remedy. Anything else a pause refuses is not retried.
@retry(retry=retry_if_exception(lambda e: isinstance(e, FaultError) and "unable to freeze" in str(e)),
       stop=stop_after_attempt(5), wait=wait_fixed(0.5), reraise=True)
def _pause(node: str) -> None:
    _docker("pause", node)


def _freezer_cgroup(name: str) -> Path | None:
    """A container's freezer cgroup on this host (cgroup v1 freezer or v2, under the cgroupfs or the systemd
    driver's path). None where this host does not hold it (a remote or rootless engine, Docker Desktop's VM)."""
    try:
        cid = _docker("ps", "-q", "--no-trunc", "--filter", f"name=^{name}$", timeout=15)
    except FaultError:
        return None
    if not cid:
        return None
    root = Path("/sys/fs/cgroup")
    for cgroup in (root / "freezer" / "docker" / cid, root / "freezer" / "system.slice" / f"docker-{cid}.scope",
                   root / "docker" / cid, root / "system.slice" / f"docker-{cid}.scope"):
        if (cgroup / "freezer.state").exists() or (cgroup / "cgroup.freeze").exists():
            return cgroup
    return None


def _freeze_container(name: str, frozen: bool) -> bool:
    """Freeze or thaw a container's cgroup through the kernel, beside the engine. False where this host does not
    hold it (_freezer_cgroup) or refuses the write."""
    cgroup = _freezer_cgroup(name)
    if cgroup is None:
        return False
    v1 = cgroup / "freezer.state"
    path, value = ((v1, "FROZEN" if frozen else "THAWED") if v1.exists()
                   else (cgroup / "cgroup.freeze", "1" if frozen else "0"))
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def _kernel_frozen(name: str) -> bool:
    """The kernel reports the container's cgroup frozen (v1 freezer.state FROZEN, v2 cgroup.events frozen 1)."""
    cgroup = _freezer_cgroup(name)
    if cgroup is None:
        return False
    try:
        if (cgroup / "freezer.state").exists():
            return (cgroup / "freezer.state").read_text().strip() == "FROZEN"
        return "frozen 1" in (cgroup / "cgroup.events").read_text().splitlines()
    except OSError:
        return False


@dataclass(frozen=True)
class NetworkPartition:
    """Drop all traffic between a node and the control plane with iptables inside the kind node.
    Unsupported on other clusters (the harness does not touch their hosts' firewalls)."""

    type: ClassVar[str] = "network-partition"
    holds: ClassVar[str] = "nodes"  # takes the node away: its scenario runs in a node lane
    node: str
    peer_ip: str

    def _rules(self) -> list[list[str]]:
        return [["INPUT", "-s", self.peer_ip], ["OUTPUT", "-d", self.peer_ip]]

    def inject(self, ctx: FaultContext) -> None:
        if "partition" not in ctx.nodes.capabilities:
            raise FaultError(f"network partition needs the docker node access (kind); this run uses {ctx.nodes.name}")
        # Both directions in one exec: the cut starts at once rather than one exec apart (each is a docker exec,
        # around a second on a loaded host); a half-applied cut is healed like a whole one.
        insert = " && ".join(f"iptables -I {chain} {flag} {ip} -m comment --comment {CHAOS_COMMENT} -j DROP"
                             for chain, flag, ip in self._rules())
        ctx.nodes.exec(self.node, "sh", "-c", insert)

    def verify_injected(self, ctx: FaultContext) -> str:
        rules = ctx.nodes.exec(self.node, "iptables", "-S")
        if rules.count(CHAOS_COMMENT) < 2:
            raise FaultError(f"partition rules missing on {self.node}")
        return f"iptables on {self.node} drops traffic to and from {self.peer_ip}"

    def heal(self, ctx: FaultContext) -> None:
        # One exec for both rules (each exec is a docker exec, around a second on a loaded host): delete each
        # until `iptables -C` says it is absent (exit 1), so a double inject is fully undone. Any other answer
        # (iptables broken, the node unreachable) is a failed heal, never "already gone".
        script = []
        for chain, flag, ip in self._rules():
            rule = f"{chain} {flag} {ip} -m comment --comment {CHAOS_COMMENT} -j DROP"
            script.append(f'i=0; while :; do iptables -C {rule} 2>/dev/null; rc=$?; [ $rc -eq 1 ] && break; '
                          f'[ $rc -ne 0 ] && {{ echo "check {rule}: iptables -C answered $rc"; exit 0; }}; '
                          f'iptables -D {rule} || {{ echo "delete {rule} failed"; exit 0; }}; i=$((i+1)); '
                          f'[ $i -ge 10 ] && {{ echo "{rule} still there after 10 deletions"; exit 0; }}; done')
        out = ctx.nodes.exec(self.node, "sh", "-c", "; ".join(script) + "; echo healed").strip()
        last = out.splitlines()[-1] if out else "no answer"
        if last != "healed":
            raise FaultError(f"partition on {self.node} not healed: {last}")


@dataclass(frozen=True)
class NodeDrain:
    """Cordon a node and evict its pods through the Eviction API (respecting PodDisruptionBudgets)."""

    type: ClassVar[str] = "node-drain"
    holds: ClassVar[str] = "nodes"  # takes the node away: its scenario runs in a node lane
    node: str

    def inject(self, ctx: FaultContext) -> None:
        core = ctx.cluster.core
        with api_errors(f"draining {self.node}"):
            core.patch_node(self.node, {"spec": {"unschedulable": True}}, _request_timeout=10)
            pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={self.node}", _request_timeout=10)
            for p in pods.items:
                if any(o.kind == "DaemonSet" for o in p.metadata.owner_references or []):
                    continue
                if p.metadata.annotations and "kubernetes.io/config.mirror" in p.metadata.annotations:
                    continue
                core.create_namespaced_pod_eviction(p.metadata.name, p.metadata.namespace, client.V1Eviction(
                    metadata=client.V1ObjectMeta(name=p.metadata.name, namespace=p.metadata.namespace)))

    def verify_injected(self, ctx: FaultContext) -> str:
        node = ctx.cluster.core.read_node(self.node, _request_timeout=10)
        if not node.spec.unschedulable:
            raise FaultError(f"{self.node} is not cordoned")
        return f"{self.node} cordoned, pods evicted"

    def heal(self, ctx: FaultContext) -> None:
        with api_errors(f"uncordoning {self.node}"):
            ctx.cluster.core.patch_node(self.node, {"spec": {"unschedulable": False}}, _request_timeout=10)
