"""The harness's exceptions. The kubernetes client's exceptions never leave the public API: they are mapped
here by HTTP status and always chained (`raise ... from e`) so the original stays in the traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class UsageError(HarnessError):
    """Bad input from the user (an option, a name, a path): one line naming the fix, exit 2."""


class ClusterError(HarnessError):
    """The cluster could not be reached or answered with an error."""


class TransientClusterError(ClusterError):
    """Worth retrying: timeouts, 429, 5xx, connection resets."""


class NotFound(ClusterError):
    """404."""


class Forbidden(ClusterError):
    """403: the identity lacks a permission."""


class Conflict(ClusterError):
    """409."""


class Gone(ClusterError):
    """410: a watch's resourceVersion is too old; re-list."""


class GuardError(HarnessError):
    """The kube context is not on the allowlist, or a journal belongs to another cluster."""


class FaultError(HarnessError):
    """A fault could not be injected, verified or healed."""


class SelectionError(FaultError):
    """A fault's target selector matched nothing: that is an error, never a vacuous pass."""


class WaitTimeout(HarnessError):
    """A wait ran past its deadline. Diagnostics (events, describe, logs) are attached as notes."""

    def __init__(self, what: str, deadline_seconds: float, diagnostics: str = "") -> None:
        super().__init__(f"{what}: not reached within {deadline_seconds:.0f}s")
        self.what = what
        self.deadline_seconds = deadline_seconds
        if diagnostics:
            self.add_note(diagnostics)


class InvariantViolation(HarnessError):
    """A checker found the promise broken; carries the evidence."""


def from_api_exception(e: Exception, what: str) -> ClusterError:
    """Map a kubernetes client exception to ours by HTTP status. Call as `raise from_api_exception(e, ..) from e`."""
    status = getattr(e, "status", None)
    reason = getattr(e, "reason", None) or type(e).__name__
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


@contextmanager
def api_errors(what: str) -> Iterator[None]:
    """The one place the client's exceptions become the harness's: an ApiException (and the urllib3 or socket
    error under it) raised in the block leaves it as a ClusterError subclass by status (NotFound, Conflict,
    Gone, TransientClusterError), naming `what`, with the original chained. Callers catch ours by type."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except (ApiException, HTTPError, OSError) as e:
        raise from_api_exception(e, what) from e


def _status_message(body: object) -> str:
    """The API server's own explanation (a metav1.Status message), on one line."""
    if not isinstance(body, (str, bytes)) or not body:
        return ""
    try:
        return " ".join(str(json.loads(body).get("message", "")).split())[:300]
    except (ValueError, AttributeError):
        return ""


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) turned into an exception, so `finally` blocks heal and clean up before the process
    exits. A BaseException, like KeyboardInterrupt: `except Exception` in a scenario must not swallow it."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __reduce__(self) -> tuple[type, tuple[int]]:
        # copy.copy (each worker thread gets its own interrupt) rebuilds it from the signal number; the default
        # would call Interrupted("SIGTERM") and fail.
        return type(self), (self.signum,)


class CleanupError(HarnessError):
    """A fault could not be healed. Reported apart from a failed hypothesis: the cluster may need a hand."""
