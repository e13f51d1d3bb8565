"""This session's run report, opened in a real browser (headless Chromium from Debian's chromium package):
the timeline is drawn, nothing fails in the console, nothing is fetched from outside the file; the
screenshot is kept in the run directory. Runs after test_scenarios.py, so it shows that run; alone it runs
one quick scenario first."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chaos_harness.report.browser import HeadlessChromium, find_browser
from chaos_harness.report.results import RunWriter, ScenarioResult
from chaos_harness.frontends.pytest_plugin import unavailable

QUERIES = {
    "scenarios": "document.querySelectorAll('section.scenario').length",
    "timelines": "document.querySelectorAll('svg.timeline').length",
    "drawn_timelines": "[...document.querySelectorAll('svg.timeline')].filter(s => s.getBBox().width > 500).length",
    "node_marks": "document.querySelectorAll('svg.timeline rect.node-state').length",
    "pod_marks": "document.querySelectorAll('svg.timeline rect.pod-state').length",
    "runtime_bars": "document.querySelectorAll('svg.timeline rect.runtime-bar').length",
    "fault_windows": "document.querySelectorAll('svg.timeline rect.fault-window').length",
    "write_points": "document.querySelectorAll('svg.timeline circle.write').length",
    "page_height": "document.documentElement.scrollHeight",
}


def test_report_renders_in_headless_chromium(chaos_run: RunWriter, run_scenario: Callable[[str], ScenarioResult],
                                             request: pytest.FixtureRequest) -> None:
    browser = find_browser()
    if browser is None:
        unavailable(request.config, "no Chromium to render the report; install it with 'make browser'")
    if not chaos_run.results:
        run_scenario("s03_ordered_ready")
    report = chaos_run.report_path
    with HeadlessChromium(browser) as chromium:
        visit = chromium.visit(report, QUERIES)
        shot = chromium.screenshot(chaos_run.dir / "report.png")
    size_kib = report.stat().st_size / 1024
    print(f"report {report}: {size_kib:.0f} KiB, {len(chaos_run.results)} scenarios, loaded in "
          f"{visit.load_seconds:.2f}s; {visit.values}; screenshot {shot} ({shot.stat().st_size / 1024:.0f} KiB)")
    v = visit.values
    assert not visit.console_errors, f"console errors: {visit.console_errors}"
    assert not visit.outside_requests, f"the report fetched {visit.outside_requests}"
    assert v["scenarios"] == v["timelines"] == v["drawn_timelines"] == len(chaos_run.results) > 0
    assert v["node_marks"] > 0 and v["pod_marks"] > 0 and v["runtime_bars"] > 0
    if any(r.verdicts and any("fault" in str(x) for x in r.verdicts) for r in chaos_run.results):
        assert v["fault_windows"] > 0
    assert shot.stat().st_size > 10_000
