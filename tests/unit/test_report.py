"""The report from recorded histories: the timeline draws what happened, the page is self-contained, the
index shows the trend, and JUnit carries the verdicts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree

from chaos_harness.core import cancellation
from chaos_harness.record.history import load
from chaos_harness.report import prune, render_index, render_run, sparkline
from chaos_harness.report.timeline import notable_rows, timeline_svg
from chaos_harness.report.results import ScenarioResult, junit_xml

DATA = Path(__file__).resolve().parents[1] / "data"


def result(name: str, ok: bool = True, **figures: float) -> ScenarioResult:
    return ScenarioResult(scenario=name, hypothesis="h", ok=ok, started_wall=1.0, seconds=10.0, wait_seconds=8.0,
                          namespace="ns", history=f"{name}.history.jsonl", figures=dict(figures),
                          verdicts=[{"checker": "split-brain", "ok": ok, "summary": "s", "evidence": [{"node": "n"}],
                                     "figures": {"samples": 3.0}}])


def test_split_brain_history_draws_two_runtime_bars_for_web_0_at_once() -> None:
    svg = timeline_svg(load(DATA / "split-brain-kind.jsonl"))
    ElementTree.fromstring(svg)  # well-formed
    bars = re.findall(r'<rect class="runtime-bar"[^>]*><title>web-0 \(uid (\w+)\) running on ([\w-]+): first seen '
                      r'[^(]*\(\+([\d.]+)s\), last seen [^(]*\(\+([\d.]+)s\)', svg)
    assert len({node for _, node, _, _ in bars}) >= 2, "the split brain's two nodes each get a web-0 bar"
    (_, n1, a1, b1), (_, n2, a2, b2) = bars[:2]
    assert n1 != n2 and float(a2) < float(b1) and float(a1) < float(b2), "the two bars overlap in time"
    assert 'class="fault"' in svg and "fault-window" in svg


def test_kubelet_stop_history_draws_node_lanes_pods_and_writes() -> None:
    events = load(DATA / "kubelet-stop-mysql-kind.jsonl")
    svg = timeline_svg(events)
    assert svg.count('class="node-state"') >= 5 and "Ready=Unknown" in svg
    assert 'class="pod-state"' in svg and "Terminating" in svg
    assert svg.count('class="write"') > 100
    rows = notable_rows(events)
    assert any(r["what"] == "fault inject" for r in rows) and any("Ready=Unknown" in r["detail"] for r in rows)


def write_run(root: Path, run_id: str, started: float, results: list[ScenarioResult], histories: dict[str, str],
              nodes: tuple[str, ...] = ("a", "b")) -> Path:
    run_dir = root / run_id
    run_dir.mkdir(parents=True)
    (run_dir / ".chaos-harness-run").write_text("a run\n")  # as RunWriter marks it
    for name, source in histories.items():
        shutil.copyfile(DATA / source, run_dir / f"{name}.history.jsonl")
    (run_dir / "results.json").write_text(json.dumps({
        "run_id": run_id, "started": started, "finished": started + 60, "source": "test", "timing_profile": "fast",
        "fingerprint": {"context": "kind-chaos", "server_version": "v1.34.0", "nodes": list(nodes)},
        "timing": {"node_monitor_grace_period": 16.0, "node_monitor_period": 2.0,
                   "unreachable_toleration_seconds": 30.0, "not_ready_toleration_seconds": 30.0},
        "results": [{**r.__dict__, "status": r.status} for r in results]}))
    return run_dir


def test_run_report_is_self_contained_and_index_shows_trend(tmp_path: Path) -> None:
    older = write_run(tmp_path, "run-1", 100.0, [result("s08", time_to_detect=14.0)], {"s08": "kubelet-stop-mysql-kind.jsonl"})
    newer = write_run(tmp_path, "run-2", 200.0, [result("s08", ok=False, time_to_detect=19.5)],
                      {"s08": "split-brain-kind.jsonl"})
    for d in (older, newer):
        html = render_run(d).read_text()
        assert "<svg" in html and "<script" not in html
        assert not re.search(r'(src|href)="(https?:)?//', html), "no external requests"
    assert 'data-status="fail"' in (newer / "report.html").read_text()
    index = render_index(tmp_path).read_text()
    runs_table = index[index.index('id="runs"'):]
    assert runs_table.index("run-2") < runs_table.index("run-1"), "newest first"
    assert "<td>19.5 s</td>" in index and "<polyline" in index
    # A directory of the user's beside the runs, with a results.json of its own, is never pruned.
    theirs = tmp_path / "my_benchmarks"
    theirs.mkdir()
    (theirs / "results.json").write_text(json.dumps({"results": [], "started": 1.0}))
    (theirs / "notes.txt").write_text("mine")
    assert prune(tmp_path, keep=1) == ["run-1"] and not older.exists() and newer.exists()
    assert prune(tmp_path, keep=0) == ["run-2"] and (theirs / "notes.txt").read_text() == "mine"


def test_a_large_clusters_nodes_are_counted_not_listed(tmp_path: Path) -> None:
    few = render_run(write_run(tmp_path, "few", 100.0, [result("s08")], {"s08": "kubelet-stop-mysql-kind.jsonl"})).read_text()
    assert "nodes a, b" in few
    many = tuple(f"kwok-node-{i:04d}" for i in range(1000)) + ("chaos-worker",)
    html = render_run(write_run(tmp_path, "many", 100.0, [result("s08")], {"s08": "kubelet-stop-mysql-kind.jsonl"},
                                nodes=many)).read_text()
    assert "1001 nodes" in html and "kwok-node-0500" not in html


def test_sparkline_handles_one_point() -> None:
    assert "<circle" in sparkline([("r", 3.0)])


def test_junit_and_failure_message_name_the_checker_evidence_and_times() -> None:
    failed = result("s08", ok=False, time_to_detect=14.2)
    xml = ElementTree.fromstring(junit_xml("run", [result("s01"), failed]))
    assert xml.get("tests") == "2" and xml.get("failures") == "1"
    props = {p.get("name"): p.get("value") for p in xml.iter("property")}
    assert props["verdict"] in ("pass", "fail") and props["time_to_detect"] == "14.2"
    message = failed.failure_message()
    assert "checker split-brain failed" in message and "evidence: {'node': 'n'}" in message and "10s wall" in message


def test_cleanup_failure_is_told_apart_from_a_failed_hypothesis() -> None:
    r = result("s08")
    r.cleanup_error, r.ok = "kubelet on chaos-worker still inactive", False
    assert r.status == "cleanup-failed" and "chaos-harness cleanup" in r.failure_message()


def test_wait_log_counts_nested_waits_once() -> None:
    with cancellation.wait_log() as log:
        with cancellation.waiting("outer", 10):
            with cancellation.waiting("inner", 10):
                pass
        cancellation.observe(0.01, "nothing moves")
    assert log.count == 2 and log.seconds >= 0.01


def test_a_hostile_run_id_injects_no_markup_into_the_index(tmp_path: Path) -> None:
    hostile = '<img src=x onerror=alert(1)>"&'
    write_run(tmp_path, hostile, 100.0, [result("s08", time_to_detect=14.0)], {"s08": "kubelet-stop-mysql-kind.jsonl"})
    write_run(tmp_path, "run-2", 200.0, [result("s08", time_to_detect=15.0)], {"s08": "kubelet-stop-mysql-kind.jsonl"})
    index = render_index(tmp_path).read_text()
    assert "<img" not in index and "onerror=alert(1)>" not in index
    assert "&lt;img src=x onerror=alert(1)&gt;" in index


def test_assumed_timing_is_marked_in_the_report(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, "run-a", 100.0, [result("s08")], {"s08": "kubelet-stop-mysql-kind.jsonl"})
    doc = json.loads((run_dir / "results.json").read_text())
    doc["timing"]["assumed"] = ["node_monitor_grace_period"]
    (run_dir / "results.json").write_text(json.dumps(doc))
    html = render_run(run_dir).read_text()
    assert html.count("(assumed)") == 1


def test_aborted_and_not_run_are_shown_as_what_they_are(tmp_path: Path) -> None:
    aborted, held_off = result("s08", ok=False), result("s07", ok=False)
    aborted.verdicts = [{"checker": "abort", "status": "aborted", "ok": False, "error": False, "figures": {},
                         "summary": "abort condition breached: command:false: exit 1", "evidence": []}]
    held_off.verdicts = [{"checker": "steady-state", "status": "not-run", "ok": False, "error": False, "figures": {},
                          "summary": "nothing injected: StatefulSet ns/db: 1/2 Ready (for 30s)", "evidence": []}]
    assert (aborted.status, held_off.status) == ("aborted", "not-run")
    assert "checker steady-state held off: nothing injected" in held_off.failure_message()
    run = write_run(tmp_path, "run-1", 100.0, [aborted, held_off], {"s08": "kubelet-stop-mysql-kind.jsonl",
                                                                       "s07": "kubelet-stop-mysql-kind.jsonl"})
    html = render_run(run).read_text()
    assert 'data-status="aborted"' in html and 'data-status="not-run"' in html and "Not run" in html
    xml = ElementTree.fromstring(junit_xml("run", [aborted, held_off]))
    assert [e.get("message") for e in xml.iter("error")] == ["aborted", "not-run"] and xml.get("failures") == "0"


def test_the_header_counts_every_outcome_and_a_failure_has_its_box(tmp_path: Path) -> None:
    """Seen: one failed and one unknown among twelve was headed '10 of 12 scenarios held, 1 could not be judged':
    the failure was not counted, and only the unknown had a box."""
    unknown = result("s14", ok=False)
    unknown.verdicts = [{"checker": "node-observed-during-fault", "status": "unknown", "ok": False, "error": False,
                         "figures": {}, "summary": "no runtime sample of the node for 40s", "evidence": []}]
    results = [result("s01"), result("s08", ok=False), unknown]
    assert [r.status for r in results] == ["pass", "fail", "unknown"]
    run = write_run(tmp_path, "run-1", 100.0, results, {n: "kubelet-stop-mysql-kind.jsonl" for n in ("s01", "s08", "s14")})
    html = render_run(run).read_text()
    header = re.search(r'<p class="meta" id="outcomes">(.*?) ·', html, re.S)
    assert header, "the outcomes line"
    text = re.sub(r"<[^>]+>", "", header.group(1))
    assert text == "3 scenarios: 1 passed, 1 failed, 1 unknown (could not be judged)", text
    assert html.count('class="fail-box"') == 1 and html.count('class="unknown-box"') == 1
    clean = render_run(write_run(tmp_path, "run-2", 200.0, [result("s01")], {"s01": "kubelet-stop-mysql-kind.jsonl"}))
    text = re.sub(r"<[^>]+>", "", re.search(r'id="outcomes">(.*?) ·', clean.read_text(), re.S).group(1))
    assert text == "1 scenario: 1 passed, 0 failed" and 'class="fail-box"' not in clean.read_text()


def test_figures_read_as_a_person_reads_them(tmp_path: Path) -> None:
    from chaos_harness.report import figure

    assert [figure(3.0), figure(2.345), figure(7), figure("x"), figure(float("nan"))] == ["3", "2.35", "7", "x", "nan"]
    write_run(tmp_path, "run-1", 100.0, [result("s01")], {"s01": "kubelet-stop-mysql-kind.jsonl"})
    index = render_index(tmp_path).read_text()
    assert "1 run, newest first" in index and "samples=3 " in render_run(tmp_path / "run-1").read_text()
