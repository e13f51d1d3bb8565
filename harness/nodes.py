"""Node access: run commands on a cluster node (kubelet control, container-runtime listing) and feed the
recorder the node's container runtime.

Two ways in, one interface, chosen where the harness is assembled (harness/access.py): kind nodes are docker
containers (`docker exec <node> ...`, KindNodeAccess); on any other cluster the node agent, a privileged
DaemonSet that reports through the API server (harness/agent.py, AgentNodeAccess).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.errors import FaultError


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


# What the recorder hands a feed: emit(node, ok, containers=None, error=None, **extra) records one sample.
Emit = Callable[..., None]


class RuntimeFeed(Protocol):
    """Where the recorder's runtime samples come from: loops it runs, each in its own thread, until `stop`."""

    def loops(self) -> dict[str, Callable[[threading.Event, Emit], None]]: ...


class NodeAccess(Protocol):
    name: str                       # "docker" or "agent": journaled with each fault, so cleanup uses the same
    capabilities: frozenset[str]    # faults beyond kubelet control and exec: "pause", "partition"

    def exec(self, node: str, *cmd: str, timeout: float = 30) -> str: ...

    def kubelet_stop(self, node: str) -> None: ...

    def kubelet_start(self, node: str) -> None: ...

    def kubelet_active(self, node: str) -> bool: ...

    def runtime_containers(self, node: str, timeout: float = 30, all_states: bool = False) -> list[RuntimeContainer]:
        ...

    def runtime_feed(self, nodes: Sequence[str], interval: float) -> RuntimeFeed: ...

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


def list_runtime_containers(access: NodeAccess, node: str, timeout: float, all_states: bool) -> list[RuntimeContainer]:
    """`crictl ps` on the node through whichever access reaches it."""
    args = ["crictl", "ps", "-o", "json"] + (["-a"] if all_states else [])
    return parse_crictl_ps(node, access.exec(node, *args, timeout=timeout))


@dataclass
class PollingFeed:
    """Samples each node by listing its runtime through the access every `interval` (one thread per node)."""

    access: NodeAccess
    nodes: Sequence[str]
    interval: float

    def loops(self) -> dict[str, Callable[[threading.Event, Emit], None]]:
        return {f"sample-{node}": self._poller(node) for node in self.nodes}

    def _poller(self, node: str) -> Callable[[threading.Event, Emit], None]:
        def poll(stop: threading.Event, emit: Emit) -> None:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    emit(node, True, containers=self.access.runtime_containers(node, timeout=5))
                except Exception as e:  # a paused or unreachable node is an observation too
                    emit(node, False, error=f"{type(e).__name__}: {e}"[:300])
                stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

        return poll


class KindNodeAccess:
    """kind nodes are containers on the local docker engine."""

    name = "docker"
    capabilities = frozenset({"pause", "partition"})

    def exec(self, node: str, *cmd: str, timeout: float = 30) -> str:
        try:
            result = subprocess.run(["docker", "exec", node, *cmd], capture_output=True, text=True, timeout=timeout)
        except FileNotFoundError as e:
            raise FaultError("docker not found on PATH: kind node access needs the docker CLI") from e
        except subprocess.TimeoutExpired as e:
            raise FaultError(f"docker exec {node} {' '.join(cmd)}: no answer within {timeout}s") from e
        if result.returncode != 0:
            raise FaultError(f"docker exec {node} {' '.join(cmd)} exited {result.returncode}: {result.stderr.strip()}")
        return result.stdout

    def kubelet_stop(self, node: str) -> None:
        self.exec(node, "systemctl", "stop", "kubelet")

    def kubelet_start(self, node: str) -> None:
        self.exec(node, "systemctl", "start", "kubelet")

    def kubelet_active(self, node: str) -> bool:
        try:
            return self.exec(node, "systemctl", "is-active", "kubelet").strip() == "active"
        except FaultError:
            return False

    def runtime_containers(self, node: str, timeout: float = 30, all_states: bool = False) -> list[RuntimeContainer]:
        return list_runtime_containers(self, node, timeout, all_states)

    def runtime_feed(self, nodes: Sequence[str], interval: float) -> RuntimeFeed:
        return PollingFeed(self, nodes, interval)

    def close(self) -> None:
        """Nothing to release: docker exec leaves nothing behind."""
