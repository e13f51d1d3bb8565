"""Faults on a pod: deleted through the API (gracefully or forced), or its container killed on the node's runtime
behind the API's back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kubernetes import client

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import FaultError, NotFound, SelectionError, WaitTimeout
from chaos_harness.core.kube import Cluster
from chaos_harness.core.waits import poll_until
from chaos_harness.faults.base import FaultContext

# How long a killed container may still show in the node's runtime readings (the node agent's are up to its
# sampling interval plus a publish late).
VERIFY_SECONDS = 10.0


@dataclass(frozen=True)
class PodDelete:
    """Delete a pod through the API: gracefully, or forced (grace period 0, the object goes at once)."""

    type: ClassVar[str] = "pod-delete"
    namespace: str
    pod: str
    force: bool = False
    uid: str = ""  # filled by select(): the pod the fault is about, not a later one of the same name

    def inject(self, ctx: FaultContext) -> None:
        with api_errors(f"deleting pod {self.namespace}/{self.pod}"):
            # The grace period goes in the body: when a body is sent, its options win over query parameters.
            ctx.cluster.core.delete_namespaced_pod(
                self.pod, self.namespace,
                body=client.V1DeleteOptions(grace_period_seconds=0 if self.force else None,
                                            preconditions=client.V1Preconditions(uid=self.uid) if self.uid else None),
                _request_timeout=15)

    def verify_injected(self, ctx: FaultContext) -> str:
        try:
            with api_errors(f"reading pod {self.pod}"):
                pod = ctx.cluster.core.read_namespaced_pod(self.pod, self.namespace, _request_timeout=10)
        except NotFound:
            return f"pod {self.namespace}/{self.pod} is gone from the API"
        if self.uid and pod.metadata.uid != self.uid:
            return f"pod {self.pod} uid {self.uid} is gone (a new pod {pod.metadata.uid} has the name)"
        if pod.metadata.deletion_timestamp is not None:
            return f"pod {self.pod} is terminating since {pod.metadata.deletion_timestamp}"
        raise FaultError(f"pod {self.namespace}/{self.pod} is neither gone nor terminating after delete")

    def heal(self, ctx: FaultContext) -> None:
        """Nothing to undo: the pod's controller re-creates it; the scenario checks how."""


@dataclass(frozen=True)
class ContainerKill:
    """Stop one container at the runtime level (crictl stop -t 0), behind the API's back."""

    type: ClassVar[str] = "container-kill"
    node: str
    container_id: str

    def inject(self, ctx: FaultContext) -> None:
        ctx.nodes.exec(self.node, "crictl", "stop", "--timeout", "0", self.container_id)

    def verify_injected(self, ctx: FaultContext) -> str:
        # A node access may read the runtime a moment late (the node agent publishes what it sampled): look
        # again until a reading shows the container gone, within a bound.
        def gone() -> bool | None:
            return self.container_id not in {c.container_id for c in ctx.nodes.runtime_containers(self.node)} or None

        try:
            _, waited = poll_until(gone, VERIFY_SECONDS, f"container {self.container_id[:13]} gone from {self.node}",
                                   0.5)
        except WaitTimeout as e:
            raise FaultError(f"container {self.container_id[:13]} still running on {self.node} "
                             f"{VERIFY_SECONDS:.0f}s after crictl stop") from e
        return f"container {self.container_id[:13]} not running on {self.node} ({waited:.1f}s after the stop)"

    def heal(self, ctx: FaultContext) -> None:
        """Nothing to undo: the kubelet restarts the container."""


def node_running_pod(cluster: Cluster, namespace: str, pod: str) -> str:
    """The node pod X is scheduled on. A pod that does not exist or is not scheduled is a selection error."""
    try:
        with api_errors(f"reading pod {pod}"):
            p = cluster.core.read_namespaced_pod(pod, namespace, _request_timeout=10)
    except NotFound as e:
        raise SelectionError(f"no pod {namespace}/{pod}: the fault's target selects nothing") from e
    if not p.spec.node_name:
        raise SelectionError(f"pod {namespace}/{pod} is not scheduled on any node")
    return str(p.spec.node_name)


def pods_by_label(cluster: Cluster, namespace: str, selector: str) -> list[str]:
    with api_errors(f"listing pods {selector}"):
        pods = cluster.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=10)
    names = sorted(p.metadata.name for p in pods.items)
    if not names:
        raise SelectionError(f"label selector {selector!r} in {namespace} matches no pod")
    return names


def pod_delete(cluster: Cluster, namespace: str, pod: str, force: bool = False) -> PodDelete:
    try:
        with api_errors(f"reading pod {pod}"):
            uid = cluster.core.read_namespaced_pod(pod, namespace, _request_timeout=10).metadata.uid
    except NotFound as e:
        raise SelectionError(f"no pod {namespace}/{pod} to delete") from e
    return PodDelete(namespace, pod, force, uid)
