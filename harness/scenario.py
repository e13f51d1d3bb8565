"""What a scenario gets to work with, and what it gives back. A scenario module reads as:
HYPOTHESIS (one sentence), then `run(env)`: workload, fault, checks, returning the checkers' verdicts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.faults import FaultContext, FaultSession, node_running_pod
from harness.history import History
from harness.journal import Journal
from harness.kube import Cluster
from harness.nodes import KindNodeAccess, NodeAccess
from harness.recorder import Recorder
from harness.settings import ClusterTiming, read_timing
from harness.testbed.images import MySQLImages
from harness.workload.ledger import Ledger
from harness.workload.mysql_cluster import MySQLWorkload


@dataclass
class ScenarioEnv:
    cluster: Cluster
    namespace: str
    run_id: str
    history: History
    faults: FaultSession
    nodes: NodeAccess
    timing: ClusterTiming
    mysql_images: MySQLImages | None = None
    figures: dict[str, float] = field(default_factory=dict)

    def ledger(self) -> Ledger:
        """A write ledger whose every record also goes into the run's history."""
        return Ledger(sink=lambda r: self.history.record("write", **r.as_dict()))

    def deploy_mysql(self) -> tuple[MySQLWorkload, str]:
        """The replicated MySQL StatefulSet, 3/3 Ready; returns it and the node mysql-0 runs on."""
        assert self.mysql_images is not None, "this scenario needs the mysql_images fixture"
        mysql = MySQLWorkload(self.cluster, self.namespace, self.mysql_images)
        mysql.deploy()
        return mysql, node_running_pod(self.cluster, self.namespace, "mysql-0")

    def node_names(self) -> list[str]:
        return sorted(n.metadata.name for n in self.cluster.core.list_node(_request_timeout=10).items)

    @contextmanager
    def recording(self, sample_interval: float = 0.5) -> Iterator[Recorder]:
        with Recorder(self.cluster, self.history, self.namespace, self.nodes, self.node_names(),
                      sample_interval) as recorder:
            yield recorder


def make_env(cluster: Cluster, namespace: str, run_id: str, history_path: Path, journal: Journal,
             mysql_images: MySQLImages | None = None) -> ScenarioEnv:
    history = History(history_path)
    nodes = KindNodeAccess()
    timing = read_timing(cluster)
    history.record("meta", fingerprint=cluster.fingerprint().as_dict(), timing=timing.as_dict(), run_id=run_id,
                   namespace=namespace)
    return ScenarioEnv(cluster, namespace, run_id, history, FaultSession(FaultContext(cluster, nodes), journal,
                                                                         history, run_id), nodes, timing, mysql_images)
