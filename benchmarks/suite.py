"""The suite against Kubernetes' own clock: per scenario its wall time, its floor and the overhead over it, and
the suite's wall time against its critical path. A table on stdout, JSON under reports/.

    .venv/bin/python benchmarks/suite.py                       # runs `chaos-harness run` (all), then measures it
    .venv/bin/python benchmarks/suite.py s07 s08               # the same for some scenarios
    .venv/bin/python benchmarks/suite.py --run-dir reports/ID  # measures a finished run (several: one table each)

Floor of a scenario: the time the cluster's own clock held it: every moment it was blocked on the cluster
(results.json `waits`: Ready, node state, eviction, the deliberate observation windows, each bounded from below
by the cluster's timing: detection by the grace period, eviction by the toleration) or the cluster was starting
one of its pods (from the pod's first sighting in the history to its first Ready), counted once where they
overlap. Its largest waits are listed. Overhead: wall minus floor, in % of the floor: the harness's own time
that nothing of the cluster's ran beside (deploy requests, port-forwards, writes and reads, recorder start and
stop). Work the harness does while pods start (S12's writes during the replicas' clone) costs nothing here, as
it costs nothing on the wall clock. Runs without wait start times (older results) count the waits' sum.
Critical path: what the runner's rule allows at best: node-fault scenarios (HOLDS "nodes") one after the other,
unless they ran in node lanes of their own (their placement, from their histories); lanes and the other
scenarios side by side: the floors of the scenarios that ran alone plus the longest lane or other floor. The suite's wall time
is set beside it and beside the serial sum of the scenarios (`--parallel 1`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def measure(run_dir: Path) -> dict[str, Any]:
    document = json.loads((run_dir / "results.json").read_text())
    rows = []
    for r in document["results"]:
        waits = r.get("waits") or []
        floor = _floor(waits, _pod_starts(run_dir, r["scenario"])) if waits else r["wait_seconds"]
        rows.append({
            "scenario": r["scenario"], "status": r["status"], "wall": r["seconds"], "floor": round(floor, 1),
            "overhead": round(r["seconds"] - floor, 1),
            "overhead_pct": round(100 * (r["seconds"] - floor) / floor, 1) if floor else None,
            "largest_waits": sorted(waits, key=lambda w: -w["seconds"])[:3]})
    suite_wall = document["finished"] - document["started"]
    alone = _alone(x["scenario"] for x in rows)
    placement = {x["scenario"]: _placement(run_dir, x["scenario"]) for x in rows}
    floors = {x["scenario"]: x["floor"] for x in rows}
    together = [n for n in floors if n not in alone]
    pods_nodes = {placement[n] for n in together}
    groups: dict[tuple[str, ...], list[str]] = {}
    for n in (n for n in floors if n in alone):
        groups.setdefault(placement[n], []).append(n)
    # A node lane is a placement of node-fault scenarios that no pods scenario shares (chaos_harness/assemble/scheduler.py):
    # lanes run beside each other and beside the pods scenarios; the other node-fault scenarios run alone.
    # A placement that shares a node with the pods scenarios or with another group (a scenario that needs more
    # nodes than a lane is placed on all of them) ran alone.
    pods_set = {n for p in pods_nodes for n in p}

    candidates = [p for p in groups if p and not pods_set & set(p)]

    def disjoint(p: tuple[str, ...]) -> bool:
        return not set(p) & set().union(*(set(q) for q in candidates if q != p))

    lanes = {p: groups[p] for p in candidates if disjoint(p) and (pods_nodes or len(groups) > 1)}
    serial = [n for p, names in groups.items() if p not in lanes for n in names]
    beside = [sum(floors[n] for n in names) for names in lanes.values()] + [floors[n] for n in together]
    critical = sum(floors[n] for n in serial) + max(beside, default=0.0)
    return {"run": document["run_id"], "timing": document["timing"], "rows": rows,
            "suite_wall": round(suite_wall, 1), "sum_of_scenarios": round(sum(x["wall"] for x in rows), 1),
            "critical_path": round(critical, 1), "alone": sorted(serial),
            "lanes": {",".join(p): names for p, names in lanes.items()},
            "sum_of_floors": round(sum(x["floor"] for x in rows), 1)}


def _floor(waits: list[dict[str, Any]], pod_starts: list[tuple[float, float]]) -> float:
    """Seconds covered by the waits and the pod starts together (a moment in both counts once)."""
    if any("started" not in w for w in waits):
        return sum(w["seconds"] for w in waits)
    spans = sorted([(w["started"], w["started"] + w["seconds"]) for w in waits] + pod_starts)
    covered, reach = 0.0, float("-inf")
    for begin, end in spans:
        if end > reach:
            covered += end - max(begin, reach)
            reach = end
    return covered


def _pod_starts(run_dir: Path, scenario: str) -> list[tuple[float, float]]:
    """Per pod incarnation (uid) in the scenario's history: (first seen, first seen Ready) on the `mono` clock."""
    path = run_dir / f"{scenario}.history.jsonl"
    first_seen: dict[str, float] = {}
    ready: set[str] = set()  # counted: later events of these pods are not starts
    spans: list[tuple[float, float]] = []
    if path.exists():
        with path.open() as f:
            for line in f:
                event = json.loads(line)
                uid = event.get("uid") if event.get("kind") == "pod" else None
                if uid is None or event.get("type") == "FINAL":
                    continue
                first = first_seen.setdefault(uid, event["mono"])
                if event.get("ready") and uid not in ready:
                    spans.append((first, event["mono"]))
                    ready.add(uid)
    return spans


def _placement(run_dir: Path, scenario: str) -> tuple[str, ...]:
    """The nodes the scenario's workload was pinned to, from its history (empty: not recorded)."""
    path = run_dir / f"{scenario}.history.jsonl"
    if path.exists():
        with path.open() as f:
            for line in f:
                event = json.loads(line)
                if event.get("kind") == "scenario":
                    return tuple(event.get("placement") or ())
    return ()


def _alone(names: Any) -> set[str]:
    """The scenarios that run alone (they fault nodes), as the runner decides it."""
    sys.path.insert(0, str(REPO))
    from chaos_harness.assemble.scheduler import holds
    from chaos_harness.assemble.catalogue import scenario_modules

    modules = scenario_modules()
    return {n for n in names if n in modules and holds(n, modules[n]) == "nodes"}


def table(m: dict[str, Any]) -> str:
    lines = [f"run {m['run']} (timing: grace {m['timing'].get('node_monitor_grace_period')}s, unreachable "
             f"toleration {m['timing'].get('unreachable_toleration_seconds')}s)",
             f"{'scenario':32} {'status':8} {'wall s':>7} {'floor s':>8} {'over s':>7} {'over %':>7}  largest waits"]
    for x in m["rows"]:
        waits = "; ".join(f"{w['what'][:38]} {w['seconds']:.0f}s" for w in x["largest_waits"])
        pct = f"{x['overhead_pct']:.0f}" if x["overhead_pct"] is not None else "-"
        lines.append(f"{x['scenario']:32} {x['status']:8} {x['wall']:7.1f} {x['floor']:8.1f} {x['overhead']:7.1f} "
                     f"{pct:>7}  {waits}")
    lines.append(f"suite wall {m['suite_wall']:.0f}s; scenarios one after the other {m['sum_of_scenarios']:.0f}s; "
                 f"floors {m['sum_of_floors']:.0f}s; critical path {m['critical_path']:.0f}s (alone: "
                 f"{', '.join(n.split('_')[0] for n in m['alone']) or 'none'}; node lanes: "
                 + ("; ".join(f"{nodes}: {', '.join(n.split('_')[0] for n in names)}"
                              for nodes, names in m.get("lanes", {}).items()) or "none")
                 + "; the rest side by side)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="*", help="scenarios to run (default: all)")
    parser.add_argument("--run-dir", type=Path, action="append", default=[], help="measure this finished run")
    parser.add_argument("--report-dir", type=Path, default=REPO / "reports" / "bench")
    parser.add_argument("--parallel", type=int, default=3, help="chaos-harness run --parallel (1: serial)")
    parser.add_argument("--target-nodes", default=None, metavar="SELECTOR", help="chaos-harness --target-nodes")
    args = parser.parse_args()
    run_dirs = list(args.run_dir)
    if not run_dirs:
        before = set(args.report_dir.glob("2*")) if args.report_dir.exists() else set()
        started = time.monotonic()
        nodes = ["--target-nodes", args.target_nodes] if args.target_nodes else []
        result = subprocess.run([sys.executable, "-m", "chaos_harness", *nodes, "run", *args.scenario, "--report-dir",
                                 str(args.report_dir), "--parallel", str(args.parallel)], cwd=REPO)
        print(f"chaos-harness run exited {result.returncode} after {time.monotonic() - started:.0f}s")
        run_dirs = sorted(set(args.report_dir.glob("2*")) - before)
        if not run_dirs:
            print("the run left no run directory", file=sys.stderr)
            return 1
    out = REPO / "reports" / "bench-suite.json"
    try:
        measured = [measure(d) for d in run_dirs]
    except (OSError, ValueError, KeyError) as e:
        print(f"benchmarks/suite.py: cannot measure a run ({type(e).__name__}: {e}); --run-dir takes a run "
              f"directory of `chaos-harness run` (reports/<run-id>, with its results.json)", file=sys.stderr)
        return 2
    for m in measured:
        print(table(m))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(measured, indent=2))
    print(f"json: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
