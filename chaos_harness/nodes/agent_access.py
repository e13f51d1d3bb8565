"""Node access through the node agent (chaos_harness/nodes/agent.py installs it): commands through `exec` into
the agent pod, the node faults (kubelet stop, pause, partition) held through its Lease (the agent's dead man's
switch undoes them when the renewals stop), and the recorder's runtime feed from the agent's sample ConfigMaps."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from kubernetes import client

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import ClusterError, Conflict, FaultError, Forbidden, NotFound, WaitTimeout
from chaos_harness.core.kube import Cluster
from chaos_harness.core.labels import RUN_LABEL
from chaos_harness.core.waits import node_condition, watch_until
from chaos_harness.nodes.access import DEFAULT_TIME_BOX_SECONDS, Emit, RuntimeContainer
from chaos_harness.nodes.agent import (APP_LABEL, APPLIED_ANNOTATION, ENDED_ANNOTATION, EVIDENCE_ANNOTATION,
                                       HEALED_ANNOTATION, HOLD_ANNOTATION, HOLD_ERROR_ANNOTATION, HOLD_ID_ANNOTATION,
                                       HOLD_PEERS_ANNOTATION, HOLD_RUN_ANNOTATION, HOLD_RUN_LOCK_ANNOTATION,
                                       HOLD_SECONDS_ANNOTATION, NAME, NO_HOLD, SAMPLE_LABEL,
                                       SCOPE_ANNOTATION, SEEN_ANNOTATION, AgentConfig, NodeAgent, covers, micro_time,
                                       node_of, object_name, parse_sample, parse_samples, sample_containers)
from chaos_harness.nodes.sample_watch import SampleWatch

log = logging.getLogger("chaos_harness.agent")

# How often a node's Lease is told which of its agent's samples were read (one write per node at most this often,
# and only after new samples): what the agent keeps until then is bounded by what changes meanwhile.
ACK_SECONDS = 10.0


class AgentNodeAccess:
    """NodeAccess through the node agent of one run."""

    name = "agent"
    capabilities: frozenset[str] = frozenset({"pause", "partition"})

    def __init__(self, cluster: Cluster, agent: NodeAgent) -> None:
        self.cluster = cluster
        self.agent = agent
        # node -> (the id of the hold this access asked for, what its agent said once it was in force): the
        # nodes whose Lease the renewer renews.
        self._holds: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._stop_renewing = threading.Event()
        # The namespaces each node's agent is asked to report (one count per feed watching it), and per node what
        # each feed has read ((agent started, seq)) and what was acknowledged when.
        self._scope: dict[str, Counter[str]] = {}
        self._read: dict[str, dict[int, tuple[float, int]]] = {}
        self._acked: dict[str, tuple[float, tuple[float, int]]] = {}
        self._unacked_change: set[str] = set()
        self.samples = SampleWatch(cluster, agent.namespace, SAMPLE_LABEL)  # one watch for every feed of the run

    @classmethod
    def attach(cls, cluster: Cluster, run_id: str) -> "AgentNodeAccess":
        """The access of a run that is gone (for `cleanup`): its agent namespace may still exist, or not."""
        return cls(cluster, NodeAgent(cluster, run_id, AgentConfig(image="(attached)"), []))

    @property
    def namespace(self) -> str:
        return self.agent.namespace

    # --- samples -------------------------------------------------------------------------------------------

    def latest_sample(self, node: str) -> dict[str, Any]:
        try:
            with api_errors("reading it"):
                cm = self.cluster.core.read_namespaced_config_map(object_name(node), self.namespace,
                                                                  _request_timeout=10)
        except ClusterError as e:
            raise FaultError(f"no sample from the node agent on {node}: {e}") from e
        sample = parse_sample(cm)
        if not sample:
            raise FaultError(f"the node agent on {node} has published no sample yet")
        if sample.get("node") != node:  # a node's ConfigMap speaks for that node only
            raise FaultError(f"the sample in {object_name(node)} claims to be of {sample.get('node')!r}, not {node}")
        return sample

    def runtime_containers(self, node: str, timeout: float = 30) -> list[RuntimeContainer]:
        return sample_containers(self.latest_sample(node))

    def runtime_feed(self, nodes: Sequence[str], interval: float, namespace: str = "*") -> "AgentFeed":
        return AgentFeed(self, set(nodes), namespace)

    @contextmanager
    def reporting(self, nodes: Sequence[str], namespace: str) -> Iterator[None]:
        """While inside, the agents of `nodes` report the containers of `namespace` ("*": every namespace)."""
        with self._lock:
            changed = [n for n in nodes if not self._scope.setdefault(n, Counter())[namespace]]
            for n in nodes:
                self._scope[n][namespace] += 1
        self._write_scope(changed)
        try:
            yield
        finally:
            with self._lock:
                changed = []
                for n in nodes:
                    self._scope[n][namespace] -= 1
                    if self._scope[n][namespace] <= 0:
                        del self._scope[n][namespace]
                        changed.append(n)
            self._write_scope(changed)

    def _write_scope(self, nodes: Sequence[str]) -> None:
        for node in nodes:
            with self._lock:
                scope = ",".join(sorted(self._scope.get(node, ()))) or None
            try:
                self._annotate(node, {SCOPE_ANNOTATION: scope})
            except ClusterError as e:
                # The feed sees it: samples that do not cover its namespace are not taken (a gap, never a pass).
                log.warning("asking the agent on %s to report %s: %s", node, scope, e)

    def _annotate(self, node: str, annotations: dict[str, str | None]) -> None:
        """Patch annotations on the node's Lease, made (asking for no fault) when it is not there yet."""
        coord = client.CoordinationV1Api(self.cluster.api)
        patch = {"metadata": {"annotations": annotations}}
        try:
            with api_errors(f"updating the Lease of {node}"):
                coord.patch_namespaced_lease(object_name(node), self.namespace, patch, _request_timeout=10)
            return
        except NotFound:
            pass
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=object_name(node), labels={APP_LABEL: NAME, RUN_LABEL: self.agent.run_id},
                                         annotations={k: v for k, v in annotations.items() if v is not None}),
            spec=client.V1LeaseSpec(holder_identity=f"chaos-harness/{self.agent.run_id}",
                                    lease_duration_seconds=self.agent.config.deadman_seconds, renew_time=micro_time()))
        try:
            with api_errors(f"creating the Lease for {node}"):
                coord.create_namespaced_lease(self.namespace, body, _request_timeout=10)
        except Conflict:  # made in between (a fault asked for): patch it
            with api_errors(f"updating the Lease of {node}"):
                coord.patch_namespaced_lease(object_name(node), self.namespace, patch, _request_timeout=10)

    def read_up_to(self, feed: int, node: str, started: float, seq: int, changed: bool = True) -> None:
        """Feed `feed` has recorded `node`'s samples up to `seq` (of the agent process started at `started`), a
        change among them if `changed`. What every feed watching the node has read is acknowledged on its Lease,
        at most every ACK_SECONDS, and only once a change was read since: heartbeats take each other's place in
        the agent's backlog, so a quiet node costs no acknowledgement."""
        with self._lock:
            self._read.setdefault(node, {})[feed] = (started, seq)
            if changed:
                self._unacked_change.add(node)
            if node not in self._unacked_change:
                return
            seen = [r for r in self._read[node].values() if r[0] == started]
            if len(seen) < len(self._read[node]):
                return  # a feed still reads an earlier agent process: wait for it to catch up
            upto = (started, min(r[1] for r in seen))
            at, acked = self._acked.get(node, (0.0, (0.0, 0)))
            if upto <= acked or time.monotonic() - at < ACK_SECONDS:
                return
            self._acked[node] = (time.monotonic(), upto)
            self._unacked_change.discard(node)
        try:
            self._annotate(node, {SEEN_ANNOTATION: f"{upto[1]}@{upto[0]!r}"})
        except ClusterError as e:
            log.debug("acknowledging %s's samples: %s", node, e)  # the agent keeps them until a later one

    def stop_reading(self, feed: int) -> None:
        with self._lock:
            for read in self._read.values():
                read.pop(feed, None)

    def kubelet_active(self, node: str) -> bool:
        state = self.latest_sample(node).get("kubelet")
        if not state:
            raise FaultError(f"the node agent on {node} reports no kubelet state")
        return state == "active"

    # --- node faults held through the Lease -----------------------------------------------------------------

    def _set_lease(self, node: str, fault: str, hold_id: str = "",
                   time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS, peers: Sequence[str] = ()) -> None:
        """The Lease asks for `fault` (NO_HOLD: none); a fault is a new hold (`hold_id`), time-boxed on the
        node."""
        coord = client.CoordinationV1Api(self.cluster.api)
        annotations: dict[str, str | None] = {HOLD_ANNOTATION: fault, HEALED_ANNOTATION: None}
        if hold_id:
            annotations.update({HOLD_ID_ANNOTATION: hold_id, HOLD_SECONDS_ANNOTATION: str(round(time_box_seconds)),
                                HOLD_PEERS_ANNOTATION: ",".join(peers) or None, APPLIED_ANNOTATION: None,
                                HOLD_RUN_ANNOTATION: self.agent.run_id,
                                HOLD_RUN_LOCK_ANNOTATION: self.agent.run_lock or None,
                                EVIDENCE_ANNOTATION: None, HOLD_ERROR_ANNOTATION: None, ENDED_ANNOTATION: None})
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=object_name(node),
                                         annotations={k: v for k, v in annotations.items() if v is not None},
                                         labels={APP_LABEL: NAME, RUN_LABEL: self.agent.run_id}),
            spec=client.V1LeaseSpec(holder_identity=f"chaos-harness/{self.agent.run_id}",
                                    lease_duration_seconds=self.agent.config.deadman_seconds,
                                    renew_time=micro_time()))
        try:
            with api_errors(f"creating the Lease for {node}"):
                coord.create_namespaced_lease(self.namespace, body, _request_timeout=10)
        except Conflict:
            patch = {"metadata": {"annotations": annotations},
                     "spec": {"renewTime": micro_time(), "leaseDurationSeconds": self.agent.config.deadman_seconds}}
            with api_errors(f"updating the Lease for {node}"):
                coord.patch_namespaced_lease(object_name(node), self.namespace, patch, _request_timeout=10)

    def _wait_lease(self, node: str, what: str, reached: Callable[[dict[str, str]], bool],
                    deadline_seconds: float) -> dict[str, str]:
        """The Lease's annotations once `reached` says so (the agent's answer)."""
        coord = client.CoordinationV1Api(self.cluster.api)
        try:
            lease, _ = watch_until(coord.list_namespaced_lease, lambda l: reached(l.metadata.annotations or {}),
                                   deadline_seconds, f"{what} on {node} (node agent)", namespace=self.namespace,
                                   field_selector=f"metadata.name={object_name(node)}")
        except WaitTimeout as e:
            raise FaultError(f"the node agent on {node} did not answer ({what}) within {deadline_seconds:.0f}s") from e
        return dict(lease.metadata.annotations or {})

    def _hold(self, node: str, fault: str, time_box_seconds: float, peers: Sequence[str] = ()) -> str:
        """Ask the node's agent to hold `fault`; return its evidence once the agent says it is in force."""
        # Renewals start before the fault is asked for: the switch is armed the moment the Lease asks.
        hold_id = uuid.uuid4().hex[:12]
        with self._lock:
            self._holds[node] = (hold_id, "")
            self._ensure_renewer()
        self._set_lease(node, fault, hold_id, time_box_seconds, peers)

        def answered(ann: dict[str, str]) -> bool:
            return (ann.get(APPLIED_ANNOTATION) == hold_id or ann.get(ENDED_ANNOTATION) == hold_id
                    or ann.get(HOLD_ERROR_ANNOTATION, "").startswith(hold_id + ":"))

        ann = self._wait_lease(node, f"{fault} applied", answered, 30)
        if ann.get(APPLIED_ANNOTATION) != hold_id:
            # Renewals stop; the heal still waits for the agent's `ended`, of the hold the Lease names.
            with self._lock:
                self._holds.pop(node, None)
            error = ann.get(HOLD_ERROR_ANNOTATION, "").partition(": ")[2] or "it ended before it was in force"
            raise FaultError(f"the node agent on {node} could not apply {fault}: {error}")
        evidence = ann.get(EVIDENCE_ANNOTATION, "")
        with self._lock:
            self._holds[node] = (hold_id, evidence)
        return evidence

    def _unhold(self, node: str, fault: str) -> bool:
        """Ask the node's agent to undo what it holds and wait until it says so. False when the agent's
        namespace is gone (its agent undid the fault on exit, or its switch did)."""
        with self._lock:
            held = self._holds.pop(node, None)
        try:
            # Not held here (cleanup's attached access, a hold the agent could not apply): whatever the Lease
            # asked for last.
            hold_id = held[0] if held else self._current_hold(node)
            self._set_lease(node, NO_HOLD)
        except NotFound:
            return False
        except Forbidden as e:
            if "being terminated" not in str(e):
                raise
            # Its namespace is going (the run's end, or the next run removing a killed run's agents): each agent
            # undoes what it holds as it is told to exit. Like a namespace already gone.
            return False
        if hold_id:
            self._wait_lease(node, f"{fault} undone", lambda ann: ann.get(ENDED_ANNOTATION) == hold_id, 60)
        return True

    def _current_hold(self, node: str) -> str:
        with api_errors(f"reading the Lease of {node}"):
            lease = client.CoordinationV1Api(self.cluster.api).read_namespaced_lease(
                object_name(node), self.namespace, _request_timeout=10)
        return (lease.metadata.annotations or {}).get(HOLD_ID_ANNOTATION, "")

    def _held_evidence(self, node: str, fault: str) -> str:
        with self._lock:
            held = self._holds.get(node)
        if held is None:
            raise FaultError(f"the node agent on {node} holds no {fault} for this run")
        return held[1]

    def _wait_kubelet(self, node: str, state: str, deadline_seconds: float) -> None:
        def reached(cm: Any) -> bool:
            sample = parse_sample(cm)
            return bool(sample) and sample.get("kubelet") == state

        try:
            watch_until(self.cluster.core.list_namespaced_config_map, reached, deadline_seconds,
                        f"kubelet on {node} {state} (node agent)", namespace=self.namespace,
                        field_selector=f"metadata.name={object_name(node)}")
        except WaitTimeout as e:
            raise FaultError(f"the node agent on {node} did not report the kubelet {state} within "
                             f"{deadline_seconds:.0f}s") from e

    def kubelet_stop(self, node: str, time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS) -> None:
        self._hold(node, "kubelet-stop", time_box_seconds)
        self._wait_kubelet(node, "inactive", 30)

    def kubelet_start(self, node: str) -> None:
        if not self._unhold(node, "kubelet-stop"):
            # The agent namespace is gone: its agent started the kubelet on exit (or its switch fired). The
            # node's own Ready condition, posted by the kubelet, is the proof.
            watch_until(self.cluster.core.list_node, lambda n: node_condition(n) == "True",
                        self.agent.config.deadman_seconds + 120, f"{node} Ready (kubelet back)",
                        field_selector=f"metadata.name={node}")
            return
        self._wait_kubelet(node, "active", 60)

    def pause(self, node: str, time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS) -> None:
        self._hold(node, "node-pause", time_box_seconds)

    def paused(self, node: str) -> str:
        return self._held_evidence(node, "node-pause")

    def unpause(self, node: str) -> None:
        self._unhold(node, "node-pause")

    def partition(self, node: str, peers: Sequence[str],
                  time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS) -> None:
        self._hold(node, "network-partition", time_box_seconds, peers)

    def partitioned(self, node: str, peers: Sequence[str]) -> str:
        return self._held_evidence(node, "network-partition")

    def unpartition(self, node: str, peers: Sequence[str]) -> None:
        self._unhold(node, "network-partition")

    def _ensure_renewer(self) -> None:
        if self._renewer and self._renewer.is_alive():
            return
        self._stop_renewing.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="agent-lease-renewer", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        coord = client.CoordinationV1Api(self.cluster.api)
        period = max(1.0, self.agent.config.deadman_seconds / 4)
        while not self._stop_renewing.wait(period):
            with self._lock:
                held = sorted(self._holds)
            for node in held:
                try:
                    with api_errors(f"renewing the Lease of {node}"):
                        coord.patch_namespaced_lease(object_name(node), self.namespace,
                                                     {"spec": {"renewTime": micro_time()}}, _request_timeout=5)
                except ClusterError as e:
                    log.warning("renewing the Lease of %s: %s", node, e)  # the next period tries again

    # --- commands ------------------------------------------------------------------------------------------

    def _pod_on(self, node: str) -> str:
        pods = self.cluster.core.list_namespaced_pod(self.namespace, field_selector=f"spec.nodeName={node}",
                                                     label_selector=f"{APP_LABEL}={NAME}", _request_timeout=10)
        running = [p.metadata.name for p in pods.items if p.status.phase == "Running"]
        if not running:
            raise FaultError(f"no running node agent on {node} in {self.namespace}")
        return running[0]

    def exec(self, node: str, *cmd: str, timeout: float = 30) -> str:
        """Run `cmd` in the node's host namespaces through the agent pod (needs the node's kubelet)."""
        pod = self._pod_on(node)
        command = ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", *cmd]
        try:
            return self.cluster.exec(self.namespace, pod, command, timeout=timeout).check(f"{' '.join(cmd)} on {node}")
        except ClusterError as e:
            raise FaultError(f"{e} (through {self.namespace}/{pod})") from e

    def close(self) -> None:
        self._stop_renewing.set()


class AgentFeed:
    """The recorder's runtime samples from the agents' ConfigMaps, through the run's one sample watch. While it
    runs, the agents report `watched` (a namespace, or "*"); a sample that does not cover it yet is not taken."""

    def __init__(self, access: AgentNodeAccess, nodes: set[str], watched: str = "*") -> None:
        self.access = access
        self.nodes = nodes
        self.watched = watched

    def loops(self) -> dict[str, Callable[[threading.Event, Emit], None]]:
        return {"agent-samples": self._watch}

    def _watch(self, stop: threading.Event, emit: Emit) -> None:
        try:
            with self.access.reporting(sorted(self.nodes), self.watched):
                self._follow(stop, emit)
        finally:
            self.access.stop_reading(id(self))

    def _follow(self, stop: threading.Event, emit: Emit) -> None:
        # Per node and agent process: a restarted agent counts from 1 again.
        last_seq: dict[tuple[str, Any], int] = {}

        def take(cm: Any) -> None:
            touched: dict[str, tuple[str, Any]] = {}
            changed: set[str] = set()
            # A sample is of the node whose ConfigMap carries it (the agent of that node writes only its own): one
            # claiming another node is not that node's view, and is recorded as a failed sample saying so.
            node = node_of(cm.metadata.name)
            if node not in self.nodes:
                return
            for sample in parse_samples(cm):
                key = (node, sample.get("started"))
                if sample.get("node") != node:
                    if sample.get("seq", 0) > last_seq.get(key, 0):
                        last_seq[key] = sample.get("seq", 0)
                        emit(node, False, error=f"rejected: a sample in {cm.metadata.name} claims to be of "
                             f"{str(sample.get('node'))[:100]!r}", rejected=str(sample.get("node"))[:100])
                    continue
                if sample["seq"] <= last_seq.get(key, 0) or not covers(sample, self.watched):
                    continue
                last_seq[key] = sample["seq"]
                extra = {"source": "agent", "agent_seq": sample["seq"], "sampled_at": sample["sampled_at"],
                         "kubelet": sample.get("kubelet")}
                if "prev" in sample:  # published on change: what it says of the samples not sent (publish.go)
                    extra.update(agent_started=sample.get("started"), agent_after=sample["after"],
                                 agent_prev=sample["prev"], agent_gap=sample.get("gap", 0.0),
                                 heartbeat=sample.get("heartbeat", 0.0))
                if sample.get("deadman"):
                    extra["deadman"] = sample["deadman"]
                if "holding" in sample:  # what the agent held when it read this sample ("" for nothing)
                    extra["hold"] = sample.get("hold", "")
                if sample.get("ok"):
                    emit(node, True, containers=sample_containers(sample), **extra)
                else:
                    emit(node, False, error=sample.get("error"), **extra)
                touched[node] = key
                if sample.get("kind") != "heartbeat":
                    changed.add(node)
            for node, key in touched.items():
                if key[1] is not None:
                    self.access.read_up_to(id(self), node, float(key[1]), last_seq[key], node in changed)

        subscription = self.access.samples.subscribe(take)
        try:
            stop.wait()
        finally:
            self.access.samples.unsubscribe(subscription)
