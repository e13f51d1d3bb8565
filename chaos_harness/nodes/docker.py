"""Node access through the local docker engine: kind nodes are containers, so `docker exec <node> ...` reaches
their kubelet, runtime and network (KindNodeAccess), `docker pause` freezes a whole node, and a streaming
`docker exec` feeds the recorder (StreamingFeed). The interface is chaos_harness/nodes/access.py."""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_fixed

from chaos_harness.core.control_plane import peer_host
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
PARTITION_TIMER = "chaos-harness-heal-partition"


def _disarm(timer: str) -> str:
    return f"systemctl stop {timer}.timer 2>/dev/null; systemctl reset-failed {timer}.service 2>/dev/null; true"


_DISARM = _disarm(HOST_TIMER)
_DISARM_PARTITION = _disarm(PARTITION_TIMER)
PARTITION_COMMENT = "chaos-harness"


def _quote(script: str) -> str:
    return "'" + script.replace("'", "'\\''") + "'"


def _addresses(peers: Sequence[str]) -> list[str]:
    """The addresses of host:port peers ([v6]:port too), each once, in order."""
    return list(dict.fromkeys(peer_host(p) for p in peers))


def _partition_rules(peers: Sequence[str]) -> list[tuple[str, str]]:
    """(iptables or ip6tables, rule) for each direction of each address."""
    rules = []
    for ip in _addresses(peers):
        binary = "ip6tables" if ":" in ip else "iptables"
        for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
            rules.append((binary, f"{chain} {flag} {ip} -m comment --comment {PARTITION_COMMENT} -j DROP"))
    return rules


def _unpartition_script(peers: Sequence[str]) -> str:
    """Delete each rule until `iptables -C` says it is absent (exit 1), so a double inject is fully undone. Any
    other answer (iptables broken) is a failed heal, never "already gone". Prints "healed" last on success."""
    script = []
    for binary, rule in _partition_rules(peers):
        script.append(f'i=0; while :; do {binary} -w -C {rule} 2>/dev/null; rc=$?; [ $rc -eq 1 ] && break; '
                      f'[ $rc -ne 0 ] && {{ echo "check {rule}: {binary} -C answered $rc"; exit 0; }}; '
                      f'{binary} -w -D {rule} || {{ echo "delete {rule} failed"; exit 0; }}; i=$((i+1)); '
                      f'[ $i -ge 10 ] && {{ echo "{rule} still there after 10 deletions"; exit 0; }}; done')
    return "; ".join(script) + "; echo healed"


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

    # --- pause: the node container frozen by the engine ---------------------------------------------------------
    # Nothing on a frozen node can undo its pause: the heal (or `cleanup`) does, from this host.

    def pause(self, node: str, time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS) -> None:
        _pause(node)

    def paused(self, node: str) -> str:
        try:
            paused = _docker("inspect", "-f", "{{.State.Paused}}", node, timeout=15)
        except FaultError as e:
            # The engine's hang that unpause() describes can begin with the pause itself: then the kernel says it.
            if _kernel_frozen(node):
                return f"{node}'s freezer cgroup is frozen (the engine did not answer: {e})"
            raise
        if paused != "true":
            raise FaultError(f"{node} is not paused")
        return f"docker inspect {node}: State.Paused=true"

    def unpause(self, node: str) -> None:
        try:
            paused = _docker("inspect", "-f", "{{.State.Paused}}", node, timeout=15)
        except FaultError as e:
            # The engine stops answering for a node frozen while a `docker exec` into it was starting (a
            # sampler's, another run's): that exec's `runc init` froze with the node, and the engine waits on it
            # holding the container. Thawing the node's freezer cgroup from the host lets the exec finish and
            # the engine answer again. The engine still records the node as paused and runc refuses to resume
            # a thawed container, so it is frozen once more through the kernel for the unpause to clear both.
            if not _freeze_container(node, False):
                raise FaultError(f"{e}; and the node's freezer cgroup could not be thawed from this host") from e
            if _docker("inspect", "-f", "{{.State.Paused}}", node) == "true":
                _freeze_container(node, True)
                _docker("unpause", node)
            return
        if paused == "true":
            _docker("unpause", node)

    # --- partition: iptables inside the node container ----------------------------------------------------------

    def partition(self, node: str, peers: Sequence[str],
                  time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS) -> None:
        # Both directions in one exec: the cut starts at once rather than one exec apart (each is a docker exec,
        # around a second on a loaded host); a half-applied cut is healed like a whole one. The node's own
        # systemd is armed first to remove the rules at the time box, whatever becomes of this process.
        arm = (f"{_DISARM_PARTITION}; systemd-run --quiet --unit={PARTITION_TIMER} "
               f"--on-active={max(1, round(time_box_seconds))}s --timer-property=AccuracySec=1s "
               f"sh -c {_quote(_unpartition_script(peers))}")
        insert = " && ".join(f"{binary} -w -I {rule}" for binary, rule in _partition_rules(peers))
        self.exec(node, "sh", "-c", f"{arm} && {insert}")

    def partitioned(self, node: str, peers: Sequence[str]) -> str:
        rules = "".join(self.exec(node, binary, "-S") for binary in sorted({b for b, _ in _partition_rules(peers)}))
        if rules.count(PARTITION_COMMENT) < len(_partition_rules(peers)):
            raise FaultError(f"partition rules missing on {node}")
        return f"iptables on {node} drops traffic to and from {', '.join(_addresses(peers))}"

    def unpartition(self, node: str, peers: Sequence[str]) -> None:
        out = self.exec(node, "sh", "-c", f"{_unpartition_script(peers)}; {_DISARM_PARTITION}").strip()
        last = out.splitlines()[-1] if out else "no answer"
        if last != "healed":
            raise FaultError(f"partition on {node} not healed: {last}")

    def runtime_containers(self, node: str, timeout: float = 30) -> list[RuntimeContainer]:
        return list_runtime_containers(self, node, timeout)

    def runtime_feed(self, nodes: Sequence[str], interval: float, namespace: str = "*") -> RuntimeFeed:
        return StreamingFeed(nodes, interval)

    def close(self) -> None:
        """Nothing to release: docker exec leaves nothing behind."""


def _docker(*args: str, timeout: float = 30) -> str:
    try:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    except (FileNotFoundError, subprocess.TimeoutExpired) as e:
        raise FaultError(f"docker {' '.join(args)}: {e}") from e
    if result.returncode != 0:
        raise FaultError(f"docker {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}")
    return result.stdout.strip()


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
