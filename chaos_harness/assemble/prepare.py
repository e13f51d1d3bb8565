"""One assembly step for a run, whichever frontend asked for it: every input that needs no cluster is checked
first (the scenarios, the targets' form, the probes, the report directory), then the cluster is connected and
asked (the API answers, its timing profile, every target, the images), and only then is anything created (the
run directory, journal entries, namespaces, an agent: Session.open, by the caller)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from chaos_harness.assemble.abort import check_conditions, parse_condition
from chaos_harness.assemble.catalogue import scenario_modules, uses_mysql
from chaos_harness.assemble.node_access import AccessOptions
from chaos_harness.assemble.plan import build_target, plan_run
from chaos_harness.assemble.run_lock import check_lock_name
from chaos_harness.assemble.scheduler import holds
from chaos_harness.assemble.session import Job, SessionOptions, check_profile, resolve_mysql_images, slots_of
from chaos_harness.core.errors import UsageError
from chaos_harness.core.kube import Cluster
from chaos_harness.core.selectors import check_selector
from chaos_harness.faults.journal import Journal


@dataclass(frozen=True)
class RunRequest:
    """What a frontend parsed, nothing checked yet."""

    options: SessionOptions                        # the report directory, access, journal, profile, images
    connect: Callable[[], Cluster]                 # called once everything else has been checked
    scenarios: Sequence[str] = ()                  # as typed; empty: all (or each target's own)
    scenario_dirs: Sequence[Path] = ()             # --scenarios DIR
    targets: Sequence[dict[str, object]] = ()      # target specs; empty: the bundled example
    target_given: bool = False                     # the one target is the command line's --target
    probe: dict[str, str | None] = field(default_factory=dict)  # the command line's probe options
    pushgateway: str | None = None                 # where the metrics go after the run
    abort_when: Sequence[str] = ()                 # abort conditions as typed (assemble/abort.py)


@dataclass(frozen=True)
class PreparedRun:
    cluster: Cluster
    options: SessionOptions
    jobs: list[Job]


def prepare(request: RunRequest) -> PreparedRun:
    """The run's jobs on a connected cluster, every input checked (UsageError naming the fix), nothing made."""
    known = scenario_modules(request.scenario_dirs)
    plan = plan_run(known, list(request.targets), request.scenarios, request.target_given, request.probe)
    writable_report_dir(request.options.report_dir)
    # A directory, under a file, corrupt or unreadable: refused now, before the run Lease or anything is made.
    Journal(request.options.journal).entries()
    if request.options.access.target_selector is not None:
        check_selector(request.options.access.target_selector, "--target-nodes")
    if request.pushgateway:
        check_pushgateway(request.pushgateway)
    check_agent_layout(request.options.access)
    check_lock_name(request.options.run_lock)
    for name, _ in plan:
        holds(name, known[name])  # a HOLDS the scheduler cannot honour
    conditions = [parse_condition(text) for text in request.abort_when]
    check_conditions(conditions)  # asked once: a condition that cannot be, or already breached, is refused now
    options = replace(request.options, abort_conditions=tuple(conditions)) if conditions else request.options
    cluster = request.connect()
    cluster.fingerprint()  # the API answers
    check_profile(cluster, request.options.timing_profile)
    targets = {id(spec): build_target(spec, cluster) for spec in request.targets}
    needs_mysql = any(spec is None and uses_mysql(known[name]) for name, spec in plan)
    mysql = (resolve_mysql_images(cluster, request.options.mysql_image, request.options.xtrabackup_image)
             if needs_mysql else None)
    jobs = [Job(name, known[name], mysql if spec is None and uses_mysql(known[name]) else None,
                targets[id(spec)] if spec is not None else None) for name, spec in plan]
    slots_of(jobs)  # what each holds, checked before the run exists
    return PreparedRun(cluster, options, jobs)


def writable_dir(path: Path, flag: str) -> Path:
    """Checked before anything else happens, and without creating anything: the directory, or the nearest
    existing one above it, must be a directory this process can write into."""
    kernel = next((root for root in ("/proc", "/sys", "/dev") if path.absolute().is_relative_to(root)), None)
    if kernel:
        raise UsageError(f"{flag} {path} can never hold files ({kernel} is the kernel's); pass another directory")
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        why = "not a directory" if not existing.is_dir() else "not writable"
        raise UsageError(f"{flag} {path} is not a writable directory ({existing} is {why}); pass another one")
    return path


def writable_report_dir(path: Path) -> Path:
    """The run directory is made only once the cluster answered; whether it can be is checked first."""
    return writable_dir(path, "--report-dir")


_UNIT = re.compile(r"[A-Za-z0-9:_.@\\-]+")


def check_before_connecting(options: SessionOptions) -> None:
    """What doctor and a run check alike before any connection: the node selector, the agent's layout options,
    the run lock's name, the journal (read: a corrupt one is refused here)."""
    if options.access.target_selector is not None:
        check_selector(options.access.target_selector, "--target-nodes")
    check_agent_layout(options.access)
    check_lock_name(options.run_lock)
    Journal(options.journal).entries()


def check_agent_layout(access: AccessOptions) -> None:
    """--agent-kubelet-unit is a systemd unit name, --agent-runtime-endpoint an absolute unix:// socket path."""
    unit, endpoint = access.kubelet_unit, access.runtime_endpoint
    if unit is not None and (not _UNIT.fullmatch(unit) or unit.endswith((".socket", ".timer", ".slice"))):
        raise UsageError(f"--agent-kubelet-unit {unit!r} is not a service unit's name; e.g. kubelet, k3s-agent, "
                         f"snap.microk8s.daemon-kubelite")
    if endpoint is not None and not (endpoint.startswith("unix:///") and len(endpoint) > len("unix:///")):
        raise UsageError(f"--agent-runtime-endpoint {endpoint!r} is not a unix socket; e.g. "
                         f"unix:///run/k3s/containerd/containerd.sock")


def check_pushgateway(url: str) -> str:
    """An http(s) URL with a host, or a UsageError (checked before the run, not after it)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--pushgateway {url!r} is not an http(s) URL; e.g. http://pushgateway.monitoring:9091")
    return url
