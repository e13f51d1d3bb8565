"""One run of scenarios against one cluster, shared by the CLI and the pytest plugin: the profile check, the
timing, the run's registration in the journal, node access, images, namespaces and the run writer.

    with Session.open(cluster, SessionOptions(report_dir=Path("reports"), source="cli")) as session:
        result = session.run(name, module)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from chaos_harness.assemble.catalogue import uses_mysql
from chaos_harness.assemble.node_access import AccessOptions, node_access, target_nodes
from chaos_harness.assemble.run_lock import DEFAULT_LOCK, RunLock
from chaos_harness.assemble.runner import namespace_for, run_meta, run_scenario
from chaos_harness.assemble.scheduler import NODE_LANE_SIZE, Slot, holds, plan_lanes, run_all
from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.control_plane import read_timing
from chaos_harness.core.errors import ClusterError, UsageError
from chaos_harness.core.kube import Cluster
from chaos_harness.core.labels import RUN_LABEL
from chaos_harness.core.light import nodes_named
from chaos_harness.core.namespaces import NamespaceReaper, create_namespace
from chaos_harness.core.throttle import throttle_of
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import run_registered
from chaos_harness.faults.guard import AbortCondition, RunGuard
from chaos_harness.faults.journal import Journal, default_journal_path
from chaos_harness.nodes.agent import remove_orphans
from chaos_harness.report.results import RunWriter, ScenarioResult
from chaos_harness.workload.placement import Placement, placed, pool_tolerations

if TYPE_CHECKING:
    from chaos_harness.nodes.access import NodeAccess
    from chaos_harness.workload.images import MySQLImages
    from chaos_harness.workload.target import StatefulSetTarget


@dataclass(frozen=True)
class Job:
    """One scenario of a run: on the bundled workload (with its MySQL images, if it uses them) or on a target."""
    name: str
    module: ModuleType
    mysql: "MySQLImages | None" = None
    target: "StatefulSetTarget | None" = None


def slots_of(jobs: Sequence[Job]) -> list[Slot[tuple[int, Job]]]:
    """What each job holds (chaos_harness/assemble/scheduler.py); a declaration that cannot be satisfied raises UsageError
    here, before anything runs."""
    return [Slot((i, job), alone=holds(job.name, job.module) == "nodes",
                 key=f"{job.target.namespace}/{job.target.name}" if job.target else "",
                 expected=float(getattr(job.module, "TYPICAL_SECONDS", 0) or 0),
                 # A user's StatefulSet is where it is; only the harness's own workload can be pinned.
                 placeable=job.target is None and bool(getattr(job.module, "PLACEABLE", False)),
                 lane_nodes=int(getattr(job.module, "LANE_NODES", NODE_LANE_SIZE)),
                 heavy=job.target is None and uses_mysql(job.module))
            for i, job in enumerate(jobs)]


@dataclass
class SessionOptions:
    report_dir: Path
    source: str                                    # "cli" or "pytest": recorded in results.json
    access: AccessOptions = field(default_factory=AccessOptions)
    journal: Path = field(default_factory=default_journal_path)
    timing_profile: str | None = None              # required profile; None: whatever the cluster runs
    storage_class: str | None = None
    mysql_image: str | None = None                 # pulled by the cluster; None: built or pulled and kind-loaded
    xtrabackup_image: str | None = None
    run_id: str | None = None                      # None: the start time
    run_lock: str = DEFAULT_LOCK                   # the run Lease (assemble/run_lock.py); one run per Lease at a time
    wait_for_run: float = 0                        # seconds to wait for another run's Lease; 0: refuse at once
    max_faulted_nodes: int | None = None           # None: 1 on a cluster that is not a local kind test bed; 0: no limit
    abort_conditions: Sequence["AbortCondition"] = ()
    abort_interval: float = 2.0


def new_run_id() -> str:
    """A run's id: its start time and a few random digits, so that two runs started within a second (one waiting
    for the other's lock, or two pytest sessions) never share a run directory or namespaces."""
    import uuid

    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + uuid.uuid4().hex[:4]


def blast_radius(cluster: Cluster, asked: int | None) -> int | None:
    """The most nodes faulted at once: as asked (0: no limit), else 1 on any cluster but the local kind test
    bed, whose node lanes each fault their own nodes side by side (None: no limit)."""
    if asked is not None:
        return asked or None
    return None if cluster.is_testbed() else 1


def check_profile(cluster: Cluster, wanted: str | None) -> str:
    """The cluster's timing profile; a mismatch with the one asked for is an environment error (the profile is
    baked into the cluster's kubeadm configuration, so it cannot change per run)."""
    from chaos_harness.testbed.cluster import read_profile

    actual = read_profile(cluster) or "unknown"
    if wanted and actual != wanted:
        raise UsageError(f"the cluster runs the {actual!r} timing profile, not {wanted!r}; pass --timing-profile "
                         f"{actual} (on the test bed, in a checkout: 'make cluster-down && make cluster "
                         f"PROFILE={wanted}')")
    return actual


def resolve_mysql_images(cluster: Cluster, image: str | None = None, xtrabackup: str | None = None) -> "MySQLImages":
    """The image given (the cluster pulls it); otherwise pull or build locally and `kind load` it, which needs
    docker and a kind cluster."""
    from chaos_harness.testbed import cluster as testbed
    from chaos_harness.testbed import images

    if image:
        return images.MySQLImages(image, xtrabackup or image, "mariadb" if "mariadb" in image else "mysql")
    if not cluster.is_testbed():
        raise UsageError("the MySQL scenarios need --mysql-image IMAGE on this cluster (images are loaded "
                         "locally only into kind clusters)")
    mysql = images.mysql_images()
    testbed.load_images(mysql.mysql, mysql.xtrabackup)
    return mysql


def remove_orphaned_agents(cluster: Cluster, lock: RunLock) -> None:
    """Nothing privileged outlives its run: the node agents of runs of this run lock that no longer hold it (a
    killed run's) are removed once this run holds it (one line each)."""
    holder = lock.read()
    live = list(holder.runs) if holder is not None and holder.group == lock.group else [lock.run_id]
    try:
        for ns in remove_orphans(cluster, f"{lock.namespace}/{lock.name}", live):
            print(f"removed the node agent {ns} left by a run that no longer holds {lock.namespace}/{lock.name}",
                  flush=True)
    except ClusterError as e:
        print(f"warning: could not look for node agents left by earlier runs: {e}", flush=True)


class Session:
    """A run in progress: scenarios run through `run`, each result lands in the run directory at once."""

    def __init__(self, cluster: Cluster, options: SessionOptions, run_id: str, profile: str, timing: ClusterTiming,
                 journal: Journal, access: "NodeAccess", access_reason: str, target_nodes: list[str]) -> None:
        self.cluster, self.options, self.run_id, self.profile, self.timing = cluster, options, run_id, profile, timing
        self.journal, self.access, self.target_nodes = journal, access, target_nodes
        self.writer = RunWriter(options.report_dir, run_id, run_meta(cluster, profile, options.source, timing,
                                                                access_reason),
                                live=lambda: {"api": figures} if (figures := self.api_figures()) else {})
        self.reaper = NamespaceReaper(cluster)
        self.guard: RunGuard | None = None         # set by open(): steady state, blast radius, abort conditions
        self.lock: RunLock | None = None
        self._mysql: MySQLImages | None = None
        # A pool the user named (--target-nodes) may be tainted to keep other workloads off: the harness's own
        # workload tolerates its taints. The default selection tolerates nothing.
        with api_errors("reading the target nodes' taints"):
            nodes = nodes_named(cluster.core, target_nodes, _request_timeout=10)
        self.pool_tolerations = pool_tolerations(nodes) if options.access.target_selector else ()
        # The target nodes the harness's own workload can run on (a tainted node it does not tolerate is only
        # ever faulted under a user's StatefulSet that tolerates it): where it is pinned, and what lanes share.
        self.usable_nodes = [n.metadata.name for n in nodes
                             if set(pool_tolerations([n])) <= set(self.pool_tolerations)] or list(target_nodes)

    @classmethod
    @contextmanager
    def open(cls, cluster: Cluster, options: SessionOptions, scenarios: Sequence[str] = ()) -> Iterator["Session"]:
        """Check the cluster (it answers, runs the profile asked for), register the run in the journal (so
        `cleanup` removes what a killed run leaves), take the run Lease (one run per cluster at a time; `scenarios`
        are named in it), assemble node access; on exit, confirm that every namespace the run deleted is gone and
        let go of the Lease."""
        cluster.fingerprint()  # the API answers, before anything reads its settings or builds images
        profile = check_profile(cluster, options.timing_profile)
        timing = read_timing(cluster)
        run_id = options.run_id or time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        journal = Journal(options.journal)
        guard = RunGuard(cluster, blast_radius(cluster, options.max_faulted_nodes), tuple(options.abort_conditions),
                         options.abort_interval)
        # The target nodes are read before the run Lease is taken (a selector matching nothing is its own line),
        # the Lease before anything is made (the agent, namespaces).
        targets = target_nodes(cluster, options.access.target_selector)
        lock = RunLock(cluster, run_id, scenarios, name=options.run_lock,
                       on_stop=lambda who: guard.stop("stop", f"stopped by {who}"),
                       on_lost=lambda who: guard.stop("lock-lost", f"this run lost the run lock to {who}: it healed "
                                                                   f"what it held and injects nothing more"))
        guard.fence = lock.prove
        waited = lock.acquire(options.wait_for_run)
        if waited >= 1:
            print(f"run lock {lock.namespace}/{lock.name} taken after waiting {waited:.0f}s", flush=True)
        remove_orphaned_agents(cluster, lock)
        try:
            with run_registered(cluster, journal, run_id), \
                    node_access(cluster, options.access, run_id, targets, timing.fault_time_box(),
                                f"{lock.namespace}/{lock.name}") as (access, choice, target_nodes_):
                session = cls(cluster, options, run_id, profile, timing, journal, access,
                              f"{choice.mode} ({choice.reason})", list(target_nodes_))
                session.guard, session.lock = guard, lock
                try:
                    yield session
                finally:
                    session.reaper.confirm(300)
        finally:
            guard.close()
            lock.release()

    def api_figures(self) -> dict[str, float]:
        """What this process asked of the API server so far (core/throttle.py); {} for a client without one."""
        throttle = throttle_of(self.cluster.api)
        return throttle.figures() if throttle else {}

    def mysql_images(self) -> "MySQLImages":
        """The MySQL images, resolved (and loaded into a kind cluster) once per run."""
        if self._mysql is None:
            self._mysql = resolve_mysql_images(self.cluster, self.options.mysql_image, self.options.xtrabackup_image)
        return self._mysql

    def new_namespace(self, name: str) -> str:
        """A namespace of the run's own, labelled with its run id (so `cleanup` finds it after a kill)."""
        create_namespace(self.cluster, name, {RUN_LABEL: self.run_id})
        return name

    def run_all(self, jobs: Sequence[Job], parallel: int = 1, junit: bool = True,
                started: Callable[[Job], None] | None = None,
                finished: Callable[[Job, ScenarioResult], None] | None = None) -> list[ScenarioResult]:
        """Run every job, up to `parallel` side by side where what they hold allows (chaos_harness/assemble/scheduler.py),
        each in a namespace of its own; results (and the report) in the order of `jobs`. `started` and
        `finished` are told about each job as it starts and ends (from worker threads too)."""
        slots = slots_of(jobs)
        side_by_side = parallel > 1 and (sum(not s.alone for s in slots) > 1
                                         or plan_lanes(slots, self.usable_nodes) is not None)

        def one(item: tuple[int, Job], placement: tuple[str, ...]) -> ScenarioResult:
            position, job = item
            if started:
                started(job)
            result = self.run(job.name, job.module, job.mysql, job.target, junit=junit, position=position,
                              label=job.name.split("_", 1)[0] if side_by_side else "", placement=placement)
            if finished:
                finished(job, result)
            return result

        return run_all(slots, one, parallel, self.usable_nodes)

    def run(self, name: str, module: ModuleType, mysql: "MySQLImages | None" = None,
            target: "StatefulSetTarget | None" = None, namespace: str | None = None,
            junit: bool = True, position: float | None = None, label: str = "",
            placement: Sequence[str] = ()) -> ScenarioResult:
        """Run one scenario: on `target` (the user's namespace: never created nor deleted), in `namespace`
        (the caller's), or in a namespace of its own that is deleted in the background afterwards. Its workload
        runs on the target nodes, or on `placement` (a lane of nodes), and its faults touch only those."""
        own = target is None and namespace is None
        if own:
            namespace = self.new_namespace(namespace_for(self.run_id, name))
        # The harness's own workload runs where its faults may go (--target-nodes, tolerating a named pool's
        # taints), or on its lane; a user's StatefulSet stays where it is.
        placement = (tuple(placement) or tuple(self.usable_nodes)) if target is None else ()
        try:
            with placed(str(namespace), Placement(placement, self.pool_tolerations if placement else ())):
                result = run_scenario(name, module, self.cluster, target.namespace if target else str(namespace),
                                      self.writer.dir, self.run_id, self.journal, mysql, self.access,
                                      list(placement) or self.target_nodes, self.timing, self.options.storage_class,
                                      target, label, placement=placement, guard=self.guard)
        finally:
            if own:
                self.reaper.delete(str(namespace))  # gone in the background while the next scenario runs
        self.writer.add(result, junit=junit, position=position)
        return result
