"""Self-contained HTML reports: one per run (`reports/<run-id>/report.html`) and an index of all runs with
the trend of time-to-detect / time-to-recover per scenario (`reports/index.html`). Inline CSS and SVG only:
no script, no external request, so the file reads the same from a CI artifact or an email."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from chaos_harness.core.files import write_atomic
from chaos_harness.record.history import load
from chaos_harness.report.timeline import notable_rows, timeline_svg

TEMPLATES = Path(__file__).parent / "templates"
TREND_FIGURES = ("time_to_detect", "time_to_recover")


def figure(value: object) -> str:
    """A figure as a person reads it: a count as a whole number (3, not 3.00), a measure to two decimals."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = lambda wall: time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(wall)) if wall else "—"
    env.filters["secs"] = lambda s: f"{s:.1f} s" if isinstance(s, (int, float)) else "—"
    env.filters["fig"] = figure
    return env


def render_run(run_dir: Path) -> Path:
    """report.html from the run's results.json and per-scenario histories."""
    document = json.loads((run_dir / "results.json").read_text())
    scenarios = []
    for r in document["results"]:
        history = run_dir / r["history"]
        events = load(history) if history.exists() else []
        scenarios.append({**r, "svg": Markup(timeline_svg(events)),
                          "rows": notable_rows(events), "fault_evidence": _fault_evidence(events)})
    html = _environment().get_template("report.html.j2").render(run=document, scenarios=scenarios)
    out = run_dir / "report.html"
    write_atomic(out, html)
    return out


def _fault_evidence(events: list[dict[str, Any]]) -> list[str]:
    """Proof that each fault really happened, as the fault recorded it when it was injected."""
    return [f"{e['fault']['type']}: {e['evidence']}" for e in events
            if e["kind"] == "fault" and e["phase"] == "injected" and e.get("evidence")]


def is_run_dir(path: Path) -> bool:
    """A directory the harness wrote a run into (its mark), not a symlink to elsewhere."""
    return path.is_dir() and not path.is_symlink() and (path / RUN_MARK).is_file()


def runs(report_root: Path) -> list[dict[str, Any]]:
    """Every run under the report root with a results.json, newest first."""
    found = []
    for path in report_root.glob("*/results.json"):
        try:
            doc = json.loads(path.read_text())
            # Runs written by older versions lack some fields: fill them rather than drop the run.
            found.append({**doc, "dir": path.parent.name, "run_id": doc.get("run_id", path.parent.name),
                          "started": doc.get("started", path.stat().st_mtime),
                          "timing_profile": doc.get("timing_profile", "unknown"), "source": doc.get("source", "?"),
                          "results": [{**r, "figures": r.get("figures") or {},
                                       "status": r.get("status") or ("pass" if r.get("ok") else "fail")}
                                      for r in doc.get("results", [])]})
        except (OSError, json.JSONDecodeError, AttributeError, TypeError):
            continue  # a run being written or a broken file: the index shows the others
    return sorted(found, key=lambda r: r.get("started", 0), reverse=True)


def trend(all_runs: list[dict[str, Any]]) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """scenario -> figure -> [(run id, value)] oldest first, for the figures that show drift."""
    series: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for run in reversed(all_runs):
        for r in run.get("results", []):
            for fig in TREND_FIGURES:
                if fig in r.get("figures", {}):
                    series.setdefault(r["scenario"], {}).setdefault(fig, []).append((run["run_id"], r["figures"][fig]))
    return series


def sparkline(points: list[tuple[str, float]], width: int = 220, height: int = 36) -> str:
    if not points:
        return ""
    values = [v for _, v in points]
    low, high = min(values + [0.0]), max(values) or 1.0
    step = width / max(len(points) - 1, 1)
    coords = [(i * step if len(points) > 1 else width / 2,
               height - 4 - (v - low) / ((high - low) or 1) * (height - 8)) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    # Run ids come from directory names: anything may be in them, so they are escaped like all text.
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(run)}: {v:.2f} s</title></circle>'
                   for (x, y), (run, v) in zip(coords, points))
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<polyline points="{path}" fill="none"/>{dots}</svg>')


def render_index(report_root: Path) -> Path:
    all_runs = runs(report_root)
    series = trend(all_runs)
    sparks = {s: {f: Markup(sparkline(p)) for f, p in figs.items()} for s, figs in series.items()}
    latest = {s: {f: p[-1][1] for f, p in figs.items()} for s, figs in series.items()}
    html = _environment().get_template("index.html.j2").render(runs=all_runs, sparks=sparks, latest=latest,
                                                               figures=TREND_FIGURES)
    out = report_root / "index.html"
    write_atomic(out, html)
    return out


# Every run directory the harness writes carries this file: pruning removes only directories that do (a user's
# own `my_benchmarks/results.json` beside the runs is never the harness's to delete).
RUN_MARK = ".chaos-harness-run"


def prune(report_root: Path, keep: int) -> list[str]:
    """Delete all but the newest `keep` runs (scheduled checks would otherwise fill the disk): only directories
    the harness marked as its own runs, never a symlink out of the report root."""
    import shutil

    removed = []
    for run in [r for r in runs(report_root) if is_run_dir(report_root / r["dir"])][keep:]:
        shutil.rmtree(report_root / run["dir"], ignore_errors=True)
        removed.append(run["dir"])
    if removed:
        render_index(report_root)
    return removed
