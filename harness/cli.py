"""The chaos-harness command line.

Exit codes: 0 pass, 1 hypothesis failed, 2 usage or environment error, 3 cleanup failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import CleanupError, GuardError, HarnessError
from harness.faults import FaultContext, heal_journal
from harness.journal import Journal, default_journal_path
from harness.kube import allowed_contexts_from_env, connect
from harness.nodes import KindNodeAccess

EXIT_PASS, EXIT_HYPOTHESIS, EXIT_USAGE, EXIT_CLEANUP = 0, 1, 2, 3


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
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "cleanup":
            return cmd_cleanup(args)
        if args.command == "journal":
            return cmd_journal(args)
    except CleanupError as e:
        print(f"chaos-harness {args.command}: cleanup failed: {e}", file=sys.stderr)
        return EXIT_CLEANUP
    except (GuardError, HarnessError) as e:
        print(f"chaos-harness {args.command}: {e}", file=sys.stderr)
        return EXIT_USAGE
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
