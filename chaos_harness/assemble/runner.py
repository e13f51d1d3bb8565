"""Runs one scenario module and writes what came of it: the one place the CLI and the pytest plugin share.

A run lives in `reports/<run-id>/`: `<scenario>.history.jsonl` per scenario (merged into `history.jsonl`),
`results.json`, `report.html`, `junit.xml`. Everything is rewritten after each scenario, so an interrupted
run still leaves a readable report of what it did.
"""

from __future__ import annotations

import re
import time
import traceback
from contextlib import nullcontext
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from chaos_harness.assemble.catalogue import scenario_modules
from chaos_harness.core.cancellation import wait_log
from chaos_harness.core.errors import Aborted, CleanupError, HarnessError, SteadyStateNotMet, UsageError
from chaos_harness.core.kube import Cluster
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults.journal import Journal
from chaos_harness.judge.checkers import Verdict
from chaos_harness.faults.guard import RunGuard
from chaos_harness.judge.rejudging import halted, judge, read_history, read_run, with_timing_source
from chaos_harness.judge.verdicts import outcome, verdict_dict
from chaos_harness.nodes.access import NodeAccess
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.report.results import HEADLINE_FIGURES, ScenarioResult
from chaos_harness.scenario import make_env
from chaos_harness.workload.images import MySQLImages

if TYPE_CHECKING:
    from chaos_harness.workload.target import StatefulSetTarget

def namespace_for(run_id: str, name: str) -> str:
    """The scenario's own namespace, a DNS label: the run's last digits, the scenario's first word, and a short
    hash of its whole name, so that two scenarios sharing a first word (a user's `my_check` and `my_other`,
    side by side) never share a namespace."""
    import hashlib

    word = re.sub(r"[^a-z0-9-]+", "-", name.split("_")[0].lower()).strip("-")[:30] or "scenario"
    return f"chaos-{run_id[-6:]}-{word}-{hashlib.sha256(name.encode()).hexdigest()[:4]}"


def rejudge(run_dir: Path, dirs: Sequence[Path] = ()) -> list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
    """Re-judge a finished run offline: per scenario, (name, recorded verdicts, verdicts now). A run whose
    scenarios are not installed here (another scenario set) is a UsageError naming them."""
    document = read_run(run_dir)
    try:
        timing = ClusterTiming.from_dict(document["timing"])
    except (TypeError, ValueError) as e:
        raise UsageError(f"{run_dir / 'results.json'}: its timing cannot be read ({e})") from e
    if bad := timing.problem():
        raise UsageError(f"{run_dir / 'results.json'}: its timing {bad}")
    modules = scenario_modules(dirs)
    absent = [r["scenario"] for r in document["results"] if r["scenario"] not in modules]
    if absent:
        raise UsageError(f"the run's scenario(s) {', '.join(absent)} are not installed here: pass --scenarios DIR "
                         f"with their files, or install the package that provides them")
    judged = []
    for result in document["results"]:
        module = modules[result["scenario"]]
        if not hasattr(module, "check"):
            judged.append((result["scenario"], result["verdicts"], []))
            continue
        events = read_history(run_dir, result["history"])
        verdicts = [verdict_dict(v) for v in with_timing_source(judge(module, events, timing), timing)]
        judged.append((result["scenario"], result["verdicts"], verdicts))
    return judged


def run_scenario(name: str, module: ModuleType, cluster: Cluster, namespace: str, run_dir: Path, run_id: str,
                 journal: Journal, mysql_images: MySQLImages | None, nodes: NodeAccess | None = None,
                 targets: Sequence[str] | None = None, timing: ClusterTiming | None = None,
                 storage_class: str | None = None, target: "StatefulSetTarget | None" = None,
                 label: str = "", placement: Sequence[str] = (), guard: RunGuard | None = None) -> ScenarioResult:
    """Run one scenario; never raises for a failed hypothesis, a scenario error or a failed cleanup: all three
    end up in the result, told apart. `label` names it beside its waits when it runs beside others;
    `placement` (the nodes its workload is pinned to, if any) goes into its history."""
    history_file = f"{name}.history.jsonl"
    (run_dir / history_file).unlink(missing_ok=True)
    # A bare call (no access chosen) is the test bed's: docker exec into its kind nodes.
    env = make_env(cluster, namespace, run_id, run_dir / history_file, journal, mysql_images,
                   nodes if nodes is not None else KindNodeAccess(), targets, timing, storage_class, target, guard)
    env.history.record("scenario", name=name, hypothesis=module.HYPOTHESIS,
                       **({"placement": list(placement)} if placement else {}))
    started, started_wall = time.monotonic(), time.time()
    verdicts: list[Verdict] = []
    error = cleanup_error = None
    with wait_log(label) as waits:
        try:
            with guard.scenario(env.history) if guard is not None else nullcontext():
                returned = module.run(env)
            # Verdicts come from the recorded history alone (so `chaos-harness check` can re-judge the run);
            # a scenario without `check` still returns its verdicts from run().
            verdicts = judge(module, env.history.events(), env.timing) if hasattr(module, "check") else returned
        except (SteadyStateNotMet, Aborted):
            # Nothing injected, or the run stopped from outside: the history says which (judge's `halted`).
            stopped = halted(env.history.events())
            verdicts = [stopped] if stopped is not None else [Verdict("run", "not-run", "stopped before judging")]
        except CleanupError as e:
            cleanup_error = str(e)
        except HarnessError as e:
            error = f"{type(e).__name__}: {e}"
        except Exception as e:  # a bug or an assertion in the scenario: keep the traceback for the report
            error = f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=6)}"
        finally:
            env.history.record("scenario-end", name=name)
            env.history.close()
    verdicts = with_timing_source(verdicts, env.timing)
    figures = dict(env.figures)
    for v in verdicts:
        for key in HEADLINE_FIGURES:
            if key in v.figures and key not in figures:
                figures[key] = round(v.figures[key], 2)
    return ScenarioResult(
        scenario=name, hypothesis=module.HYPOTHESIS, ok=outcome(v.status for v in verdicts) == "pass" and not error
        and not cleanup_error, started_wall=started_wall, seconds=round(time.monotonic() - started, 1),
        wait_seconds=round(waits.seconds, 1), namespace=env.namespace, history=history_file,
        verdicts=[verdict_dict(v) for v in verdicts], figures=figures, error=error, cleanup_error=cleanup_error,
        waits=list(waits.entries))


def run_meta(cluster: Cluster, profile: str, source: str, timing: ClusterTiming | None = None,
             node_access: str | None = None) -> dict[str, Any]:
    """What a run's results.json says the run was: where it came from, the cluster and its timing, versions."""
    meta = {"source": source, "timing_profile": profile, "fingerprint": cluster.fingerprint().as_dict(),
            "timing": (timing.as_dict() if timing else _timing(cluster)), "versions": versions(cluster)}
    return {**meta, "node_access": node_access} if node_access else meta


def versions(cluster: Cluster) -> dict[str, str]:
    """What produced the run: the harness, its Kubernetes client, and the test bed's kind and node image."""
    from importlib.metadata import PackageNotFoundError, version

    from chaos_harness.testbed import versions as pinned
    from chaos_harness.testbed.cluster import read_node_image

    found = {"kind": pinned.KIND, "node_image": read_node_image(cluster) or "unknown (not the test bed)"}
    for package in ("chaos-harness", "kubernetes"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


def _timing(cluster: Cluster) -> dict[str, float]:
    from chaos_harness.core.control_plane import read_timing

    return read_timing(cluster).as_dict()


