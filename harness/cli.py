"""The chaos-harness command line.

Exit codes: 0 pass, 1 hypothesis failed, 2 usage or environment error, 3 cleanup failed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path
from types import ModuleType

from harness.errors import CleanupError, GuardError, HarnessError
from harness.faults import FaultContext, heal_journal
from harness.journal import Journal, default_journal_path
from harness.kube import allowed_contexts_from_env, connect
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


def scenario_modules() -> dict[str, ModuleType]:
    """Every module in the `scenarios` package with a HYPOTHESIS and a run(env)."""
    import scenarios

    found = {}
    for info in sorted(pkgutil.iter_modules(scenarios.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"scenarios.{info.name}")
        if hasattr(module, "HYPOTHESIS") and hasattr(module, "run"):
            found[info.name] = module
    return found


def cmd_list(args: argparse.Namespace) -> int:
    for name, module in scenario_modules().items():
        print(f"{name}: {module.HYPOTHESIS}")
    return EXIT_PASS


def cmd_run(args: argparse.Namespace) -> int:
    from harness.scenario import make_env
    from harness.testbed import cluster as testbed
    from harness.testbed import images
    from harness.workload.deploy import create_namespace, delete_namespace

    known = scenario_modules()
    chosen = args.scenario or list(known)
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise UsageError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(known)} (see 'chaos-harness list')")
    cluster = connect(args.kubeconfig, args.kube_context, allowed_contexts_from_env() + tuple(args.allow_context))
    fingerprint = cluster.fingerprint()
    mysql = images.mysql_images()
    if cluster.context.startswith("kind-"):
        testbed.load_images(mysql.mysql, mysql.xtrabackup)
    run_id = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    out = args.report_dir / run_id
    out.mkdir(parents=True, exist_ok=True)
    results, code = [], EXIT_PASS
    for name in chosen:
        module = known[name]
        namespace = f"chaos-{run_id[-6:]}-{name.split('_')[0]}"
        create_namespace(cluster, namespace, {"chaos-harness/run-id": run_id})
        env = make_env(cluster, namespace, run_id, out / f"{name}.history.jsonl", Journal(args.journal), mysql)
        started = time.monotonic()
        print(f"== {name}: {module.HYPOTHESIS}", flush=True)
        error = None
        try:
            verdicts = module.run(env)
        except CleanupError as e:
            verdicts, error, code = [], f"cleanup failed: {e}", EXIT_CLEANUP
        except HarnessError as e:
            verdicts, error = [], f"{type(e).__name__}: {e}"
        finally:
            env.history.close()
            delete_namespace(cluster, namespace, deadline_seconds=300)
        ok = bool(verdicts) and all(v.ok for v in verdicts) and error is None
        if not ok and code == EXIT_PASS:
            code = EXIT_HYPOTHESIS
        for v in verdicts:
            print(v.explain())
        if error:
            print(f"{name}: {error}")
        seconds = time.monotonic() - started
        print(f"== {name}: {'PASS' if ok else 'FAIL'} in {seconds:.0f}s", flush=True)
        results.append({"scenario": name, "hypothesis": module.HYPOTHESIS, "ok": ok, "error": error,
                        "seconds": round(seconds, 1), "figures": env.figures,
                        "verdicts": [{"checker": v.checker, "ok": v.ok, "summary": v.summary,
                                      "evidence": list(v.evidence), "figures": v.figures} for v in verdicts]})
    (out / "results.json").write_text(json.dumps({"run_id": run_id, "fingerprint": fingerprint.as_dict(),
                                                  "timing": env.timing.as_dict(), "results": results},
                                                 indent=2, default=str))
    print(f"results: {out / 'results.json'}")
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
    run.add_argument("--report-dir", type=Path, default=Path("reports"), help="where results and histories go")
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
