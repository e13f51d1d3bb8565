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
