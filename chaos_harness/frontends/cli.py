"""The chaos-harness command line: each subcommand as parsed by chaos_harness/frontends/cli_parser.py, and the one
error boundary (`main`) that turns every error into one line and an exit code (cli_parser.DESCRIPTION)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from chaos_harness.assemble.node_access import AccessOptions
from chaos_harness.assemble.plan import plan_run
from chaos_harness.assemble.prepare import writable_dir
from chaos_harness.core.errors import CleanupError, GuardError, HarnessError, Interrupted, UsageError
from chaos_harness.core.kube import Cluster, allowed_contexts_from_env, connect
from chaos_harness.core.selectors import check_selector
from chaos_harness.faults import heal_journal
from chaos_harness.faults.journal import Journal, JournalEntry
from chaos_harness.frontends.cli_parser import build_parser, one_line
from chaos_harness.nodes.access import NodeAccess
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.testbed.shell import BuildError

# 4: nothing failed, but some hypothesis could not be judged (a checker's evidence was not observed); 5: the run
# was aborted (an abort condition, `chaos-harness stop`); 6: a scenario did not run (the steady state did not hold).
EXIT_PASS, EXIT_HYPOTHESIS, EXIT_USAGE, EXIT_CLEANUP, EXIT_UNKNOWN, EXIT_ABORTED, EXIT_NOT_RUN = 0, 1, 2, 3, 4, 5, 6


def exit_code(statuses: list[str]) -> int:
    """The run's exit code from its scenarios' outcomes: a fault left behind first, then a failed (or errored)
    scenario, then an aborted run, a scenario not run, one that could not be judged; 0 only when every scenario
    passed."""
    if "cleanup-failed" in statuses:
        return EXIT_CLEANUP
    if "fail" in statuses or "error" in statuses:
        return EXIT_HYPOTHESIS
    if "aborted" in statuses:
        return EXIT_ABORTED
    if "not-run" in statuses:
        return EXIT_NOT_RUN
    if "unknown" in statuses or not statuses:
        return EXIT_UNKNOWN
    return EXIT_PASS

if TYPE_CHECKING:

    from chaos_harness.report.results import ScenarioResult


def connect_from(args: argparse.Namespace) -> Cluster:
    return connect(args.kubeconfig, args.kube_context, allowed_contexts_from_env() + tuple(args.allow_context),
                   args.api_qps, args.api_burst)


def access_options(args: argparse.Namespace) -> AccessOptions:
    return AccessOptions(mode=args.node_access, target_selector=args.target_nodes, agent_image=args.agent_image,
                         deadman_seconds=args.agent_deadman_seconds, kubelet_unit=args.agent_kubelet_unit,
                         runtime_endpoint=args.agent_runtime_endpoint)


def cmd_cleanup(args: argparse.Namespace) -> int:
    from chaos_harness.nodes.agent_access import AgentNodeAccess

    journal = Journal(args.journal)
    entries = journal.entries()
    if not entries:
        print(f"cleanup: journal {journal.path} is empty; nothing to heal")
        return EXIT_PASS
    cluster = connect_from(args)

    def access_for(entry: JournalEntry) -> NodeAccess:
        # Heal through the access that injected the fault (entries of older versions: docker).
        if entry.access.get("name") == "agent":
            return AgentNodeAccess.attach(cluster, entry.run_id)
        return KindNodeAccess()

    done = heal_journal(cluster, journal, access_for, force=args.force,
                        forget_other_clusters=args.forget_other_clusters)
    for line in done.healed:
        print(f"cleanup: healed {line}")
    for line in done.skipped:
        print(f"cleanup: skipped {line}")
    for line in done.other_clusters:
        # Not this cluster's to heal: the exit status says whether this cluster is healed; the line says where
        # the rest belongs.
        print(f"cleanup: {line}", file=sys.stderr)
    release_dead_lock(cluster, args.run_lock, [e.run_id for e in entries if not e.owner_alive()])
    remove_orphaned_agents_of(cluster, args.run_lock)
    return EXIT_PASS


def remove_orphaned_agents_of(cluster: Cluster, name: str) -> None:
    """The node agents of runs that no longer hold the run lock (killed runs'): removed, one line each."""
    from chaos_harness.assemble.run_lock import LOCK_NAMESPACE, RunLock
    from chaos_harness.nodes.agent import remove_orphans

    holder = RunLock(cluster, "cleanup", name=name, group="-").read()
    live = list(holder.live(time.time())) if holder is not None else []
    for ns in remove_orphans(cluster, f"{LOCK_NAMESPACE}/{name}", live):
        print(f"cleanup: removed the node agent {ns} of a run that no longer holds the run lock")


def release_dead_lock(cluster: Cluster, name: str, dead_runs: list[str]) -> None:
    """A run lock whose every holder is dead (killed runs of the journal, or silent past the Lease's duration)
    is let go at once, rather than after its expiry."""
    from chaos_harness.assemble.run_lock import release_dead

    if released := release_dead(cluster, name, dead_runs=dead_runs):
        print(f"cleanup: released {released}")


def cmd_stop(args: argparse.Namespace) -> int:
    """Emergency stop: mark the run lock; its holder heals, deletes what it made, and lets go."""
    from chaos_harness.assemble.run_lock import LOCK_NAMESPACE, check_lock_name, request_stop, wait_released

    check_lock_name(args.run_lock)
    cluster = connect_from(args)
    holder = request_stop(cluster, args.run_lock)
    if holder is None:
        print(f"stop: no run holds the run lock {LOCK_NAMESPACE}/{args.run_lock}; nothing to stop")
        return EXIT_PASS
    print(f"stop: asked {holder.describe(time.time())} to stop", flush=True)
    if not args.wait:
        return EXIT_PASS
    seconds = wait_released(cluster, holder, args.wait, args.run_lock)
    if seconds is None:
        print(f"stop: the run still holds {LOCK_NAMESPACE}/{args.run_lock} after {args.wait}s (it heals before it "
              f"lets go; a run that was killed loses the lock when it expires, or run 'chaos-harness cleanup' on its "
              f"machine)", file=sys.stderr)
        return EXIT_CLEANUP
    print(f"stop: the run healed and let go of the lock in {seconds:.1f}s")
    return EXIT_PASS


def cmd_journal(args: argparse.Namespace) -> int:
    journal = Journal(args.journal)
    entries = journal.entries()
    if not entries:
        print(f"journal {journal.path} is empty: no fault is waiting to be healed")
    for e in entries:
        alive = "its run is still alive" if e.owner_alive() else "its run is gone: 'chaos-harness cleanup' heals it"
        print(f"{e.id} {e.fault} context={e.context} run={e.run_id} access={e.access.get('name', 'docker')} ({alive})")
    return EXIT_PASS


def cmd_list(args: argparse.Namespace) -> int:
    from chaos_harness.assemble.catalogue import describe, scenario_modules

    described = [describe(name, module) for name, module in scenario_modules(args.scenarios).items()]
    if args.json:
        print(json.dumps(described, indent=2))
        return EXIT_PASS
    for d in described:
        print(f"{d['name']}: {d['hypothesis']}")
        target = "takes --target NS/NAME" if d["targetable"] else "its own workload only"
        print(f"    {d['short']} · {d['source']} · {target} · faults: {', '.join(d['faults']) or 'none'} · needs: "
              f"{', '.join(d['needs']) or 'nothing but a cluster'} · "
              f"{'typically %s s' % d['typical_seconds'] if d['typical_seconds'] else 'duration not measured yet'}")
    return EXIT_PASS


def normalized(verdicts: list[dict[str, object]]) -> list[dict[str, object]]:
    """Verdicts as JSON sees them (tuples are lists), for comparing a re-judgement with results.json."""
    from chaos_harness.judge.verdicts import verdict_status

    return json.loads(json.dumps([{"status": verdict_status(v), **{k: v.get(k) for k in ("checker", "summary",
                                                                                        "evidence", "figures")}}
                                  if isinstance(v, dict) else {"unreadable": repr(v)} for v in verdicts], default=str))


def verdict_changes(recorded: list[dict[str, object]], now: list[dict[str, object]]) -> list[str]:
    """How a re-judgement's verdicts differ from the recorded ones, by checker and status, one line each
    ("split-brain: pass -> unknown", "+ fault-took-effect: pass" for one that came, "- x: pass" for one that
    went). Wording alone is no change: a newer harness may explain the same verdict better."""
    from chaos_harness.judge.verdicts import verdict_status

    def keyed(verdicts: list[dict[str, object]]) -> dict[tuple[str, int], str]:
        seen: dict[str, int] = {}
        out = {}
        for v in verdicts:
            name = str(v.get("checker")) if isinstance(v, dict) else "?"
            out[(name, seen.get(name, 0))] = verdict_status(v)
            seen[name] = seen.get(name, 0) + 1
        return out

    was, then = keyed(recorded), keyed(now)
    lines = [f"{k[0]}: {was[k]} -> {then[k]}" for k in was if k in then and was[k] != then[k]]
    lines += [f"+ {k[0]}: {then[k]}" for k in then if k not in was]
    lines += [f"- {k[0]}: {was[k]}" for k in was if k not in then]
    return lines


def cmd_check(args: argparse.Namespace) -> int:
    """Re-judge a finished run from its recorded histories alone; no cluster is contacted."""
    from chaos_harness.assemble.runner import rejudge
    from chaos_harness.judge.verdicts import outcome, verdict_status

    statuses = []
    changed = False
    for scenario, recorded, now in rejudge(args.run_dir, args.scenarios):
        if not now:
            print(f"{scenario}: not re-judgeable (no check() in its module)")
            statuses.append("error")
            continue
        changes = verdict_changes(recorded, now)
        same = normalized(recorded) == normalized(now)
        status = outcome(verdict_status(v) for v in now)
        statuses.append(status)
        changed |= bool(changes)
        said = ("same as recorded" if same else "same verdicts as recorded, worded anew" if not changes
                else "DIFFERENT from results.json: " + "; ".join(changes))
        print(f"{scenario}: {status.upper()} ({len(now)} verdicts, {said})")
        for v in now:
            if verdict_status(v) != "pass" or changes:
                print(f"  {verdict_status(v).upper()} {v['checker']}: {v['summary']}")
    code = exit_code(statuses)
    return EXIT_HYPOTHESIS if code == EXIT_PASS and changed else code


def probe_of(args: argparse.Namespace) -> dict[str, str | None]:
    return {"probe": args.probe, "probe_write": args.probe_write, "probe_read": args.probe_read,
            "probe_container": args.probe_container}


def apply_run_file(args: argparse.Namespace) -> list[dict[str, object]]:
    """The run file's values for every option the command line left at its default; its targets unless
    --target was given. Returns the target specs of the run (empty: the bundled workload)."""
    from chaos_harness.assemble.runfile import load_run_file

    if args.allow_target_changes and args.target is None and not args.config:
        raise UsageError("--allow-target-changes means nothing without --target NAMESPACE/NAME (the bundled "
                         "example's own workload is the harness's to change)")
    cli_target = [{"statefulset": args.target, "probe": args.probe, "probe_write": args.probe_write,
                   "probe_read": args.probe_read, "probe_container": args.probe_container,
                   "allow_changes": args.allow_target_changes}] if args.target is not None else []
    if not args.config:
        return cli_target
    run = load_run_file(args.config, trusted=not getattr(args, "untrusted_run_file", False))
    defaults = build_parser().parse_args(["run"])
    for key, value in run.options.items():
        if getattr(args, key, None) == getattr(defaults, key, None):
            setattr(args, key, value)
    return cli_target or run.targets


def cmd_schedule(args: argparse.Namespace) -> int:
    from chaos_harness.assemble.catalogue import scenario_modules
    from chaos_harness.frontends import schedule

    if getattr(args, "name", None) is not None:
        schedule.check_names(args.name, args.namespace)
    if args.action == "install":
        schedule.check_cron(args.schedule)
        schedule.check_install_values(args.time_zone, args.reports_size)
        # Read as the scheduled pod will read it: a run file the schedule does not trust is refused now, at install,
        # in one line, rather than by every night's run.
        run_args = build_parser().parse_args(["run", *(["--config", str(args.config)] if args.config else []),
                                              *([] if args.trust_run_file else ["--untrusted-run-file"])])
        specs = apply_run_file(run_args)
        known = scenario_modules(run_args.scenarios)
        plan = plan_run(known, specs, run_args.scenario, bool(run_args.target), probe_of(run_args))
        if run_args.target_nodes is not None:
            check_selector(run_args.target_nodes, "target_nodes")
        spec_of = schedule.ScheduleSpec(
            name=args.name, namespace=args.namespace, schedule=args.schedule, image=args.image or "IMAGE",
            run_file=args.config.read_text() if args.config else "", trust_run_file=args.trust_run_file,
            active_deadline_seconds=schedule.active_deadline([known[n] for n, _ in plan]), time_zone=args.time_zone,
            storage_class=args.storage_class, reports_size=args.reports_size)
        if args.dry_run:
            if not args.image:
                raise UsageError("schedule install --dry-run needs --image IMAGE (the harness image your cluster pulls)")
            print(schedule.as_yaml(spec_of), end="")
            return EXIT_PASS
        cluster = connect_from(args)
        cluster.probe()  # the API answers; what this identity may do is told by the first refused object
        from dataclasses import replace

        spec_of = replace(spec_of, image=args.image or harness_image_for(cluster),
                          avoid=schedule.target_pod_labels(cluster, [str(t["statefulset"]) for t in specs]))
        for applied in schedule.install(cluster, spec_of):
            print(f"applied {applied}")
        print(f"schedule {args.namespace}/{args.name}: '{args.schedule}', {len(plan)} scenarios, each run stopped "
              f"after {spec_of.active_deadline_seconds}s; start one now with: kubectl create job -n {args.namespace} "
              f"--from=cronjob/{args.name} {args.name}-now")
        return EXIT_PASS
    if args.action == "fetch":
        writable_dir(args.to, "--to")  # before connecting: nothing is fetched into a place that cannot hold it
    cluster = connect_from(args)
    if args.action == "uninstall":
        removed = schedule.uninstall(cluster, args.name, args.namespace)
        print("\n".join(f"deleted {r}" for r in removed) or f"schedule {args.name}: nothing labelled as its own in "
                                                           f"{args.namespace}")
        return EXIT_PASS
    if args.action == "status":
        print("\n".join(schedule.status(cluster, args.name, args.namespace, lock=args.run_lock)))
        return EXIT_PASS
    files = schedule.fetch(cluster, args.name, args.namespace, args.to)
    print(f"fetched {files} files from {args.namespace}/{args.name}-reports into {args.to}")
    return EXIT_PASS


def harness_image_for(cluster: Cluster) -> str:
    """The harness image on a kind test bed: built offline (images/harness) and loaded into the nodes the
    schedule's pods can run on (the tainted ones and the control plane never run them)."""
    if not cluster.is_testbed():
        raise UsageError("schedule install needs --image IMAGE on this cluster: build images/harness/Dockerfile and "
                         "push it where the cluster pulls from")
    from chaos_harness.frontends import schedule
    from chaos_harness.testbed import cluster as testbed
    from chaos_harness.testbed.images import harness_image

    nodes = schedule.runnable_nodes(cluster)
    if not nodes:
        raise UsageError("schedule install: no node the schedule's pods can run on (every worker carries a "
                         "NoSchedule or NoExecute taint, or there is only the control plane)")
    image = harness_image()
    testbed.load_images(image.local_ref, nodes=nodes)
    return image.local_ref


def cmd_run(args: argparse.Namespace) -> int:
    """Every wait of the run, image pulls, builds and `kind load` included, shows on the progress display."""
    from chaos_harness.core import cancellation
    from chaos_harness.frontends.display import RichWaitDisplay

    previous = cancellation.set_display(RichWaitDisplay())
    try:
        return run_plan(args)
    finally:
        cancellation.set_display(previous)


def run_plan(args: argparse.Namespace) -> int:
    from chaos_harness.assemble.prepare import RunRequest, prepare
    from chaos_harness.assemble.session import Job, Session, SessionOptions, new_run_id
    from chaos_harness.report import prune

    target_specs = apply_run_file(args)
    run = prepare(RunRequest(
        options=SessionOptions(report_dir=args.report_dir, source="cli", access=access_options(args),
                               journal=args.journal, timing_profile=args.timing_profile,
                               storage_class=args.storage_class, mysql_image=args.mysql_image,
                               xtrabackup_image=args.xtrabackup_image, run_id=new_run_id(),
                               run_lock=args.run_lock, wait_for_run=args.wait_for_run,
                               max_faulted_nodes=args.max_faulted_nodes),
        connect=lambda: connect_from(args), scenarios=args.scenario, scenario_dirs=args.scenarios,
        targets=target_specs, target_given=bool(args.target), probe=probe_of(args),
        pushgateway=args.pushgateway, abort_when=args.abort_when))
    cluster, options, jobs = run.cluster, run.options, run.jobs
    printing = threading.Lock()

    def started(job: Job) -> None:
        with printing:
            print(f"== {job.name}{f' on {job.target.namespace}/{job.target.name}' if job.target else ''}: "
                  f"{job.module.HYPOTHESIS}", flush=True)

    def finished(job: Job, result: "ScenarioResult") -> None:
        lines = [f"  {v['status'].upper()} {v['checker']}: {v['summary']}" for v in result.verdicts]
        if result.status != "pass":
            lines.append(result.failure_message())
        lines.append(f"== {job.name}: {result.status.upper()} in {result.seconds:.0f}s "
                     f"({result.wait_seconds:.0f}s waiting on Kubernetes)")
        with printing:
            print("\n".join(lines), flush=True)

    with Session.open(cluster, options, [job.name.split("_", 1)[0] for job in jobs]) as session:
        results = session.run_all(jobs, args.parallel, started=started, finished=finished)
    if api := session.api_figures():
        print(f"API requests: {api['requests']} ({api['requests_per_second']}/s; throttled {api['throttled']} times "
              f"for {api['throttled_seconds']}s at --api-qps {api['qps']:.0f}; {api['retried_429']} answered 429)")
    if session.guard is not None and session.guard.stopped:
        print(f"run aborted: {session.guard.stopped}; every fault was healed", flush=True)
    from chaos_harness.frontends.schedule import tell_run_end

    if told := tell_run_end(cluster, results, session.run_id):
        print(f"event on the schedule's CronJob: {told}")
    code = exit_code([r.status for r in results])
    metrics = session.writer.dir / "metrics.prom"
    print(f"report: {session.writer.report_path}\nresults: {session.writer.dir / 'results.json'}\nmetrics: {metrics}")
    if args.pushgateway:
        from chaos_harness.report.metrics import push

        try:
            push(args.pushgateway, metrics.read_text())
            print(f"metrics pushed to {args.pushgateway}")
        except UsageError as e:  # the verdicts stand; the push is reported beside them
            print(f"chaos-harness run: {e}", file=sys.stderr)
    if args.keep_runs:
        for gone in prune(args.report_dir, args.keep_runs):
            print(f"pruned old run {gone}")
    return code


def interrupted_line(args: argparse.Namespace, name: str, notes: list[str]) -> str:
    """The one line printed on SIGINT/SIGTERM: what is left, and what finishes it."""
    try:
        mine = [e for e in Journal(args.journal).entries() if e.owner.get("pid") == os.getpid()]
    except HarnessError:
        mine = []
    from chaos_harness.faults import STARTED_RUNS

    faults = [e for e in mine if e.fault.get("type") != "run-leftovers"]
    if not (faults or notes or mine or STARTED_RUNS):
        return f"chaos-harness {args.command}: interrupted by {name}: nothing had been injected or created"
    if faults or notes:
        left = "; ".join(notes) or f"{len(faults)} fault(s) not healed"
        return f"chaos-harness {args.command}: interrupted by {name}: {left}; run 'chaos-harness cleanup'"
    if mine:
        return (f"chaos-harness {args.command}: interrupted by {name}: every injected fault was healed; "
                f"'chaos-harness cleanup' removes what else the run left (its namespaces)")
    return (f"chaos-harness {args.command}: interrupted by {name}: every injected fault was healed and the run's "
            f"namespaces are being deleted; nothing is left for 'chaos-harness cleanup'")


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    """The command, its exit code, and its output written whole: a reader that went away (`| head -1`) ends it
    quietly with 141, as SIGPIPE ends a shell tool; an output that cannot be written (a full disk, a closed
    stdout) is one line on stderr and exit 1, never a traceback or a silent 0."""
    if sys.stdout is None:  # started with its stdout closed (`>&-`)
        print("chaos-harness: its standard output is closed: give it somewhere to write (a file, /dev/null)",
              file=sys.stderr)
        return 1
    for stream in (sys.stdout, sys.stderr):  # a non-UTF-8 locale (LANG=C) shows what it cannot encode escaped
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        code = _main(argv)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:  # before the command's own handler was in place (start-up)
        print("chaos-harness: interrupted (SIGINT) before anything was done", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        _quiet_stdout()
        return 128 + signal.SIGPIPE
    except OSError as e:
        if e.errno is None or sys.stdout is None:
            raise
        _quiet_stdout()
        print(f"chaos-harness: cannot write its output ({e.strerror})", file=sys.stderr)
        return 1


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that nothing left in its buffer fails again at the exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _main(argv: list[str] | None = None) -> int:
    from chaos_harness.core.memory import cap_malloc_arenas

    if argv is None:  # the command itself, not a caller in this process (core/memory.py)
        cap_malloc_arenas()
    parser = build_parser()
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: every `finally` (heals, namespace and agent removal) runs before the exit.
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        if args.command == "cleanup":
            return cmd_cleanup(args)
        if args.command == "journal":
            return cmd_journal(args)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "stop":
            return cmd_stop(args)
        if args.command in ("schedule", "reports"):
            return cmd_schedule(args)
        if args.command == "doctor":
            from chaos_harness.assemble.doctor import cmd_doctor

            from chaos_harness.assemble.prepare import check_before_connecting
            from chaos_harness.assemble.session import SessionOptions

            options = access_options(args)
            # Checked as a run checks them, before any connection: a doctor that says "ready" for options a run
            # would refuse is no doctor.
            check_before_connecting(SessionOptions(report_dir=Path("."), source="doctor", access=options,
                                                   journal=args.journal, run_lock=args.run_lock))
            return cmd_doctor(args, connect_from(args), options)
    except CleanupError as e:
        print(f"chaos-harness {args.command}: cleanup failed: {one_line(e, 2000)}", file=sys.stderr)
        return EXIT_CLEANUP
    except (UsageError, GuardError, HarnessError, BuildError) as e:
        print(f"chaos-harness {args.command}: {one_line(e, 2000)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt as e:
        print(interrupted_line(args, "SIGINT", getattr(e, "__notes__", [])), file=sys.stderr)
        return 128 + signal.SIGINT
    except Interrupted as e:
        print(interrupted_line(args, e.args[0], getattr(e, "__notes__", [])), file=sys.stderr)
        return e.exit_code
    finally:
        signal.signal(signal.SIGTERM, previous)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
