"""The CLI's progress display for long waits: what it is waiting for, elapsed vs deadline (rich)."""

from __future__ import annotations

import threading
import time

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text


class RichWaitDisplay:
    """One live line per wait on a terminal (several at once when scenarios run side by side); a start and an
    end line otherwise (logs, cron mail, CI)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, soft_wrap=True)
        self._live: Live | None = None
        self._active: list[tuple[str, float, float]] = []  # (what, deadline, started), in start order
        self._lock = threading.RLock()

    def _line(self, what: str, deadline: float, started: float) -> Text:
        elapsed = time.monotonic() - started
        filled = int(20 * min(elapsed / deadline, 1.0)) if deadline else 0
        return Text.assemble(("waiting for ", "dim"), (what, "bold"), f"  {elapsed:5.1f}s / deadline {deadline:.0f}s  ",
                             ("█" * filled + "·" * (20 - filled), "cyan"))

    def _lines(self) -> Group:
        with self._lock:
            return Group(*(self._line(*wait) for wait in self._active))

    def begin(self, what: str, deadline_seconds: float) -> None:
        with self._lock:
            self._active.append((what, deadline_seconds, time.monotonic()))
            if not self.console.is_terminal:
                self.console.print(f"waiting for {escape(what)} (deadline {deadline_seconds:.0f}s)", highlight=False)
            elif self._live is None:
                self._live = Live(get_renderable=self._lines, console=self.console, refresh_per_second=4,
                                  transient=True)
                self._live.start()

    def end(self, what: str, seconds: float, ok: bool) -> None:
        with self._lock:
            wait = next((w for w in self._active if w[0] == what), None)
            if wait:
                self._active.remove(wait)
            if self._live is not None and not self._active:
                self._live.stop()
                self._live = None
            mark = "[green]done[/]" if ok else "[red]gave up[/]"
            deadline = wait[1] if wait else 0.0
            self.console.print(f"  {mark} {escape(what)} after {seconds:.1f}s (deadline {deadline:.0f}s)", highlight=False)
