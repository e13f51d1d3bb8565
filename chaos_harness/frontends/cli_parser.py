"""The chaos-harness command line's options and subcommands (argparse): parsing only; chaos_harness/frontends/cli.py
runs what was parsed."""

from __future__ import annotations

import argparse
from typing import NoReturn
from collections.abc import Callable
from pathlib import Path

from chaos_harness.assemble.node_access import DEFAULT_TARGET_NODES, NODE_ACCESS_MODES
from chaos_harness.assemble.run_lock import DEFAULT_LOCK, LOCK_NAMESPACE
from chaos_harness.core.throttle import DEFAULT_BURST, DEFAULT_QPS
from chaos_harness.core.text import one_line  # noqa: F401 - the CLI imports it from here
from chaos_harness.faults.journal import default_journal_path

DESCRIPTION = """The chaos-harness command line.

Exit codes: 0 pass, 1 hypothesis failed, 2 usage or environment error (also: the cluster is in use by another
run), 3 cleanup failed, 4 nothing failed but some hypothesis could not be judged, 5 aborted (an abort condition
breached, or 'chaos-harness stop'; every fault healed at once), 6 not run (the steady state did not hold before a
fault, so nothing was injected).
"""


def default_kubeconfig() -> Path | None:
    local = Path.cwd() / ".kube" / "chaos.kubeconfig"
    return local if local.exists() else None


def a_name(text: str) -> str:
    """The argparse type of an option that names something (a context): an empty value would silently mean
    the default, which is not what was asked."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; name one, or leave the option out for the default")
    return text


a_name.__name__ = "name"


def whole_number(key: str) -> Callable[[str], int]:
    """The argparse type of a whole-number option, with the run file's minimum (runfile.MINIMUM)."""
    from chaos_harness.assemble.runfile import below_minimum

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if why := below_minimum(key, value):
            raise argparse.ArgumentTypeError(why)
        return value

    parse.__name__ = "whole number"  # argparse names the type in its message
    return parse


# Which global options each subcommand shows in its --help (all are accepted before the subcommand).
CLUSTER, JOURNAL, NODES, SCENARIOS, LOCK = "cluster", "journal", "nodes", "scenarios", "lock"
OPTION_GROUPS = {"cleanup": (CLUSTER, JOURNAL, NODES, LOCK), "journal": (JOURNAL,), "list": (SCENARIOS,),
                 "check": (SCENARIOS,), "doctor": (CLUSTER, JOURNAL, NODES, LOCK), "schedule": (CLUSTER, LOCK),
                 "reports": (CLUSTER,), "run": (CLUSTER, JOURNAL, NODES, SCENARIOS, LOCK), "stop": (CLUSTER, LOCK)}


def global_options(parser: argparse.ArgumentParser, suppress: bool,
                   groups: tuple[str, ...] = (CLUSTER, JOURNAL, NODES, SCENARIOS, LOCK)) -> None:
    """Options that go before or after the subcommand (`chaos-harness run --kubeconfig X` works too): on the
    subcommands their defaults are suppressed, so a value given before the subcommand is not overwritten; a
    subcommand shows only the `groups` it uses."""
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    if CLUSTER in groups:
        parser.add_argument("--kubeconfig", type=Path, default=default(default_kubeconfig()),
                            help="kubeconfig (default: ./.kube/chaos.kubeconfig if present, else the usual one)")
        parser.add_argument("--kube-context", "--context", dest="kube_context", type=a_name, default=default(None),
                            help="context to use (default: the kubeconfig's current); --context as kubectl spells it")
        parser.add_argument("--allow-context", action="append", default=default([]),
                            help="also allow this context (glob; repeatable; also CHAOS_HARNESS_ALLOWED_CONTEXTS, "
                                 "comma-separated); contexts outside kind-* must be named")
        parser.add_argument("--api-qps", type=whole_number("api_qps"), default=default(int(DEFAULT_QPS)), metavar="N",
                            help=f"at most N requests per second to the API server, sustained (default "
                                 f"{int(DEFAULT_QPS)}); a 429 waits what its Retry-After says")
        parser.add_argument("--api-burst", type=whole_number("api_burst"), default=default(DEFAULT_BURST),
                            metavar="N", help=f"at most N requests at once above --api-qps (default {DEFAULT_BURST})")
    if JOURNAL in groups:
        parser.add_argument("--journal", type=Path, default=default(default_journal_path()),
                            help="the fault journal, where every fault is written before it is injected (default: "
                                 "$CHAOS_HARNESS_JOURNAL, else $XDG_STATE_HOME/chaos-harness/journal.json, "
                                 "~/.local/state by default)")
    if NODES in groups:
        parser.add_argument("--node-access", choices=NODE_ACCESS_MODES, default=default("auto"),
                            help="docker exec into kind nodes, the node agent DaemonSet, or auto (docker when every "
                                 "node is a local kind container, else the agent)")
        parser.add_argument("--target-nodes", default=default(None), metavar="SELECTOR",
                            help=f"label selector of the nodes faults may touch (default: {DEFAULT_TARGET_NODES})")
        parser.add_argument("--agent-image", default=default(None), metavar="IMAGE",
                            help="the node agent's image (default on the test bed: the one pre-loaded on its nodes)")
        parser.add_argument("--agent-deadman-seconds", type=whole_number("agent_deadman_seconds"),
                            default=default(30), metavar="N",
                            help="the agent restarts a kubelet the harness stopped once the harness has not renewed "
                                 "its Lease for N seconds (default 30)")
        parser.add_argument("--agent-kubelet-unit", default=default(None), metavar="UNIT",
                            help="the kubelet's systemd unit on the nodes (default: the agent finds it on each node, "
                                 "from the cgroup of the process serving the kubelet's port)")
        parser.add_argument("--agent-runtime-endpoint", default=default(None), metavar="unix:///PATH",
                            help="the nodes' CRI endpoint (default: the agent finds it, from the kubelet's flags or "
                                 "config, else the known sockets matched against the node's runtime version)")
    if LOCK in groups:
        parser.add_argument("--run-lock", default=default(DEFAULT_LOCK), metavar="NAME",
                            help=f"the Lease in namespace {LOCK_NAMESPACE} that lets one run at a time fault the "
                                 f"cluster (default {DEFAULT_LOCK}; name another only for a disjoint node pool)")
    if SCENARIOS in groups:
        parser.add_argument("--scenarios", type=Path, action="append", default=default([]), metavar="DIR",
                            help="also load the scenario files (*.py) in DIR; same contract as the built-ins "
                                 "(installed packages add theirs through the entry-point group "
                                 "chaos_harness.scenarios)")


def schedule_options(a: argparse.ArgumentParser, action: str) -> None:
    """The options of `schedule ACTION` (and of `reports fetch`, the same as `schedule fetch`)."""
    a.add_argument("--name", default="chaos-harness", help="the schedule's name (default chaos-harness)")
    a.add_argument("--namespace", default="chaos-harness", help="where it lives (default chaos-harness)")
    if action == "install":
        a.add_argument("--schedule", required=True, metavar="CRON", help="when, in cron syntax: '0 3 * * *'")
        a.add_argument("--config", type=Path, default=None, metavar="RUNFILE",
                       help="the run file the scheduled runs use (scenarios, targets, ...; default: all scenarios)")
        a.add_argument("--trust-run-file", action="store_true",
                       help="let the scheduled runs' run file run commands, images and code of its own, reach other "
                            "contexts and lift the blast radius (by default they are refused: the file lives in a "
                            "ConfigMap the harness's identity could rewrite)")
        a.add_argument("--image", default=None, metavar="IMAGE",
                       help="the harness image (images/harness/Dockerfile, pushed where the cluster pulls from; "
                            "default on a kind test bed: built offline and loaded)")
        a.add_argument("--time-zone", default=None, metavar="TZ", help="the CronJob's timeZone, e.g. Europe/Berlin")
        a.add_argument("--storage-class", default=None, metavar="NAME", help="the reports claim's StorageClass")
        a.add_argument("--reports-size", default="1Gi", metavar="SIZE", help="the reports claim's size (1Gi)")
        a.add_argument("--dry-run", action="store_true", help="print the objects as YAML (for kubectl apply -f -)")
    if action == "fetch":
        a.add_argument("--to", type=Path, default=Path("reports") / "scheduled", metavar="DIR",
                       help="where the reports go (default reports/scheduled)")


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line and a hint, as kubectl says it: never the whole usage for one wrong value."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[override]
        self.exit(2, f"{self.prog}: {one_line(message)} (run '{self.prog} --help')\n")


def harness_version() -> str:
    """The installed distribution's version (a checkout installed with `pip install -e` has one too)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("chaos-harness")
    except PackageNotFoundError:
        return "unknown (not installed: pip install .)"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="chaos-harness", description=DESCRIPTION,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"chaos-harness {harness_version()}")
    global_options(parser, suppress=False)
    common: dict[str, argparse.ArgumentParser] = {}
    for command, groups in OPTION_GROUPS.items():
        common[command] = argparse.ArgumentParser(add_help=False)
        global_options(common[command], suppress=True, groups=groups)
    sub = parser.add_subparsers(dest="command", required=True)
    cleanup = sub.add_parser("cleanup", parents=[common["cleanup"]],
                             help="heal every fault a crashed or interrupted run left in the journal")
    cleanup.add_argument("--force", action="store_true",
                         help="also heal entries whose run is still alive (its own exit would heal them)")
    cleanup.add_argument("--forget-other-clusters", action="store_true",
                         help="drop the journal's entries of other clusters (a kind cluster deleted and created "
                              "again is another cluster): only once those clusters no longer exist")
    sub.add_parser("journal", parents=[common["journal"]], help="list the faults in the journal")
    listing = sub.add_parser("list", parents=[common["list"]], help="list the scenarios and their hypotheses")
    listing.add_argument("--json", action="store_true", help="machine-readable: one object per scenario")
    check = sub.add_parser("check", parents=[common["check"]],
                           help="re-judge a finished run from its recorded histories (offline: no cluster)")
    check.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory: reports/<run-id>")
    stop = sub.add_parser("stop", parents=[common["stop"]],
                          help="emergency stop: the run holding the run lock heals at once, deletes what it made and "
                               "ends as aborted (from any machine with access to the cluster)")
    stop.add_argument("--wait", type=whole_number("wait"), default=120, metavar="SECONDS",
                      help="wait this long for the run to heal and let go of the lock (default 120; 0: do not wait)")
    sub.add_parser("doctor", parents=[common["doctor"]],
                   help="check the chosen context: API, version, node access, timing, storage, permissions")
    schedule = sub.add_parser("schedule", help="scheduled runs inside the cluster, on a Kubernetes CronJob")
    actions = schedule.add_subparsers(dest="action", required=True)
    fetch_help = "copy the reports from the schedule's claim to --to DIR (a short-lived pod)"
    for action, text in (("install", "apply the ServiceAccount, ClusterRole, reports claim, run file and CronJob"),
                         ("uninstall", "delete every object the schedule's install made (found by its labels)"),
                         ("status", "the schedule, its reports claim, its recent runs and their verdicts"),
                         ("fetch", fetch_help)):
        schedule_options(actions.add_parser(action, parents=[common["schedule"]], help=text), action)
    reports = sub.add_parser("reports", help="the reports of scheduled runs (`reports fetch` = `schedule fetch`)")
    schedule_options(reports.add_subparsers(dest="action", required=True).add_parser(
        "fetch", parents=[common["reports"]], help=fetch_help), "fetch")
    run = sub.add_parser("run", parents=[common["run"]], help="run scenarios (default: all) against the cluster")
    run.add_argument("scenario", nargs="*", help="scenario names or short names: s08_kubelet_stop_mysql, s08, S8 "
                                                  "(see 'list'; default: all)")
    run.add_argument("--report-dir", type=Path, default=Path("reports"),
                     help="where runs go (default ./reports): <report-dir>/<run-id>/report.html, results.json, "
                          "history.jsonl, junit.xml; made once the cluster answered")
    run.add_argument("--timing-profile", choices=("fast", "faithful"), default=None,
                     help="require the cluster to run this timing profile (default: whatever it runs)")
    run.add_argument("--keep-runs", type=whole_number("keep_runs"), default=0, metavar="N",
                     help="after the run, delete all but the newest N runs under --report-dir (0: keep all)")
    run.add_argument("--mysql-image", default=None, metavar="IMAGE",
                     help="the MySQL scenarios' server image, pulled by the cluster (default on kind: the tutorial's "
                          "mysql:5.7, else an offline MariaDB build, loaded with kind load)")
    run.add_argument("--xtrabackup-image", default=None, metavar="IMAGE",
                     help="the clone/backup image (default: --mysql-image)")
    run.add_argument("--storage-class", default=None, metavar="NAME",
                     help="StorageClass of the workloads' claims (default: the cluster's default)")
    run.add_argument("--pushgateway", default=None, metavar="URL",
                     help="also push the run's metrics (reports/<run-id>/metrics.prom) to this Prometheus Pushgateway")
    run.add_argument("--parallel", type=whole_number("parallel"), default=3, metavar="N",
                     help="run up to N scenarios side by side where what they hold allows: those acting only on "
                          "their own pods together, each node fault alone (default 3; 1: one after the other)")
    run.add_argument("--wait-for-run", type=whole_number("wait_for_run"), default=0, metavar="SECONDS",
                     help="when another run holds the run lock, wait up to SECONDS for it (default 0: refuse at once, "
                          "naming the run that holds it)")
    run.add_argument("--max-faulted-nodes", type=whole_number("max_faulted_nodes"), default=None, metavar="N",
                     help="at most N nodes faulted at once across the whole run (default: 1, or no limit on a local "
                          "kind test bed; 0: no limit)")
    run.add_argument("--abort-when", action="append", default=[], metavar="CONDITION",
                     help="heal at once and end the run as aborted when this breaches, asked every 2 s from a fault "
                          "until its scenario recovered: 'command:CMD' (non-zero exit), an http(s) URL (non-2xx or "
                          "no answer), 'prometheus:URL QUERY' (a non-empty or non-zero result); repeatable")
    run.add_argument("--config", type=Path, default=None, metavar="FILE",
                     help="a run file (TOML): scenarios, targets, profile, report dir, node access...; options on "
                          "the command line win over it")
    run.add_argument("--untrusted-run-file", action="store_true",
                     help="refuse the run file's keys that run commands, images or code, reach other contexts or "
                          "lift the blast radius (a scheduled run's, unless its schedule was installed with "
                          "--trust-run-file)")
    run.add_argument("--target", default=None, metavar="NS/NAME",
                     help="run the targetable scenarios (default: all of them) on your StatefulSet NS/NAME, or "
                          "NS/LABEL=VALUE for the one StatefulSet a selector matches; nothing is deployed, its "
                          "spec and scale are never changed (unless --allow-target-changes)")
    run.add_argument("--allow-target-changes", action="store_true",
                     help="also run the ordering scenarios that scale the target to 0 and back (S4) and roll it "
                          "as 'kubectl rollout restart' does (S5); its scale is restored, also by 'cleanup'")
    run.add_argument("--probe", default=None, metavar="MODULE:OBJECT",
                     help="durability on the target through a Python hook: write(key) and read() -> keys "
                          "(or a factory called with the target), or an entry point's name in chaos_harness.probes")
    run.add_argument("--probe-write", default=None, metavar="CMD",
                     help="durability through exec in the target's pod 0: a command that writes {key}, "
                          "e.g. 'sh -c \"echo {key} >> /data/keys && sync\"'")
    run.add_argument("--probe-read", default=None, metavar="CMD",
                     help="the command that prints every key the target holds (whitespace-separated integers)")
    run.add_argument("--probe-container", default=None, metavar="NAME",
                     help="the container the probe commands run in (default: the pod's first)")
    return parser
