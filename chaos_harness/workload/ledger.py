"""The write ledger: every write the workload attempts, as invoke -> ok / fail / unknown, with timestamps.

`unknown` means the client cannot tell whether the write happened (the connection dropped or timed out after
the statement was sent). It is never counted as failed: a durability check must allow it to be present.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from chaos_harness.record.events import Outcome, WriteRecord  # re-exported: a write is a recorded event


class Ledger:
    """Thread-safe, append-only. Optionally mirrors each record to a sink (the run's history recorder)."""

    def __init__(self, sink: Callable[[WriteRecord], None] | None = None) -> None:
        self._records: list[WriteRecord] = []
        self._lock = threading.Lock()
        self._sink = sink

    def append(self, record: WriteRecord) -> None:
        with self._lock:
            self._records.append(record)
        if self._sink:
            self._sink(record)

    def records(self) -> list[WriteRecord]:
        with self._lock:
            return list(self._records)

    def __iter__(self) -> Iterator[WriteRecord]:
        return iter(self.records())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def by_outcome(self, outcome: Outcome) -> list[WriteRecord]:
        return [r for r in self.records() if r.outcome == outcome]

    def save(self, path: Path) -> None:
        path.write_text("".join(json.dumps(r.as_dict()) + "\n" for r in self.records()))

    @classmethod
    def load(cls, path: Path) -> "Ledger":
        ledger = cls()
        for line in path.read_text().splitlines():
            if line.strip():
                ledger.append(WriteRecord(**json.loads(line)))
        return ledger

    @classmethod
    def of(cls, records: Iterable[WriteRecord]) -> "Ledger":
        ledger = cls()
        for r in records:
            ledger.append(r)
        return ledger


def now() -> tuple[float, float]:
    return time.time(), time.monotonic()
