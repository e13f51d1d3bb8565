"""benchmarks/suite.py's floor: waits and pod starts together, a moment in both counted once."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bench_suite", REPO / "benchmarks" / "suite.py")
suite = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
spec.loader.exec_module(suite)  # type: ignore[union-attr]


def test_overlap_counts_once_and_gaps_do_not_count() -> None:
    waits = [{"what": "a", "seconds": 4.0, "started": 10.0}, {"what": "b", "seconds": 2.0, "started": 20.0}]
    # a pod started from 12 to 18 (beside harness work after the first wait) and one inside the second wait
    assert suite._floor(waits, [(12.0, 18.0), (20.5, 21.0)]) == 4.0 + 4.0 + 2.0


def test_waits_without_start_times_are_summed() -> None:
    assert suite._floor([{"what": "a", "seconds": 4.0}, {"what": "b", "seconds": 2.0}], [(0.0, 100.0)]) == 6.0


def test_pod_starts_from_first_sighting_to_first_ready(tmp_path: Path) -> None:
    events = [{"kind": "pod", "uid": "u1", "type": "ADDED", "mono": 1.0, "ready": False},
              {"kind": "pod", "uid": "u1", "type": "MODIFIED", "mono": 3.0, "ready": True},
              {"kind": "pod", "uid": "u1", "type": "MODIFIED", "mono": 9.0, "ready": True},  # not a start again
              {"kind": "pod", "uid": "u2", "type": "ADDED", "mono": 5.0, "ready": False},  # never Ready
              {"kind": "pod", "uid": "u3", "type": "FINAL", "mono": 9.5, "ready": True}]
    (tmp_path / "s.history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert suite._pod_starts(tmp_path, "s") == [(1.0, 3.0)]
