"""The one way the harness waits: with a deadline, shown on the progress display, and diagnostics on timeout.

`watch_until` when one object's change can be watched (list, then watch from the list's resourceVersion,
re-list on 410 Gone, every request bounded); `poll_until` for what no watch shows (an absence, several objects'
combined state, an answer from inside a pod). Node helpers derive their deadlines from the cluster's timing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from kubernetes import watch

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.cancellation import checkpoint, interruptible, sleep, waiting
from chaos_harness.core.errors import Gone, TransientClusterError, WaitTimeout

if TYPE_CHECKING:
    from chaos_harness.core.kube import Cluster
    from chaos_harness.core.timing import ClusterTiming

T = TypeVar("T")


def poll_until(check: Callable[[], T | None], deadline_seconds: float, what: str, interval: float,
               diagnostics: Callable[[], str] | None = None,
               on_timeout: Callable[[], T] | None = None) -> tuple[T, float]:
    """Call `check` every `interval` seconds until it returns something other than None; return that and the
    seconds waited. Past the deadline: `on_timeout()`'s value when given (a caller that judges a stale answer
    itself), else WaitTimeout with the diagnostics."""
    with waiting(what, deadline_seconds):
        started = time.monotonic()
        end = started + deadline_seconds
        while True:
            result = check()
            if result is not None:
                return result, time.monotonic() - started
            if time.monotonic() + interval > end:
                if on_timeout is not None:
                    return on_timeout(), time.monotonic() - started
                raise WaitTimeout(what, deadline_seconds, diagnostics() if diagnostics else "")
            sleep(interval)


# Taints the node lifecycle controller puts on a node it no longer hears from; with them the scheduler stops
# placing pods there (a pod bound in between would sit on a node whose kubelet is gone).
UNSCHEDULABLE_TAINTS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")


def node_not_ready(cluster: "Cluster", node: str, timing: "ClusterTiming") -> float:
    """Wait until the control plane treats `node` as not Ready: its Ready condition is not True and it carries
    the NoSchedule taint that keeps new pods off it. The deadline is the cluster's own: grace period + monitor
    period + 30 s."""
    def seen_not_ready(n: Any) -> bool:
        return node_condition(n) != "True" and any(
            t.key in UNSCHEDULABLE_TAINTS and t.effect == "NoSchedule" for t in n.spec.taints or [])

    _, waited = watch_until(cluster.core.list_node, seen_not_ready,
                            timing.node_monitor_grace_period + timing.node_monitor_period + 30, f"{node} not Ready",
                            field_selector=f"metadata.name={node}")
    return waited


def node_ready(cluster: "Cluster", node: str, deadline_seconds: float = 120) -> float:
    """Wait until `node` is Ready (again)."""
    _, waited = watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", deadline_seconds,
                            f"{node} Ready again", field_selector=f"metadata.name={node}")
    return waited


def watch_until(list_fn: Callable[..., Any], predicate: Callable[[Any], bool], deadline_seconds: float, what: str,
                diagnostics: Callable[[], str] | None = None, **list_kwargs: Any) -> tuple[Any, float]:
    """Wait until some object from `list_fn` satisfies `predicate`. Returns (object, seconds waited)."""
    with waiting(what, deadline_seconds):
        return _watch_until(list_fn, predicate, deadline_seconds, what, diagnostics, **list_kwargs)


def _watch_until(list_fn: Callable[..., Any], predicate: Callable[[Any], bool], deadline_seconds: float, what: str,
                 diagnostics: Callable[[], str] | None, **list_kwargs: Any) -> tuple[Any, float]:
    started = time.monotonic()
    deadline = started + deadline_seconds
    while True:
        checkpoint()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeout(what, deadline_seconds, diagnostics() if diagnostics else "")
        with api_errors(f"listing for {what}"):
            listed = list_fn(_request_timeout=min(10, remaining), **list_kwargs)
        for obj in listed.items:
            if predicate(obj):
                return obj, time.monotonic() - started
        w = watch.Watch()
        try:
            with interruptible(lambda: _shut(w)), api_errors(f"watching for {what}"):
                for event in w.stream(list_fn, resource_version=listed.metadata.resource_version,
                                      timeout_seconds=max(1, int(min(10, remaining))),
                                      _request_timeout=min(20, remaining + 5), **list_kwargs):
                    if event["type"] == "ERROR":
                        break  # typically 410 Gone: re-list
                    if event["type"] != "DELETED" and predicate(event["object"]):
                        return event["object"], time.monotonic() - started
                    checkpoint()
                    if time.monotonic() >= deadline:
                        break
        except (Gone, TransientClusterError):
            pass  # a resourceVersion too old, or the watch connection timed out or dropped: re-list
        finally:
            w.stop()


def _shut(w: watch.Watch) -> None:
    """Shut the socket a watch is reading from (a cancellation of the waiting thread): the read ends at once with
    a dropped connection, and the loop's checkpoint raises the cancellation. The client keeps the response in
    `_resp` and urllib3 its connection in `_connection`: read defensively, a newer client may name them otherwise
    (the watch then ends at its own timeout, as before)."""
    import socket

    sock = getattr(getattr(getattr(w, "_resp", None), "_connection", None), "sock", None)
    if sock is not None:
        sock.shutdown(socket.SHUT_RDWR)


def node_condition(node: Any, kind: str = "Ready") -> str | None:
    for c in node.status.conditions or []:
        if c.type == kind:
            return c.status
    return None
