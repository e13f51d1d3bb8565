"""Node access: run commands on a cluster node (kubelet control, container-runtime listing).

Two ways in, one interface: kind nodes are docker containers (`docker exec <node> ...`); on any other
cluster a privileged pod pinned to the node enters the host's namespaces (see HostPodNodeAccess, issue 4).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from harness.errors import FaultError, from_api_exception
from harness.waits import watch_until

if TYPE_CHECKING:
    from harness.kube import Cluster


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


def list_runtime_containers(access: NodeAccess, node: str, timeout: float, all_states: bool) -> list[RuntimeContainer]:
    """`crictl ps` on the node through whichever access reaches it."""
    args = ["crictl", "ps", "-o", "json"] + (["-a"] if all_states else [])
    return parse_crictl_ps(node, access.exec(node, *args, timeout=timeout))


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
        return list_runtime_containers(self, node, timeout, all_states)


SHELL_NAMESPACE = "chaos-harness-system"


class HostPodNodeAccess:
    """Node access for any cluster: a privileged pod pinned to the node (hostPID, hostNetwork) runs commands
    in the host's namespaces with `nsenter -t 1`. Exec goes through the kubelet, so while a node's kubelet
    is stopped nothing can be run there: kubelet_stop therefore arms a systemd timer on the node that starts
    the kubelet again after `max_stop_seconds`, and kubelet_start waits for that timer when exec fails."""

    def __init__(self, cluster: "Cluster", image: str, max_stop_seconds: int = 600) -> None:
        self.cluster = cluster
        self.image = image
        self.max_stop_seconds = max_stop_seconds
        self._heal_timers: dict[str, str] = {}
        self._shells: set[str] = set()

    def close(self) -> None:
        """Remove the node-shell pods this access created (they are privileged: do not leave them behind)."""
        for node in sorted(self._shells):
            try:
                self.cluster.core.delete_namespaced_pod(self._pod_name(node), SHELL_NAMESPACE, grace_period_seconds=0,
                                                        _request_timeout=10)
            except ApiException as e:
                if e.status != 404:
                    raise from_api_exception(e, f"deleting node shell on {node}") from e
        self._shells.clear()

    def _pod_name(self, node: str) -> str:
        return f"node-shell-{node}"[:63]

    def ensure_pod(self, node: str, deadline_seconds: float = 120) -> str:
        core = self.cluster.core
        name = self._pod_name(node)
        try:
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=SHELL_NAMESPACE)))
        except ApiException as e:
            if e.status != 409:
                raise from_api_exception(e, f"creating namespace {SHELL_NAMESPACE}") from e
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels={"app.kubernetes.io/name": "chaos-harness-node-shell"}),
            spec=client.V1PodSpec(
                node_name=node, host_pid=True, host_network=True, restart_policy="Always",
                termination_grace_period_seconds=0, tolerations=[client.V1Toleration(operator="Exists")],
                containers=[client.V1Container(
                    name="shell", image=self.image, image_pull_policy="IfNotPresent",
                    command=["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 5; done"],
                    security_context=client.V1SecurityContext(privileged=True))]))
        try:
            core.create_namespaced_pod(SHELL_NAMESPACE, pod, _request_timeout=10)
        except ApiException as e:
            if e.status != 409:
                raise from_api_exception(e, f"creating node shell on {node}") from e
        self._shells.add(node)
        watch_until(core.list_namespaced_pod, lambda p: p.status.phase == "Running", deadline_seconds,
                    f"node shell on {node} running", namespace=SHELL_NAMESPACE, field_selector=f"metadata.name={name}")
        return name

    def exec(self, node: str, *cmd: str, timeout: float = 30) -> str:
        name = self.ensure_pod(node)
        command = ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", *cmd]
        # Exit status travels on the error channel; wrap the command so it lands on stdout instead.
        wrapped = ["sh", "-c", '"$@"; echo "__rc=$?"', "sh", *command]
        try:
            out = stream(self.cluster.streaming_core().connect_get_namespaced_pod_exec, name, SHELL_NAMESPACE,
                         command=wrapped, stderr=True, stdin=False, stdout=True, tty=False, _request_timeout=timeout)
        except Exception as e:
            raise FaultError(f"exec on {node} through {SHELL_NAMESPACE}/{name}: {type(e).__name__}: {e}") from e
        # stderr is interleaved with stdout, so the marker need not be last: find it, then drop its line.
        codes = re.findall(r"__rc=(\d+)", out)
        body = re.sub(r"__rc=\d+\n?", "", out)
        if not codes or codes[-1] != "0":
            raise FaultError(f"{' '.join(cmd)} on {node} exited {codes[-1] if codes else '?'}: {body.strip()[-300:]}")
        return body

    def kubelet_stop(self, node: str) -> None:
        # The dead man's switch first: if the harness dies, the node heals itself.
        stamp = time.strftime("%Y%m%d%H%M%S")
        self._heal_timers[node] = f"chaos-harness-kubelet-heal-{stamp}"
        self.exec(node, "systemd-run", "--unit", self._heal_timers[node], f"--on-active={self.max_stop_seconds}",
                  "systemctl", "start", "kubelet")
        # Stopping the kubelet ends this very exec session (it is streamed by the kubelet), so the stop runs
        # detached, a second later, and we wait until exec no longer answers.
        self.exec(node, "systemd-run", "--unit", f"chaos-harness-kubelet-stop-{stamp}", "--on-active=1",
                  "systemctl", "stop", "kubelet")
        deadline = time.monotonic() + 30
        while self.kubelet_active(node):
            if time.monotonic() > deadline:
                raise FaultError(f"kubelet on {node} still active 30s after the scheduled stop")
            time.sleep(0.5)

    def kubelet_start(self, node: str) -> None:
        deadline = time.monotonic() + self.max_stop_seconds + 60
        while True:
            try:
                self.exec(node, "systemctl", "start", "kubelet", timeout=15)
                timer = self._heal_timers.pop(node, None)
                if timer:
                    # An elapsed transient timer may already be gone: that is fine.
                    self.exec(node, "sh", "-c", f"systemctl stop {timer}.timer 2>/dev/null || true")
                return
            except FaultError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(5)  # exec needs the kubelet; the armed timer brings it back

    def kubelet_active(self, node: str) -> bool:
        try:
            return self.exec(node, "systemctl", "is-active", "kubelet", timeout=15).strip() == "active"
        except FaultError:
            return False

    def runtime_containers(self, node: str, timeout: float = 30, all_states: bool = False) -> list[RuntimeContainer]:
        return list_runtime_containers(self, node, timeout, all_states)
