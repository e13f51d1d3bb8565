"""The chaos-harness command line.

Exit codes: 0 pass, 1 hypothesis failed, 2 usage or environment error, 3 cleanup failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness.errors import CleanupError, GuardError, HarnessError
from harness.faults import FaultContext, heal_journal
from harness.journal import Journal, default_journal_path
from harness.kube import Cluster, allowed_contexts_from_env, connect
from harness.nodes import KindNodeAccess

EXIT_PASS, EXIT_HYPOTHESIS, EXIT_USAGE, EXIT_CLEANUP = 0, 1, 2, 3


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


def default_kubeconfig() -> Path | None:
    local = Path.cwd() / ".kube" / "chaos.kubeconfig"
    return local if local.exists() else None


def cmd_cleanup(args: argparse.Namespace) -> int:
    journal = Journal(args.journal)
    entries = journal.entries()
    if not entries:
        print(f"cleanup: journal {journal.path} is empty; nothing to heal")
        return EXIT_PASS
    cluster = connect(args.kubeconfig, args.kube_context, allowed_contexts_from_env() + tuple(args.allow_context))
    healed = heal_journal(FaultContext(cluster, KindNodeAccess()), journal)
    for line in healed:
        print(f"cleanup: healed {line}")
    return EXIT_PASS


def cmd_journal(args: argparse.Namespace) -> int:
    for e in Journal(args.journal).entries():
        print(f"{e.id} {e.fault} context={e.context} run={e.run_id}")
    return EXIT_PASS


def cmd_list(args: argparse.Namespace) -> int:
    from harness.runner import scenario_modules

    for name, module in scenario_modules().items():
        print(f"{name}: {module.HYPOTHESIS}")
    return EXIT_PASS


def check_profile(cluster: Cluster, wanted: str | None) -> str:
    """The cluster's timing profile; a mismatch with the one asked for is an environment error (the profile is
    baked into the cluster's kubeadm configuration, so it cannot change per run)."""
    from harness.testbed.cluster import read_profile

    actual = read_profile(cluster) or "unknown"
    if wanted and actual != wanted:
        raise UsageError(f"the cluster runs the {actual!r} timing profile, not {wanted!r}; recreate it with "
                         f"'make cluster-down && make cluster PROFILE={wanted}'")
    return actual


def cmd_run(args: argparse.Namespace) -> int:
    from harness import progress
    from harness.display import RichWaitDisplay
    from harness.report import prune
    from harness.runner import RunWriter, run_scenario, scenario_modules, uses_mysql
    from harness.testbed import cluster as testbed
    from harness.testbed import images
    from harness.workload.deploy import create_namespace, delete_namespace

    known = scenario_modules()
    chosen = args.scenario or list(known)
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise UsageError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(known)} (see 'chaos-harness list')")
    cluster = connect(args.kubeconfig, args.kube_context, allowed_contexts_from_env() + tuple(args.allow_context))
    profile = check_profile(cluster, args.timing_profile)
    mysql = None
    if any(uses_mysql(known[name]) for name in chosen):
        mysql = images.mysql_images()
        if cluster.context.startswith("kind-"):
            testbed.load_images(mysql.mysql, mysql.xtrabackup)
    run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    writer = RunWriter(args.report_dir, run_id, cluster, profile, "cli")
    progress.set_display(RichWaitDisplay())
    code = EXIT_PASS
    try:
        for name in chosen:
            module = known[name]
            namespace = f"chaos-{run_id[-6:]}-{name.split('_')[0]}"
            print(f"== {name}: {module.HYPOTHESIS}", flush=True)
            create_namespace(cluster, namespace, {"chaos-harness/run-id": run_id})
            try:
                result = run_scenario(name, module, cluster, namespace, writer.dir, run_id, Journal(args.journal), mysql)
            finally:
                delete_namespace(cluster, namespace, deadline_seconds=300)
            writer.add(result)
            for v in result.verdicts:
                print(f"  {'PASS' if v['ok'] else 'FAIL'} {v['checker']}: {v['summary']}")
            if result.status != "pass":
                print(result.failure_message())
            print(f"== {name}: {result.status.upper()} in {result.seconds:.0f}s "
                  f"({result.wait_seconds:.0f}s waiting on Kubernetes)", flush=True)
            if result.status == "cleanup-failed":
                code = EXIT_CLEANUP
            elif result.status != "pass" and code == EXIT_PASS:
                code = EXIT_HYPOTHESIS
    finally:
        progress.set_display(None)
    print(f"report: {writer.report_path}\nresults: {writer.dir / 'results.json'}")
    if args.keep_runs:
        for gone in prune(args.report_dir, args.keep_runs):
            print(f"pruned old run {gone}")
    return code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chaos-harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path, default=default_kubeconfig(),
                        help="kubeconfig (default: ./.kube/chaos.kubeconfig if present, else the usual one)")
    parser.add_argument("--kube-context", default=None, help="context to use (default: the kubeconfig's current)")
    parser.add_argument("--allow-context", action="append", default=[], help="also allow this context (glob)")
    parser.add_argument("--journal", type=Path, default=default_journal_path(), help="fault journal file")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("cleanup", help="heal every fault a crashed or interrupted run left in the journal")
    sub.add_parser("journal", help="list the faults in the journal")
    sub.add_parser("list", help="list the scenarios and their hypotheses")
    run = sub.add_parser("run", help="run scenarios (default: all) against the cluster")
    run.add_argument("scenario", nargs="*", help="scenario module names (see 'list')")
    run.add_argument("--report-dir", type=Path, default=Path("reports"),
                     help="where runs go: <report-dir>/<run-id>/report.html, results.json, history.jsonl, junit.xml")
    run.add_argument("--timing-profile", choices=("fast", "faithful"), default=None,
                     help="require the cluster to run this timing profile (default: whatever it runs)")
    run.add_argument("--keep-runs", type=int, default=0, metavar="N",
                     help="after the run, delete all but the newest N runs under --report-dir (0: keep all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "cleanup":
            return cmd_cleanup(args)
        if args.command == "journal":
            return cmd_journal(args)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "run":
            return cmd_run(args)
    except CleanupError as e:
        print(f"chaos-harness {args.command}: cleanup failed: {e}", file=sys.stderr)
        return EXIT_CLEANUP
    except (UsageError, GuardError, HarnessError) as e:
        print(f"chaos-harness {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
