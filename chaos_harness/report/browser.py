"""Open a report in headless Chromium over the DevTools protocol: what a person opening the file would get.

Used by the browser test and the benchmark: load time, console errors and uncaught exceptions, any request
that leaves the file (a self-contained report makes none), values of DOM queries, and a screenshot.
websocket-client is already installed as a dependency of the kubernetes client.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

from chaos_harness.core.errors import HarnessError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-sync",
         "--disable-component-update", "--disable-default-apps", "--disable-extensions", "--no-first-run",
         "--metrics-recording-only", "--mute-audio", "--hide-scrollbars", "--remote-debugging-port=0")


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@dataclass
class PageVisit:
    load_seconds: float
    console_errors: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)


class HeadlessChromium:
    def __init__(self, binary: str, width: int = 1400, height: int = 1000) -> None:
        self._profile = tempfile.mkdtemp(prefix="chaos-harness-chromium-")
        self._proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={self._profile}",
                                       f"--window-size={width},{height}", "about:blank"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self._proc.poll() is not None:
                self.close()
                raise HarnessError(f"{binary} did not open its DevTools port within 30s")
            time.sleep(0.1)  # Chromium writes the file once it listens
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            page = next(t for t in json.load(answer) if t["type"] == "page")
        self._ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self._id = 0
        self._events: list[dict[str, Any]] = []

    def _send(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise HarnessError(f"DevTools {method}: {message['error']}")
                return dict(message.get("result", {}))
            self._events.append(message)

    def _wait_event(self, method: str, deadline_seconds: float) -> None:
        end = time.monotonic() + deadline_seconds
        while not any(e.get("method") == method for e in self._events):
            if time.monotonic() > end:
                raise HarnessError(f"no {method} within {deadline_seconds:.0f}s")
            self._events.append(json.loads(self._ws.recv()))

    def visit(self, path: Path, queries: dict[str, str]) -> PageVisit:
        """Load a file, then evaluate each JavaScript expression in `queries` (JSON-serialisable results)."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._send(f"{domain}.enable")
        self._events.clear()
        started = time.monotonic()
        self._send("Page.navigate", url=path.resolve().as_uri())
        self._wait_event("Page.loadEventFired", 60)
        visit = PageVisit(load_seconds=time.monotonic() - started)
        for name, expression in queries.items():
            result = self._send("Runtime.evaluate", expression=expression, returnByValue=True)
            visit.values[name] = result.get("result", {}).get("value")
        for e in self._events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                visit.console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Runtime.exceptionThrown":
                visit.console_errors.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                visit.console_errors.append(params["entry"]["text"])
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("file:", "data:", "about:")):
                    visit.outside_requests.append(url)
        return visit

    def screenshot(self, out: Path, full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            metrics = self._send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": metrics["width"],
                                                             "height": min(metrics["height"], 12000), "scale": 1})
        out.write_bytes(base64.b64decode(self._send("Page.captureScreenshot", **params)["data"]))
        return out

    def close(self) -> None:
        try:
            if getattr(self, "_ws", None):
                self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> "HeadlessChromium":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
