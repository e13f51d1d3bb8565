"""Node access through the local docker engine: kind nodes are containers, so `docker exec <node> ...` reaches
their kubelet, runtime and network (KindNodeAccess), and a streaming `docker exec` feeds the recorder
(StreamingFeed). The interface is chaos_harness/nodes/access.py."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chaos_harness.core.errors import FaultError
from chaos_harness.nodes.access import (DEFAULT_TIME_BOX_SECONDS, UNIT_STATES, Emit,  # re-exported: the interface docker implements
                                        RuntimeContainer, RuntimeFeed, list_runtime_containers, parse_crictl_ps)

# One `docker exec` costs the host about 150 ms of CPU (docker CLI, dockerd, runc); a `crictl ps` inside an
# exec that is already running costs about 1 ms. Sampling five nodes twice a second with one exec per sample
# took most of a 2-core machine, and the samples themselves then lagged. So each node gets one long-lived
# exec that prints a sample every interval, and is started again after `STREAM_SECONDS` (a loop whose docker
# client went away can outlive it in the node; this bounds it). The next exec starts while the last one still
# runs (each lives HANDOVER_SECONDS longer): a `docker exec` takes seconds to start on a busy host, and a
# restart that waited for the old stream's end left a gap that long in the node's samples (3.8 s in a CI run).
STREAM_SECONDS = 60
HANDOVER_SECONDS = 10
SAMPLE_MARK = "@@chaos-sample"
# The loop ends right after a sample, not after a last sleep: the next exec's first sample then follows the
# last one by the exec's start plus one read, no more than the interval plus one read between two samples in
# one exec (a final sleep put a whole interval more into every restart's gap).
# Each sample also says whether the kubelet runs, read from its unit's cgroup with shell builtins (no fork per
# sample): the evidence that a kubelet-stop fault still holds. kind puts the unit under kubelet.slice, kubeadm
# hosts under system.slice; cgroup v1 (name=systemd hierarchy) or v2. "-" when neither layout is there.
_STREAM_SCRIPT = f"""end=$(( $(date +%s) + {STREAM_SECONDS + HANDOVER_SECONDS} ))
kubelet_state() {{
  known=-
  for slice in /sys/fs/cgroup/systemd/kubelet.slice /sys/fs/cgroup/systemd/system.slice \\
               /sys/fs/cgroup/kubelet.slice /sys/fs/cgroup/system.slice; do
    [ -d "$slice" ] && known=inactive
    if {{ read -r _ < "$slice/kubelet.service/cgroup.procs"; }} 2>/dev/null; then echo active; return; fi
  done
  echo "$known"
}}
while :; do
  out=$(crictl ps -o json 2>&1); rc=$?
  printf '\n{SAMPLE_MARK} %s %s %s\n%s\n{SAMPLE_MARK}-end\n' "$(date +%s.%N)" "$rc" "$(kubelet_state)" "$out" || exit 0
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
            readers: list[threading.Thread] = []
            while not stop.is_set():
                try:
                    proc = subprocess.Popen(["docker", "exec", node, "sh", "-c", _STREAM_SCRIPT, "sh",
                                             str(self.interval)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                            text=True)
                except OSError as e:
                    emit(node, False, error=f"docker exec {node}: {e}"[:300])
                    stop.wait(self.silence)
                    continue
                reader = threading.Thread(target=self._read_until_end, args=(node, proc, stop, emit),
                                          name=f"sample-{node}-read", daemon=True)
                reader.start()
                readers = [r for r in readers if r.is_alive()] + [reader]
                # Start its successor after STREAM_SECONDS (it still samples for HANDOVER_SECONDS), or at once
                # when it ended early.
                handover = time.monotonic() + STREAM_SECONDS
                while reader.is_alive() and not stop.wait(0.25) and time.monotonic() < handover:
                    pass
            for r in readers:
                r.join(timeout=1.0)

        return stream

    def _read_until_end(self, node: str, proc: subprocess.Popen, stop: threading.Event, emit: Emit) -> None:
        try:
            self._read(node, proc, stop, emit)
        finally:
            proc.kill()
            proc.wait()

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
                head, body = line.split()[1:4], []
            elif line == SAMPLE_MARK + "-end" and head is not None:
                sampled_at, rc = float(head[0]), head[1]
                kubelet = {"kubelet": head[2]} if len(head) > 2 and head[2] in ("active", "inactive") else {}
                text = "\n".join(body)
                if rc == "0":
                    try:
                        emit(node, True, containers=parse_crictl_ps(node, text), sampled_at=sampled_at, **kubelet)
                    except ValueError as e:
                        emit(node, False, error=f"crictl ps on {node}: unreadable output: {e}"[:300],
                             sampled_at=sampled_at)
                else:
                    emit(node, False, error=f"crictl ps on {node} exited {rc}: {text}"[:300], sampled_at=sampled_at)
                head = None
            else:
                body.append(line)


# The transient units (.timer, .service) of the node's own systemd that start a stopped kubelet at the fault's
# time box; the node agent arms the same name for its kubelet's unit (images/agent/hold.go).
HOST_TIMER = "chaos-harness-heal-kubelet"
_DISARM = f"systemctl stop {HOST_TIMER}.timer 2>/dev/null; systemctl reset-failed {HOST_TIMER}.service 2>/dev/null; true"


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

    def kubelet_stop(self, node: str, time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS) -> None:
        # The node's own systemd is armed first: it starts the kubelet at the time box whatever becomes of this
        # process (SIGKILLed, its machine gone); `kubelet_start` disarms it.
        self.exec(node, "sh", "-c", f"{_DISARM}; systemd-run --quiet --unit={HOST_TIMER} "
                                    f"--on-active={max(1, round(time_box_seconds))}s --timer-property=AccuracySec=1s "
                                    f"systemctl start kubelet.service && systemctl stop kubelet")

    def kubelet_start(self, node: str) -> None:
        self.exec(node, "sh", "-c", f"systemctl start kubelet && {{ {_DISARM}; }}")

    def kubelet_active(self, node: str) -> bool:
        """The unit's state as systemd says it (is-active exits 3 for inactive: the answer, not a failure); an
        exec that got no answer is a FaultError, never "inactive"."""
        try:
            result = subprocess.run(["docker", "exec", node, "systemctl", "is-active", "kubelet"],
                                    capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise FaultError(f"docker exec {node} systemctl is-active kubelet: no answer ({e})") from e
        state = result.stdout.strip()
        if state not in UNIT_STATES:
            raise FaultError(f"docker exec {node} systemctl is-active kubelet exited {result.returncode}: "
                             f"{(result.stderr or result.stdout).strip()[:200] or 'no output'}")
        return state == "active"

    def runtime_containers(self, node: str, timeout: float = 30) -> list[RuntimeContainer]:
        return list_runtime_containers(self, node, timeout)

    def runtime_feed(self, nodes: Sequence[str], interval: float) -> RuntimeFeed:
        return StreamingFeed(nodes, interval)

    def close(self) -> None:
        """Nothing to release: docker exec leaves nothing behind."""
