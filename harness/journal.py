"""The fault journal: every fault is written here *before* it is injected and removed after it is healed,
so `chaos-harness cleanup` can heal whatever a crashed or interrupted run left behind."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_journal_path() -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME", Path.home() / ".local" / "state"))
    return Path(os.environ.get("CHAOS_HARNESS_JOURNAL", state / "chaos-harness" / "journal.json"))


@dataclass(frozen=True)
class JournalEntry:
    id: str
    fault: dict[str, Any]           # the fault's spec: {"type": ..., params...}
    cluster_uid: str                # kube-system namespace UID of the cluster it was injected into
    context: str
    run_id: str
    written_at: float
    access: dict[str, str] = field(default_factory=dict)  # the node access that injected it: cleanup uses it
    owner: dict[str, Any] = field(default_factory=dict)   # pid, host, boot id of the process that wrote it

    def owner_alive(self) -> bool:
        """Whether the process that wrote the entry still runs (then its own `finally` heals it)."""
        if not self.owner or self.owner.get("host") != socket.gethostname() or self.owner.get("boot_id") != boot_id():
            return False
        try:
            os.kill(int(self.owner["pid"]), 0)
        except (ProcessLookupError, ValueError, KeyError):
            return False
        except PermissionError:
            return True
        return True

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def this_process() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "boot_id": boot_id()}


class Journal:
    """A JSON file guarded by an advisory lock; each change is written whole and renamed into place."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_journal_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _locked(self) -> Iterator[list[dict[str, Any]]]:
        lock = self.path.with_suffix(".lock")
        with lock.open("w") as lf:
            fcntl.flock(lf, fcntl.LOCK_EX)
            entries = json.loads(self.path.read_text()) if self.path.exists() and self.path.read_text().strip() else []
            yield entries
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, indent=2))
            os.replace(tmp, self.path)

    def add(self, fault: dict[str, Any], cluster_uid: str, context: str, run_id: str,
            access: dict[str, str] | None = None) -> JournalEntry:
        entry = JournalEntry(uuid.uuid4().hex[:12], fault, cluster_uid, context, run_id, time.time(), dict(access or {}),
                             this_process())
        with self._locked() as entries:
            entries.append(entry.as_dict())
        return entry

    def remove(self, entry_id: str) -> None:
        with self._locked() as entries:
            entries[:] = [e for e in entries if e["id"] != entry_id]

    def entries(self) -> list[JournalEntry]:
        with self._locked() as entries:
            return [JournalEntry(**e) for e in entries]
