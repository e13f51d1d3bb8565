"""A hostile run id (and run directory name) cannot inject markup into reports/index.html nor the run's
report: both are opened in headless Chromium, and no element or script the id carries exists in the page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chaos_harness.frontends.pytest_plugin import unavailable
from chaos_harness.report import render_index, render_run
from chaos_harness.report.browser import HeadlessChromium, find_browser

RUN = Path(__file__).resolve().parents[1] / "data" / "run-all"
HOSTILE = '20991231-235959"><img src=x onerror="window.pwned=1"><script>window.pwned=2</script><b id=injected>'

QUERIES = {
    "injected_elements": "document.querySelectorAll('img, script, b#injected, [onerror]').length",
    "pwned": "String(window.pwned)",
    "id_shown_as_text": f"document.body.innerText.includes({json.dumps(HOSTILE[:30])})",
    "runs_listed": "document.querySelectorAll('a[href]').length",
}


def test_a_hostile_run_id_is_text_not_markup(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    browser = find_browser()
    if browser is None:
        unavailable(request.config, "no Chromium to open the reports; install it with 'make browser'")
    root = tmp_path / "reports"
    run_dir = root / HOSTILE.replace("/", "_")
    shutil.copytree(RUN, run_dir)
    document = json.loads((run_dir / "results.json").read_text())
    document["run_id"] = HOSTILE
    (run_dir / "results.json").write_text(json.dumps(document))
    render_run(run_dir)
    index = render_index(root)
    with HeadlessChromium(browser) as chromium:
        for page in (index, run_dir / "report.html"):
            visit = chromium.visit(page, QUERIES)
            print(f"\n{page.name}: {visit.values}")
            assert visit.values["injected_elements"] == 0, "the run id became markup"
            assert visit.values["pwned"] == "undefined" and not visit.console_errors
            assert not visit.outside_requests, f"the page fetched {visit.outside_requests}"
            assert visit.values["id_shown_as_text"] is True, "the run id is shown, as text"
