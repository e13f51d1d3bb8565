"""The harness's own memory on a large cluster.

A run is many threads (recorder watches, waits, writers, side-by-side scenarios) each decoding API responses
that grow with the cluster: a node list of a 1,000-node cluster is megabytes of JSON, freed a moment later. glibc
gives each thread that allocates concurrently an arena of its own (up to 8 per core) and keeps what was freed in
each. Two arenas bound that. glibc reads MALLOC_ARENA_MAX when the process starts, so the command starts itself
again once with it set; a pytest process can only call mallopt. A bound, not a measured saving: beside 1,000
simulated nodes `doctor` peaked at 101 MiB with and without it (VmHWM; benchmarks/scale.py, the README's cost
section, which also says why an earlier 836 -> 151 MiB figure was the benchmark's own RSS)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2


def cap_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Ask glibc for at most `arenas` malloc arenas; False where the C library is not glibc (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError, TypeError):
        return False


def restart_with_capped_arenas() -> None:
    """Exec this command again with MALLOC_ARENA_MAX set, unless it is set (by the user, or by this once)."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return
    os.environ["MALLOC_ARENA_MAX"] = str(ARENAS)
    try:
        os.execv(sys.executable, [sys.executable, "-m", "chaos_harness", *sys.argv[1:]])
    except OSError:
        pass  # go on as we are: only the memory bound is lost
