"""Prometheus metrics of a run: every scenario's verdict, figures and last success, in the text format; pushed
to a Pushgateway (here a stand-in on 127.0.0.1) when one is named."""

from __future__ import annotations

import http.server
import json
import re
import threading
from pathlib import Path

import pytest

from chaos_harness.core.errors import UsageError
from chaos_harness.report.metrics import push, render

RUN = Path(__file__).resolve().parents[1] / "data" / "run-all" / "results.json"
SAMPLE = re.compile(r'^[a-z_]+\{([a-z_]+="[^"]*",?)+\} -?[0-9.e+]+$')


def test_metrics_of_a_recorded_run() -> None:
    document = json.loads(RUN.read_text())
    text = render(document)
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(SAMPLE.match(line) for line in samples), [l for l in samples if not SAMPLE.match(l)]
    assert 'chaos_harness_scenario_passed{scenario="s08_kubelet_stop_mysql"} 1' in samples
    assert 'chaos_harness_scenario_status{scenario="s08_kubelet_stop_mysql",status="pass"} 1' in samples
    assert any(line.startswith('chaos_harness_time_to_detect_seconds{scenario="s08_kubelet_stop_mysql"}')
               for line in samples)
    assert sum(line.startswith("chaos_harness_last_success_timestamp_seconds") for line in samples) == 12
    assert text.count("# TYPE chaos_harness_scenario_passed gauge") == 1


def test_a_failed_scenario_keeps_its_last_success_from_earlier_runs() -> None:
    earlier = json.loads(RUN.read_text())
    now = json.loads(RUN.read_text())
    now["finished"] = earlier["finished"] + 86400
    now["results"][7]["status"] = "fail"
    text = render(now, [earlier])
    name = now["results"][7]["scenario"]
    assert f'chaos_harness_scenario_passed{{scenario="{name}"}} 0' in text
    assert f'chaos_harness_last_success_timestamp_seconds{{scenario="{name}"}} {earlier["finished"]:g}' in text


def test_push_to_a_pushgateway() -> None:
    received: list[tuple[str, str, bytes]] = []

    class Gateway(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            received.append((self.path, self.headers["Content-Type"],
                             self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.handle_request, daemon=True).start()
    push(f"http://127.0.0.1:{server.server_port}", "chaos_harness_scenario_passed{scenario=\"x\"} 1\n")
    server.server_close()
    assert received == [("/metrics/job/chaos_harness", "text/plain; version=0.0.4",
                         b'chaos_harness_scenario_passed{scenario="x"} 1\n')]
    with pytest.raises(UsageError, match="cannot push"):
        push("http://127.0.0.1:1", "x 1\n", timeout=2)
