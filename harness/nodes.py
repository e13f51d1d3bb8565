"""Node access: run commands on a cluster node (kubelet control, container-runtime listing) and feed the
recorder the node's container runtime.

Two ways in, one interface, chosen where the harness is assembled (harness/access.py): kind nodes are docker
containers (`docker exec <node> ...`, KindNodeAccess); on any other cluster the node agent, a privileged
DaemonSet that reports through the API server (harness/agent.py, AgentNodeAccess).
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
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


# One `docker exec` costs the host about 150 ms of CPU (docker CLI, dockerd, runc); a `crictl ps` inside an
# exec that is already running costs about 1 ms. Sampling five nodes twice a second with one exec per sample
# took most of a 2-core machine, and the samples themselves then lagged. So each node gets one long-lived
# exec that prints a sample every interval, and is started again after `STREAM_SECONDS` (a loop whose docker
# client went away can outlive it in the node; this bounds it).
STREAM_SECONDS = 60
SAMPLE_MARK = "@@chaos-sample"
# The loop ends right after a sample, not after a last sleep: the next exec's first sample then follows the
# last one by the exec's start plus one read, no more than the interval plus one read between two samples in
# one exec (a final sleep put a whole interval more into every restart's gap).
_STREAM_SCRIPT = f"""end=$(( $(date +%s) + {STREAM_SECONDS} ))
while :; do
  out=$(crictl ps -o json 2>&1); rc=$?
  printf '\n{SAMPLE_MARK} %s %s\n%s\n{SAMPLE_MARK}-end\n' "$(date +%s.%N)" "$rc" "$out" || exit 0
  [ "$(date +%s)" -lt "$end" ] || exit 0
  sleep "$1"
done"""


@dataclass
class StreamingFeed:
    """Samples each kind node through one long-lived `docker exec` per node (see STREAM_SECONDS). A sample
    carries the node's own time of reading (`sampled_at`). A node that stops answering (paused, gone) is
    recorded as an unreachable sample every `silence` seconds until it answers again."""

    nodes: Sequence[str]
    interval: float
    silence: float = 5.0

    def loops(self) -> dict[str, Callable[[threading.Event, Emit], None]]:
        return {f"sample-{node}": self._streamer(node) for node in self.nodes}

    def _streamer(self, node: str) -> Callable[[threading.Event, Emit], None]:
        def stream(stop: threading.Event, emit: Emit) -> None:
            while not stop.is_set():
                try:
                    proc = subprocess.Popen(["docker", "exec", node, "sh", "-c", _STREAM_SCRIPT, "sh",
                                             str(self.interval)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            text=True)
                except OSError as e:
                    emit(node, False, error=f"docker exec {node}: {e}"[:300])
                    stop.wait(self.silence)
                    continue
                try:
                    self._read(node, proc, stop, emit)
                finally:
                    proc.kill()
                    proc.wait()

        return stream

    def _read(self, node: str, proc: subprocess.Popen, stop: threading.Event, emit: Emit) -> None:
        lines: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        out = proc.stdout

        def pump() -> None:
            for line in out:
                lines.put(line.rstrip("\n"))
            lines.put(None)

        threading.Thread(target=pump, name=f"sample-{node}-pipe", daemon=True).start()
        head: list[str] | None = None
        body: list[str] = []
        while not stop.is_set():
            try:
                line = lines.get(timeout=self.silence)
            except queue.Empty:
                emit(node, False, error=f"no runtime sample from {node} for {self.silence:.0f}s (paused or gone?)")
                continue
            if line is None:  # the exec ended: its time was up, or the node went away
                if proc.wait() != 0:
                    emit(node, False, error=f"docker exec {node} exited {proc.returncode}: {' '.join(body)[-200:]}")
                    stop.wait(self.interval)
                return
            if line.startswith(SAMPLE_MARK + " "):
                head, body = line.split()[1:3], []
            elif line == SAMPLE_MARK + "-end" and head is not None:
                sampled_at, rc = float(head[0]), head[1]
                text = "\n".join(body)
                if rc == "0":
                    try:
                        emit(node, True, containers=parse_crictl_ps(node, text), sampled_at=sampled_at)
                    except ValueError as e:
                        emit(node, False, error=f"crictl ps on {node}: unreadable output: {e}"[:300],
                             sampled_at=sampled_at)
                else:
                    emit(node, False, error=f"crictl ps on {node} exited {rc}: {text}"[:300], sampled_at=sampled_at)
                head = None
            else:
                body.append(line)


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
        return StreamingFeed(nodes, interval)

    def close(self) -> None:
        """Nothing to release: docker exec leaves nothing behind."""
