"""The MySQL StatefulSet on the cluster, seen from the harness: deploy it, reach each pod through a
port-forward on 127.0.0.1, and run SQL inside the cluster (for the `mysql-read` Service, which only
in-cluster clients see load-balanced)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from chaos_harness.core.kube import Cluster
from chaos_harness.workload import deploy
from chaos_harness.workload.deploy import PodTimeline
from chaos_harness.workload.images import MySQLImages
from chaos_harness.workload.ledger import Ledger
from chaos_harness.workload.mysql_client import Endpoint, Writer, ensure_schema, read_keys, wait_until_serving
from chaos_harness.workload.portforward import PortForward


@dataclass
class MySQLWorkload:
    cluster: Cluster
    namespace: str
    images: MySQLImages
    variant: str = deploy.REPLICATED
    replicas: int = 0  # 0: the manifest's own count (3 replicated, 1 emptyDir)
    storage_class: str | None = None  # None: the cluster's default StorageClass

    def __post_init__(self) -> None:
        if not self.replicas:
            self.replicas = 3 if self.variant == deploy.REPLICATED else 1

    @property
    def name(self) -> str:
        return "mysql" if self.variant == deploy.REPLICATED else "mysql-ephemeral"

    def deploy(self, deadline_seconds: float = 600) -> tuple[PodTimeline, float]:
        self.apply()
        return self.wait_ready(deadline_seconds)

    def apply(self) -> None:
        """Create the example's objects; nothing waited for."""
        objects = deploy.render(self.variant, deploy.manifest_params(self.images))
        for obj in objects:
            if obj["kind"] == "StatefulSet":
                obj["spec"]["replicas"] = self.replicas
        deploy.apply(self.cluster, self.namespace, deploy.with_storage_class(objects, self.storage_class))

    def wait_ready(self, deadline_seconds: float = 300, first: int | None = None) -> tuple[PodTimeline, float]:
        """Wait until every pod is Ready, or only the `first` ordinals (1: the primary)."""
        return deploy.wait_statefulset_ready(self.cluster, self.namespace, self.name, first or self.replicas,
                                             deadline_seconds)

    def pod(self, ordinal: int) -> str:
        return f"{self.name}-{ordinal}"

    @contextmanager
    def endpoint(self, ordinal: int) -> Iterator[Endpoint]:
        """A loopback endpoint for pod `<name>-<ordinal>` (named by its stable DNS name)."""
        with PortForward(self.cluster, self.namespace, self.pod(ordinal), 3306) as pf:
            endpoint = Endpoint(port=pf.local_port, name=f"{self.pod(ordinal)}.{self.name}")
            wait_until_serving(endpoint)
            yield endpoint

    @property
    def readable_ordinals(self) -> tuple[int, ...]:
        return tuple(range(self.replicas))

    @contextmanager
    def writer(self, ledger: Ledger, ordinal: int = 0) -> Iterator[Writer]:
        """A writer into pod `ordinal` (the primary by default), the schema in place."""
        with self.endpoint(ordinal) as endpoint:
            ensure_schema(endpoint)
            writer = Writer(endpoint, ledger)
            try:
                yield writer
            finally:
                writer.close()

    def read_keys(self, ordinal: int) -> set[int]:
        with self.endpoint(ordinal) as endpoint:
            return read_keys(endpoint)

    def sql_in_cluster(self, sql: str, host: str, from_ordinal: int = 0) -> str:
        """Run `mysql -h <host>` from inside pod `<name>-<from_ordinal>` (its mysql container) and return
        the tab-separated output. Used for Service names that only resolve inside the cluster."""
        return deploy.exec_in_pod(self.cluster, self.namespace, self.pod(from_ordinal),
                                  ["mysql", "-h", host, "-N", "-B", "-e", sql], container="mysql")

    def pvc_of(self, ordinal: int) -> tuple[str, str]:
        """(claim name, bound volume) of pod `<name>-<ordinal>`'s data volume."""
        return deploy.claim_and_volume(self.cluster, self.namespace, f"data-{self.pod(ordinal)}")
