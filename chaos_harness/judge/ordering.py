"""Checkers of the StatefulSet controller's ordering: OrderedReady start, Parallel start, reverse-order termination,
rolling and OnDelete updates, and at most N identities unavailable.

Order is judged on when each change came about, as a span (judge/streams.py: observed_since): the moment a watch
event shows it, or, for what a re-list after an outage shows, any moment since the outage began. An order broken
for certain (the spans do not overlap) fails; one the spans cannot settle is `unknown`: an outage of the pod watch
never makes an order look broken, nor look kept."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from chaos_harness.judge.evidence import is_ordinal_pod, observed_since, ordinal_of, unresumed, watch_outages
from chaos_harness.judge.verdicts import Verdict, blind, checker, judged, lacking
from chaos_harness.record.events import Event, of_kind

Span = tuple[float, float]  # (earliest, latest) moment a change came about


def _first(events: Sequence[Event], statefulset: str, shows: Any) -> dict[str, Span]:
    """Per pod of the StatefulSet: when it first showed `shows(event)` (a span)."""
    since = observed_since(events, "pod")
    first: dict[str, Span] = {}
    for ev in of_kind(events, "pod"):
        if is_ordinal_pod(ev["name"], statefulset) and ev["name"] not in first and shows(ev):
            first[ev["name"]] = (min(since.get(id(ev), ev["mono"]), ev["mono"]), ev["mono"])
    return first


def _first_seen_and_ready(events: Sequence[Event], statefulset: str) -> tuple[dict[str, Span], dict[str, Span]]:
    """Per pod of the StatefulSet: when it was first observed, and when first observed Ready."""
    seen = _first(events, statefulset, lambda e: e["type"] != "DELETED")
    ready = _first(events, statefulset, lambda e: e["type"] != "DELETED" and e["ready"])
    return seen, ready


def _unsure(name: str, doubts: list[dict[str, Any]], what: str) -> Verdict | None:
    """`unknown` for orders the pod watch's outages leave open (each doubt names the pods and the span)."""
    if not doubts:
        return None
    worst = max(doubts, key=lambda d: d["seconds"])
    return Verdict(name, "unknown", f"{what}: {worst['pods']} came about within {worst['seconds']:.1f}s of each other "
                   f"while the pod watch was out (the order is not known){f' and {len(doubts) - 1} more' if len(doubts) > 1 else ''}",
                   tuple({"gap": True, "stream": "the pod watch", **d} for d in doubts[:10]),
                   {"max_gap": worst["seconds"]})


def _before(a: Span, b: Span) -> bool | None:
    """Whether change a came strictly before change b: True, False, or None when their spans cannot tell."""
    if a[1] < b[0]:
        return True
    if a[0] >= b[1]:
        return False
    return None


@checker("ordered-ready", reads=("pod",), several="more than one replica to order", all_ready="every pod observed Ready")
def ordered_ready(events: Sequence[Event], statefulset: str, replicas: int) -> Verdict:
    """OrderedReady: pod n is first observed only after pod n-1 was observed Ready."""
    name = "ordered-ready"
    first_seen, first_ready = _first_seen_and_ready(events, statefulset)
    pods = [f"{statefulset}-{n}" for n in range(replicas)]
    if missing := lacking(name, several=replicas > 1, all_ready=all(p in first_ready for p in pods)):
        return Verdict(name, "unknown", missing.summary + f" ({sum(p in first_ready for p in pods)} of {replicas} "
                       f"Ready)", missing.evidence)
    violations, doubts = [], []
    for prev, cur in zip(pods, pods[1:]):
        early = _before(first_seen[cur], first_ready[prev])
        if early:
            violations.append({"pod": cur, "created_before_ready_of": prev,
                               "by": round(first_ready[prev][1] - first_seen[cur][1], 2)})
        elif early is None:
            doubts.append({"pods": f"{cur} created, {prev} Ready", "seconds": round(
                max(first_ready[prev][1], first_seen[cur][1]) - min(first_ready[prev][0], first_seen[cur][0]), 2)})
    if violations:
        return Verdict(name, "fail", f"{len(violations)} pod(s) started out of order", tuple(violations))
    if v := _unsure(name, doubts, "ordered start"):
        return v
    return Verdict(name, "pass", f"{statefulset}-0..{replicas - 1} each started after its predecessor was Ready")


@checker("parallel-start", reads=("pod",), several="more than one replica", all_seen="every pod observed",
         any_ready="a pod observed Ready")
def parallel_start(events: Sequence[Event], statefulset: str, replicas: int) -> Verdict:
    """podManagementPolicy Parallel: every pod is created before any of them is Ready (none waited)."""
    name = "parallel-start"
    first_seen, first_ready = _first_seen_and_ready(events, statefulset)
    unseen = [f"{statefulset}-{n}" for n in range(replicas) if f"{statefulset}-{n}" not in first_seen]
    if missing := lacking(name, several=replicas > 1, all_seen=not unseen, any_ready=first_ready):
        return missing
    earliest = min(first_ready.items(), key=lambda kv: kv[1][1])
    late, doubts = [], []
    for p, span in sorted(first_seen.items()):
        after = _before(earliest[1], span)
        if after:
            late.append({"pod": p, "created_after_first_ready_by": round(span[1] - earliest[1][1], 2)})
        elif after is None:
            doubts.append({"pods": f"{p} created, {earliest[0]} Ready",
                           "seconds": round(max(span[1], earliest[1][1]) - min(span[0], earliest[1][0]), 2)})
    spread = max(s[1] for s in first_seen.values()) - min(s[1] for s in first_seen.values())
    if late:
        return Verdict(name, "fail", f"{len(late)} pod(s) waited for another to be Ready", tuple(late),
                       {"creation_spread": spread})
    if v := _unsure(name, doubts, "parallel start"):
        return v
    return Verdict(name, "pass", f"all {replicas} pods created within {spread:.1f}s, before any was Ready",
                   figures={"creation_spread": spread})


@checker("reverse-order-termination", reads=("pod",), several="more than one replica",
         all_gone="every expected pod deleted")
def reverse_order_termination(events: Sequence[Event], statefulset: str, replicas: int = 3) -> Verdict:
    """Scale-down / delete: pods go in reverse ordinal order, one at a time — pod n-1 starts terminating
    only after pod n is gone."""
    name = "reverse-order-termination"
    started = _first(events, statefulset, lambda e: e.get("deleting") or e["type"] == "DELETED")
    gone = _first(events, statefulset, lambda e: e["type"] == "DELETED")
    expected = {f"{statefulset}-{n}" for n in range(replicas)}
    if missing := lacking(name, several=replicas > 1, all_gone=expected <= set(gone)):
        return Verdict(name, "unknown", missing.summary + f" ({len(expected & set(gone))} of {replicas} seen gone)",
                       missing.evidence)
    # The promised order: highest ordinal first, each next one only once its predecessor is gone.
    order = sorted(started, key=lambda n: -ordinal_of(n))
    problems, doubts = [], []
    for earlier, later in zip(order, order[1:]):
        first = _before(started[earlier], started[later])
        if first is False:
            problems.append({"problem": "not in reverse order", "first": later, "then": earlier})
            continue
        waited = None if earlier not in gone else _before(gone[earlier], started[later])
        if first is True and waited is False:
            problems.append({"problem": "not one at a time", "still_there": earlier, "started": later})
        elif first is None or waited is None:
            doubts.append({"pods": f"{earlier} gone, {later} terminating", "seconds": round(
                started[later][1] - min(started[later][0], started[earlier][0]), 2)})
    if problems:
        return Verdict(name, "fail", f"{len(problems)} ordering problem(s)", tuple(problems))
    if v := _unsure(name, doubts, "reverse-order termination"):
        return v
    return Verdict(name, "pass", f"terminated one at a time in order {', '.join(order)}")


@checker("rolling-update", reads=("pod",), revision_change="a new revision different from the old one",
         updated="a pod observed on the new revision")
def rolling_update(events: Sequence[Event], statefulset: str, replicas: int, partition: int,
                   old_revision: str, new_revision: str) -> Verdict:
    """RollingUpdate: ordinals >= partition move to the new revision in reverse ordinal order, one at a time
    (the next only after the previous is Ready on the new revision); ordinals < partition keep the old one."""
    name = "rolling-update"
    ready_new = _first(events, statefulset, lambda e: e["type"] != "DELETED" and e.get("revision") == new_revision
                       and e["ready"])
    first_new = _first(events, statefulset, lambda e: e["type"] != "DELETED" and e.get("revision") == new_revision)
    last_revision: dict[str, str] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] != "DELETED" and is_ordinal_pod(ev["name"], statefulset):
            last_revision[ev["name"]] = ev.get("revision") or ""
    if missing := lacking(name, revision_change=bool(new_revision) and old_revision != new_revision,
                          updated=first_new or partition >= replicas):
        return missing
    problems: list[dict[str, Any]] = []
    doubts: list[dict[str, Any]] = []
    for n in range(replicas):
        pod = f"{statefulset}-{n}"
        want = new_revision if n >= partition else old_revision
        if last_revision.get(pod) != want:
            problems.append({"pod": pod, "revision": last_revision.get(pod), "expected": want})
    updated = [f"{statefulset}-{n}" for n in range(replicas - 1, partition - 1, -1)]
    for prev, nxt in zip(updated, updated[1:]):
        if nxt not in first_new:
            continue
        waited = None if prev not in ready_new else _before(ready_new[prev], first_new[nxt])
        if prev not in ready_new or waited is False:
            problems.append({"pod": nxt, "updated_before_ready": prev})
        elif waited is None:
            doubts.append({"pods": f"{prev} Ready, {nxt} updated", "seconds": round(
                first_new[nxt][1] - min(first_new[nxt][0], ready_new[prev][0]), 2)})
    if problems and (v := blind(name, unresumed(events, "pod"), "the pods' last revision")):
        return v
    if problems:
        return Verdict(name, "fail", f"{len(problems)} rolling-update problem(s)", tuple(problems))
    if v := _unsure(name, doubts, "rolling update"):
        return v
    kept = f"; ordinals below {partition} kept revision {old_revision}" if partition else ""
    return Verdict(name, "pass", f"{', '.join(updated) or 'no pod'} moved to {new_revision} in reverse order, one at "
                   f"a time{kept}")


@checker("on-delete-update", reads=("pod",), revision_change="a new revision different from the old one",
         deleted="a pod deleted to take the new revision", pods="every pod observed")
def on_delete_update(events: Sequence[Event], statefulset: str, replicas: int, deleted: Iterable[str],
                     old_revision: str, new_revision: str) -> Verdict:
    """updateStrategy OnDelete: a pod moves to the new revision only if it was deleted; the others keep the
    old revision however long the new one exists."""
    name = "on-delete-update"
    deleted = set(deleted)
    last: dict[str, str] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] != "DELETED" and is_ordinal_pod(ev["name"], statefulset) and not ev["deleting"]:
            last[ev["name"]] = ev.get("revision") or ""
    pods = [f"{statefulset}-{n}" for n in range(replicas)]
    if missing := lacking(name, revision_change=bool(new_revision) and old_revision != new_revision,
                          deleted=deleted, pods=all(p in last for p in pods)):
        return missing
    problems = [{"pod": p, "revision": last.get(p), "expected": new_revision if p in deleted else old_revision,
                 "deleted": p in deleted} for p in pods
                if last.get(p) != (new_revision if p in deleted else old_revision)]
    # The last revision seen is the pod's last only if the watch saw to the end.
    if problems and (v := blind(name, unresumed(events, "pod"), "the pods' last revision")):
        return v
    if problems:
        return Verdict(name, "fail", f"{len(problems)} pod(s) on the wrong revision", tuple(problems))
    return Verdict(name, "pass", f"only the deleted pod(s) {', '.join(sorted(deleted))} moved to {new_revision}; "
                   f"the others kept {old_revision}")


@checker("at-most-unavailable", reads=("pod",), pods="a pod of the StatefulSet observed Ready",
         disruption="an identity observed unavailable (the disruption happened)")
def at_most_unavailable(events: Sequence[Event], statefulset: str, allowed: int) -> Verdict:
    """At no moment were more than `allowed` identities of the StatefulSet unavailable (not Ready, being
    deleted, or gone), counting identities from when they were first seen Ready. What the pod watch showed live
    is counted; across an outage, every identity that was unavailable on either side of it, or changed across
    it, may have been unavailable at once: more than `allowed` of those is `unknown`, not a failure."""
    name = "at-most-unavailable"
    state: dict[str, bool] = {}
    worst, worst_at = 0, None
    for ev in of_kind(events, "pod"):
        if not is_ordinal_pod(ev["name"], statefulset):
            continue
        available = ev["type"] != "DELETED" and ev["ready"] and not ev["deleting"]
        if ev["name"] in state or available:
            state[ev["name"]] = available
        down = sorted(p for p, ok in state.items() if not ok)
        if len(down) > worst:
            worst, worst_at = len(down), {"wall": ev["wall"], "unavailable": down}
    if missing := lacking(name, pods=state, disruption=worst):
        return missing
    if worst <= allowed:
        doubts = _unavailable_across_outages(events, statefulset, allowed)
        if doubts:
            return blind(name, doubts, f"how many {statefulset} identities were unavailable at once") or Verdict(
                name, "unknown", "")
    return judged(name, worst <= allowed, f"at most {worst} of {len(state)} {statefulset} identities unavailable "
                  f"at once (allowed {allowed})", (worst_at,) if worst_at else (), {"max_unavailable": float(worst)})


def _unavailable_across_outages(events: Sequence[Event], statefulset: str, allowed: int) -> list[dict[str, Any]]:
    """The pod watch's outages across which more than `allowed` identities may have been unavailable at once."""
    spans = []
    for a, b in watch_outages(events, "pod"):
        before: dict[str, tuple[Any, bool]] = {}
        after: dict[str, tuple[Any, bool]] = {}
        for ev in of_kind(events, "pod"):
            if not is_ordinal_pod(ev["name"], statefulset):
                continue
            look = (ev.get("uid") if ev["type"] != "DELETED" else None,
                    ev["type"] != "DELETED" and ev["ready"] and not ev["deleting"])
            if ev["mono"] < a:
                before[ev["name"]] = look
            elif ev["mono"] >= b and ev["name"] not in after:
                after[ev["name"]] = look
        maybe = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p)
                       or not before.get(p, (None, True))[1] or not after.get(p, (None, True))[1]
                       or b == float("inf"))
        if len(maybe) > allowed:
            spans.append({"stream": "the pod watch", "from": 0.0, "seconds": round(b - a, 2), "allowed": 0.0,
                          "unavailable_maybe": maybe})
    return spans
