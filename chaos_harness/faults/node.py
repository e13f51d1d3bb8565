"""Faults on a node: its kubelet stopped, the node frozen, cut off from the control plane, or drained. Each is
done through the run's node access (chaos_harness/nodes: kind's docker, or the node agent); pause and partition
need one that can do them (its `capabilities`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kubernetes import client

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import FaultError
from chaos_harness.faults.base import FaultContext, Unverified


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


@dataclass(frozen=True)
class NodePause:
    """The node frozen: kind's docker access pauses the node container (every process on it); the node agent
    freezes the kubelet's and every pod's cgroup but its own (the runtime and systemd keep running)."""

    type: ClassVar[str] = "node-pause"
    holds: ClassVar[str] = "nodes"  # takes the node away: its scenario runs in a node lane
    node: str

    def inject(self, ctx: FaultContext) -> None:
        if "pause" not in ctx.nodes.capabilities:
            raise FaultError(f"node pause is not something the {ctx.nodes.name} node access can do")
        ctx.nodes.pause(self.node, ctx.time_box_seconds)

    def verify_injected(self, ctx: FaultContext) -> str:
        return ctx.nodes.paused(self.node)

    def heal(self, ctx: FaultContext) -> None:
        ctx.nodes.unpause(self.node)


@dataclass(frozen=True)
class NetworkPartition:
    """The node's traffic to and from the API server dropped in both directions (`peers`: host:port of every
    API server address, core/control_plane.api_server_addresses). Through kind's docker access: iptables in the
    node container; through the node agent: nftables or iptables on the node, its own Lease traffic let
    through so that the harness can end it."""

    type: ClassVar[str] = "network-partition"
    holds: ClassVar[str] = "nodes"  # takes the node away: its scenario runs in a node lane
    node: str
    peers: tuple[str, ...]

    def __post_init__(self) -> None:
        # A journal's spec gives a JSON list; one address alone is a partition from it.
        object.__setattr__(self, "peers", tuple([self.peers] if isinstance(self.peers, str) else self.peers))

    def inject(self, ctx: FaultContext) -> None:
        if "partition" not in ctx.nodes.capabilities:
            raise FaultError(f"network partition is not something the {ctx.nodes.name} node access can do")
        ctx.nodes.partition(self.node, self.peers, ctx.time_box_seconds)

    def verify_injected(self, ctx: FaultContext) -> str:
        return ctx.nodes.partitioned(self.node, self.peers)

    def heal(self, ctx: FaultContext) -> None:
        ctx.nodes.unpartition(self.node, self.peers)


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
