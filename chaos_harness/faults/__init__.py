"""Faults inject and heal; nothing else. Each is a small object with inject / verify_injected / heal and a
spec (a plain dict) that the journal stores and `chaos-harness cleanup` rebuilds it from.

`FaultSession.injected(fault)` is the only way faults are applied: it journals the fault before injecting,
records inject/heal marks in the history, heals on exit (also on SIGINT/SIGTERM) and reports a failed heal
as CleanupError, apart from whatever the scenario itself found.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from kubernetes import client
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_fixed

from chaos_harness.core.labels import RUN_LABEL
from chaos_harness.core.errors import CleanupError, FaultError, GuardError, Interrupted, NotFound, SelectionError
from chaos_harness.core.api_errors import api_errors
from chaos_harness.record.history import History
from chaos_harness.faults.journal import Journal, JournalEntry
from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.access import NodeAccess

CHAOS_COMMENT = "chaos-harness"


@dataclass(frozen=True)
class FaultContext:
    cluster: Cluster
    nodes: NodeAccess
    # The nodes faults may touch (--target-nodes); None: not restricted (a test's own context).
    target_nodes: frozenset[str] | None = None

    def access_record(self) -> dict[str, str]:
        """What the journal keeps so that `cleanup` heals through the same access (the agent's namespace
        follows from the entry's run id)."""
        return {"name": self.nodes.name}


class Fault(Protocol):
    type: ClassVar[str]

    def inject(self, ctx: FaultContext) -> None: ...

    def verify_injected(self, ctx: FaultContext) -> str: ...

    def heal(self, ctx: FaultContext) -> None: ...


def spec_of(fault: Fault) -> dict[str, Any]:
    return {"type": fault.type, **asdict(fault)}  # type: ignore[call-overload]


class Unverified(str):
    """Evidence that says the fault's effect could not be read (the check itself failed): recorded with
    verified=False, never as if it had been seen."""


@dataclass(frozen=True)
class KubeletStop:
    """systemctl stop kubelet on a node: its containers keep running, the API stops hearing from it."""

    type: ClassVar[str] = "kubelet-stop"
    node: str

    def inject(self, ctx: FaultContext) -> None:
        ctx.nodes.kubelet_stop(self.node)

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
        running = {c.container_id for c in ctx.nodes.runtime_containers(self.node)}
        if self.container_id in running:
            raise FaultError(f"container {self.container_id[:13]} still running on {self.node}")
        return f"container {self.container_id[:13]} not running on {self.node}"

    def heal(self, ctx: FaultContext) -> None:
        """Nothing to undo: the kubelet restarts the container."""


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


@dataclass(frozen=True)
class StatefulSetScale:
    """A change, not a fault: scale a StatefulSet to `replicas`; healing scales it back to `original`. On a
    user's StatefulSet only with --allow-target-changes; journaled like a fault, so `cleanup` restores the scale
    a killed run left."""

    type: ClassVar[str] = "statefulset-scale"
    namespace: str
    statefulset: str
    replicas: int
    original: int

    def _scale(self, ctx: FaultContext, replicas: int) -> None:
        with api_errors(f"scaling StatefulSet {self.namespace}/{self.statefulset} to {replicas}"):
            ctx.cluster.apps.patch_namespaced_stateful_set_scale(
                self.statefulset, self.namespace, {"spec": {"replicas": replicas}}, _request_timeout=15)

    def inject(self, ctx: FaultContext) -> None:
        self._scale(ctx, self.replicas)

    def verify_injected(self, ctx: FaultContext) -> str:
        with api_errors(f"reading StatefulSet {self.namespace}/{self.statefulset}"):
            sts = ctx.cluster.apps.read_namespaced_stateful_set(self.statefulset, self.namespace, _request_timeout=10)
        if sts.spec.replicas != self.replicas:
            raise FaultError(f"{self.statefulset} has spec.replicas {sts.spec.replicas}, not {self.replicas}")
        return f"{self.statefulset} spec.replicas {self.original} -> {self.replicas}"

    def heal(self, ctx: FaultContext) -> None:
        self._scale(ctx, self.original)


@dataclass(frozen=True)
class RolloutRestart:
    """A change, not a fault: what `kubectl rollout restart` does (a restartedAt annotation on the pod template,
    hence a new controller revision rolled out by the StatefulSet's own update strategy). Nothing to undo: the
    new revision is the same pods restarted. On a user's StatefulSet only with --allow-target-changes."""

    type: ClassVar[str] = "rollout-restart"
    namespace: str
    statefulset: str
    stamp: str

    def inject(self, ctx: FaultContext) -> None:
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: self.stamp}}}}}
        with api_errors(f"restarting StatefulSet {self.namespace}/{self.statefulset}"):
            ctx.cluster.apps.patch_namespaced_stateful_set(self.statefulset, self.namespace, body, _request_timeout=15)

    def verify_injected(self, ctx: FaultContext) -> str:
        with api_errors(f"reading StatefulSet {self.namespace}/{self.statefulset}"):
            sts = ctx.cluster.apps.read_namespaced_stateful_set(self.statefulset, self.namespace, _request_timeout=10)
        if (sts.spec.template.metadata.annotations or {}).get(RESTARTED_AT) != self.stamp:
            raise FaultError(f"{self.statefulset}'s pod template lacks {RESTARTED_AT}={self.stamp}")
        return f"{self.statefulset} pod template annotated {RESTARTED_AT}={self.stamp} (generation " \
               f"{sts.metadata.generation})"

    def heal(self, ctx: FaultContext) -> None:
        """Nothing to undo (see the class)."""


RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass(frozen=True)
class RunLeftovers:
    """Not a fault: what a run creates and must remove, journaled for the run's lifetime so that `cleanup`
    removes what a killed run left. Healing deletes every namespace labelled with the run id (its scenario
    namespaces and its node-agent namespace; deleting the agent also releases any kubelet it held)."""

    type: ClassVar[str] = "run-leftovers"
    run_id: str

    def inject(self, ctx: FaultContext) -> None:
        """Nothing to inject: the run itself creates the namespaces."""

    def verify_injected(self, ctx: FaultContext) -> str:
        return f"run {self.run_id} registered"

    def heal(self, ctx: FaultContext) -> None:
        from chaos_harness.core.namespaces import delete_namespace

        with api_errors(f"listing the namespaces of run {self.run_id}"):
            found = ctx.cluster.core.list_namespace(label_selector=f"{RUN_LABEL}={self.run_id}", _request_timeout=10)
        for ns in found.items:
            delete_namespace(ctx.cluster, ns.metadata.name, deadline_seconds=300)


FAULT_TYPES: dict[str, type] = {cls.type: cls for cls in (KubeletStop, PodDelete, ContainerKill, NodePause,
                                                          NetworkPartition, NodeDrain, StatefulSetScale,
                                                          RolloutRestart, RunLeftovers)}


# The runs this process registered (their leftovers journaled), so that the line printed on a signal can say
# whether anything was created at all. Process-wide on purpose: a signal ends the whole process.
STARTED_RUNS: list[str] = []


@contextmanager
def run_registered(cluster: Cluster, journal: Journal, run_id: str) -> Iterator[None]:
    """Journal the run's leftovers for its lifetime. The entry goes once the run has removed them itself (a
    normal end: its `finally` blocks deleted its namespaces and waited). On any exception, a signal or a crash
    in the final delete alike, it goes only when every namespace of the run is seen being deleted; otherwise
    it stays, for `cleanup`."""
    entry = journal.add(spec_of(RunLeftovers(run_id)), cluster.fingerprint().kube_system_uid, cluster.context, run_id)
    STARTED_RUNS.append(run_id)
    try:
        yield
    except BaseException:
        # The API server finishes a deletion already asked for; anything else is cleanup's to remove.
        if leftovers_going(cluster, run_id):
            journal.remove(entry.id)
        raise
    journal.remove(entry.id)


def leftovers_going(cluster: Cluster, run_id: str) -> bool:
    """Every namespace labelled with the run id is being deleted (or gone). False when that cannot be told."""
    try:
        found = cluster.core.list_namespace(label_selector=f"{RUN_LABEL}={run_id}", _request_timeout=5).items
    except Exception:
        return False
    return all(ns.metadata.deletion_timestamp is not None for ns in found)


def fault_from_spec(spec: dict[str, Any]) -> Fault:
    params = dict(spec)
    kind = params.pop("type")
    if kind not in FAULT_TYPES:
        raise FaultError(f"unknown fault type {kind!r} in journal; known: {sorted(FAULT_TYPES)}")
    return FAULT_TYPES[kind](**params)  # type: ignore[no-any-return]


# --- selection -----------------------------------------------------------------------------------------------

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


# --- applying faults -----------------------------------------------------------------------------------------

@contextmanager
def heal_on_signals() -> Iterator[None]:
    def raise_interrupted(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupted)
    except ValueError:  # not the main thread: the caller's own handlers apply
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_deferred(already_interrupted: bool) -> Iterator[list[int]]:
    """While a heal runs, SIGINT and SIGTERM wait for it: the first is recorded and the heal goes on (the
    caller raises it afterwards); a second one, or the first when the run was already interrupted, stops the
    heal at once (the journal keeps the fault for `chaos-harness cleanup`)."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        if already_interrupted or len(received) > 1:
            raise KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum)

    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: the caller's own handlers apply
        yield received
        return
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def raise_deferred(received: list[int]) -> None:
    if received:
        raise KeyboardInterrupt() if received[0] == signal.SIGINT else Interrupted(received[0])


class FaultSession:
    """Applies faults for one run against one cluster, journaled and recorded."""

    def __init__(self, ctx: FaultContext, journal: Journal, history: History, run_id: str) -> None:
        self.ctx = ctx
        self.journal = journal
        self.history = history
        self.run_id = run_id
        self._cluster_uid = ctx.cluster.fingerprint().kube_system_uid

    @contextmanager
    def injected(self, fault: Fault, settle: Callable[[], str] | None = None) -> Iterator[str]:
        """Inject `fault` for the duration of the block; yields the evidence that it took effect."""
        spec = spec_of(fault)
        node = spec.get("node")
        targets = self.ctx.target_nodes
        if node and targets is not None and node not in targets:
            raise GuardError(f"refusing {spec['type']} on {node}: not a target node (--target-nodes selects "
                             f"{', '.join(sorted(targets))})")
        entry = self.journal.add(spec, self._cluster_uid, self.ctx.cluster.context, self.run_id,
                                 access=self.ctx.access_record())
        with heal_on_signals():
            try:
                self.history.record("fault", phase="inject", fault=spec)
                fault.inject(self.ctx)
                evidence = settle() if settle else fault.verify_injected(self.ctx)
                self.history.record("fault", phase="injected", fault=spec, evidence=evidence,
                                    verified=not isinstance(evidence, Unverified))
                yield evidence
            except Exception:
                self._heal(fault, spec, entry.id)
                raise
            except BaseException as interrupt:
                # A signal: heal, but never let a failed (or second-signal-interrupted) heal hide the interrupt;
                # the journal keeps what was not healed, for `chaos-harness cleanup`.
                try:
                    self._heal(fault, spec, entry.id, already_interrupted=True)
                except BaseException as heal_error:
                    interrupt.add_note(f"{spec['type']} not healed ({heal_error or type(heal_error).__name__}); "
                                       f"'chaos-harness cleanup' will finish it")
                raise
            self._heal(fault, spec, entry.id)

    def _heal(self, fault: Fault, spec: dict[str, Any], entry_id: str, already_interrupted: bool = False) -> None:
        with signals_deferred(already_interrupted) as received:
            # The heal begins: from here on, evidence that the fault no longer holds is the heal's own doing.
            self.history.record("fault", phase="heal", fault=spec)
            try:
                fault.heal(self.ctx)
            except Exception as e:
                self.history.record("fault", phase="heal-failed", fault=spec, error=f"{type(e).__name__}: {e}")
                raise CleanupError(f"healing {spec} failed: {e}; run 'chaos-harness cleanup'") from e
            except BaseException as interrupt:  # a second signal: the heal stops, the journal keeps the fault
                self.history.record("fault", phase="heal-interrupted", fault=spec)
                interrupt.add_note(f"{spec['type']} not healed (a second signal stopped its heal); "
                                   f"'chaos-harness cleanup' will finish it")
                raise
            self.history.record("fault", phase="healed", fault=spec)
            self.journal.remove(entry_id)
        raise_deferred(received)  # the signal that waited for the heal now interrupts the run


def heal_journal(cluster: Cluster, journal: Journal, access_for: Callable[[JournalEntry], NodeAccess],
                 force: bool = False) -> tuple[list[str], list[str]]:
    """Heal what crashed runs left in the journal, each fault through the node access that injected it
    (`access_for`); a run's leftovers (namespaces, agent) last. Entries whose writer still runs are skipped
    (its own `finally` heals them) unless `force`. An entry of another cluster is refused and reported; the
    others are still healed. Returns (healed, skipped)."""
    uid = cluster.fingerprint().kube_system_uid
    healed, skipped, failures, foreign = [], [], [], []
    entries = sorted(journal.entries(), key=lambda e: e.fault.get("type") == RunLeftovers.type)
    for entry in entries:
        if entry.cluster_uid != uid:
            foreign.append(f"journal entry {entry.id} ({entry.fault['type']}) belongs to cluster {entry.cluster_uid} "
                           f"(context {entry.context}), not to {cluster.context} ({uid}); refusing to heal it")
            continue
        if not force and entry.owner_alive():
            skipped.append(f"{entry.fault['type']} of run {entry.run_id}: its process {entry.owner.get('pid')} "
                           f"still runs (--force heals it anyway)")
            continue
        try:
            fault_from_spec(entry.fault).heal(FaultContext(cluster, access_for(entry)))
        except Exception as e:
            failures.append(f"{entry.fault}: {e}")
            continue
        journal.remove(entry.id)
        through = f" (through {entry.access['name']})" if entry.access.get("name") else ""
        healed.append(f"{entry.fault['type']} {entry.fault}{through}")
    if failures:
        raise CleanupError("could not heal: " + "; ".join(failures + foreign))
    if foreign:
        raise GuardError("; ".join(foreign) + (f" (healed meanwhile: {'; '.join(healed)})" if healed else ""))
    return healed, skipped
