"""The one place the kubernetes client's exceptions become the harness's (chaos_harness/core/errors.py): by
HTTP status, naming what was being done, the original chained."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

from chaos_harness.core.errors import ClusterError, Conflict, Forbidden, Gone, NotFound, TransientClusterError


def from_api_exception(e: Exception, what: str) -> ClusterError:
    """Map a kubernetes client exception to ours by HTTP status. Call as `raise from_api_exception(e, ..) from e`."""
    status = getattr(e, "status", None)
    reason = getattr(e, "reason", None) or _unreadable(e) or type(e).__name__
    message = f"{what}: {status or ''} {reason}".replace("  ", " ")
    detail = _status_message(getattr(e, "body", None))
    if detail:
        message += f": {detail}"
    if status == 404:
        return NotFound(message)
    if status == 403:
        return Forbidden(message)
    if status == 409:
        return Conflict(message)
    if status == 410:
        return Gone(message)
    if status is None or status == 429 or (isinstance(status, int) and status >= 500):
        return TransientClusterError(message)
    return ClusterError(message)


def _unreadable(e: Exception) -> str:
    """The client's models refusing an answer (pydantic's ValidationError, a ValueError): its first complaint,
    on one line, instead of a class name."""
    if not isinstance(e, ValueError):
        return ""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return "an answer the client could not read: " + " ".join(lines[:2])[:200] if lines else ""


@contextmanager
def api_errors(what: str) -> Iterator[None]:
    """The one place the client's exceptions become the harness's: an ApiException (and the urllib3 or socket
    error under it) raised in the block leaves it as a ClusterError subclass by status (NotFound, Conflict,
    Gone, TransientClusterError), naming `what`, with the original chained. Callers catch ours by type."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except (ApiException, HTTPError, OSError, *_model_errors()) as e:
        raise from_api_exception(e, what) from e


def _model_errors() -> tuple[type[Exception], ...]:
    """The error the client's models raise for an answer of the wrong shape (kubernetes >= 35 builds them with
    pydantic); nothing on a client without it."""
    try:
        from pydantic import ValidationError
    except ImportError:
        return ()
    return (ValidationError,)


def _status_message(body: object) -> str:
    """The API server's own explanation (a metav1.Status message), on one line."""
    if not isinstance(body, (str, bytes)) or not body:
        return ""
    try:
        return " ".join(str(json.loads(body).get("message", "")).split())[:300]
    except (ValueError, AttributeError):
        return ""


MAX_RETRY_AFTER = 30.0  # a Retry-After longer than this is capped: the caller's own deadline still applies


def retry_after(headers: object) -> float:
    """Seconds a 429 asks to wait (its Retry-After in seconds; 1 when absent or unreadable), capped."""
    raw = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        seconds = float(raw) if raw is not None else 1.0
    except (TypeError, ValueError):
        seconds = 1.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def throttled_by_server(answer: object) -> float | None:
    """For a 429 (the client's exception, or a response it returned): the seconds its Retry-After asks to wait;
    None for anything else."""
    if getattr(answer, "status", None) != 429:
        return None
    headers = getattr(answer, "headers", None)
    if headers is None and hasattr(answer, "getheaders"):
        headers = answer.getheaders()
    return retry_after(headers)
