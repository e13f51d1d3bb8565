"""A fake API server on loopback whose every answer is one chosen way of being wrong, and a kubeconfig for it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from kubeconfigs import KUBECONFIG

VERSION = {"major": "1", "minor": "35", "gitVersion": "v1.35.0", "gitCommit": "0", "gitTreeState": "clean",
           "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64"}


def body_for(mode: str, path: str) -> bytes | None:
    """The body a server in `mode` answers `path` with; None: trickle it."""
    segments = [s for s in urlsplit(path).path.split("/") if s]
    if segments == ["version"] and mode != "trickle-version":
        return json.dumps(VERSION).encode()
    if mode.startswith("trickle"):
        return None
    last = segments[-1] if segments else ""
    # A collection path has an odd number of segments after /api/v1 (even after /apis/GROUP/VERSION).
    collection = len(segments) % 2 == (1 if segments[:1] == ["api"] else 0)
    return {
        "empty": b"{}",
        "list": b"[1, 2]",
        "scalar": b'"abc"',
        "garbage": bytes(range(256)),
        "html": b"<html><body>502 Bad Gateway</body></html>",
        "half": json.dumps({"kind": "List", "items": [{}, {"metadata": None}], "metadata": {}}).encode(),
        "deep": b"[" * 100_000 + b"]" * 100_000,
        "another": json.dumps({"items": [{"metadata": {"name": "x"}}]} if collection
                              else {"metadata": {"name": "someone-else"}}).encode(),
        # Right names and nothing else: an object whose optional fields are all absent.
        "named": json.dumps({"items": []} if collection else {"metadata": {"name": last}}).encode(),
    }[mode]


@contextmanager
def fake_api(mode: str) -> Iterator[str]:
    """`http://127.0.0.1:PORT` of a server answering every request as `mode` says, for the block."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = body_for(mode, self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) if body is not None else 100_000))
            self.end_headers()
            try:
                if body is not None:
                    self.wfile.write(body)
                    return
                while not stop.is_set():  # a byte every half second: no read ever times out
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    stop.wait(0.5)
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def kubeconfig_for(url: str, where: Path) -> Path:
    path = where / "fake.kubeconfig"
    path.write_text(KUBECONFIG.format(server=url, context="kind-fake"))  # a kind-* context on loopback: allowed
    return path
