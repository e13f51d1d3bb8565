"""The recorder: watches Pods, Nodes, Events and PVCs and samples every node's container runtime, writing
everything into one History. Start it before the fault, stop it after the checks' last observation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from kubernetes import watch

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import ClusterError
from chaos_harness.core.kube import Cluster
from chaos_harness.core.light import Light, light_list
from chaos_harness.nodes.access import NodeAccess, RuntimeContainer
from chaos_harness.record.events import KubeEventFields, NodeFields, PodFields, PvcFields, RuntimeContainerFields
from chaos_harness.record.history import History

log = logging.getLogger("chaos_harness.recorder")

# Each watch request ends server-side after WATCH_SECONDS (so a quiet stream still sees the stop flag); stop()
# waits STOP_GRACE for events in flight, not for those requests to end.
WATCH_SECONDS = 5
STOP_GRACE = 1.0
FIRST_OBSERVATION_SECONDS = 30  # bound on the wait for each watch's first list and each node's first runtime sample


def pod_summary(pod: Any) -> PodFields:
    statuses = pod.status.container_statuses or []
    return {
        "name": pod.metadata.name, "namespace": pod.metadata.namespace, "uid": pod.metadata.uid,
        "node": pod.spec.node_name, "phase": pod.status.phase,
        "ready": any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or []),
        "deleting": pod.metadata.deletion_timestamp is not None,
        "created": pod.metadata.creation_timestamp.timestamp() if pod.metadata.creation_timestamp else None,
        "running": [s.name for s in statuses if s.state and s.state.running],
        "restarts": {s.name: s.restart_count for s in statuses},
        "owner": next((f"{o.kind}/{o.name}" for o in pod.metadata.owner_references or []), None),
        "pvcs": [v.persistent_volume_claim.claim_name for v in pod.spec.volumes or [] if v.persistent_volume_claim],
        "hostname": pod.spec.hostname, "subdomain": pod.spec.subdomain, "ip": pod.status.pod_ip,
        "revision": (pod.metadata.labels or {}).get("controller-revision-hash"), "rv": pod.metadata.resource_version,
    }


def node_summary(node: Any) -> NodeFields:
    ready = next((c.status for c in node.status.conditions or [] if c.type == "Ready"), None)
    return {"name": node.metadata.name, "ready": ready,
            "taints": sorted(f"{t.key}:{t.effect}" for t in node.spec.taints or []),
            "unschedulable": bool(node.spec.unschedulable), "rv": node.metadata.resource_version}


def event_summary(ev: Any) -> KubeEventFields:
    return {"reason": ev.reason, "message": ev.message, "event_type": ev.type,
            "object": f"{ev.involved_object.kind}/{ev.involved_object.name}", "count": ev.count}


def pvc_summary(pvc: Any) -> PvcFields:
    return {"name": pvc.metadata.name, "uid": pvc.metadata.uid, "phase": pvc.status.phase,
            "volume": pvc.spec.volume_name, "deleting": pvc.metadata.deletion_timestamp is not None}


def runtime_summary(c: RuntimeContainer) -> RuntimeContainerFields:
    return {"id": c.container_id, "name": c.name, "pod": c.pod_name, "namespace": c.pod_namespace,
            "pod_uid": c.pod_uid, "state": c.state, "created_ns": c.created_at_ns}


def _untyped(list_fn: Callable[..., Any]) -> Callable[..., Any]:
    """`list_fn` without its return type: the client's Watch then yields each object as plain JSON. (Its
    `deserialize=False` does too, but then fails on an ERROR event such as 410 Gone: KeyError 'raw_object'.)"""
    def untyped(*args: Any, **kwargs: Any) -> Any:
        return list_fn(*args, **kwargs)
    return untyped


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two summaries of one object alike but for its resourceVersion."""
    return {k: v for k, v in a.items() if k != "rv"} == {k: v for k, v in b.items() if k != "rv"}


class Recorder:
    """Context manager: `with Recorder(...) as rec:` records until the block ends."""

    def __init__(self, cluster: Cluster, history: History, namespace: str, node_access: NodeAccess | None = None,
                 nodes: Sequence[str] = (), sample_interval: float = 0.5) -> None:
        self.cluster = cluster
        self.history = history
        self.namespace = namespace
        self.node_access = node_access
        self.nodes = list(nodes)
        self.sample_interval = sample_interval
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._synced: dict[str, threading.Event] = {}
        self._sampled: dict[str, threading.Event] = {}  # node -> its first runtime sample arrived
        self._blind: set[str] = set()  # kinds whose watch is in an outage the next successful list closes
        self._lists: dict[str, tuple[Callable[[Any], dict[str, Any]], Callable[..., Any], tuple[Any, ...]]] = {}
        self._light: dict[str, bool] = {}
        # Closed by stop(): nothing a thread still running afterwards receives reaches the history.
        self._gate = threading.Lock()
        self._closed = False
        # Nodes: only the target nodes and the nodes this namespace's pods run on are recorded (a cluster of a
        # thousand nodes does not fill the history); the latest state of every other node is kept to record it
        # the moment one of the namespace's pods lands there. Empty `nodes`: every node.
        self._nodes_recorded: set[str] = set(self.nodes)
        self._node_states: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> "Recorder":
        core = self.cluster.core
        ns = self.namespace
        # Bound client methods, not lambdas: the client's Watch reads the return type from the method's docstring
        # to deserialize objects (a lambda would yield plain dicts).
        self._watch("pod", pod_summary, core.list_namespaced_pod, ns)
        self._watch("node", node_summary, core.list_node, light=True)  # every node of the cluster: plain JSON
        self._watch("event", event_summary, core.list_namespaced_event, ns)
        self._watch("pvc", pvc_summary, core.list_namespaced_persistent_volume_claim, ns)
        if self.node_access is not None:
            self._sampled = {node: threading.Event() for node in self.nodes}
            feed = self.node_access.runtime_feed(self.nodes, self.sample_interval, self.namespace)
            for name, loop in feed.loops().items():
                self._start(name, loop, self._stop, self._emit_runtime)
        deadline = time.monotonic() + FIRST_OBSERVATION_SECONDS
        for name, synced in self._synced.items():
            if not synced.wait(max(0.0, deadline - time.monotonic())):
                # Until the list completes the stream is blind: an outage like a watch error (closed on resume).
                log.warning("watch %s did not complete its first list within %ss", name, FIRST_OBSERVATION_SECONDS)
                self._outage(name, f"first list not complete within {FIRST_OBSERVATION_SECONDS}s")
        # The block starts once every node has answered (or failed to) once: a fault injected before a node's
        # first sample would have no "before" on its runtime (S13 was unknown when ten feeds started slowly on a
        # busy machine). A node that stays silent is left to the checkers' sample gaps.
        for node, sampled in self._sampled.items():
            if not sampled.wait(max(0.0, deadline - time.monotonic())):
                log.warning("no runtime sample of %s within %ss", node, FIRST_OBSERVATION_SECONDS)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop recording within about STOP_GRACE: a watch blocked on a quiet stream would otherwise hold the
        caller until its server-side timeout (WATCH_SECONDS). Events in flight get the grace to arrive (the
        watch's latency is tens of ms); then the gate closes and one final list per kind ends the history with
        the state the caller last saw (e.g. the node Ready again after a heal). Threads still blocked end at
        their stream's timeout and write nothing more."""
        self._stop.set()
        deadline = time.monotonic() + STOP_GRACE
        for t in self._threads:
            t.join(timeout=max(0.0, deadline - time.monotonic()))
        with self._gate:
            self._closed = True
        for kind, (summarize, list_fn, args) in self._lists.items():
            try:
                with api_errors(f"the {kind} final list"):
                    for obj in list_fn(*args, _request_timeout=10).items:
                        summary = summarize(obj)
                        if kind != "node" or not self.nodes or summary["name"] in self._nodes_recorded:
                            self.history.record(kind, type="FINAL", **summary)
            except ClusterError as e:
                self.history.record("recorder", what=f"{kind} final list", error=f"{type(e).__name__}: {e}"[:300])

    def _outage(self, kind: str, error: str) -> None:
        """The `kind` watch stopped delivering: a gap in the history that checkers read (watch_outages)."""
        self._blind.add(kind)
        self._record("recorder", what=f"{kind} watch", error=error)

    def _record(self, kind: str, **fields: Any) -> None:
        with self._gate:
            if self._closed:
                return
            if kind == "node" and self.nodes:
                self._node_states[fields["name"]] = fields
                if fields["name"] not in self._nodes_recorded:
                    return
            self.history.record(kind, **fields)
            node = fields.get("node") if kind == "pod" else None
            if node and self.nodes and node not in self._nodes_recorded:
                self._nodes_recorded.add(node)
                if (state := self._node_states.get(node)) is not None:
                    self.history.record("node", **{**state, "type": "MODIFIED"})

    def _start(self, name: str, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=f"recorder-{name}", daemon=True)
        t.start()
        self._threads.append(t)

    def _watch(self, kind: str, summarize: Callable[[Any], dict[str, Any]], list_fn: Callable[..., Any],
               *args: Any, light: bool = False) -> None:
        """`light`: objects read as plain JSON (core/light.py), for a kind that grows with the cluster."""
        self._synced[kind] = threading.Event()
        self._lists[kind] = (summarize, self._lister(list_fn, light), args)
        self._light[kind] = light
        self._start(kind, self._watch_loop, kind, summarize, list_fn, args)

    @staticmethod
    def _lister(list_fn: Callable[..., Any], light: bool) -> Callable[..., Any]:
        return (lambda *args, **kwargs: light_list(list_fn, *args, **kwargs)) if light else list_fn

    def _watch_loop(self, kind: str, summarize: Callable[[Any], dict[str, Any]], list_fn: Callable[..., Any],
                    args: tuple[Any, ...]) -> None:
        """List, then watch from the list's resourceVersion, resuming from the last one seen; re-list only on
        410 Gone or a broken stream. A re-list reports objects that vanished meanwhile as DELETED (synthetic),
        so no deletion is lost between two lists."""
        known: dict[str, dict[str, Any]] = {}
        rv: str | None = None
        while not self._stop.is_set():
            try:
                with api_errors(f"the {kind} watch"):
                    rv, known = self._list_and_watch(kind, summarize, list_fn, args, rv, known)
                if rv is None:  # the watch said ERROR (410 Gone): what happened until the re-list is unseen
                    self._outage(kind, "watch expired (410 Gone): re-listing")
            except ClusterError as e:
                self._outage(kind, f"{type(e).__name__}: {e}"[:300])
                rv = None
                self._stop.wait(1)
            except Exception as e:  # a bug here must not silently end the recording: note it and go on
                self._outage(kind, f"BUG {type(e).__name__}: {e}"[:300])
                self._synced[kind].set()
                rv = None
                self._stop.wait(1)

    def _list_and_watch(self, kind: str, summarize: Callable[[Any], dict[str, Any]], list_fn: Callable[..., Any],
                        args: tuple[Any, ...], rv: str | None, known: dict[str, dict[str, Any]]
                        ) -> tuple[str | None, dict[str, dict[str, Any]]]:
        """One list (when there is no resourceVersion to resume from) and one bounded watch; returns where to
        resume and the objects known to exist."""
        light = self._light[kind]
        if rv is None:
            listed = self._lists[kind][1](*args, _request_timeout=10)  # the lister _watch chose for this kind
            current = {o.metadata.uid: summarize(o) for o in listed.items}
            for uid, last in known.items():
                if uid not in current:
                    self._record(kind, **{**last, "type": "DELETED", "synthetic": True})
            for summary in current.values():
                self._record(kind, type="LISTED", **summary)
            known.clear()
            known.update(current)
            rv = listed.metadata.resource_version
            if kind in self._blind:
                self._blind.discard(kind)
                self._record("recorder", what=f"{kind} watch", resumed=True)
            self._synced[kind].set()
        w = watch.Watch()
        # timeout_seconds bounds each watch so the stop flag is seen; the next one resumes from rv.
        for ev in w.stream(_untyped(list_fn) if light else list_fn, *args, resource_version=rv,
                           timeout_seconds=WATCH_SECONDS, _request_timeout=WATCH_SECONDS + 10):
            if ev["type"] == "ERROR":
                rv = None  # 410 Gone (or another stream error): re-list
                break
            obj = Light(ev["object"]) if light else ev["object"]
            rv = obj.metadata.resource_version
            summary = summarize(obj)
            # An update that changed nothing the history keeps (a node's status heartbeat, a pod's probe time)
            # is not recorded again.
            before = known.get(obj.metadata.uid)
            if not (ev["type"] == "MODIFIED" and before is not None and _same(before, summary)):
                self._record(kind, type=ev["type"], **summary)
            if ev["type"] == "DELETED":
                known.pop(obj.metadata.uid, None)
            else:
                known[obj.metadata.uid] = summary
            if self._stop.is_set():
                break
        return rv, known

    def _emit_runtime(self, node: str, ok: bool, containers: Sequence[RuntimeContainer] | None = None,
                      error: str | None = None, **extra: Any) -> None:
        """One runtime sample of `node`, keeping only this recording's namespace (extra: the feed's own
        fields, such as the agent's sequence number and the node-side sample time)."""
        if (first := self._sampled.get(node)) is not None:
            first.set()
        if ok:
            self._record("runtime", node=node, ok=True, containers=[
                runtime_summary(c) for c in containers or () if c.pod_namespace == self.namespace], **extra)
        else:
            self._record("runtime", node=node, ok=False, error=error, **extra)
