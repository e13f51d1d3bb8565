"""Deploy and tear down the MySQL workloads (manifests/mysql, manifests/mysql-emptydir) in a namespace."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from kubernetes import client, utils

from chaos_harness.core.api_errors import api_errors, from_api_exception
from chaos_harness.core.errors import ClusterError
from chaos_harness.core.kube import Cluster
from chaos_harness.core.namespaces import namespace_diagnostics
from chaos_harness.workload.placement import pinned, placement_of
from chaos_harness.core.resources import MANIFESTS
from chaos_harness.core.waits import poll_until
from chaos_harness.workload.images import MySQLImages

log = logging.getLogger("chaos_harness.deploy")

REPLICATED = "mysql"
EPHEMERAL = "mysql-emptydir"


def manifest_params(images: MySQLImages) -> dict[str, str]:
    return {
        "MYSQL_IMAGE": images.mysql,
        "XTRABACKUP_IMAGE": images.xtrabackup,
        # MariaDB has no super-read-only; read-only is its nearest equivalent (root may still write).
        "REPLICA_READ_ONLY": "super-read-only" if images.flavour == "mysql" else "read-only",
    }


def render(variant: str, params: dict[str, str]) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for path in sorted((MANIFESTS / variant).glob("*.yaml")):
        text = path.read_text()
        for key, value in params.items():
            text = text.replace(f"@{key}@", value)
        left = sorted(set(re.findall(r"@([A-Z_]+)@", text)))
        if left:
            raise ClusterError(f"{path}: parameters {left} were not given")
        objects += [doc for doc in yaml.safe_load_all(text) if doc]
    return objects


def with_storage_class(objects: list[dict[str, Any]], storage_class: str | None) -> list[dict[str, Any]]:
    """Every claim the objects make (StatefulSet claim templates, PVCs) on `storage_class`; None keeps the
    cluster's default StorageClass."""
    if storage_class:
        for obj in objects:
            claims = obj.get("spec", {}).get("volumeClaimTemplates", []) if obj["kind"] == "StatefulSet" else \
                [obj] if obj["kind"] == "PersistentVolumeClaim" else []
            for claim in claims:
                claim["spec"]["storageClassName"] = storage_class
    return objects


def apply(cluster: Cluster, namespace: str, objects: list[dict[str, Any]]) -> None:
    where = placement_of(namespace)
    for obj in (pinned(o, where.nodes, where.tolerations) for o in objects):
        try:
            utils.create_from_dict(cluster.api, obj, namespace=namespace)
        except utils.FailToCreateError as e:
            first = e.api_exceptions[0]
            raise from_api_exception(first, f"creating {obj['kind']}/{obj['metadata']['name']} in {namespace}") from e


@dataclass
class PodTimeline:
    """When each pod of a StatefulSet was created and first became Ready (API server clock, seconds)."""

    created: dict[str, float] = field(default_factory=dict)
    ready: dict[str, float] = field(default_factory=dict)


def _ready_since(pod: client.V1Pod) -> float | None:
    for c in pod.status.conditions or []:
        if c.type == "Ready" and c.status == "True":
            return c.last_transition_time.timestamp()
    return None


def wait_statefulset_ready(cluster: Cluster, namespace: str, name: str, replicas: int,
                           deadline_seconds: float) -> tuple[PodTimeline, float]:
    """Wait until `replicas` pods of the StatefulSet are Ready, recording creation and Ready times."""
    timeline = PodTimeline()
    selector = f"statefulset.kubernetes.io/pod-name in ({','.join(f'{name}-{i}' for i in range(replicas))})"

    def all_ready() -> PodTimeline | None:
        with api_errors(f"listing pods of {namespace}/{name}"):
            pods = cluster.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=10).items
        # A pod being deleted does not count: after a kubelet restart a Terminating pod may report Ready for a
        # moment before the kubelet kills it.
        pods = [p for p in pods if p.metadata.deletion_timestamp is None]
        for p in pods:
            timeline.created.setdefault(p.metadata.name, p.metadata.creation_timestamp.timestamp())
            since = _ready_since(p)
            if since is not None:
                timeline.ready.setdefault(p.metadata.name, since)
        return timeline if sum(1 for p in pods if _ready_since(p) is not None) == replicas else None

    # Pods' Ready transitions carry their own server-side timestamps, so a 1 s poll loses no ordering.
    return poll_until(all_ready, deadline_seconds, f"{name} {replicas}/{replicas} Ready", 1,
                      lambda: namespace_diagnostics(cluster, namespace))


def statefulset_revisions(cluster: Cluster, namespace: str, name: str) -> tuple[str, str]:
    """(current, update) revision of a StatefulSet once its controller has seen the latest spec."""
    def observed() -> tuple[str, str] | None:
        with api_errors(f"reading StatefulSet {namespace}/{name}"):
            sts = cluster.apps.read_namespaced_stateful_set(name, namespace, _request_timeout=10)
        if (sts.status.observed_generation or 0) >= sts.metadata.generation and sts.status.update_revision:
            return sts.status.current_revision, sts.status.update_revision
        return None

    # Status has no watchable "observed" event of its own: poll with a deadline.
    return poll_until(observed, 60, f"{name} controller observed the latest spec", 0.5)[0]


def wait_on_revision(cluster: Cluster, namespace: str, name: str, ordinals: list[int], revision: str,
                     deadline_seconds: float = 120) -> float:
    """Wait until pods `<name>-<n>` for `ordinals` run `revision` and are Ready; returns the seconds waited."""
    want = {f"{name}-{n}" for n in ordinals}
    selector = f"statefulset.kubernetes.io/pod-name in ({','.join(sorted(want))})"

    def all_on_revision() -> bool | None:
        with api_errors(f"listing pods of {namespace}/{name}"):
            pods = cluster.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=10).items
        done = {p.metadata.name for p in pods if p.metadata.deletion_timestamp is None
                and (p.metadata.labels or {}).get("controller-revision-hash") == revision
                and _ready_since(p) is not None}
        return want <= done or None

    # Several pods' combined state: poll the list with a deadline.
    return poll_until(all_on_revision, deadline_seconds, f"{', '.join(sorted(want))} Ready on revision {revision}",
                      0.5, lambda: namespace_diagnostics(cluster, namespace))[1]


def helper_image(cluster: Cluster) -> str:
    """An image on every node with a shell: local-path's helper image, pre-loaded by the stock and the offline
    node images alike (it is how the provisioner creates volume directories). Small test workloads use it."""
    with api_errors("reading local-path-config for the helper image"):
        cm = cluster.core.read_namespaced_config_map("local-path-config", "local-path-storage", _request_timeout=10)
    for line in (cm.data or {}).get("helperPod.yaml", "").splitlines():
        if line.strip().startswith("image:"):
            return line.split(":", 1)[1].strip()
    raise ClusterError("local-path-config names no helper image")


def claim_and_volume(cluster: Cluster, namespace: str, claim: str) -> tuple[str, str]:
    """(claim, the volume it is bound to); an unbound claim is a ClusterError."""
    with api_errors(f"reading PVC {namespace}/{claim}"):
        pvc = cluster.core.read_namespaced_persistent_volume_claim(claim, namespace, _request_timeout=10)
    if not pvc.spec.volume_name:
        raise ClusterError(f"PVC {namespace}/{claim} is not bound")
    return claim, pvc.spec.volume_name


def exec_in_pod(cluster: Cluster, namespace: str, pod: str, command: list[str], container: str | None = None,
                timeout: float = 30) -> str:
    """Run `command` in a pod and return its stdout; a non-zero exit status is a ClusterError."""
    return cluster.exec(namespace, pod, command, container, timeout).check(
        f"{' '.join(command)[:60]} in {namespace}/{pod}")


def wait_pods_gone(cluster: Cluster, namespace: str, selector: str, deadline_seconds: float) -> float:
    """Wait until no pod matches `selector` (not even a Terminating one). Returns seconds waited."""
    def none_left() -> bool | None:
        with api_errors(f"listing pods {selector}"):
            return not cluster.core.list_namespaced_pod(namespace, label_selector=selector,
                                                        _request_timeout=10).items or None

    # Absence has no watch event to wait for once the list is empty: poll with a deadline.
    return poll_until(none_left, deadline_seconds, f"pods {selector} in {namespace} gone", 0.5,
                      lambda: namespace_diagnostics(cluster, namespace))[1]
