"""The recorder's watch streams as evidence: where each was blind (from a watch error to the re-list that resumed
it), and which of those outages could have hidden what a checker asks about."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from chaos_harness.record.events import Event, of_kind


def watch_outages(events: Sequence[Event], kind: str) -> list[tuple[float, float]]:
    """The spans in which the recorder's `kind` watch was not delivering: from a watch error (or a first list
    that did not complete in time) to the re-list that resumed it (its `resumed` mark, or the first object it
    listed again); an outage never resumed lasts to the end."""
    spans: list[tuple[float, float]] = []
    began: float | None = None
    for e in events:
        if began is not None and ((e["kind"] == kind and e.get("type") in ("LISTED", "FINAL"))
                                  or (e["kind"] == "recorder" and e.get("what") == f"{kind} watch"
                                      and e.get("resumed"))):
            spans.append((began, e["mono"]))
            began = None
        elif began is None and e["kind"] == "recorder" and e.get("what") == f"{kind} watch" and e.get("error"):
            began = e["mono"]
    if began is not None:
        spans.append((began, float("inf")))
    return spans


def outages_within(events: Sequence[Event], kind: str, start: float, end: float,
                   names: Callable[[str], bool] = lambda _: True,
                   fields: Sequence[str] = ("uid",)) -> list[dict[str, Any]]:
    """The `kind` watch's outages overlapping [start, end] across which an object selected by `names` changed in
    any of `fields` (by default its UID: another one, or there on one side only): the spans in which the watch
    could have missed what a checker asks about. An outage across which nothing of that changed hid nothing."""
    spans = []
    for a, b in watch_outages(events, kind):
        if a > end or b < start:
            continue
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for e in of_kind(events, kind):
            if not names(e.get("name", "")):
                continue
            uid = None if e.get("type") == "DELETED" else tuple(e.get(f) for f in fields)
            if e["mono"] < a:
                before[e["name"]] = uid
            elif e["mono"] >= b and e["name"] not in after:
                after[e["name"]] = uid
        changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
        if changed or b == float("inf"):
            spans.append({"stream": f"the {kind} watch", "from": round(max(a, start) - start, 2),
                          "seconds": round(min(b, end) - max(a, start), 2), "allowed": 0.0, "changed": changed})
    return spans


def outages_over(events: Sequence[Event], kinds: Sequence[str], start: float, end: float) -> list[dict[str, Any]]:
    """Every outage of the `kinds` watches overlapping [start, end], whatever it hid: what a claim that something
    did NOT happen in that span cannot see past (an event never observed may have happened inside one)."""
    spans = []
    for kind in kinds:
        for a, b in watch_outages(events, kind):
            if a <= end and b >= start:
                spans.append({"stream": f"the {kind} watch", "from": round(max(a, start) - start, 2),
                              "seconds": round(min(b, end) - max(a, start), 2), "allowed": 0.0})
    return spans


def unresumed(events: Sequence[Event], kind: str) -> list[dict[str, Any]]:
    """The `kind` watch's outage that never ended (the recording's last word on an object may not be its last
    state), as a blind span from when it began."""
    end = max((e["mono"] for e in events), default=0.0)
    return [{"stream": f"the {kind} watch", "from": 0.0, "seconds": round(end - a, 2), "allowed": 0.0,
             "never_resumed": True} for a, b in watch_outages(events, kind) if b == float("inf")]


def observed_since(events: Sequence[Event], kind: str) -> dict[int, float]:
    """For each `kind` observation (by id), the earliest moment at which what it shows may have come about. A
    watch event shows a change as it happens: its own time. What a re-list after an outage shows (LISTED, and the
    DELETED the recorder infers from it) came about at some moment since the outage began; what the first list
    shows, at any moment before it (-inf); what the final list at the end shows, since the last thing the
    recording saw before it."""
    since: dict[int, float] = {}
    began: float | None = None
    last_live = float("-inf")
    for e in events:
        if e["kind"] == "recorder" and e.get("what") == f"{kind} watch" and e.get("error"):
            began = e["mono"] if began is None else began
        elif e["kind"] == "recorder" and e.get("what") == f"{kind} watch" and e.get("resumed"):
            began = None  # the re-list's objects were recorded before this mark
        if e["kind"] != kind:
            if e.get("type") != "FINAL":
                last_live = e["mono"]
            continue
        if e.get("type") == "FINAL":
            since[id(e)] = last_live
        elif e.get("type") == "LISTED" or e.get("synthetic"):
            since[id(e)] = began if began is not None else float("-inf")
        else:
            since[id(e)] = e["mono"]
            began = None  # a live watch event: the stream delivers again
            last_live = e["mono"]
    return since
