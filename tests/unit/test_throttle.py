"""The client-side bound on the harness's API requests (chaos_harness/core/throttle.py): a token bucket, and a
429 answered after its Retry-After, through the real kubernetes client against a server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from kubernetes import client

from chaos_harness.core.api_errors import retry_after
from chaos_harness.core.throttle import Throttle, install, transport_retries


class VirtualClock:
    """time.monotonic and time.sleep for the bucket: its arithmetic judged exactly, whatever else the machine runs
    (a busy machine's oversleeping refills the real bucket and changes the counts)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_bucket_lets_a_burst_through_then_holds_to_qps(monkeypatch: pytest.MonkeyPatch) -> None:
    import chaos_harness.core.throttle as throttle_module

    clock = VirtualClock()
    monkeypatch.setattr(throttle_module, "time", clock)
    throttle = Throttle(qps=20, burst=5)
    started = clock.monotonic()
    for _ in range(15):
        throttle.take()
    # 5 at once, then 10 more at 20/s: 0.5 s, each of the 10 waited for its token.
    assert clock.monotonic() - started == pytest.approx(0.5)
    assert throttle.requests == 15 and throttle.throttled == 10
    assert throttle.figures()["requests"] == 15
    clock.sleep(10)                       # idle: the bucket refills to its burst, no more
    for _ in range(5):
        assert throttle.take() == 0.0
    assert throttle.take() == pytest.approx(0.05)


@pytest.mark.parametrize("headers, seconds", [({"Retry-After": "2"}, 2.0), ({}, 1.0), ({"Retry-After": "soon"}, 1.0),
                                              ({"Retry-After": "900"}, 30.0), (None, 1.0)])
def test_retry_after(headers: dict | None, seconds: float) -> None:
    assert retry_after(headers) == seconds


class Server:
    def __init__(self) -> None:
        self.answers: list[int] = []
        self.seen: list[float] = []


@pytest.fixture
def api_server() -> Iterator[tuple[str, Server]]:
    server = Server()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            server.seen.append(time.monotonic())
            status = server.answers.pop(0) if server.answers else 200
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if status == 429:
                self.send_header("Retry-After", "1")
            self.end_headers()
            body = ({"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": []} if status == 200 else
                    {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status,
                     "reason": "TooManyRequests", "message": "slow down"})
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", server
    finally:
        httpd.shutdown()


def api_for(url: str, throttle: Throttle) -> client.CoreV1Api:
    configuration = client.Configuration()
    configuration.host = url
    configuration.retries = transport_retries()
    return client.CoreV1Api(install(client.ApiClient(configuration), throttle))


def test_a_429_is_asked_again_after_its_retry_after(api_server: tuple[str, Server]) -> None:
    url, server = api_server
    server.answers = [429, 429]
    throttle = Throttle()
    listed = api_for(url, throttle).list_namespace(_request_timeout=5)
    assert listed.items == [] and throttle.retried_429 == 2 and len(server.seen) == 3
    assert server.seen[1] - server.seen[0] >= 0.95 and server.seen[2] - server.seen[1] >= 0.95


def test_a_429_that_never_ends_is_an_error_after_the_retries(api_server: tuple[str, Server],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from chaos_harness.core import throttle as module

    monkeypatch.setattr(module, "MAX_429_RETRIES", 2)
    monkeypatch.setattr(module, "throttled_by_server", lambda answer: 0.05 if getattr(answer, "status", 0) == 429
                        else None)
    url, server = api_server
    server.answers = [429] * 10
    with pytest.raises(client.exceptions.ApiException) as e:
        api_for(url, Throttle()).list_namespace(_request_timeout=5)
    assert e.value.status == 429 and len(server.seen) == 3


def test_an_api_server_that_keeps_saying_later_is_reported_overloaded_within_a_bound(
        api_server: tuple[str, Server], monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry-After 30 on every answer: the client gives up once its waiting for 429s would pass the bound, with
    one line naming the server, however many requests keep asking."""
    from chaos_harness.core import throttle as module
    from chaos_harness.core.errors import ClusterError

    monkeypatch.setattr(module, "MAX_429_WAIT_SECONDS", 0.3)
    monkeypatch.setattr(module, "throttled_by_server", lambda answer: 0.2 if getattr(answer, "status", 0) == 429
                        else None)
    url, server = api_server
    server.answers = [429] * 50
    api = api_for(url, Throttle())
    with pytest.raises(ClusterError, match="kept answering 429 Too Many Requests"):
        for _ in range(5):
            api.list_namespace(_request_timeout=5)
    assert len(server.seen) <= 3
