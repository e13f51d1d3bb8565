"""Abort conditions (chaos_harness/assemble/abort.py): each form parsed, asked, and refused before the run when it
cannot be asked or already breached. HTTP and Prometheus answer from a server on 127.0.0.1 started here."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from chaos_harness.assemble.abort import (CommandCondition, HttpCondition, PrometheusCondition, Unevaluable,
                                          check_conditions, parse_condition)
from chaos_harness.core.errors import UsageError


class Answers:
    status = 200
    body: dict = {}


@pytest.fixture
def server() -> Iterator[tuple[str, Answers]]:
    answers = Answers()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            body = answers.body
            if parts.path == "/api/v1/query":
                query = parse_qs(parts.query)["query"][0]
                body = answers.body.get(query, {"status": "error", "errorType": "bad_data", "error": "parse error"})
            self.send_response(answers.status if parts.path != "/api/v1/query" or "status" not in body
                               or body["status"] == "success" else 400)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", answers
    finally:
        httpd.shutdown()


def test_the_three_forms_parse() -> None:
    assert isinstance(parse_condition("command:true"), CommandCondition)
    assert isinstance(parse_condition("https://shop.example/healthz"), HttpCondition)
    prom = parse_condition('prometheus:http://prom:9090 sum(rate(errors_total{code=~"5.."}[1m])) > 1')
    assert isinstance(prom, PrometheusCondition) and prom.url == "http://prom:9090"
    assert prom.query == 'sum(rate(errors_total{code=~"5.."}[1m])) > 1'


@pytest.mark.parametrize("text, says", [("curl http://x", "not an abort condition"), ("command:", "empty"),
                                        ("prometheus:http://prom:9090", "needs a query"),
                                        ("prometheus:prom:9090 up", "not an http(s) URL"),
                                        ("http://", "not an http(s) URL")])
def test_a_malformed_condition_is_one_line(text: str, says: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_condition(text)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_a_command_breaches_on_a_non_zero_exit(tmp_path: Path) -> None:
    flag = tmp_path / "breach"
    condition = parse_condition(f"command:test ! -e {flag}")
    assert condition.breached() == (False, "exit 0")
    flag.write_text("")
    breached, output = condition.breached()
    assert breached and output.startswith("exit 1")


def test_a_command_that_is_not_found_cannot_be_evaluated() -> None:
    with pytest.raises(Unevaluable):
        parse_condition("command:no-such-command-anywhere --x").breached()
    with pytest.raises(UsageError, match="cannot be evaluated"):
        check_conditions([parse_condition("command:no-such-command-anywhere")])


def test_a_command_that_hangs_is_a_breach() -> None:
    assert CommandCondition("command:sleep 5", "sleep 5", timeout=0.2).breached()[0]


def test_a_condition_already_breached_before_the_run_is_refused() -> None:
    with pytest.raises(UsageError, match="already breached"):
        check_conditions([parse_condition("command:exit 3")])


def test_an_http_url_breaches_on_a_non_2xx_answer(server: tuple[str, Answers]) -> None:
    url, answers = server
    condition = parse_condition(f"{url}/healthz")
    assert not condition.breached()[0]
    answers.status = 503
    breached, output = condition.breached()
    assert breached and "HTTP 503" in output


def test_an_http_url_nobody_answers_cannot_be_evaluated() -> None:
    with pytest.raises(UsageError, match="cannot be evaluated"):
        check_conditions([parse_condition("http://127.0.0.1:1/healthz")])


def test_a_prometheus_query_breaches_on_a_non_empty_vector(server: tuple[str, Answers]) -> None:
    url, answers = server
    quiet = {"status": "success", "data": {"resultType": "vector", "result": []}}
    loud = {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"job": "shop"}, "value": [1.0, "7"]}]}}
    answers.body = {"errors > 1": quiet, "errors > 0": loud,
                    "scalar(1)": {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "1"]}}}
    assert not parse_condition(f"prometheus:{url} errors > 1").breached()[0]
    breached, output = parse_condition(f"prometheus:{url} errors > 0").breached()
    assert breached and "1 series" in output and "shop" in output
    assert parse_condition(f"prometheus:{url} scalar(1)").breached()[0]
    with pytest.raises(UsageError, match="cannot be evaluated.*parse error"):
        check_conditions([parse_condition(f"prometheus:{url} errors >")])


class Hostile:
    """A server on 127.0.0.1 that answers as set: raw bytes (not HTTP at all), or a body sent slowly."""

    def __init__(self) -> None:
        import socket

        self.raw: bytes = b""
        self.trickle = False
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            # Each connection on its own thread: a 2 MiB answer the client stopped reading must not hold up the
            # next request (seen under load: the second probe timed out waiting to be accepted).
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: object) -> None:
        import socket
        import time

        assert isinstance(conn, socket.socket)
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.raw)
            except OSError:
                return
            while self.trickle:
                try:
                    conn.sendall(b"x")
                except OSError:
                    break
                time.sleep(0.05)


PROMETHEUS_SHAPES = [
    ("[1, 2]", "a JSON list"), ('"abc"', "a JSON str"), ("5", "a JSON int"),
    ('{"status": "success"}', "without its data"), ('{"status": "success", "data": []}', "without its data"),
    ('{"status": "success", "data": {"resultType": "vector", "result": 5}}', "not a list"),
    ('{"status": "success", "data": {"resultType": "scalar", "result": [1, "abc"]}}', "is not a number"),
    ('{"status": "success", "data": {"resultType": "scalar", "result": [1, "NaN"]}}', "NaN"),
    ('{"status": "success", "data": {"resultType": "string", "result": [1, "x"]}}', "a string result"),
    ('{"status": "success", "data": {"resultType": {"a": 1}}}', "result"),
    ('{"status": 5}', "not a success"), ("[" * 100000, "not a Prometheus answer"),
]


def http_answer(body: bytes, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


@pytest.mark.parametrize("body, says", PROMETHEUS_SHAPES)
def test_a_prometheus_answer_of_any_other_shape_cannot_be_evaluated(body: str, says: str) -> None:
    server = Hostile()
    server.raw = http_answer(body.encode())
    with pytest.raises(UsageError) as e:
        check_conditions([parse_condition(f"prometheus:{server.url} up")])
    assert says in str(e.value) and "cannot be evaluated" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("raw, says", [
    (bytes(range(256)) * 4, "did not answer as an HTTP server"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n" + b"\x1b[31m" * 10, "bytes short of its answer"),
    (http_answer(b"x" * (2 * 1024 * 1024)), "more than 1024 KiB"),
    (b"", "did not answer"),
])
def test_an_http_server_answering_garbage_cannot_be_evaluated_in_one_line(raw: bytes, says: str) -> None:
    server = Hostile()
    server.raw = raw
    for text in (f"{server.url}/healthz", f"prometheus:{server.url} up"):
        with pytest.raises(UsageError) as e:
            check_conditions([parse_condition(text)])
        assert says in str(e.value) and "\n" not in str(e.value) and "\x1b" not in str(e.value), e.value


def test_a_trickled_answer_is_out_of_time_as_a_silent_one() -> None:
    import time

    server = Hostile()
    server.raw = b"HTTP/1.1 200 OK\r\n\r\n"
    server.trickle = True
    started = time.monotonic()
    with pytest.raises(Unevaluable, match="had not finished its answer within 1s"):
        HttpCondition("t", f"{server.url}/healthz", timeout=1.0).breached()
    assert time.monotonic() - started < 5
    server.trickle = False


def test_an_answer_echoing_escapes_is_shown_escaped(tmp_path: Path) -> None:
    server = Hostile()
    server.raw = http_answer(b"\x1b]0;owned\x07down\nmore", status="503 Service Unavailable")
    with pytest.raises(UsageError) as e:
        check_conditions([parse_condition(f"{server.url}/healthz")])
    assert "already breached" in str(e.value) and "\x1b" not in str(e.value) and "\n" not in str(e.value)
