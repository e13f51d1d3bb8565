"""Judging a scenario from its recorded history, at the end of a run or offline from a run directory
(`chaos-harness check`): the same verdicts from the same history."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

from chaos_harness.core.errors import UsageError
from chaos_harness.core.files import read_regular
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.judge.during_fault import fault_took_effect
from chaos_harness.judge.verdicts import Verdict
from chaos_harness.record.events import load, ordered


def with_timing_source(verdicts: list[Verdict], timing: ClusterTiming) -> list[Verdict]:
    """Every window a checker derived from assumed timing inherits its uncertainty: say so next to it."""
    if not timing.assumed:
        return verdicts
    note = {"timing_assumed": list(timing.assumed),
            "why": "the control plane does not show these flags: configured or Kubernetes' defaults"}
    return [replace(v, evidence=(*v.evidence, note)) for v in verdicts]


def halted(events: list[dict[str, Any]]) -> Verdict | None:
    """The one verdict of a scenario its run stopped (an `abort` event: the run's abort condition or `chaos-harness
    stop`), or that never injected because the steady state did not hold (a failed `steady-state`) or the run had
    already stopped (`not-run`): its checkers are not asked, since what they would judge never happened as
    planned. None when the scenario ran its course."""
    for e in events:
        if not isinstance(e, dict):
            continue
        if e.get("kind") == "abort":
            word = {"stop": "stopped by 'chaos-harness stop'", "lock-lost": "the run lost its run lock"}.get(
                str(e.get("source")), "abort condition breached")
            return Verdict("abort", "aborted", f"{word}: {e.get('reason', '')}; the fault was healed at once",
                           ({k: e.get(k) for k in ("source", "reason", "condition", "output", "mono") if k in e},))
        if e.get("kind") == "steady-state" and not e.get("ok", True):
            checks = e.get("checks") if isinstance(e.get("checks"), list) else []
            return Verdict("steady-state", "not-run", f"nothing injected: {e.get('reason', 'the steady state did not hold')}",
                           tuple({"fault": e.get("fault"), **c} for c in checks if isinstance(c, dict)
                                 and not c.get("ok")))
        if e.get("kind") == "not-run":
            return Verdict("run", "not-run", f"not started: {e.get('reason', '')}")
    return None


def judge(module: ModuleType, events: list[dict[str, Any]], timing: ClusterTiming) -> list[Verdict]:
    """The scenario's verdicts from its history, read in the order things happened, each event once (a shuffled,
    merged or doubled history is judged the same). A `check` that raises outside its checkers (which isolate
    themselves) is one `error` verdict, never a lost run. A history holding faults gets `fault-took-effect` when
    the scenario's own checks did not ask for it: a pass never stands on a fault with no proof it took effect."""
    events = ordered(events)
    if (stopped := halted(events)) is not None:
        return [stopped]
    try:
        verdicts = list(module.check(events, timing))
    except Exception as e:
        return [Verdict("check", "error", f"check raised {type(e).__name__}: {str(e)[:300]}")]
    except SystemExit as e:  # a scenario's check() is the scenario author's code: it ends nothing but itself
        return [Verdict("check", "error", f"check() called sys.exit({e.code!r})")]
    if not all(isinstance(v, Verdict) for v in verdicts):
        odd = next(v for v in verdicts if not isinstance(v, Verdict))
        return [Verdict("check", "error", f"check() returned {str(odd)[:60]!r} ({type(odd).__name__}), not a Verdict")]
    if any(e["kind"] == "fault" for e in events) and not any(v.checker == "fault-took-effect" for v in verdicts):
        verdicts.append(fault_took_effect(events))
    return verdicts


def read_run(run_dir: Path) -> dict[str, Any]:
    """A finished run's results.json, checked for what re-judging needs; anything unreadable is one line naming
    the file (UsageError), never a traceback."""
    path = run_dir / "results.json"
    if not path.exists() and not path.is_symlink():
        raise UsageError(f"{run_dir} holds no results.json: pass a run directory (reports/<run-id>)")
    try:
        document = json.loads(read_regular(path, "results file").decode())
    except RecursionError as e:
        raise UsageError(f"{path} is nested too deep to be a results file") from e
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
        raise UsageError(f"{path} is not a readable results file ({type(e).__name__}: {e}); was the run "
                         f"interrupted while writing it?") from e
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list) or not isinstance(document.get("timing"), dict) or not all(
            isinstance(r, dict) and isinstance(r.get("scenario"), str) and isinstance(r.get("history"), str)
            and isinstance(r.get("verdicts"), list) for r in results):
        raise UsageError(f"{path} is not a chaos-harness results file (it needs timing and results, each with "
                         f"scenario, history and verdicts)")
    return document


def read_history(run_dir: Path, name: str) -> list[dict[str, Any]]:
    """One scenario's recorded history; a missing file or a broken line is one line naming it and the line."""
    path = run_dir / Path(name).name  # a history lives in the run directory, whatever results.json says
    if not path.exists() and not path.is_symlink():
        raise UsageError(f"{path} is missing: the run's histories are what it is judged from")
    try:
        return load(path)
    except UnicodeDecodeError as e:
        raise UsageError(f"{path} cannot be read (not UTF-8 text at byte {e.start})") from e
    except ValueError as e:
        raise UsageError(f"{e}; the file is truncated or corrupt") from e
