"""Abort conditions: the user's own health signal, asked every few seconds while a fault is in flight and until
its scenario recovered (faults/guard.py). One breach heals at once and ends the run as `aborted`.

    --abort-when 'command:curl -fsS http://shop.internal/healthz'   a command: breached when it exits non-zero
    --abort-when https://shop.internal/healthz                      a URL: breached on a non-2xx answer or none
    --abort-when 'prometheus:http://prometheus:9090 sum(rate(http_requests_total{code=~"5.."}[1m])) > 1'
                                                                    a PromQL query: breached when its result is
                                                                    not empty (a vector) or not 0 (a scalar)

Each is evaluated once before the run connects: one that cannot be evaluated at all (a command that is not
found, a host that does not answer, a query Prometheus refuses) is a UsageError, and so is one already breached.
During the run any failure to evaluate counts as a breach: the signal that guards the run is gone.
"""

from __future__ import annotations

import http.client
import json
import math
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chaos_harness.core.answers import BodyTooLarge, BodyTooSlow, read_within
from chaos_harness.core.errors import UsageError
from chaos_harness.core.text import one_line

TIMEOUT_SECONDS = 5.0
FORMS = ("command:CMD", "http(s)://URL", "prometheus:URL QUERY")


class Unevaluable(Exception):
    """The condition could not be asked at all (as opposed to answering 'breached')."""


@dataclass(frozen=True)
class CommandCondition:
    text: str
    command: str
    timeout: float = TIMEOUT_SECONDS

    def breached(self) -> tuple[bool, str]:
        try:
            done = subprocess.run(["sh", "-c", self.command], capture_output=True, text=True, timeout=self.timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return True, f"no exit within {self.timeout:.0f}s"
        except OSError as e:
            raise Unevaluable(f"cannot run sh: {e}") from e
        output = (done.stdout + done.stderr).strip()
        if done.returncode in (126, 127):  # the shell's "cannot execute" and "not found"
            raise Unevaluable(f"exit {done.returncode}: {output[-300:]}")
        return done.returncode != 0, f"exit {done.returncode}{': ' + output[-1000:] if output else ''}"


MAX_BODY_BYTES = 1024 * 1024  # a health page or one query's result; anything longer is not what was asked for


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    """(status, body) of a GET, the whole of it within `timeout` (a server that trickles its answer is out of time
    like one that never answers); Unevaluable when nothing, or not HTTP, answered in time."""
    request = urllib.request.Request(url, headers={"User-Agent": "chaos-harness"})
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's own URL
            return response.status, _read(response, url, deadline, timeout)
    except urllib.error.HTTPError as e:
        return e.code, _read(e, url, deadline, timeout) if e.fp else b""
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e or type(e).__name__
        raise Unevaluable(f"{url} did not answer as an HTTP server: {one_line(reason, 200)}") from e


def _read(response: Any, url: str, deadline: float, timeout: float) -> bytes:
    try:
        body = read_within(response, deadline, MAX_BODY_BYTES)
    except BodyTooLarge:
        raise Unevaluable(f"{url} answered more than {MAX_BODY_BYTES // 1024} KiB") from None
    except BodyTooSlow as e:
        raise Unevaluable(f"{url} had not finished its answer within {timeout:.0f}s ({e.size} bytes)") from None
    if getattr(response, "length", None):  # the connection closed before the Content-Length it announced
        raise Unevaluable(f"{url} closed the connection {response.length} bytes short of its answer")
    return body


@dataclass(frozen=True)
class HttpCondition:
    text: str
    url: str
    timeout: float = TIMEOUT_SECONDS

    def breached(self) -> tuple[bool, str]:
        status, body = _get(self.url, self.timeout)
        return not 200 <= status < 300, f"HTTP {status} {one_line(body[:200].decode(errors='replace').strip(), 200)}"


@dataclass(frozen=True)
class PrometheusCondition:
    text: str
    url: str
    query: str
    timeout: float = TIMEOUT_SECONDS

    def breached(self) -> tuple[bool, str]:
        endpoint = self.url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": self.query})
        status, body = _get(endpoint, self.timeout)
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError) as e:
            raise Unevaluable(f"HTTP {status}: not a Prometheus answer ({one_line(body[:60], 80)})") from e
        if not isinstance(answer, dict):
            raise Unevaluable(f"HTTP {status}: not a Prometheus answer (a JSON {type(answer).__name__})")
        if status != 200 or answer.get("status") != "success":
            said = f"{answer.get('errorType', '')} {answer.get('error', '')}".strip()
            raise Unevaluable(f"HTTP {status}: {one_line(said, 300) or 'not a success'}")
        return judge_result(answer.get("data"))


def judge_result(data: object) -> tuple[bool, str]:
    """Breached or not from a query answer's `data`: a vector or matrix breaches when not empty, a scalar when not
    0; any other shape is Unevaluable (a proxy's page, another API), never a silent 'not breached'."""
    if not isinstance(data, dict):
        raise Unevaluable("a Prometheus answer without its data object")
    kind, result = data.get("resultType"), data.get("result")
    if kind in ("vector", "matrix"):
        if not isinstance(result, list):
            raise Unevaluable(f"a {kind} result that is not a list")
        shown = one_line(json.dumps(result), 500)
        return bool(result), f"{len(result)} series{': ' + shown if result else ''}"
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        try:
            value = float(result[1])
        except (TypeError, ValueError) as e:
            raise Unevaluable(f"a scalar result whose value {one_line(result[1], 40)} is not a number") from e
        if math.isnan(value):
            raise Unevaluable("a scalar result that is NaN: the query has no answer to compare")
        return value != 0, f"scalar {result[1]}"
    raise Unevaluable(f"a {one_line(kind, 40)} result: the query must give a vector or a scalar")


AbortConditionT = CommandCondition | HttpCondition | PrometheusCondition


def parse_condition(text: str, flag: str = "--abort-when") -> AbortConditionT:
    """One condition from its text; a form it does not have is a UsageError naming the forms."""
    def http_url(url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{flag} {text!r}: {url!r} is not an http(s) URL")
        return url

    if text.startswith("command:"):
        command = text[len("command:"):].strip()
        if not command:
            raise UsageError(f"{flag} {text!r}: the command is empty; e.g. 'command:curl -fsS http://shop/healthz'")
        return CommandCondition(text, command)
    if text.startswith(("http://", "https://")):
        return HttpCondition(text, http_url(text))
    if text.startswith("prometheus:"):
        url, _, query = text[len("prometheus:"):].strip().partition(" ")
        if not query.strip():
            raise UsageError(f"{flag} {text!r}: needs a query after the URL: 'prometheus:URL QUERY'")
        return PrometheusCondition(text, http_url(url), query.strip())
    raise UsageError(f"{flag} {text!r}: not an abort condition; use one of {', '.join(FORMS)}")


def check_conditions(conditions: list[AbortConditionT], flag: str = "--abort-when") -> None:
    """Each condition asked once, before the run: one that cannot be asked, or is already breached, is a
    UsageError (nothing has been done yet)."""
    for condition in conditions:
        try:
            breached, output = condition.breached()
        except Unevaluable as e:
            raise UsageError(f"{flag} {one_line(repr(condition.text), 200)} cannot be evaluated: {one_line(e, 400)}; "
                             f"fix it before the run") from e
        if breached:
            raise UsageError(f"{flag} {one_line(repr(condition.text), 200)} is already breached before the run "
                             f"({one_line(output[-300:], 300)}); nothing was done")
