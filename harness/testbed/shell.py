"""Running the test bed's external commands with errors that say what failed."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class BuildError(RuntimeError):
    """A test-bed command failed; the message carries the command and the tail of its output."""


def run(cmd: Sequence[str], *, cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
        capture: bool = False, stdin: Path | None = None, timeout: float | None = None) -> str:
    """Run `cmd`; return stdout when `capture`, else stream it. Raise BuildError naming the command on failure."""
    stdin_file = open(stdin, "rb") if stdin else None
    try:
        result = subprocess.run(
            list(cmd), cwd=cwd, env=dict(env) if env is not None else None, stdin=stdin_file,
            stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None,
            text=True, timeout=timeout,
        )
    except FileNotFoundError as e:
        raise BuildError(f"{cmd[0]} not found on PATH ({os.environ.get('PATH', '')})") from e
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"{' '.join(cmd)} did not finish within {timeout}s") from e
    finally:
        if stdin_file:
            stdin_file.close()
    if result.returncode != 0:
        tail = "\n".join(((result.stderr or "") + (result.stdout or "")).strip().splitlines()[-15:]) if capture else ""
        raise BuildError(f"{' '.join(cmd)} exited {result.returncode}" + (f":\n{tail}" if tail else ""))
    return result.stdout if capture else ""
