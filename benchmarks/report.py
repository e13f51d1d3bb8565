"""Report figures for a finished run: size of report.html and what it holds, time to render it from the
histories, and time for headless Chromium to load it.

    .venv/bin/python benchmarks/report.py [reports/<run-id>]   (default: the newest run)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from chaos_harness.report import render_run, runs
from chaos_harness.report.browser import HeadlessChromium, find_browser


def main() -> int:
    root = Path("reports")
    run_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else root / runs(root)[0]["dir"]
    histories = sorted(run_dir.glob("*.history.jsonl"))
    events = sum(len(p.read_text().splitlines()) for p in histories)
    started = time.perf_counter()
    report = render_run(run_dir)
    render = time.perf_counter() - started
    print(f"run {run_dir.name}: {len(histories)} scenario histories, {events} events "
          f"({sum(p.stat().st_size for p in histories) / 1e6:.1f} MB)")
    print(f"report.html: {report.stat().st_size / 1024:.0f} KiB, rendered in {render:.2f}s")
    browser = find_browser()
    if browser is None:
        print("no chromium: browser load time not measured")
        return 0
    with HeadlessChromium(browser) as chromium:
        loads = [chromium.visit(report, {}).load_seconds for _ in range(3)]
    print(f"chromium load (3 visits): {', '.join(f'{s:.2f}s' for s in loads)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
