"""Checkers of the StatefulSet controller's ordering: OrderedReady start, Parallel start, reverse-order termination, rolling and OnDelete updates, and at most N identities unavailable."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from chaos_harness.judge.evidence import is_ordinal_pod, ordinal_of
from chaos_harness.judge.verdicts import Verdict, checker, judged, lacking
from chaos_harness.record.events import Event, of_kind


def _first_seen_and_ready(events: Sequence[Event], statefulset: str) -> tuple[dict[str, float], dict[str, float]]:
    """Per pod of the StatefulSet: when it was first observed, and when first observed Ready."""
    first_seen: dict[str, float] = {}
    first_ready: dict[str, float] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] == "DELETED" or not is_ordinal_pod(ev["name"], statefulset):
            continue
        first_seen.setdefault(ev["name"], ev["mono"])
        if ev["ready"]:
            first_ready.setdefault(ev["name"], ev["mono"])
    return first_seen, first_ready


@checker("ordered-ready", several="more than one replica to order", all_ready="every pod observed Ready")
def ordered_ready(events: Sequence[Event], statefulset: str, replicas: int) -> Verdict:
    """OrderedReady: pod n is first observed only after pod n-1 was observed Ready."""
    name = "ordered-ready"
    first_seen, first_ready = _first_seen_and_ready(events, statefulset)
    pods = [f"{statefulset}-{n}" for n in range(replicas)]
    if missing := lacking(name, several=replicas > 1, all_ready=all(p in first_ready for p in pods)):
        return Verdict(name, "unknown", missing.summary + f" ({sum(p in first_ready for p in pods)} of {replicas} "
                       f"Ready)", missing.evidence)
    violations = [{"pod": cur, "created_before_ready_of": prev, "by": round(first_ready[prev] - first_seen[cur], 2)}
                  for prev, cur in zip(pods, pods[1:]) if first_seen[cur] < first_ready[prev]]
    if violations:
        return Verdict(name, "fail", f"{len(violations)} pod(s) started out of order", tuple(violations))
    return Verdict(name, "pass", f"{statefulset}-0..{replicas - 1} each started after its predecessor was Ready")


@checker("parallel-start", several="more than one replica", all_seen="every pod observed",
         any_ready="a pod observed Ready")
def parallel_start(events: Sequence[Event], statefulset: str, replicas: int) -> Verdict:
    """podManagementPolicy Parallel: every pod is created before any of them is Ready (none waited)."""
    name = "parallel-start"
    first_seen, first_ready = _first_seen_and_ready(events, statefulset)
    unseen = [f"{statefulset}-{n}" for n in range(replicas) if f"{statefulset}-{n}" not in first_seen]
    if missing := lacking(name, several=replicas > 1, all_seen=not unseen, any_ready=first_ready):
        return missing
    earliest_ready = min(first_ready.values())
    late = [{"pod": p, "created_after_first_ready_by": round(t - earliest_ready, 2)}
            for p, t in sorted(first_seen.items()) if t > earliest_ready]
    spread = max(first_seen.values()) - min(first_seen.values())
    if late:
        return Verdict(name, "fail", f"{len(late)} pod(s) waited for another to be Ready", tuple(late),
                       {"creation_spread": spread})
    return Verdict(name, "pass", f"all {replicas} pods created within {spread:.1f}s, before any was Ready",
                   figures={"creation_spread": spread})


@checker("reverse-order-termination", several="more than one replica", all_gone="every expected pod deleted")
def reverse_order_termination(events: Sequence[Event], statefulset: str, replicas: int = 3) -> Verdict:
    """Scale-down / delete: pods go in reverse ordinal order, one at a time — pod n-1 starts terminating
    only after pod n is gone."""
    name = "reverse-order-termination"
    started: dict[str, float] = {}
    gone: dict[str, float] = {}
    for ev in of_kind(events, "pod"):
        if not is_ordinal_pod(ev["name"], statefulset):
            continue
        if ev.get("deleting") or ev["type"] == "DELETED":
            started.setdefault(ev["name"], ev["mono"])
        if ev["type"] == "DELETED":
            gone.setdefault(ev["name"], ev["mono"])
    expected = {f"{statefulset}-{n}" for n in range(replicas)}
    if missing := lacking(name, several=replicas > 1, all_gone=expected <= set(gone)):
        return Verdict(name, "unknown", missing.summary + f" ({len(expected & set(gone))} of {replicas} seen gone)",
                       missing.evidence)
    order = sorted(started, key=lambda n: started[n])
    problems = []
    for earlier, later in zip(order, order[1:]):
        if ordinal_of(later) > ordinal_of(earlier):
            problems.append({"problem": "not in reverse order", "first": earlier, "then": later})
        elif earlier not in gone or started[later] < gone[earlier]:
            problems.append({"problem": "not one at a time", "still_there": earlier, "started": later})
    if problems:
        return Verdict(name, "fail", f"{len(problems)} ordering problem(s)", tuple(problems))
    return Verdict(name, "pass", f"terminated one at a time in order {', '.join(order)}")


@checker("rolling-update", revision_change="a new revision different from the old one",
         updated="a pod observed on the new revision")
def rolling_update(events: Sequence[Event], statefulset: str, replicas: int, partition: int,
                   old_revision: str, new_revision: str) -> Verdict:
    """RollingUpdate: ordinals >= partition move to the new revision in reverse ordinal order, one at a time
    (the next only after the previous is Ready on the new revision); ordinals < partition keep the old one."""
    name = "rolling-update"
    ready_new: dict[str, float] = {}
    first_new: dict[str, float] = {}
    last_revision: dict[str, str] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] == "DELETED" or not is_ordinal_pod(ev["name"], statefulset):
            continue
        last_revision[ev["name"]] = ev.get("revision") or ""
        if ev.get("revision") == new_revision:
            first_new.setdefault(ev["name"], ev["mono"])
            if ev["ready"]:
                ready_new.setdefault(ev["name"], ev["mono"])
    if missing := lacking(name, revision_change=bool(new_revision) and old_revision != new_revision,
                          updated=first_new or partition >= replicas):
        return missing
    problems: list[dict[str, Any]] = []
    for n in range(replicas):
        pod = f"{statefulset}-{n}"
        want = new_revision if n >= partition else old_revision
        if last_revision.get(pod) != want:
            problems.append({"pod": pod, "revision": last_revision.get(pod), "expected": want})
    updated = [f"{statefulset}-{n}" for n in range(replicas - 1, partition - 1, -1)]
    for prev, nxt in zip(updated, updated[1:]):
        if nxt in first_new and (prev not in ready_new or first_new[nxt] < ready_new[prev]):
            problems.append({"pod": nxt, "updated_before_ready": prev})
    if problems:
        return Verdict(name, "fail", f"{len(problems)} rolling-update problem(s)", tuple(problems))
    kept = f"; ordinals below {partition} kept revision {old_revision}" if partition else ""
    return Verdict(name, "pass", f"{', '.join(updated) or 'no pod'} moved to {new_revision} in reverse order, one at "
                   f"a time{kept}")


@checker("on-delete-update", revision_change="a new revision different from the old one",
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
    if problems:
        return Verdict(name, "fail", f"{len(problems)} pod(s) on the wrong revision", tuple(problems))
    return Verdict(name, "pass", f"only the deleted pod(s) {', '.join(sorted(deleted))} moved to {new_revision}; "
                   f"the others kept {old_revision}")


@checker("at-most-unavailable", pods="a pod of the StatefulSet observed Ready",
         disruption="an identity observed unavailable (the disruption happened)")
def at_most_unavailable(events: Sequence[Event], statefulset: str, allowed: int) -> Verdict:
    """At no moment were more than `allowed` identities of the StatefulSet unavailable (not Ready, being
    deleted, or gone), counting identities from when they were first seen Ready."""
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
    return judged(name, worst <= allowed, f"at most {worst} of {len(state)} {statefulset} identities unavailable "
                  f"at once (allowed {allowed})", (worst_at,) if worst_at else (), {"max_unavailable": float(worst)})
