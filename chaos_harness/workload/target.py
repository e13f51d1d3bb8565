"""A user's own StatefulSet as the system under test (`--target NAMESPACE/NAME` or `NAMESPACE/LABEL=VALUE`).

The harness deploys nothing and changes neither the StatefulSet's spec nor its scale (unless the user allows it
with --allow-target-changes: then the ordering scenarios scale it and roll it, and restore its scale): the
faults act on its pods and nodes, the recorder watches its namespace, and durability goes through the user's probe
(chaos_harness/workload/probe.py) when one is given.
"""

from __future__ import annotations

import re

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import ClusterError, NotFound, UsageError
from chaos_harness.core.kube import Cluster
from chaos_harness.workload import deploy
from chaos_harness.workload.deploy import PodTimeline
from chaos_harness.workload.ledger import Ledger
from chaos_harness.workload.probe import Probe, ProbeWriter, read_with_probe

# Kinds a user may name by mistake: said by name, so "not a StatefulSet" tells what it is instead.
_OTHER_KINDS = (("Deployment", "apps", "read_namespaced_deployment"),
                ("DaemonSet", "apps", "read_namespaced_daemon_set"),
                ("ReplicaSet", "apps", "read_namespaced_replica_set"),
                ("Pod", "core", "read_namespaced_pod"))


@dataclass(frozen=True)
class TargetRef:
    namespace: str
    name: str = ""       # the StatefulSet's name, or
    selector: str = ""   # a label selector that must match exactly one StatefulSet in the namespace

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name or self.selector}"


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def parse_target(text: str) -> TargetRef:
    """`NAMESPACE/NAME` or `NAMESPACE/KEY=VALUE[,...]` (a label selector), each part what Kubernetes accepts:
    a namespace is a DNS label, a StatefulSet's name a DNS subdomain, a selector one the API parses."""
    namespace, sep, rest = text.partition("/")
    shown = text if len(text) <= 80 else text[:80] + "..."
    if not sep or not namespace or not rest or "/" in rest:
        raise UsageError(f"--target {shown!r}: write NAMESPACE/NAME or NAMESPACE/LABEL=VALUE (a StatefulSet)")
    if not _DNS_LABEL.fullmatch(namespace):
        raise UsageError(f"--target {shown!r}: {namespace[:63]!r} is not a namespace's name (lower-case letters, "
                         f"digits and '-')")
    if "=" in rest or "," in rest:
        from chaos_harness.core.selectors import check_selector

        check_selector(rest, f"--target {shown!r}:")
        return TargetRef(namespace, selector=rest)
    if not _DNS_SUBDOMAIN.fullmatch(rest):
        raise UsageError(f"--target {shown!r}: {rest[:80]!r} is not a StatefulSet's name (lower-case letters, "
                         f"digits, '-' and '.')")
    return TargetRef(namespace, name=rest)


@dataclass
class StatefulSetTarget:
    """The user's StatefulSet, read once when the run starts. It reads like the bundled MySQLWorkload
    (name, pod, wait_ready, pvc_of, writer, read_keys), so a targetable scenario runs on either."""

    cluster: Cluster
    namespace: str
    name: str
    replicas: int
    claim_templates: tuple[str, ...]
    service: str = ""    # the governing (headless) Service: the pods' subdomain
    probe: Probe | None = None
    pod_management: str = "OrderedReady"   # or Parallel: what the ordering scenarios hold it to
    update_strategy: str = "RollingUpdate"  # or OnDelete
    partition: int = 0                      # RollingUpdate's partition: ordinals below it keep their revision
    allow_changes: bool = False             # --allow-target-changes: scale and roll it (restored afterwards)

    def pod(self, ordinal: int) -> str:
        return f"{self.name}-{ordinal}"

    @property
    def readable_ordinals(self) -> tuple[int, ...]:
        return (0,) if self.probe else ()

    def wait_ready(self, deadline_seconds: float = 300) -> tuple[PodTimeline, float]:
        return deploy.wait_statefulset_ready(self.cluster, self.namespace, self.name, self.replicas, deadline_seconds)

    def revisions(self) -> tuple[str, str]:
        return deploy.statefulset_revisions(self.cluster, self.namespace, self.name)

    def wait_revision(self, ordinals: list[int], revision: str, deadline_seconds: float = 300) -> float:
        return deploy.wait_on_revision(self.cluster, self.namespace, self.name, ordinals, revision, deadline_seconds)

    def pvc_of(self, ordinal: int) -> tuple[str, str]:
        """(claim, bound volume) of the pod's first claim template; ("", "") when it has none."""
        if not self.claim_templates:
            return "", ""
        return deploy.claim_and_volume(self.cluster, self.namespace, f"{self.claim_templates[0]}-{self.pod(ordinal)}")

    @contextmanager
    def writer(self, ledger: Ledger, ordinal: int = 0) -> Iterator[ProbeWriter | None]:
        """The probe's writer (None without a probe: nothing is written, durability is not judged). The probe
        decides where its writes go; `ordinal` is for the bundled workload's signature only."""
        with nullcontext(ProbeWriter(self.probe, ledger, self.pod(0)) if self.probe else None) as w:
            yield w

    def read_keys(self, ordinal: int) -> set[int]:
        assert self.probe is not None, "read_keys needs a probe"
        return read_with_probe(self.probe)


def resolve_target(cluster: Cluster, ref: TargetRef, probe: Probe | None = None) -> StatefulSetTarget:
    """The StatefulSet `ref` names, checked: it exists, is a StatefulSet, and has replicas. Bad input is a
    UsageError naming the fix; nothing is created."""
    sts = _read(cluster, ref)
    replicas = sts.spec.replicas if sts.spec.replicas is not None else 1
    if replicas < 1:
        raise UsageError(f"--target {ref}: StatefulSet {sts.metadata.name} has 0 replicas; scale it up first "
                         f"(the harness never changes a target's scale)")
    claims = tuple(t.metadata.name for t in sts.spec.volume_claim_templates or ())
    strategy = sts.spec.update_strategy
    rolling = strategy.rolling_update if strategy else None
    return StatefulSetTarget(cluster, ref.namespace, sts.metadata.name, replicas, claims,
                             sts.spec.service_name or "", probe,
                             pod_management=sts.spec.pod_management_policy or "OrderedReady",
                             update_strategy=(strategy.type if strategy else None) or "RollingUpdate",
                             partition=(rolling.partition if rolling else None) or 0)


def _read(cluster: Cluster, ref: TargetRef) -> Any:
    if ref.selector:
        with api_errors(f"listing StatefulSets {ref}"):
            found = cluster.apps.list_namespaced_stateful_set(ref.namespace, label_selector=ref.selector,
                                                              _request_timeout=10).items
        if len(found) != 1:
            names = ", ".join(s.metadata.name for s in found) or "none"
            raise UsageError(f"--target {ref}: the selector must match exactly one StatefulSet, it matched {names}")
        return found[0]
    try:
        with api_errors(f"reading StatefulSet {ref}"):
            return cluster.apps.read_namespaced_stateful_set(ref.name, ref.namespace, _request_timeout=10)
    except NotFound:
        pass
    raise UsageError(f"--target {ref}: {_what_is_there(cluster, ref)}")


def _what_is_there(cluster: Cluster, ref: TargetRef) -> str:
    for kind, api, reader in _OTHER_KINDS:
        try:
            with api_errors(f"reading {kind} {ref}"):
                getattr(cluster.apps if api == "apps" else cluster.core, reader)(ref.name, ref.namespace,
                                                                                 _request_timeout=10)
            return f"{ref.name} is a {kind}, not a StatefulSet; name a StatefulSet"
        except ClusterError:
            continue
    return f"no StatefulSet {ref.name} in namespace {ref.namespace} (kubectl get statefulsets -n {ref.namespace})"
