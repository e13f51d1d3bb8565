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

from chaos_harness.core.errors import HarnessError
from chaos_harness.core.files import read_regular


def default_journal_path() -> Path:
    """CHAOS_HARNESS_JOURNAL, else $XDG_STATE_HOME/chaos-harness/journal.json (~/.local/state by default); an
    empty variable counts as unset, as the XDG spec says of XDG_STATE_HOME."""
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return Path(os.environ.get("CHAOS_HARNESS_JOURNAL") or state / "chaos-harness" / "journal.json")


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


def impossible_path(path: Path) -> str:
    """Why a file could never be created at `path` ("" when it could): a parent that is not a directory, or a
    kernel file system that holds no files of ours."""
    absolute = path.absolute()
    if any(absolute.is_relative_to(root) for root in (Path("/proc"), Path("/sys"), Path("/dev"))):
        return f"{absolute.parts[1]} is the kernel's, not a place for files"
    for parent in absolute.parents:
        if parent.exists():
            return "" if parent.is_dir() else f"{parent} is not a directory"
    return ""


def entry_problem(entry: Any) -> str:
    """What keeps `entry` from being a journal entry ("" when nothing does)."""
    if not isinstance(entry, dict):
        return f"is a JSON {type(entry).__name__}, not an object"
    for key in ("id", "cluster_uid", "context", "run_id"):
        if not isinstance(entry.get(key), str):
            return f"has no string {key!r}"
    fault = entry.get("fault")
    if not isinstance(fault, dict) or not isinstance(fault.get("type"), str):
        return "has no fault with a type"
    if not isinstance(entry.get("written_at"), (int, float)) or isinstance(entry.get("written_at"), bool):
        return "has no time it was written"
    for key in ("access", "owner"):
        if key in entry and not isinstance(entry[key], dict):
            return f"has a {key!r} that is not an object"
    return ""


class JournalError(HarnessError):
    """The journal cannot be read or written (corrupt, a directory, not writable): one line, exit 2."""


class Journal:
    """A JSON file guarded by an advisory lock on a file of its own (`<journal>.lock`, never the journal
    itself, whatever the journal is named). A change is written whole to a temporary file, fsync'd, renamed
    into place, and the directory fsync'd: a fault recorded before injection survives a crash or power loss.
    Reads take the lock shared and never write."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_journal_path()
        if not self.path.name or self.path.is_dir():
            raise JournalError(f"journal {self.path} is a directory; pass a file with --journal "
                               f"(or CHAOS_HARNESS_JOURNAL)")
        if why := impossible_path(self.path):
            raise JournalError(f"journal {self.path} can never exist ({why}); pass another file with --journal "
                               f"(or CHAOS_HARNESS_JOURNAL)")
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def _fail(self, action: str, e: Exception) -> JournalError:
        return JournalError(f"cannot {action} journal {self.path}: {e.strerror if isinstance(e, OSError) else e}; "
                            f"fix its permissions or pass another file with --journal")

    def _read(self) -> list[dict[str, Any]]:
        """The entries, or JournalError: a journal that cannot be read (a symlink loop, a FIFO, garbage, an
        entry of the wrong shape) is never taken for an empty one, which would mean "nothing to heal"."""
        if not os.path.lexists(self.path):
            return []
        try:
            text = read_regular(self.path, "journal").decode("utf-8")
        except ValueError as e:
            raise JournalError(f"{e}; pass a journal file with --journal after checking what it holds (faults "
                               f"listed there may still need healing)") from e
        if not text.strip():
            return []
        try:
            entries = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise JournalError(f"journal {self.path} is not valid JSON ({str(e)[:120]}); move it aside after checking "
                               f"what it holds (faults listed there may still need healing)") from e
        if not isinstance(entries, list):
            raise JournalError(f"journal {self.path} does not hold a list of entries")
        for i, entry in enumerate(entries):
            if problem := entry_problem(entry):
                raise JournalError(f"journal {self.path}: entry {i} {problem}; this version cannot heal it: move the "
                                   f"journal aside after checking what it holds")
        return entries

    @contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        try:
            if exclusive:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                lf = self._lock_path.open("a")
            else:
                # A read never creates anything: no lock file yet means no writer has ever run.
                lf = self._lock_path.open("r")
        except OSError as e:
            if not exclusive:  # no lock file, or not ours to open: read unlocked rather than fail
                yield
                return
            raise self._fail("lock", e) from e
        with lf:
            fcntl.flock(lf, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield

    @contextmanager
    def _changing(self) -> Iterator[list[dict[str, Any]]]:
        with self._lock(exclusive=True):
            entries = self._read()
            yield entries
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                with tmp.open("w") as f:
                    f.write(json.dumps(entries, indent=2))
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
                dir_fd = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            except OSError as e:
                tmp.unlink(missing_ok=True)
                raise self._fail("write", e) from e

    def add(self, fault: dict[str, Any], cluster_uid: str, context: str, run_id: str,
            access: dict[str, str] | None = None) -> JournalEntry:
        entry = JournalEntry(uuid.uuid4().hex[:12], fault, cluster_uid, context, run_id, time.time(), dict(access or {}),
                             this_process())
        with self._changing() as entries:
            entries.append(entry.as_dict())
        return entry

    def remove(self, entry_id: str) -> None:
        with self._changing() as entries:
            entries[:] = [e for e in entries if e["id"] != entry_id]

    def entries(self) -> list[JournalEntry]:
        with self._lock(exclusive=False):
            raw = self._read()
        try:
            return [JournalEntry(**e) for e in raw]
        except TypeError as e:
            raise JournalError(f"journal {self.path} holds an entry this version cannot read: {e}") from e
