"""Runs one scenario module and writes what came of it: the one place the CLI and the pytest plugin share.

A run lives in `reports/<run-id>/`: `<scenario>.history.jsonl` per scenario (merged into `history.jsonl`),
`results.json`, `report.html`, `junit.xml`. Everything is rewritten after each scenario, so an interrupted
run still leaves a readable report of what it did.
"""

from __future__ import annotations

import bisect
import importlib
import importlib.util
import json
import pkgutil
import re
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from harness.checkers import Verdict
from harness.verdicts import outcome
from harness.errors import CleanupError, HarnessError, UsageError
from harness.journal import Journal
from harness.kube import Cluster
from harness.nodes import NodeAccess
from harness.progress import wait_log
from harness.scenario import make_env
from harness.settings import ClusterTiming
from harness.testbed.images import MySQLImages

if TYPE_CHECKING:
    from harness.workload.target import StatefulSetTarget

# Figures that several checkers report under these names; results lift them to the scenario's top level.
HEADLINE_FIGURES = ("time_to_detect", "time_to_recover")


SCENARIO_GROUP = "chaos_harness.scenarios"


def scenario_modules(dirs: Sequence[Path] = ()) -> dict[str, ModuleType]:
    """Every scenario by name: the built-in `scenarios` package, then the entry points of the group
    `chaos_harness.scenarios` (each names a module), then the `*.py` files of each directory in `dirs`
    (--scenarios DIR). A scenario is a module with a HYPOTHESIS and a run(env); each gets CHAOS_SOURCE (where
    it came from). A name that two sources define is a UsageError, as is a file that does not import."""
    import scenarios

    found: dict[str, ModuleType] = {}

    def add(name: str, module: ModuleType, source: str) -> None:
        if not (hasattr(module, "HYPOTHESIS") and hasattr(module, "run")):
            raise UsageError(f"scenario {name} ({source}) has no HYPOTHESIS and run(env): not a scenario")
        if name in found:
            raise UsageError(f"scenario {name} from {source} clashes with the one from {found[name].CHAOS_SOURCE}; "
                             f"rename one of them")
        if not getattr(module, "CHAOS_SOURCE", None):
            module.CHAOS_SOURCE = source  # type: ignore[attr-defined]
        found[name] = module

    for info in sorted(pkgutil.iter_modules(scenarios.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"scenarios.{info.name}")
        if hasattr(module, "HYPOTHESIS") and hasattr(module, "run"):
            add(info.name, module, "built-in")
    for ep in sorted(entry_points(group=SCENARIO_GROUP), key=lambda e: e.name):
        source = f"entry point {ep.name} = {ep.value}" + (f" ({ep.dist.name})" if ep.dist else "")
        try:
            module = ep.load()
        except Exception as e:
            raise UsageError(f"scenario {source}: cannot load it ({type(e).__name__}: {e})") from e
        add(ep.name, module, source)
    for directory in dirs:
        if not directory.is_dir():
            raise UsageError(f"--scenarios {directory}: not a directory of scenario files")
        for path in sorted(directory.glob("*.py")):
            if not path.name.startswith("_"):
                module = load_scenario_file(path)
                lacks = [n for n in ("HYPOTHESIS", "run") if not hasattr(module, n)]
                if lacks == ["run"] or (lacks == ["HYPOTHESIS"] and callable(getattr(module, "run", None))):
                    # Half a scenario is a mistake, not a helper module: a helper (no HYPOTHESIS, no run) stays
                    # quiet; name files starting with _ to keep anything else out.
                    raise UsageError(f"--scenarios {path}: a scenario needs HYPOTHESIS and run(env); this file "
                                     f"has no {lacks[0]}")
                if not lacks:
                    add(path.stem, module, f"file {path}")
    return found


def load_scenario_file(path: Path) -> ModuleType:
    """Import one scenario file; a syntax error or a failing import is one line naming the file and line."""
    spec = importlib.util.spec_from_file_location(f"chaos_harness_user_scenarios.{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UsageError(f"{e.filename or path}:{e.lineno}: syntax error: {e.msg}") from e
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        line = next((f.lineno for f in reversed(tb) if f.filename == str(path)), None)
        raise UsageError(f"{path}:{line or '?'}: importing it raised {type(e).__name__}: {e}") from e
    return module


def resolve_scenario(name: str, known: dict[str, ModuleType]) -> str:
    """A scenario's module name from what a user types: the full name, or its short name as the README and
    the reports write it (s08, S8, s8, 8). Raises KeyError naming the choices."""
    if name in known:
        return name
    short = name.strip().lower().removeprefix("s")
    if short.isdigit():
        matches = [k for k in known if k.split("_", 1)[0] == f"s{int(short):02d}"]
        if len(matches) == 1:
            return matches[0]
    raise KeyError(name)


def namespace_for(run_id: str, name: str) -> str:
    """The scenario's own namespace, a DNS label: the run's last digits, the scenario's first word, and a short
    hash of its whole name, so that two scenarios sharing a first word (a user's `my_check` and `my_other`,
    side by side) never share a namespace."""
    import hashlib

    word = re.sub(r"[^a-z0-9-]+", "-", name.split("_")[0].lower()).strip("-")[:30] or "scenario"
    return f"chaos-{run_id[-6:]}-{word}-{hashlib.sha256(name.encode()).hexdigest()[:4]}"


def describe(name: str, module: ModuleType) -> dict[str, Any]:
    """What `chaos-harness list` shows: source, faults, needs and typical duration."""
    faults = list(getattr(module, "FAULTS", ()))
    needs = []
    if uses_mysql(module):
        needs.append("MySQL images, or --target NS/NAME" if targetable(module) else "MySQL images")
    if "kubelet-stop" in faults:
        needs.append("2 target nodes (one faulted, one to reschedule on)")
    if {"node-pause", "network-partition"} & set(faults):
        needs.append("--node-access docker (nodes that are local kind containers; not through the agent)")
    if changes_target(module):
        needs.append(f"--allow-target-changes to run on --target (it changes the target's {changes_target(module)})")
    builtin = getattr(module, "CHAOS_SOURCE", "built-in") == "built-in"
    return {"name": name, "short": name.split("_", 1)[0].upper().replace("S0", "S") if builtin else name,
            "source": getattr(module, "CHAOS_SOURCE", "built-in"),
            "hypothesis": module.HYPOTHESIS, "faults": faults, "needs": needs,
            "typical_seconds": getattr(module, "TYPICAL_SECONDS", None), "targetable": targetable(module, True),
            "changes_target": changes_target(module) or None}


def targetable(module: ModuleType, allow_changes: bool = False) -> bool:
    """Scenarios that can act on a user's StatefulSet (--target) instead of deploying their own workload; those
    that change the target's spec or scale (CHANGES_TARGET) only when the user allows it."""
    return bool(getattr(module, "TARGETABLE", False)) and (allow_changes or not changes_target(module))


def changes_target(module: ModuleType) -> str:
    """What a targetable scenario changes on the user's StatefulSet ("" for nothing): e.g. "scale"."""
    return str(getattr(module, "CHANGES_TARGET", "") or "")


def uses_mysql(module: ModuleType) -> bool:
    """Scenarios on the MySQL workload say so (USES_MYSQL = True): their images are resolved and loaded first."""
    return bool(getattr(module, "USES_MYSQL", False))


@dataclass
class ScenarioResult:
    scenario: str
    hypothesis: str
    ok: bool
    started_wall: float
    seconds: float
    wait_seconds: float            # time spent waiting on Kubernetes (watches, Ready, observation windows)
    namespace: str
    history: str                   # file name in the run directory
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)
    error: str | None = None       # the scenario could not complete (environment, bug): neither pass nor fail
    cleanup_error: str | None = None  # a fault could not be healed: reported apart from the hypothesis
    waits: list[dict[str, Any]] = field(default_factory=list)  # each wait on Kubernetes: what, seconds, deadline

    @property
    def status(self) -> str:
        """pass, fail, unknown (the evidence was not observed: never a pass, never a failed hypothesis),
        error (the scenario could not complete, or a checker raised), cleanup-failed (a fault left behind)."""
        if self.cleanup_error:
            return "cleanup-failed"
        if self.error:
            return "error"
        return outcome(verdict_status(v) for v in self.verdicts)

    def failure_message(self) -> str:
        """What a failed assertion says: the checkers that did not pass, their evidence and the times."""
        lines = [f"{self.scenario} {self.status.upper()}: {self.hypothesis}"]
        if self.cleanup_error:
            lines.append(f"cleanup failed (fault not healed; run 'chaos-harness cleanup'): {self.cleanup_error}")
        if self.error:
            lines.append(f"scenario error: {self.error}")
        if not self.verdicts and not self.error and not self.cleanup_error:
            lines.append("no checker ran: nothing was judged")
        for v in self.verdicts:
            if (status := verdict_status(v)) != "pass":
                word = {"fail": "failed", "unknown": "could not judge", "error": "raised"}[status]
                lines.append(f"checker {v['checker']} {word}: {v['summary']}")
                lines += [f"  evidence: {e}" for e in v["evidence"][:5]]
                if v["figures"]:
                    lines.append("  figures: " + ", ".join(f"{k}={x:.1f}" for k, x in v["figures"].items()))
        lines.append(f"times: {self.seconds:.0f}s wall, {self.wait_seconds:.0f}s waiting on Kubernetes; "
                     f"history {self.history}")
        return "\n".join(lines)


def verdict_dict(v: Verdict) -> dict[str, Any]:
    return {"checker": v.checker, "status": v.status, "ok": v.ok, "summary": v.summary, "evidence": list(v.evidence),
            "figures": v.figures, "error": v.error}


def verdict_status(v: dict[str, Any]) -> str:
    """A recorded verdict's status; results written before `unknown` existed carry only ok and error."""
    if not isinstance(v, dict):
        return "error"
    return str(v.get("status") or ("error" if v.get("error") else "pass" if v.get("ok") else "fail"))


def with_timing_source(verdicts: list[Verdict], timing: ClusterTiming) -> list[Verdict]:
    """Every window a checker derived from assumed timing inherits its uncertainty: say so next to it."""
    if not timing.assumed:
        return verdicts
    note = {"timing_assumed": list(timing.assumed),
            "why": "the control plane does not show these flags: configured or Kubernetes' defaults"}
    return [replace(v, evidence=(*v.evidence, note)) for v in verdicts]


def judge(module: ModuleType, events: list[dict[str, Any]], timing: ClusterTiming) -> list[Verdict]:
    """The scenario's verdicts from its history. A `check` that raises outside its checkers (which isolate
    themselves) is one `error` verdict, never a lost run."""
    try:
        return list(module.check(events, timing))
    except Exception as e:
        return [Verdict("check", "error", f"check raised {type(e).__name__}: {e}")]


def read_run(run_dir: Path) -> dict[str, Any]:
    """A finished run's results.json, checked for what re-judging needs; anything unreadable is one line naming
    the file (UsageError), never a traceback."""
    path = run_dir / "results.json"
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise UsageError(f"{run_dir} holds no results.json: pass a run directory (reports/<run-id>)") from e
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"{path} is not a readable results file ({type(e).__name__}: {e}); was the run "
                         f"interrupted while writing it?") from e
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or not isinstance(document.get("timing"), dict) or not all(
            isinstance(r, dict) and isinstance(r.get("scenario"), str) and isinstance(r.get("history"), str)
            and isinstance(r.get("verdicts"), list) for r in results):
        raise UsageError(f"{path} is not a chaos-harness results file (it needs timing and results, each with "
                         f"scenario, history and verdicts)")
    return document


def read_history(run_dir: Path, name: str) -> list[dict[str, Any]]:
    """One scenario's recorded history; a missing file or a broken line is one line naming it and the line."""
    from harness.history import load

    path = run_dir / Path(name).name  # a history lives in the run directory, whatever results.json says
    try:
        return load(path)
    except FileNotFoundError as e:
        raise UsageError(f"{path} is missing: the run's histories are what it is judged from") from e
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}:{e.lineno}: not a history line ({e.msg}); the file is truncated or corrupt") from e
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} cannot be read ({type(e).__name__}: {e})") from e


def rejudge(run_dir: Path, dirs: Sequence[Path] = ()) -> list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]]:
    """Re-judge a finished run offline: per scenario, (name, recorded verdicts, verdicts now). A run whose
    scenarios are not installed here (another scenario set) is a UsageError naming them."""
    document = read_run(run_dir)
    try:
        timing = ClusterTiming.from_dict(document["timing"])
    except (TypeError, ValueError) as e:
        raise UsageError(f"{run_dir / 'results.json'}: its timing cannot be read ({e})") from e
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
                 label: str = "", placement: Sequence[str] = ()) -> ScenarioResult:
    """Run one scenario; never raises for a failed hypothesis, a scenario error or a failed cleanup: all three
    end up in the result, told apart. `label` names it beside its waits when it runs beside others;
    `placement` (the nodes its workload is pinned to, if any) goes into its history."""
    history_file = f"{name}.history.jsonl"
    (run_dir / history_file).unlink(missing_ok=True)
    env = make_env(cluster, namespace, run_id, run_dir / history_file, journal, mysql_images, nodes, targets, timing,
                   storage_class, target)
    env.history.record("scenario", name=name, hypothesis=module.HYPOTHESIS,
                       **({"placement": list(placement)} if placement else {}))
    started, started_wall = time.monotonic(), time.time()
    verdicts: list[Verdict] = []
    error = cleanup_error = None
    with wait_log(label) as waits:
        try:
            returned = module.run(env)
            # Verdicts come from the recorded history alone (so `chaos-harness check` can re-judge the run);
            # a scenario without `check` still returns its verdicts from run().
            verdicts = judge(module, env.history.events(), env.timing) if hasattr(module, "check") else returned
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


class RunWriter:
    """The run directory: results.json, the merged history, JUnit XML and the HTML report, rewritten as
    scenarios finish; then the index of all runs under the report root."""

    def __init__(self, report_root: Path, run_id: str, cluster: Cluster, profile: str, source: str,
                 timing: ClusterTiming | None = None, node_access: str | None = None) -> None:
        self.root = report_root
        self.run_id = run_id
        self.dir = report_root / run_id
        self.dir.mkdir(parents=True, exist_ok=True)
        self.meta = {"run_id": run_id, "started": time.time(), "source": source, "timing_profile": profile,
                     "fingerprint": cluster.fingerprint().as_dict(),
                     "timing": (timing.as_dict() if timing else _timing(cluster)), "versions": versions(cluster)}
        if node_access:
            self.meta["node_access"] = node_access
        self.results: list[ScenarioResult] = []  # in plan order, whatever order they finished in
        self._positions: list[float] = []
        self._lock = threading.Lock()  # scenarios that run side by side finish in worker threads

    @property
    def report_path(self) -> Path:
        return self.dir / "report.html"

    def add(self, result: ScenarioResult, junit: bool = True, position: float | None = None) -> None:
        """Add a finished scenario at its `position` in the plan (default: after the others) and rewrite the
        run's files. junit=False under pytest, which writes its own."""
        with self._lock:
            where = position if position is not None else (max(self._positions, default=-1) + 1)
            at = bisect.bisect_right(self._positions, where)
            self._positions.insert(at, where)
            self.results.insert(at, result)
            self.write(junit)

    def write(self, junit: bool = True) -> None:
        from harness.report import render_index, render_run

        document = {**self.meta, "finished": time.time(), "results": [{**asdict(r), "status": r.status} for r in self.results]}
        (self.dir / "results.json").write_text(json.dumps(document, indent=2, default=str))
        with (self.dir / "history.jsonl").open("w") as merged:
            for r in self.results:
                path = self.dir / r.history
                if path.exists():
                    for line in path.read_text().splitlines():
                        merged.write(json.dumps({"scenario": r.scenario, **json.loads(line)}) + "\n")
        if junit:
            (self.dir / "junit.xml").write_bytes(junit_xml(self.run_id, self.results))
        from harness.report import runs
        from harness.report.metrics import render as render_metrics

        earlier = [r for r in runs(self.root) if r["dir"] != self.dir.name]
        (self.dir / "metrics.prom").write_text(render_metrics(document, earlier))
        render_run(self.dir)
        render_index(self.root)


def versions(cluster: Cluster) -> dict[str, str]:
    """What produced the run: the harness, its Kubernetes client, and the test bed's kind and node image."""
    from importlib.metadata import PackageNotFoundError, version

    from harness.testbed import versions as pinned
    from harness.testbed.cluster import read_node_image

    found = {"kind": pinned.KIND, "node_image": read_node_image(cluster) or "unknown (not the test bed)"}
    for package in ("chaos-harness", "kubernetes"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = "unknown"
    return found


def _timing(cluster: Cluster) -> dict[str, float]:
    from harness.settings import read_timing

    return read_timing(cluster).as_dict()


def junit_xml(run_id: str, results: list[ScenarioResult]) -> bytes:
    """JUnit XML for runs outside pytest (the CLI), so CI systems show scenarios as test cases."""
    suite = ElementTree.Element("testsuite", name=f"chaos-harness {run_id}", tests=str(len(results)),
                                failures=str(sum(r.status in ("fail", "unknown") for r in results)),
                                errors=str(sum(r.status in ("error", "cleanup-failed") for r in results)),
                                time=f"{sum(r.seconds for r in results):.1f}")
    for r in results:
        case = ElementTree.SubElement(suite, "testcase", classname="scenarios", name=r.scenario, time=f"{r.seconds:.1f}")
        props = ElementTree.SubElement(case, "properties")
        for key, value in junit_properties(r):
            ElementTree.SubElement(props, "property", name=key, value=str(value))
        if r.status == "fail":
            ElementTree.SubElement(case, "failure", message="hypothesis failed").text = r.failure_message()
        elif r.status == "unknown":
            # Not a pass, and not skipped (CI would count a skip as fine): a failure that says why.
            ElementTree.SubElement(case, "failure", message="unknown: the evidence was not observed").text = \
                r.failure_message()
        elif r.status != "pass":
            ElementTree.SubElement(case, "error", message=r.status).text = r.failure_message()
    return ElementTree.tostring(suite, encoding="utf-8", xml_declaration=True)


def junit_properties(r: ScenarioResult) -> list[tuple[str, Any]]:
    props: list[tuple[str, Any]] = [("verdict", r.status), ("seconds", r.seconds), ("wait_seconds", r.wait_seconds)]
    props += [(key, round(r.figures[key], 2)) for key in HEADLINE_FIGURES if key in r.figures]
    props += [(f"checker.{v['checker']}", verdict_status(v)) for v in r.verdicts]
    return props
