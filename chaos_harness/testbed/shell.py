"""Running the test bed's external commands with errors that say what failed, and build stages that run side
by side and fail together: the first stage that fails cancels the others at once (their processes killed),
instead of surfacing after every other stage has finished."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos_harness.core.errors import HarnessError


class BuildError(HarnessError):
    """A test-bed command failed; the message carries the command and the tail of its output."""


class StageCancelled(BuildError):
    """A stage stopped because another stage failed."""


@dataclass
class _Stage:
    """What `run` needs to know inside a stage's thread: where its output goes and whether to give up."""

    name: str
    log: Path
    cancelled: threading.Event
    procs: set[subprocess.Popen] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def kill(self) -> None:
        with self.lock:
            procs = list(self.procs)
        for proc in procs:
            # Each command runs in its own session: the group holds its children (go's compilers, debootstrap).
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# The stage of the current thread, set only by run_stages in the threads it starts.
_current = threading.local()


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def run(cmd: Sequence[str], *, cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
        capture: bool = False, stdin: Path | None = None, timeout: float | None = None) -> str:
    """Run `cmd`; return stdout when `capture`, else stream it (into the stage's log inside a build stage).
    Raise BuildError naming the command and the tail of its output on failure."""
    stage: _Stage | None = getattr(_current, "stage", None)
    if stage and stage.cancelled.is_set():
        raise StageCancelled(f"stage {stage.name} cancelled")
    stdin_file = open(stdin, "rb") if stdin else None
    log_file = open(stage.log, "a") if stage and not capture else None
    try:
        try:
            proc = subprocess.Popen(
                list(cmd), cwd=cwd, env=dict(env) if env is not None else None, stdin=stdin_file,
                stdout=subprocess.PIPE if capture else log_file, stderr=subprocess.PIPE if capture else log_file,
                text=True, start_new_session=stage is not None,
            )
        except FileNotFoundError as e:
            raise BuildError(f"{cmd[0]} not found on PATH ({os.environ.get('PATH', '')})") from e
        if stage:
            with stage.lock:
                stage.procs.add(proc)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as e:
            proc.kill()
            proc.communicate()
            raise BuildError(f"{' '.join(cmd)} did not finish within {timeout}s") from e
        finally:
            if stage:
                with stage.lock:
                    stage.procs.discard(proc)
    finally:
        for f in (stdin_file, log_file):
            if f:
                f.close()
    if stage and stage.cancelled.is_set():
        raise StageCancelled(f"stage {stage.name} cancelled")
    if proc.returncode != 0:
        if capture:
            out = "\n".join(((stderr or "") + (stdout or "")).strip().splitlines()[-15:])
        else:
            out = tail(stage.log) if stage else ""
        raise BuildError(f"{' '.join(cmd)} exited {proc.returncode}" + (f":\n{out}" if out else ""))
    return stdout if capture else ""


def run_stages(stages: Mapping[str, Callable[[], Any]], log_dir: Path) -> dict[str, Any]:
    """Run each named stage in its own thread; return their results by name.

    The first stage to fail cancels the others: their running commands are killed and the BuildError names
    the failed stage, its error and the tail of its log (kept in `log_dir/<stage>.log`)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    cancelled = threading.Event()
    contexts = {name: _Stage(name, log_dir / f"{name.replace(' ', '-')}.log", cancelled) for name in stages}
    for ctx in contexts.values():
        ctx.log.write_text("")

    def in_stage(ctx: _Stage, fn: Callable[[], Any]) -> Any:
        _current.stage = ctx
        try:
            return fn()
        finally:
            _current.stage = None

    with ThreadPoolExecutor(max_workers=len(stages), thread_name_prefix="stage") as pool:
        futures = {pool.submit(in_stage, contexts[name], fn): name for name, fn in stages.items()}
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            cancelled.set()
            for ctx in contexts.values():
                ctx.kill()
            wait(pending)
            name = futures[failed[0]]
            error = failed[0].exception()
            others = sorted(futures[f] for f in pending)
            log_tail = tail(contexts[name].log)
            raise BuildError(
                f"build stage '{name}' failed: {error}"
                + (f"\nlast lines of {contexts[name].log}:\n{log_tail}" if log_tail and log_tail not in str(error) else "")
                + (f"\ncancelled: {', '.join(others)}" if others else "")) from error
    return {futures[f]: f.result() for f in futures}


def require_tools(tools: Mapping[str, str]) -> None:
    """Fail before any stage starts when a host tool is missing; `tools` maps each command to its fix."""
    missing = [f"{tool} ({fix})" for tool, fix in tools.items() if shutil.which(tool) is None]
    if missing:
        raise BuildError(f"missing on this host: {'; '.join(missing)}")
