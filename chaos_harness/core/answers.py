"""Every answer of the API server, bounded and checked before any code reads it.

One wrapper in front of the REST client's `request` (as core/throttle.py is), for every request but the streams
(watches, followed logs): the body is read here, in chunks, against one deadline for the whole request, so a
server that trickles its answer a byte a second is reported when the deadline passes instead of holding a run
for ever (urllib3's timeouts bound each read, and a trickle never lets one run out). Then a 2xx answer's shape is
checked against what the request asked for: JSON, an object, a list's items each a named object, a named read
answering the object named. A server that answers otherwise (a proxy's error page, half an object, another
object, garbage) is one line naming the request and what came back, never an AttributeError three calls later.

The errors raised are urllib3 HTTPErrors, so every caller that already handles a transport failure (retry,
TransientClusterError by core/api_errors.py, a recorder's reconnect) handles these the same way.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import urllib3
from urllib3.exceptions import HTTPError

# A request given no timeout by its caller gets this one, for the whole request (headers and body): no answer
# the harness waits on is as large as this is long (a list of 1,000 nodes arrived in 0.3 s).
DEFAULT_REQUEST_SECONDS = 60.0
MAX_BODY_BYTES = 256 * 1024 * 1024  # a list of every pod of a 5,000-node cluster is ~ a tenth of this
CHUNK = 64 * 1024


class BadAnswer(HTTPError):
    """The API server answered, but not with what was asked for (or not in time)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


def is_stream(url: str) -> bool:
    """A watch or a followed log: read by its caller as it arrives, bounded by the caller's own deadline."""
    query = parse_qs(urlsplit(url).query)
    return any(v.lower() in ("true", "1") for key in ("watch", "follow") for v in query.get(key, []))


def request_seconds(timeout: Any) -> float:
    """The whole request's deadline from the client's `_request_timeout` (a number: total; a pair: connect + read)."""
    if isinstance(timeout, (int, float)) and timeout > 0:
        return float(timeout)
    if isinstance(timeout, tuple) and len(timeout) == 2 and all(isinstance(t, (int, float)) for t in timeout):
        return float(timeout[0]) + float(timeout[1])
    return DEFAULT_REQUEST_SECONDS


class BodyTooSlow(Exception):
    """The deadline passed before the body ended; `size` bytes had come."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


class BodyTooLarge(Exception):
    """The body grew past the limit it was read against."""


def read_within(response: Any, deadline: float, limit: int) -> bytes:
    """The whole body of an HTTP response (urllib3's or http.client's: both have read1), or BodyTooSlow once the
    monotonic `deadline` passed, or BodyTooLarge past `limit` bytes. Each read returns what one receive brought, so
    the deadline is checked between receives: a body that trickles a byte a second is out of time like a silent one.
    The one bounded reader of the API client's answers (below) and of the abort conditions' probes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if time.monotonic() > deadline:
            raise BodyTooSlow(size)
        chunk = response.read1(CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)


def read_body(response: Any, what: str, deadline: float, seconds: float) -> bytes:
    """The whole body of urllib3 `response`, or BadAnswer once the monotonic `deadline` passed or it grew past
    MAX_BODY_BYTES."""
    try:
        return read_within(response, deadline, MAX_BODY_BYTES)
    except BodyTooSlow as e:
        response.close()
        raise BadAnswer(f"{what}: {e.size} bytes of its answer in {seconds:.0f}s and it had not finished "
                        f"(a body that trickles)") from None
    except BodyTooLarge:
        response.close()
        raise BadAnswer(f"{what}: an answer over {MAX_BODY_BYTES // (1024 * 1024)} MiB") from None


def _parts(path: str) -> tuple[list[str], bool]:
    """The resource part of an API path (after /api/v1 or /apis/GROUP/VERSION and a namespace) and whether the
    path is a resource path at all (discovery, /version and the like are not)."""
    segments = [s for s in path.split("/") if s]
    if segments[:1] == ["api"] and len(segments) >= 2:
        rest = segments[2:]
    elif segments[:1] == ["apis"] and len(segments) >= 3:
        rest = segments[3:]
    else:
        return [], False
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        rest = rest[2:]
    return rest, bool(rest)


def _named(item: object) -> bool:
    metadata = item.get("metadata") if isinstance(item, dict) else None
    return isinstance(metadata, dict) and isinstance(metadata.get("name"), str) and bool(metadata["name"])


def shape_problem(method: str, url: str, data: bytes) -> str | None:
    """What is wrong with a 2xx answer's body for this request; None when it is what was asked for."""
    path = urlsplit(url).path
    rest, resource = _parts(path)
    if resource and rest[-1] == "log" and len(rest) == 3:
        return None  # a container's log is text
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        head = data[:40].decode("utf-8", "backslashreplace")
        return f"{len(data)} bytes that are not JSON ({head!r}...)"
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__} where an object was expected"
    if path.rstrip("/") == "/version":
        return None if isinstance(value.get("gitVersion"), str) else "a version without gitVersion"
    if method != "GET" or not resource:
        return None
    if len(rest) == 1:  # a collection: a list of named objects
        items = value.get("items")
        if not isinstance(items, list):
            return "a list without items"
        unnamed = next((i for i, item in enumerate(items) if not _named(item)), None)
        return None if unnamed is None else f"a list whose item {unnamed} has no metadata.name"
    if len(rest) == 2:  # one named object: that object
        if not _named(value):
            return "an object without metadata.name"
        if value["metadata"]["name"] != rest[1]:
            return f"the object {value['metadata']['name']!r} where {rest[1]!r} was asked for"
    return None


def guard_answers(api: Any) -> Any:
    """Put the deadline and the shape check in front of every request `api` sends (its REST client's `request`).
    Install it before the throttle, so the throttle's 429 handling sees the checked answers."""
    from kubernetes.client.rest import RESTResponse

    rest = api.rest_client
    send = rest.request
    host = (api.configuration.host or "").rstrip("/")

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        if is_stream(url):
            return send(method, url, *args, **kwargs)
        timeout = kwargs.get("_request_timeout")
        if timeout is None:
            kwargs["_request_timeout"] = timeout = DEFAULT_REQUEST_SECONDS
        seconds = request_seconds(timeout)
        deadline = time.monotonic() + seconds
        answer = send(method, url, *args, **kwargs)
        what = f"{method} {url.removeprefix(host)[:120]} answered"
        data = read_body(answer.response, what, deadline, seconds)
        if 200 <= answer.status < 300:
            problem = shape_problem(method, url, data)
            if problem:
                raise BadAnswer(f"{what} with {problem}")
        # The body as urllib3 would have kept it, already read (and decoded: nothing is decoded twice).
        kept = urllib3.HTTPResponse(body=io.BytesIO(data), headers=answer.response.headers, status=answer.status,
                                    reason=answer.reason, preload_content=False, decode_content=False,
                                    request_url=url)
        return RESTResponse(kept)

    rest.request = request
    return api
