"""Namespaces the harness makes for its runs: created labelled, deleted and waited for, or reaped off the
critical path."""

from __future__ import annotations

import logging
import time

from kubernetes import client

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.cancellation import waiting
from chaos_harness.core.errors import ClusterError, NotFound
from chaos_harness.core.kube import Cluster
from chaos_harness.core.labels import MANAGED_BY
from chaos_harness.core.waits import poll_until

log = logging.getLogger("chaos_harness.namespaces")


def create_namespace(cluster: Cluster, name: str, labels: dict[str, str] | None = None) -> None:
    with api_errors(f"creating namespace {name}"):
        cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
            name=name, labels={**MANAGED_BY, **(labels or {})})))


def _request_namespace_deletion(cluster: Cluster, name: str) -> bool:
    """Ask for the namespace to go; False when it was already gone."""
    try:
        with api_errors(f"deleting namespace {name}"):
            cluster.core.delete_namespace(name, _request_timeout=30)
    except NotFound:
        return False
    return True


def _wait_namespace_gone(cluster: Cluster, name: str, deadline: float, deadline_seconds: float) -> None:
    def gone() -> bool | None:
        try:
            with api_errors(f"reading namespace {name}"):
                cluster.core.read_namespace(name, _request_timeout=10)
        except NotFound:
            return True
        return None

    # A namespace goes in one step after its finalizers: a 1 s poll is plenty.
    poll_until(gone, max(0.0, deadline - time.monotonic()), f"namespace {name} deleted", 1,
               lambda: namespace_diagnostics(cluster, name))


def delete_namespace(cluster: Cluster, name: str, deadline_seconds: float = 120) -> float:
    """Delete and wait until the namespace is gone. Returns seconds waited."""
    started = time.monotonic()
    if _request_namespace_deletion(cluster, name):
        _wait_namespace_gone(cluster, name, started + deadline_seconds, deadline_seconds)
    return time.monotonic() - started


# A scenario's pods have served once its verdicts are in. Left to the namespace controller they take their own
# grace period (the MySQL example's sidecar ignores SIGTERM: 30 s), holding CPU requests on the nodes the next
# scenario is placed on. One second is still a graceful stop: the kubelet confirms each container is gone.
ENDED_SCENARIO_GRACE_SECONDS = 1


def _end_pods_quickly(cluster: Cluster, namespace: str) -> None:
    """Shorten the grace period of every pod in a namespace being deleted (the namespace is asked first, so
    nothing re-creates them). Best effort: on failure the namespace still goes, only later."""
    try:
        cluster.core.delete_collection_namespaced_pod(namespace, grace_period_seconds=ENDED_SCENARIO_GRACE_SECONDS,
                                                      _request_timeout=15)
    except Exception as e:  # the API's answer changes nothing the run depends on
        log.info("namespace %s: could not shorten its pods' grace period: %s", namespace, str(e).splitlines()[0])


class NamespaceReaper:
    """Namespace deletion off the critical path: `delete` asks, shortens its pods' grace period, and returns at
    once (a MySQL namespace still takes ~10 s to go); `confirm` waits, bounded, until every one asked for is gone,
    before the run or session ends."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.pending: list[str] = []

    def delete(self, name: str) -> None:
        if _request_namespace_deletion(self.cluster, name):
            self.pending.append(name)
            _end_pods_quickly(self.cluster, name)

    def confirm(self, deadline_seconds: float = 300) -> float:
        started = time.monotonic()
        if self.pending:
            with waiting(f"namespaces {', '.join(self.pending)} deleted", deadline_seconds):
                for name in list(self.pending):
                    _wait_namespace_gone(self.cluster, name, started + deadline_seconds, deadline_seconds)
                    self.pending.remove(name)
        return time.monotonic() - started


def namespace_diagnostics(cluster: Cluster, namespace: str) -> str:
    """Events, pod status and container log tails of a namespace: attached to every wait timeout."""
    lines = []
    try:
        for e in sorted(cluster.core.list_namespaced_event(namespace, _request_timeout=10).items,
                        key=lambda e: str(e.last_timestamp or e.event_time))[-30:]:
            lines.append(f"event {e.involved_object.kind}/{e.involved_object.name}: {e.type} {e.reason}: {e.message}")
        for p in cluster.core.list_namespaced_pod(namespace, _request_timeout=10).items:
            statuses = (p.status.init_container_statuses or []) + (p.status.container_statuses or [])
            states = ", ".join(f"{s.name}={'ready' if s.ready else next(k for k, v in s.state.to_dict().items() if v)}"
                               for s in statuses)
            lines.append(f"pod {p.metadata.name} on {p.spec.node_name}: {p.status.phase} [{states}]")
            for s in statuses:
                try:
                    with api_errors(f"reading the log of {p.metadata.name}/{s.name}"):
                        log = cluster.core.read_namespaced_pod_log(p.metadata.name, namespace, container=s.name,
                                                                   tail_lines=8, _request_timeout=10)
                except ClusterError:
                    continue
                lines += [f"  {s.name}| {line}" for line in log.splitlines()]
    except Exception as e:
        lines.append(f"(diagnostics incomplete: {type(e).__name__}: {e})")
    return "\n".join(lines)
