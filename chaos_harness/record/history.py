"""One history per run: every observation, with monotonic and wall timestamps, appended as JSON lines.

The file is flushed per event so a crashed run keeps everything seen until the crash. Checkers read the
history only (`load`), never the cluster.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from chaos_harness.record.events import Event, check_fields, load, of_kind  # Event, load, of_kind: re-exported


class History:
    """Thread-safe appender. Every event gets `seq`, `mono` (time.monotonic) and `wall` (time.time)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._events: list[Event] = []
        self._lock = threading.Lock()
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", buffering=1)

    def record(self, kind: str, **fields: Any) -> Event:
        """Append one event. A kind typed in chaos_harness/record/events.py accepts only its own fields (a typo in a field
        name is an error where it is written, not a checker that silently finds nothing)."""
        check_fields(kind, fields)
        with self._lock:
            event = {"seq": len(self._events), "mono": time.monotonic(), "wall": time.time(), "kind": kind, **fields}
            self._events.append(event)
            if self._file is not None:
                self._file.write(json.dumps(event, default=str) + "\n")
        return event

    def events(self, kind: str | None = None) -> list[Event]:
        with self._lock:
            return [e for e in self._events if kind is None or e["kind"] == kind]

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


