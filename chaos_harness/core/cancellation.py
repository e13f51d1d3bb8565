"""What the harness is waiting for, and for how long.

Every wait on the cluster (watch_until, a StatefulSet becoming Ready, an observation window) goes through
`waiting(...)`. That gives two things: the CLI's progress display (what, elapsed vs deadline), and the sum of
time spent waiting on Kubernetes per scenario, which the results set beside the scenario's wall time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol


class WaitDisplay(Protocol):
    def begin(self, what: str, deadline_seconds: float) -> None: ...

    def end(self, what: str, seconds: float, ok: bool) -> None: ...


class WaitLog:
    """Accumulates time spent waiting; one per scenario. Nested waits count once (the outermost)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0
        # Each outermost wait: what, seconds, deadline, and `started` on time.monotonic (the history's `mono`
        # clock), so a wait can be set against what the history saw the cluster do meanwhile.
        self.entries: list[dict[str, object]] = []
        self._depth = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        with self._lock:
            self._depth += 1
            return self._depth == 1

    def leave(self, seconds: float, outermost: bool, what: str = "", deadline: float = 0.0,
              started: float = 0.0) -> None:
        with self._lock:
            self._depth -= 1
            if outermost:
                self.seconds += seconds
                self.count += 1
                self.entries.append({"what": what, "seconds": round(seconds, 2), "deadline": deadline,
                                     "started": round(started, 3)})


class LogDisplay:
    """Start and end lines through `logging` (the test bed's commands, and pytest: shown with -s or on failure)."""

    def __init__(self, logger_name: str = "chaos_harness.progress") -> None:
        import logging

        self.log = logging.getLogger(logger_name)
        self._deadlines: dict[str, float] = {}

    def begin(self, what: str, deadline_seconds: float) -> None:
        self._deadlines[what] = deadline_seconds
        self.log.info("waiting for %s (deadline %.0fs)", what, deadline_seconds)

    def end(self, what: str, seconds: float, ok: bool) -> None:
        self.log.info("  %s %s after %.1fs (deadline %.0fs)", "done" if ok else "gave up", what, seconds,
                      self._deadlines.pop(what, 0.0))


class PrintDisplay:
    """Start and end lines on stdout, for pytest (captured per test; shown with -s)."""

    def begin(self, what: str, deadline_seconds: float) -> None:
        print(f"waiting for {what} (deadline {deadline_seconds:.0f}s)", flush=True)

    def end(self, what: str, seconds: float, ok: bool) -> None:
        print(f"  {'done' if ok else 'gave up'} {what} after {seconds:.1f}s", flush=True)


_display: WaitDisplay | None = None
# Per thread: the scenario's wait log and its label (scenarios that run at the same time each have their own).
_scenario = threading.local()


def set_display(display: WaitDisplay | None) -> WaitDisplay | None:
    """Install `display` for every wait from now on; returns the one it replaces."""
    global _display
    previous, _display = _display, display
    return previous


@contextmanager
def wait_log(label: str = "") -> Iterator[WaitLog]:
    """Collect the waits of everything this thread runs inside the block (the scenario runner uses one per
    scenario); with `label`, the display names the scenario beside each wait (scenarios running side by side)."""
    previous = getattr(_scenario, "log", None), getattr(_scenario, "label", "")
    _scenario.log, _scenario.label = WaitLog(), label
    try:
        yield _scenario.log
    finally:
        _scenario.log, _scenario.label = previous


# --- cancellation: scenarios running in worker threads are stopped at their next wait ------------------------

_cancel_lock = threading.Lock()
_cancelled: dict[int, BaseException] = {}
_wakeups: dict[int, threading.Event] = {}
_interrupts: dict[int, list[Callable[[], None]]] = {}


def cancel(thread_id: int, reason: BaseException) -> None:
    """Make thread `thread_id` raise `reason` at its next wait (or at once, if it is sleeping in one or reading a
    watch), so its `finally` blocks heal what it injected. Raised once: the heals' own waits then run normally."""
    with _cancel_lock:
        _cancelled[thread_id] = reason
        wakeup = _wakeups.get(thread_id)
        interrupts = list(_interrupts.get(thread_id, ()))
    if wakeup:
        wakeup.set()
    for interrupt in interrupts:
        try:
            interrupt()
        except Exception:  # noqa: BLE001 - the read may have ended meanwhile; the checkpoint still raises
            pass


@contextmanager
def interruptible(interrupt: Callable[[], None]) -> Iterator[None]:
    """While the block runs, a cancellation of this thread also calls `interrupt` (in the cancelling thread): for
    a blocking read no wakeup event reaches, such as a watch waiting for its next event, so an abort or a stop
    heals within a second instead of at the watch's timeout."""
    me = threading.get_ident()
    with _cancel_lock:
        _interrupts.setdefault(me, []).append(interrupt)
    try:
        yield
    finally:
        with _cancel_lock:
            mine = _interrupts.get(me, [])
            if interrupt in mine:
                mine.remove(interrupt)
            if not mine:
                _interrupts.pop(me, None)


def checkpoint() -> None:
    """Raise the cancellation pending for this thread, if any."""
    if _cancelled:
        with _cancel_lock:
            reason = _cancelled.pop(threading.get_ident(), None)
        if reason is not None:
            raise reason


def sleep(seconds: float) -> None:
    """time.sleep that a cancellation interrupts."""
    me = threading.get_ident()
    with _cancel_lock:
        wakeup = _wakeups.setdefault(me, threading.Event())
    wakeup.wait(seconds)
    with _cancel_lock:
        wakeup.clear()
    checkpoint()


_nesting = threading.local()  # per thread: only the outermost wait is shown (a StatefulSet Ready inside a deploy)


@contextmanager
def waiting(what: str, deadline_seconds: float) -> Iterator[None]:
    checkpoint()
    log, display = getattr(_scenario, "log", None), _display
    if label := getattr(_scenario, "label", ""):
        what = f"[{label}] {what}"
    outermost_logged = log.enter() if log else False
    depth = getattr(_nesting, "depth", 0)
    _nesting.depth = depth + 1
    shown = display is not None and depth == 0 and not getattr(_nesting, "quiet", False)
    announce = _Announcement(display, what, deadline_seconds) if shown else None  # type: ignore[arg-type]
    started = time.monotonic()
    ok = False
    try:
        yield
        ok = True
    finally:
        seconds = time.monotonic() - started
        _nesting.depth = depth
        if log:
            log.leave(seconds, outermost_logged, what, deadline_seconds, started)
        if announce:
            announce.finish(seconds, ok)


@contextmanager
def quiet() -> Iterator[None]:
    """Waits in the block are not shown (still counted): cleanup after a failure whose one line is the news."""
    previous = getattr(_nesting, "quiet", False)
    _nesting.quiet = True
    try:
        yield
    finally:
        _nesting.quiet = previous


SHOW_AFTER_SECONDS = 2.0  # waits shorter than this stay silent: only the long ones say what they wait for


class _Announcement:
    """Shows a wait on the display once it has lasted SHOW_AFTER_SECONDS, and its end if it was shown."""

    def __init__(self, display: WaitDisplay, what: str, deadline_seconds: float) -> None:
        self.display, self.what, self.deadline = display, what, deadline_seconds
        self._lock = threading.Lock()
        self._shown = self._done = False
        self._timer = threading.Timer(SHOW_AFTER_SECONDS, self._show)
        self._timer.daemon = True
        self._timer.start()

    def _show(self) -> None:
        with self._lock:
            if not self._done:
                self._shown = True
                self.display.begin(self.what, self.deadline)

    def finish(self, seconds: float, ok: bool) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            if self._shown:
                self.display.end(self.what, seconds, ok)


def observe(seconds: float, what: str) -> None:
    """A deliberate observation window (e.g. "no second mysql-0 appears for 30 s"): the one kind of sleep a
    scenario may do, because watching for the absence of something has no event to wait on."""
    with waiting(f"observing: {what}", seconds):
        sleep(seconds)
