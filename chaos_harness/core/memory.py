"""The harness's own memory on a large cluster.

A run is many threads (recorder watches, waits, writers, side-by-side scenarios) each decoding API responses
that grow with the cluster: a node list of a 1,000-node cluster is megabytes of JSON, freed a moment later. glibc
gives each thread that allocates concurrently an arena of its own (up to 8 per core) and keeps what was freed in
each. Two arenas bound that, asked of glibc with mallopt as the command starts (before its threads do), which
costs nothing: an earlier version started the command a second time with MALLOC_ARENA_MAX set, for no measured
saving (beside 1,000 simulated nodes `doctor` peaked at 101 MiB with and without it: VmHWM, benchmarks/scale.py,
the README's cost section) and with a second start-up in which a signal found no handler. A bound, not a measured
saving."""

from __future__ import annotations

import ctypes
import os
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Ask glibc for at most `arenas` malloc arenas; False where the C library is not glibc (musl, macOS). The
    process's own symbols are asked (ctypes.util.find_library would run ldconfig: a quarter of a second)."""
    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:  # the user's own choice stands
        return False
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError, TypeError):
        return False
