"""Node access: run commands on a cluster node (kubelet control, container-runtime listing).

Two ways in, one interface: kind nodes are docker containers (`docker exec <node> ...`); on any other
cluster a privileged pod pinned to the node enters the host's namespaces (see HostPodNodeAccess, issue 4).
"""

from __future__ import annotations

import json
import subprocess
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


class NodeAccess(Protocol):
    def exec(self, node: str, *cmd: str, timeout: float = 30) -> str: ...

    def kubelet_stop(self, node: str) -> None: ...

    def kubelet_start(self, node: str) -> None: ...

    def kubelet_active(self, node: str) -> bool: ...

    def runtime_containers(self, node: str, timeout: float = 30, all_states: bool = False) -> list[RuntimeContainer]:
        ...


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


class KindNodeAccess:
    """kind nodes are containers on the local docker engine."""

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
        args = ["crictl", "ps", "-o", "json"] + (["-a"] if all_states else [])
        return parse_crictl_ps(node, self.exec(node, *args, timeout=timeout))
