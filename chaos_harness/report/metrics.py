"""Prometheus text-format metrics of a run (`reports/<run-id>/metrics.prom`), for a node exporter's textfile
collector or a Pushgateway: the verdict per scenario, time to detect and to recover, duration, and the last
time each scenario passed (across the runs under the report root, so a failing run still says when the
hypothesis last held)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable
from typing import Any

from chaos_harness.core.errors import UsageError

STATUSES = ("pass", "fail", "unknown", "error", "cleanup-failed", "aborted", "not-run")


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(document: dict[str, Any], earlier_runs: Iterable[dict[str, Any]] = ()) -> str:
    """The metrics of the run in `document` (a results.json); `earlier_runs` are other runs' documents."""
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        if not samples:
            return
        lines.extend([f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"])
        for labels, value in samples:
            rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{rendered}}} {value:g}")

    results = document.get("results", [])
    finished = float(document.get("finished") or document.get("started") or 0)
    family("chaos_harness_scenario_passed", "gauge", "1 when the scenario's hypothesis held in the latest run",
           [({"scenario": r["scenario"]}, 1.0 if r.get("status") == "pass" else 0.0) for r in results])
    family("chaos_harness_scenario_status", "gauge", "the latest run's verdict per scenario (one series per status)",
           [({"scenario": r["scenario"], "status": s}, 1.0 if r.get("status") == s else 0.0)
            for r in results for s in STATUSES])
    for figure, help_text in (("time_to_detect", "seconds from the fault to the cluster noticing it"),
                              ("time_to_recover", "seconds from the heal to the workload being whole again")):
        family(f"chaos_harness_{figure}_seconds", "gauge", help_text,
               [({"scenario": r["scenario"]}, float(r["figures"][figure])) for r in results
                if isinstance(r.get("figures", {}).get(figure), (int, float))])
    family("chaos_harness_scenario_duration_seconds", "gauge", "wall time of the scenario in the latest run",
           [({"scenario": r["scenario"]}, float(r["seconds"])) for r in results])
    last: dict[str, float] = {}
    for doc in [*earlier_runs, document]:
        when = float(doc.get("finished") or doc.get("started") or 0)
        for r in doc.get("results", []):
            if r.get("status") == "pass":
                last[r["scenario"]] = max(last.get(r["scenario"], 0.0), when)
    family("chaos_harness_last_success_timestamp_seconds", "gauge",
           "when the scenario's hypothesis last held (Unix time), over the runs kept",
           [({"scenario": name}, when) for name, when in sorted(last.items()) if name in
            {r["scenario"] for r in results}])
    family("chaos_harness_run_timestamp_seconds", "gauge", "when the latest run finished (Unix time)",
           [({"run_id": str(document.get("run_id", ""))}, finished)])
    return "\n".join(lines) + "\n"


def push(gateway: str, text: str, job: str = "chaos_harness", timeout: float = 10) -> None:
    """PUT the metrics to a Pushgateway (replacing the job's group); a failure is one line naming the URL."""
    url = f"{gateway.rstrip('/')}/metrics/job/{job}"
    request = urllib.request.Request(url, data=text.encode(), method="PUT",
                                     headers={"Content-Type": "text/plain; version=0.0.4"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (the user's URL)
            if response.status >= 300:
                raise UsageError(f"--pushgateway {gateway}: answered {response.status}")
    except OSError as e:
        raise UsageError(f"--pushgateway {gateway}: cannot push the metrics ({e})") from e
