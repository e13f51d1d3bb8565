"""Files a run writes whole: each is written beside its place under a temporary name, flushed to disk, then
renamed over it, so that a crash or a full disk mid-write leaves the previous version (or nothing), never half of
one that a later reader (the index, `chaos-harness check`) would take for the run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` in one step (OSError as it comes: no space, no permission)."""
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# A file a command is given to read whole (a run file, a results.json, a history, a journal) is at most this big:
# a recorded history of a long run is a few megabytes.
MAX_READ_BYTES = 256 * 2**20


def read_regular(path: Path, what: str, limit: int = MAX_READ_BYTES) -> bytes:
    """The bytes of `path`, read only when it is a regular file (never a FIFO that blocks, a device that never
    ends, a directory) of at most `limit` bytes; otherwise OSError-free ValueError naming why, for the caller to
    turn into its one line."""
    import stat

    try:
        st = path.stat()  # follows symlinks: a loop is an OSError (ELOOP), reported as such
    except OSError as e:
        raise ValueError(f"{what} {path} cannot be read ({e.strerror or e})") from e
    if stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{what} {path} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{what} {path} is not a regular file (a FIFO, a socket or a device)")
    if st.st_size > limit:
        raise ValueError(f"{what} {path} is {st.st_size / 2**20:.0f} MiB: larger than the {limit / 2**20:.0f} MiB "
                         f"a {what} may be")
    try:
        with path.open("rb") as f:
            return f.read(limit + 1)[:limit]
    except OSError as e:
        raise ValueError(f"{what} {path} cannot be read ({e.strerror or e})") from e
