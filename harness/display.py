"""The CLI's progress display for long waits: what it is waiting for, elapsed vs deadline (rich)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.text import Text


class RichWaitDisplay:
    """One live line per wait on a terminal; a start and an end line otherwise (logs, cron mail, CI)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, soft_wrap=True)
        self._live: Live | None = None
        self._what = ""
        self._deadline = 0.0
        self._started = 0.0

    def _line(self) -> Text:
        elapsed = time.monotonic() - self._started
        filled = int(20 * min(elapsed / self._deadline, 1.0)) if self._deadline else 0
        return Text.assemble(("waiting for ", "dim"), (self._what, "bold"),
                             f"  {elapsed:5.1f}s / deadline {self._deadline:.0f}s  ",
                             ("█" * filled + "·" * (20 - filled), "cyan"))

    def begin(self, what: str, deadline_seconds: float) -> None:
        self._what, self._deadline, self._started = what, deadline_seconds, time.monotonic()
        if self.console.is_terminal:
            self._live = Live(get_renderable=self._line, console=self.console, refresh_per_second=4, transient=True)
            self._live.start()
        else:
            self.console.print(f"waiting for {what} (deadline {deadline_seconds:.0f}s)", highlight=False)

    def end(self, what: str, seconds: float, ok: bool) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        mark = "[green]done[/]" if ok else "[red]gave up[/]"
        self.console.print(f"  {mark} {what} after {seconds:.1f}s (deadline {self._deadline:.0f}s)", highlight=False)
