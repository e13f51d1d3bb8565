"""A run's results and the files they are written to: results.json, the merged history, JUnit XML, metrics,
the HTML report and the index of runs. A new artefact is written from RunWriter.write."""

from __future__ import annotations

import bisect
from collections.abc import Callable
import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from chaos_harness.core.files import write_atomic
from chaos_harness.judge.verdicts import outcome, verdict_status

# Figures that several checkers report under these names; results lift them to the scenario's top level.
HEADLINE_FIGURES = ("time_to_detect", "time_to_recover")


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
                word = {"fail": "failed", "unknown": "could not judge", "error": "raised", "aborted": "stopped",
                        "not-run": "held off"}.get(status, status)
                lines.append(f"checker {v['checker']} {word}: {v['summary']}")
                lines += [f"  evidence: {e}" for e in v["evidence"][:5]]
                if v["figures"]:
                    lines.append("  figures: " + ", ".join(f"{k}={x:.1f}" for k, x in v["figures"].items()))
        lines.append(f"times: {self.seconds:.0f}s wall, {self.wait_seconds:.0f}s waiting on Kubernetes; "
                     f"history {self.history}")
        return "\n".join(lines)


class RunWriter:
    """The run directory: results.json, the merged history, JUnit XML and the HTML report, rewritten as
    scenarios finish; then the index of all runs under the report root."""

    def __init__(self, report_root: Path, run_id: str, meta: dict[str, Any],
                 live: Callable[[], dict[str, Any]] | None = None) -> None:
        """`meta`: what the run is (source, timing profile, fingerprint, timing, versions, node access), made
        where the run is assembled (chaos_harness.assemble.runner.run_meta); `live`: what the run has cost so far
        (its API requests), read each time the files are written."""
        self.live = live
        self.root = report_root
        self.run_id = run_id
        self.dir = report_root / run_id
        self.dir.mkdir(parents=True, exist_ok=True)
        from chaos_harness.report import RUN_MARK

        (self.dir / RUN_MARK).write_text(f"a chaos-harness run ({run_id}): `--keep-runs` may delete this directory\n")
        self.meta = {"run_id": run_id, "started": time.time(), **meta}
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
        from chaos_harness.report import render_index, render_run

        document = {**self.meta, **(self.live() if self.live else {}), "finished": time.time(), "results": [{**asdict(r), "status": r.status} for r in self.results]}
        write_atomic(self.dir / "results.json", json.dumps(document, indent=2, default=str))
        merged = []
        for r in self.results:
            path = self.dir / r.history
            if path.exists():
                merged += [json.dumps({"scenario": r.scenario, **json.loads(line)}) + "\n"
                           for line in path.read_text().splitlines() if line.strip()]
        write_atomic(self.dir / "history.jsonl", "".join(merged))
        if junit:
            write_atomic(self.dir / "junit.xml", junit_xml(self.run_id, self.results))
        from chaos_harness.report import runs
        from chaos_harness.report.metrics import render as render_metrics

        earlier = [r for r in runs(self.root) if r["dir"] != self.dir.name]
        write_atomic(self.dir / "metrics.prom", render_metrics(document, earlier))
        render_run(self.dir)
        render_index(self.root)


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
