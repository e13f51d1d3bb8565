"""Node access: run commands on a cluster node (kubelet control, container-runtime listing) and feed the
recorder the node's container runtime.

Two ways in, one interface (NodeAccess), chosen where the harness is assembled
(chaos_harness/assemble/node_access.py): kind nodes are docker containers (`docker exec <node> ...`,
chaos_harness/nodes/docker.py); on any other cluster the node agent, a privileged DaemonSet that reports through
the API server (chaos_harness/nodes/agent.py). A new way in implements NodeAccess in a module of its own here.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class RuntimeContainer:
    """One container as the node's runtime sees it (crictl ps -a -o json), independent of the API."""

    node: str
    container_id: str
    name: str
    pod_name: str
    pod_namespace: str
    pod_uid: str
    state: str
    created_at_ns: int


# The longest a node fault holds when nobody says (a test's own FaultContext); a run's comes from its cluster's
# timing (ClusterTiming.fault_time_box). The node agent's own fallback is the same (images/agent/hold.go).
DEFAULT_TIME_BOX_SECONDS = 900.0

# What the recorder hands a feed: emit(node, ok, containers=None, error=None, **extra) records one sample.
Emit = Callable[..., None]


class RuntimeFeed(Protocol):
    """Where the recorder's runtime samples come from: loops it runs, each in its own thread, until `stop`."""

    def loops(self) -> dict[str, Callable[[threading.Event, Emit], None]]: ...


class NodeAccess(Protocol):
    name: str                       # "docker" or "agent": journaled with each fault, so cleanup uses the same
    capabilities: frozenset[str]    # faults beyond kubelet control and exec it can do: "pause", "partition"

    def exec(self, node: str, *cmd: str, timeout: float = 30) -> str: ...

    def kubelet_stop(self, node: str, time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS) -> None:
        """Stop the node's kubelet; the node starts it again by itself `time_box_seconds` later at the latest,
        whether or not the harness is still there (a timer of the host's own systemd)."""
        ...

    def kubelet_start(self, node: str) -> None: ...

    def kubelet_active(self, node: str) -> bool: ...

    # Pause and partition (where `capabilities` says so). `paused` / `partitioned` give the evidence that the
    # fault is in force, or raise FaultError. `peers`: host:port of every API server address to cut off.
    def pause(self, node: str, time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS) -> None: ...

    def paused(self, node: str) -> str: ...

    def unpause(self, node: str) -> None: ...

    def partition(self, node: str, peers: Sequence[str],
                  time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS) -> None: ...

    def partitioned(self, node: str, peers: Sequence[str]) -> str: ...

    def unpartition(self, node: str, peers: Sequence[str]) -> None: ...

    def runtime_containers(self, node: str, timeout: float = 30) -> list[RuntimeContainer]:
        ...

    def runtime_feed(self, nodes: Sequence[str], interval: float, namespace: str = "*") -> RuntimeFeed:
        """Samples of `nodes`' runtimes, at least the containers of `namespace` ("*": all) in each."""
        ...

    def close(self) -> None: ...


def parse_crictl_ps(node: str, output: str) -> list[RuntimeContainer]:
    """Parse `crictl ps -a -o json` (protojson of ListContainersResponse: camelCase keys, int64 as strings)."""
    doc = json.loads(output or "{}")
    containers = []
    for c in doc.get("containers", []):
        labels = c.get("labels", {})
        containers.append(RuntimeContainer(
            node=node,
            container_id=c["id"],
            name=c.get("metadata", {}).get("name", ""),
            pod_name=labels.get("io.kubernetes.pod.name", ""),
            pod_namespace=labels.get("io.kubernetes.pod.namespace", ""),
            pod_uid=labels.get("io.kubernetes.pod.uid", ""),
            state=c.get("state", ""),
            created_at_ns=int(c.get("createdAt", 0)),
        ))
    return containers


def list_runtime_containers(access: NodeAccess, node: str, timeout: float) -> list[RuntimeContainer]:
    """`crictl ps` on the node through whichever access reaches it."""
    args = ["crictl", "ps", "-o", "json"]  # running containers only
    return parse_crictl_ps(node, access.exec(node, *args, timeout=timeout))


# What `systemctl is-active` prints for a unit it knows (anything else: the question did not reach systemd).
UNIT_STATES = frozenset({"active", "inactive", "failed", "activating", "deactivating", "reloading"})
