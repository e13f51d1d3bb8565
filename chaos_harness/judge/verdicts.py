"""A verdict says what was seen: `pass`, `fail` or `unknown` (plus `error` when the checker itself raised).

`unknown` means the evidence the hypothesis needs was not observed: nothing selected, no acknowledged write, a
replica never read, a gap in a stream that matters, a fault that stopped holding before its end. It is never a
pass, and never a failure of the user's hypothesis either (Jepsen's `:valid? :unknown`).

Every checker is registered with `@checker(name, need=description, ...)`: the evidence it needs, by key. Inside,
`lacking(name, need=present, ...)` is the one place that turns missing evidence into an `unknown` verdict, so
what a checker needs is written once and a test can walk every checker's every need (tests/unit/test_needs.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from chaos_harness.record.events import ordered

Status = Literal["pass", "fail", "unknown", "error", "aborted", "not-run"]
# `aborted`: an abort condition or `chaos-harness stop` ended the scenario, its fault healed at once; `not-run`:
# the steady state did not hold before a fault (or the run was already stopped), so nothing was injected. Neither
# judges the hypothesis: both are verdicts on the run, never a pass and never a failure.
STATUSES: tuple[str, ...] = ("pass", "fail", "unknown", "error", "aborted", "not-run")


@dataclass(frozen=True)
class Verdict:
    """One checker's finding. `status` may be given as a bool (True: pass, False: fail), as scenarios written
    before `unknown` existed do."""
    checker: str
    status: Status
    summary: str
    evidence: tuple[dict[str, Any], ...] = ()
    figures: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        status: Any = self.status
        if isinstance(status, bool):
            status = "pass" if status else "fail"
        if status not in STATUSES:
            raise ValueError(f"verdict status {status!r}: one of {', '.join(STATUSES)}")
        object.__setattr__(self, "status", status)

    @property
    def ok(self) -> bool:
        return self.status == "pass"

    @property
    def error(self) -> bool:
        return self.status == "error"

    def explain(self) -> str:
        lines = [f"{self.checker}: {self.status.upper()}: {self.summary}"]
        lines += [f"  evidence: {e}" for e in self.evidence[:10]]
        if self.figures:
            lines.append("  figures: " + ", ".join(f"{k}={v:.1f}" for k, v in self.figures.items()))
        return "\n".join(lines)


def judged(checker: str, ok: bool, summary: str, evidence: tuple[dict[str, Any], ...] = (),
           figures: dict[str, float] | None = None) -> Verdict:
    """A pass or a fail, once the evidence is known to be there."""
    return Verdict(checker, "pass" if ok else "fail", summary, evidence, figures or {})


# name -> {need key: what the checker needs to see, in words}
CHECKERS: dict[str, dict[str, str]] = {}
# name -> the kinds of history event it reads (besides facts, meta and the recorder's own marks): what the
# generated mutations of tests/unit/mutants.py take away or blind, and test_reads_are_declared checks.
READS: dict[str, frozenset[str]] = {}
# name -> how long its claim needs its fault held, from the cluster's timing (judge/windows.py: inconclusive).
HELD_FOR: dict[str, Callable[[Any], float]] = {}


def checker(name: str, reads: tuple[str, ...], held_for: Callable[[Any], float] | None = None,
            **needs: str) -> Callable[[Callable[..., Verdict]], Callable[..., Verdict]]:
    """Register a checker, the event kinds it reads, how long a fault it judges must hold for its claim to mean
    anything (a function of the run's ClusterTiming; claims about no fault declare none) and the evidence it
    needs. A checker that raises yields an `error` verdict carrying the exception's message, so the scenario's
    other checkers still run and report (Jepsen's check-safe)."""
    def wrap(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        CHECKERS[name] = dict(needs)
        READS[name] = frozenset(reads)
        if held_for is not None:
            HELD_FOR[name] = held_for

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Verdict:
            try:
                # The history in the order things happened, each event once: never the order of a file.
                if args:
                    args = (ordered(args[0]), *args[1:])
                elif "events" in kwargs:
                    kwargs["events"] = ordered(kwargs["events"])
                return fn(*args, **kwargs)
            except Exception as e:
                return Verdict(name, "error", f"checker raised {type(e).__name__}: {e}")
        checked.checker_name = name  # type: ignore[attr-defined]
        return checked
    return wrap


def lacking(name: str, **present: object) -> Verdict | None:
    """The `unknown` verdict when any declared need of checker `name` is absent (a falsy value), else None. The
    summary names every missing need in the checker's own words; the evidence lists their keys."""
    declared = CHECKERS[name]
    undeclared = sorted(set(present) - set(declared))
    if undeclared:
        raise KeyError(f"checker {name} does not declare the need(s) {', '.join(undeclared)}")
    missing = [key for key, value in present.items() if not value]
    if not missing:
        return None
    return Verdict(name, "unknown", "not observed: " + "; ".join(declared[k] for k in missing) + " (nothing to judge)",
                   ({"missing": missing},))


def blind(name: str, spans: Iterable[dict[str, Any]], what: str) -> Verdict | None:
    """The `unknown` verdict for gaps in a stream the checker relies on (each span names node or stream, start
    and seconds), or None when there are none."""
    spans = sorted(spans, key=lambda s: -float(s.get("seconds", 0)))
    if not spans:
        return None
    worst = spans[0]
    where = worst.get("node") or worst.get("stream")
    return Verdict(name, "unknown", f"{what}: {where} unobserved for {worst['seconds']:.1f}s (allowed "
                   f"{worst.get('allowed', 0):.1f}s){f' and {len(spans) - 1} more gap(s)' if len(spans) > 1 else ''}",
                   tuple({"gap": True, **s} for s in spans[:10]),
                   {"max_gap": float(worst["seconds"])})


def outcome(statuses: Iterable[str]) -> str:
    """A scenario's outcome from its verdicts: `fail` when any failed (a finding stands whatever else is
    unknown); else `error` when a checker raised; else `aborted`, then `not-run`; else `unknown` when any was; `pass` only when every one
    passed (and there was at least one)."""
    seen = list(statuses)
    for status in ("fail", "error", "aborted", "not-run", "unknown"):
        if status in seen:
            return status
    return "pass" if seen else "unknown"


def verdict_dict(v: Verdict) -> dict[str, Any]:
    return {"checker": v.checker, "status": v.status, "ok": v.ok, "summary": v.summary, "evidence": list(v.evidence),
            "figures": v.figures, "error": v.error}


def verdict_status(v: dict[str, Any]) -> str:
    """A recorded verdict's status; results written before `unknown` existed carry only ok and error."""
    if not isinstance(v, dict):
        return "error"
    return str(v.get("status") or ("error" if v.get("error") else "pass" if v.get("ok") else "fail"))
