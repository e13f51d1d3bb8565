"""The harness's exceptions. The kubernetes client's exceptions never leave the public API: they are mapped
here by HTTP status and always chained (`raise ... from e`) so the original stays in the traceback."""

from __future__ import annotations


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


class SteadyStateNotMet(HarnessError):
    """Before a fault: the target, its budget or the nodes were not steady, so nothing was injected (the
    scenario's outcome is `not-run`, recorded in its history)."""


class Aborted(BaseException):
    """Raised in a scenario's thread at its next wait when the run is stopped from outside it (an abort condition
    breached, `chaos-harness stop`): its `finally` blocks heal at once. A BaseException like Interrupted, so a
    scenario's `except Exception` cannot swallow it."""
