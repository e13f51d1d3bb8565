"""What a scenario gets to work with (ScenarioEnv). A scenario module reads as: HYPOTHESIS (one sentence), then
`run(env)`: the workload, the fault injected while the recorder writes the history, and notes of what it learned;
then `check(events, timing)`: the checkers' verdicts from that history alone (chaos_harness/judge/checkers.py)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from chaos_harness.core.cancellation import observe
from chaos_harness.core.control_plane import read_timing
from chaos_harness.core.kube import Cluster
from chaos_harness.core.light import light_list
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.core.waits import node_not_ready, node_ready, poll_until
from chaos_harness.faults import Fault, FaultContext, FaultSession, node_running_pod
from chaos_harness.faults.guard import RunGuard
from chaos_harness.faults.journal import Journal
from chaos_harness.nodes.access import NodeAccess
from chaos_harness.record.history import History
from chaos_harness.record.recorder import Recorder
from chaos_harness.workload.images import MySQLImages
from chaos_harness.workload.ledger import Ledger
from chaos_harness.workload.mysql_client import background_writer, read_keys
from chaos_harness.workload.mysql_cluster import MySQLWorkload
from chaos_harness.workload.target import StatefulSetTarget

# What a targetable scenario acts on: the bundled MySQL example, or the user's StatefulSet (--target).
Workload = MySQLWorkload | StatefulSetTarget


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
    sampled_nodes: Sequence[str] = ()   # whose runtime the recorder samples (default: every node)
    storage_class: str | None = None    # claims of the scenario's workloads (None: the cluster's default)
    target: StatefulSetTarget | None = None  # the user's StatefulSet: targetable scenarios act on it, deploy nothing

    def ledger(self) -> Ledger:
        """A write ledger whose every record also goes into the run's history."""
        return Ledger(sink=lambda r: self.history.record("write", **r.as_dict()))

    def deploy_mysql(self) -> tuple[MySQLWorkload, str]:
        """The replicated MySQL StatefulSet, 3/3 Ready; returns it and the node mysql-0 runs on."""
        mysql = self.mysql()
        mysql.deploy()
        return mysql, node_running_pod(self.cluster, self.namespace, "mysql-0")

    def mysql(self) -> MySQLWorkload:
        """The replicated MySQL StatefulSet of this scenario's namespace, not yet applied."""
        assert self.mysql_images is not None, "this scenario needs the mysql_images fixture"
        return MySQLWorkload(self.cluster, self.namespace, self.mysql_images, storage_class=self.storage_class)

    def workload(self) -> tuple[Workload, str]:
        """The system under test of a targetable scenario (TARGETABLE = True), Ready, and the node its pod 0
        runs on: the user's StatefulSet when the run has a target (nothing deployed, nothing changed), else the
        bundled MySQL example. Its name and whether a probe writes into it go into the history."""
        if self.target is None:
            mysql, node = self.deploy_mysql()
            self.note(workload=mysql.name, service=mysql.name, probe="mysql",
                      readable=[mysql.pod(i) for i in mysql.readable_ordinals])
            return mysql, node
        if self.faults.guard is not None:  # a run's: a target not Ready is not faulted (outcome not-run)
            self.faults.guard.target_ready(self.history, self.namespace, self.target.name, self.target.wait_ready)
        else:
            self.target.wait_ready(120)
        # The replicas durability expects to read back come from the workload, not from the reads that happened.
        self.note(workload=self.target.name, service=self.target.service,
                  probe="yes" if self.target.probe else "none",
                  readable=[self.target.pod(i) for i in self.target.readable_ordinals])
        return self.target, node_running_pod(self.cluster, self.namespace, self.target.pod(0))

    def write_rows(self, mysql: Workload, count: int, ordinal: int = 0, ledger: Ledger | None = None) -> Ledger:
        """`count` acknowledged-or-not writes into pod `ordinal` (a target: through its probe, if any), each
        recorded in the ledger and the history."""
        ledger = ledger or self.ledger()
        with mysql.writer(ledger, ordinal) as writer:
            for _ in range(count if writer else 0):  # a target without a probe has no writer
                writer.write_one()
        return ledger

    def read_rows(self, mysql: Workload, ordinal: int, expected: set[int] | None = None,
                  deadline_seconds: float = 60) -> set[int]:
        """The keys pod `ordinal` holds; with `expected`, wait (bounded) until a replica has caught up."""
        if isinstance(mysql, StatefulSetTarget):
            if ordinal not in mysql.readable_ordinals:
                return set()  # no probe: nothing was written, nothing to read
            keys = mysql.read_keys(ordinal)
            self.history.record("read-keys", replica=mysql.pod(ordinal), keys=sorted(keys))
            return keys
        with mysql.endpoint(ordinal) as endpoint:
            last: set[int] = set()

            def caught_up() -> set[int] | None:
                last.clear()
                last.update(read_keys(endpoint))
                return set(last) if expected is None or expected <= last else None

            # Replication is asynchronous: poll the replica until it caught up; past the deadline its last
            # answer is what the durability checker judges.
            keys, _ = poll_until(caught_up, deadline_seconds, f"{mysql.pod(ordinal)} holds the rows", 0.5,
                                 on_timeout=lambda: set(last))
        # The final read is an observation like any other: durability is judged from the history.
        self.history.record("read-keys", replica=mysql.pod(ordinal), keys=sorted(keys))
        return keys

    @contextmanager
    def writing_throughout(self, w: Workload) -> Iterator[None]:
        """Acknowledged writes into pod 0 for the whole block (through the target's probe, if any), with two
        seconds of them before the block's first step and after its last."""
        with w.writer(self.ledger()) as writer, \
                (background_writer(writer, pause=0.02) if writer else nullcontext()):  # type: ignore[arg-type]
            observe(2, "acknowledged writes before the fault")
            yield
            observe(2, "acknowledged writes after recovery")

    def read_back(self, w: Workload) -> None:
        """Read every readable replica's keys into the history: pod 0, then the others once they caught up."""
        primary = self.read_rows(w, 0)
        for i in w.readable_ordinals[1:]:
            self.read_rows(w, i, expected=primary)

    def silent_node(self, w: Workload, fault: "Fault", node: str) -> None:
        """A fault that silences `node` (pause, partition): held until the Node leaves Ready and a while
        after (shorter than the unreachable toleration: S8 covers eviction past it); then the node and the
        workload are waited for."""
        t = self.timing
        with self.faults.injected(fault):
            node_not_ready(self.cluster, node, t)
            observe(max(1.0, min(10.0, t.unreachable_toleration_seconds / 2)), f"nothing replaces {w.pod(0)}")
        node_ready(self.cluster, node)
        w.wait_ready(300)

    def note(self, **facts: object) -> None:
        """Record what the scenario learnt while acting (the faulted node, a hostname, a claim), so that its
        `check` reads it from the history, never from the cluster."""
        self.history.record("fact", **facts)

    def node_names(self) -> list[str]:
        return sorted(n.metadata.name for n in light_list(self.cluster.core.list_node, _request_timeout=10).items)

    @contextmanager
    def recording(self, sample_interval: float = 0.5) -> Iterator[Recorder]:
        with Recorder(self.cluster, self.history, self.namespace, self.nodes,
                      list(self.sampled_nodes) or self.node_names(), sample_interval) as recorder:
            yield recorder


def make_env(cluster: Cluster, namespace: str, run_id: str, history_path: Path, journal: Journal,
             mysql_images: MySQLImages | None = None, nodes: NodeAccess | None = None,
             targets: Sequence[str] | None = None, timing: ClusterTiming | None = None,
             storage_class: str | None = None, target: StatefulSetTarget | None = None,
             guard: "RunGuard | None" = None) -> ScenarioEnv:
    """A scenario's environment. `nodes`, `targets` and `guard` (steady state, blast radius, abort conditions)
    come from where the harness is assembled (the CLI's or the plugin's choices)."""
    history = History(history_path)
    namespace = target.namespace if target is not None else namespace
    if nodes is None:
        raise TypeError("make_env needs the node access chosen where the harness is assembled")
    timing = timing or read_timing(cluster)
    history.record("meta", fingerprint=cluster.fingerprint().as_dict(), timing=timing.as_dict(), run_id=run_id,
                   namespace=namespace, node_access=nodes.name, target_nodes=list(targets or []),
                   target=f"{target.namespace}/{target.name}" if target else None)
    ctx = FaultContext(cluster, nodes, frozenset(targets) if targets else None, timing.fault_time_box())
    return ScenarioEnv(cluster, namespace, run_id, history, FaultSession(ctx, journal, history, run_id, guard, namespace,
                                                                        target.name if target else None), nodes, timing,
                       mysql_images, sampled_nodes=list(targets or []), storage_class=storage_class, target=target)
