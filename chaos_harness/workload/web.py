"""The small `web` StatefulSet of the Kubernetes StatefulSet tutorials, for the identity / storage / ordering
scenarios (S1–S6): a headless Service `web` and pods that append `<time> <hostname> <version>` to their
volume, so the volume itself remembers every incarnation that mounted it.

It runs the helper image every node already has (see deploy.helper_image), so it needs no registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos_harness.core import namespaces
from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.cancellation import observe
from chaos_harness.core.kube import Cluster
from chaos_harness.core.waits import poll_until
from chaos_harness.workload import deploy, dns

NAME = "web"
LOG = "/data/log"

# Ready once the incarnation has written its line (plus an optional delay, to make ordering visible);
# exits at once on SIGTERM so deletions are quick and their order is what the controller chose.
SCRIPT = f"""trap 'exit 0' TERM
echo "$(date +%s) $(hostname) v$VERSION" >> {LOG}
sleep "$READY_AFTER"
touch /tmp/ready
while true; do sleep 1; done"""


@dataclass
class WebSpec:
    replicas: int = 3
    persistent: bool = True                 # volumeClaimTemplates `data`, else an emptyDir
    pod_management: str = "OrderedReady"    # or Parallel
    update_strategy: str = "RollingUpdate"  # or OnDelete
    ready_after: int = 2                    # seconds from start to Ready
    version: str = "1"
    storage_class: str | None = None  # None: the cluster's default StorageClass


def objects(image: str, spec: WebSpec) -> list[dict[str, Any]]:
    labels = {"app": NAME}
    container = {
        "name": "web", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", SCRIPT],
        "env": [{"name": "VERSION", "value": spec.version}, {"name": "READY_AFTER", "value": str(spec.ready_after)}],
        "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1},
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    }
    pod_spec: dict[str, Any] = {"terminationGracePeriodSeconds": 5, "containers": [container]}
    sts: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": NAME},
        "spec": {"serviceName": NAME, "replicas": spec.replicas, "selector": {"matchLabels": labels},
                 "podManagementPolicy": spec.pod_management, "updateStrategy": {"type": spec.update_strategy},
                 "template": {"metadata": {"labels": labels}, "spec": pod_spec}},
    }
    if spec.persistent:
        sts["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": {
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}},
            **({"storageClassName": spec.storage_class} if spec.storage_class else {})}}]
    else:
        pod_spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": NAME, "labels": labels},
               "spec": {"clusterIP": "None", "selector": labels, "ports": [{"name": "web", "port": 80}]}}
    return [service, sts]


class Web:
    """The `web` StatefulSet in one namespace: deploy, scale, update, and read what its pods wrote."""

    def __init__(self, cluster: Cluster, namespace: str, spec: WebSpec | None = None) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.spec = spec or WebSpec()

    def deploy(self, wait: bool = True, deadline_seconds: float = 180) -> None:
        deploy.apply(self.cluster, self.namespace, objects(deploy.helper_image(self.cluster), self.spec))
        if wait:
            self.wait_ready(self.spec.replicas, deadline_seconds)

    def create_statefulset_only(self) -> None:
        """Re-create the StatefulSet (not its Service), e.g. after deleting it."""
        sts = [o for o in objects(deploy.helper_image(self.cluster), self.spec) if o["kind"] == "StatefulSet"]
        deploy.apply(self.cluster, self.namespace, sts)

    def wait_ready(self, replicas: int, deadline_seconds: float = 180) -> float:
        return deploy.wait_statefulset_ready(self.cluster, self.namespace, NAME, replicas, deadline_seconds)[1]

    def _patch(self, body: dict[str, Any], what: str) -> None:
        with api_errors(what):
            self.cluster.apps.patch_namespaced_stateful_set(NAME, self.namespace, body, _request_timeout=15)

    def scale(self, replicas: int) -> None:
        self._patch({"spec": {"replicas": replicas}}, f"scaling {NAME} to {replicas}")

    def set_version(self, version: str, partition: int | None = None) -> None:
        """Change the pod template (a new controller revision), optionally with a rolling-update partition."""
        body: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [
            {"name": "web", "env": [{"name": "VERSION", "value": version},
                                    {"name": "READY_AFTER", "value": str(self.spec.ready_after)}]}]}}}}
        if partition is not None:
            body["spec"]["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
        self._patch(body, f"updating {NAME} to v{version}")

    def set_partition(self, partition: int) -> None:
        self._patch({"spec": {"updateStrategy": {"rollingUpdate": {"partition": partition}}}},
                    f"setting {NAME} partition {partition}")

    def revisions(self) -> tuple[str, str]:
        """(current, update) revision once the controller has seen the latest spec."""
        return deploy.statefulset_revisions(self.cluster, self.namespace, NAME)

    def delete_statefulset(self) -> None:
        """Delete the StatefulSet (its pods go with it; its claims stay, by the default retention policy)."""
        with api_errors(f"deleting StatefulSet {NAME}"):
            self.cluster.apps.delete_namespaced_stateful_set(NAME, self.namespace, _request_timeout=15)
        deploy.wait_pods_gone(self.cluster, self.namespace, f"app={NAME}", 120)

    def log_of(self, ordinal: int) -> list[str]:
        """The lines on pod `web-<ordinal>`'s volume: one per incarnation that mounted it."""
        out = deploy.exec_in_pod(self.cluster, self.namespace, f"{NAME}-{ordinal}", ["cat", LOG])
        return [line for line in out.splitlines() if line.strip()]

    def pods(self) -> list[Any]:
        with api_errors(f"listing {NAME} pods"):
            return list(self.cluster.core.list_namespaced_pod(self.namespace, label_selector=f"app={NAME}",
                                                              _request_timeout=10).items)

    def wait_revision(self, ordinals: list[int], revision: str, deadline_seconds: float = 120) -> float:
        """Wait until pods `web-<n>` for `ordinals` run `revision` and are Ready."""
        return deploy.wait_on_revision(self.cluster, self.namespace, NAME, ordinals, revision, deadline_seconds)

    def wait_settled(self, observe_seconds: float = 0.0, deadline_seconds: float = 120) -> None:
        """Wait until the controller has nothing left to do (all replicas Ready, spec observed), then optionally
        watch for `observe_seconds` that nothing starts moving again."""
        def settled() -> bool | None:
            with api_errors(f"reading StatefulSet {NAME}"):
                sts = self.cluster.apps.read_namespaced_stateful_set(NAME, self.namespace, _request_timeout=10)
            st = sts.status
            return ((st.observed_generation or 0) >= sts.metadata.generation
                    and (st.ready_replicas or 0) == sts.spec.replicas == (st.replicas or 0)) or None

        poll_until(settled, deadline_seconds, f"{NAME} settled", 0.5,
                   lambda: namespaces.namespace_diagnostics(self.cluster, self.namespace))
        if observe_seconds:
            observe(observe_seconds, f"{NAME} stays as it is")

    def hostname(self, ordinal: int) -> str:
        return deploy.exec_in_pod(self.cluster, self.namespace, f"{NAME}-{ordinal}", ["hostname"]).strip()

    def dns_name(self, ordinal: int) -> str:
        return dns.dns_name(f"{NAME}-{ordinal}", NAME, self.namespace)

    def lookup(self, ordinal: int, from_ordinal: int = 0, deadline_seconds: float = 30) -> dict[str, Any]:
        """Resolve web-<ordinal>'s DNS name from inside web-<from_ordinal> (chaos_harness/workload/dns.py)."""
        return dns.lookup_pod(self.cluster, self.namespace, f"{NAME}-{ordinal}", NAME, f"{NAME}-{from_ordinal}",
                              deadline_seconds)

    def resolve(self, from_ordinal: int, hostname: str) -> list[str]:
        """IPv4 addresses `hostname` resolves to inside the cluster, asked from pod `web-<from_ordinal>`."""
        return dns.resolve(self.cluster, self.namespace, f"{NAME}-{from_ordinal}", hostname)
