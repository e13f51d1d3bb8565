"""The harness's own load on the API server, bounded on the client side as client-go bounds a controller's:
a token bucket (`qps` sustained, `burst` at once) in front of every request of one ApiClient, and a 429 answered
by waiting what its Retry-After says before asking again (a 429 was not processed, so any verb may be re-sent).

It counts what it let through, so a run can say what it cost (results.json `api`). Exec and port-forward
streams (websockets) do not pass through it: they are long-lived, one request each.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from kubernetes import client

from chaos_harness.core.api_errors import throttled_by_server

DEFAULT_QPS = 50.0      # kubectl's own default; a run of five scenarios side by side stays well under it
DEFAULT_BURST = 100
MAX_429_RETRIES = 5
# All the waiting one client does for 429s: an API server that keeps saying "come back later" is reported as
# overloaded within this, however many requests ask and whatever each Retry-After says.
MAX_429_WAIT_SECONDS = 60.0


class Throttle:
    """A token bucket shared by every thread of one client, and the counts of what went through."""

    def __init__(self, qps: float = DEFAULT_QPS, burst: int = DEFAULT_BURST) -> None:
        if qps <= 0 or burst < 1:
            raise ValueError("qps must be positive and burst at least 1")
        self.qps, self.burst = float(qps), int(burst)
        self._tokens, self._at = float(burst), time.monotonic()
        self._lock = threading.Lock()
        self.requests = self.throttled = self.retried_429 = 0
        self.waited = self.waited_429 = 0.0
        self.started = time.monotonic()

    def take(self) -> float:
        """Wait for a token; the seconds waited."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.qps)
            self._at = now
            self._tokens -= 1
            wait = -self._tokens / self.qps if self._tokens < 0 else 0.0
            self.requests += 1
            if wait:
                self.throttled += 1
                self.waited += wait
        if wait:
            time.sleep(wait)
        return wait

    def figures(self) -> dict[str, float]:
        seconds = max(time.monotonic() - self.started, 1e-9)
        return {"requests": self.requests, "requests_per_second": round(self.requests / seconds, 2),
                "throttled": self.throttled, "throttled_seconds": round(self.waited, 2),
                "retried_429": self.retried_429, "qps": self.qps, "burst": self.burst}


def transport_retries() -> Any:
    """urllib3's retries for a client: one retry of a failed connection (an API server that accepts connections and
    never answers is reported in seconds, not minutes), and none of a 429, which `install` answers itself (urllib3
    would re-send a GET once after Retry-After, and count it nowhere)."""
    import urllib3

    return urllib3.Retry(total=1, respect_retry_after_header=False, status_forcelist=())


def install(api: client.ApiClient, throttle: Throttle) -> client.ApiClient:
    """Put `throttle` in front of every request `api` sends (its REST client's `request`)."""
    rest = api.rest_client
    send = rest.request

    def request(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(MAX_429_RETRIES + 1):
            throttle.take()
            try:
                response = send(*args, **kwargs)
            except Exception as e:  # the client raises some statuses, returns others (by version)
                wait = throttled_by_server(e)
                if wait is None or attempt == MAX_429_RETRIES:
                    raise
            else:
                wait = throttled_by_server(response)
                if wait is None or attempt == MAX_429_RETRIES:
                    return response
            with throttle._lock:
                if throttle.waited_429 + wait > MAX_429_WAIT_SECONDS:
                    from chaos_harness.core.errors import ClusterError

                    raise ClusterError(f"the API server at {api.configuration.host} kept answering 429 Too Many "
                                       f"Requests (Retry-After {wait:.0f}s) after {throttle.waited_429:.0f}s of waiting: "
                                       f"it is overloaded; try again later")
                throttle.retried_429 += 1
                throttle.waited_429 += wait
            time.sleep(wait)
        raise AssertionError("unreachable")

    rest.request = request
    api.throttle = throttle  # type: ignore[attr-defined]
    return api


def throttle_of(api: client.ApiClient) -> Throttle | None:
    return getattr(api, "throttle", None)
