"""Checkers of what holds while a fault lasts: the node detected not-Ready in time, the pod object kept (or its
replacement unscheduled), a killed container restarted in place.

Each asks judge/windows.py for the fault's window (need `fault`, need `effect`: no pass without proof that the
fault took effect) and, before failing on something it did not see, whether it could have seen it
(`inconclusive`: a window ended early or too short, a watch out): the harness's blindness is never the user's
failure. What it did see (a re-created pod, a late detection seen live) fails whatever else is unknown."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.judge.evidence import (detection_seconds, eviction_seconds, fault_claim, fault_windows, inconclusive,
                                          minimum, observed_since, outages_over, outages_within, runtime_samples,
                                          sample_gaps, timing_of, window_reason)
from chaos_harness.judge.verdicts import Verdict, blind, checker, judged, lacking
from chaos_harness.record.events import Event, of_kind


def _node_before(events: Sequence[Event], pod_events: Sequence[Event], fault_type: str) -> str | None:
    """The node a pod ran on when the first `fault_type` fault began (the node such a fault must be on to be about
    it), or None when the pod was not seen on one by then."""
    began = min((m["mono"] for m in of_kind(events, "fault") if m["fault"]["type"] == fault_type), default=None)
    placed = [e for e in pod_events if e.get("node") and e["type"] != "DELETED"
              and (began is None or e["mono"] <= began)]
    return placed[-1]["node"] if placed else None


@checker("node-detection", reads=("node", "fault"), held_for=detection_seconds, fault="the fault's injection",
         effect="proof that the fault took effect (a verified injected mark)",
         held="the fault holding as long as the claim needs (not ended early, not healed sooner)",
         node_seen="the faulted node's status observed")
def node_detection(events: Sequence[Event], node: str, fault_type: str, grace_period: float, monitor_period: float,
                   slack: float = 5.0) -> Verdict:
    """After the fault took effect, the node leaves Ready=True within grace period + one monitor period
    (+ slack for API latency), while the fault holds (or within one monitor period + slack of its end: what the
    controller saw before the heal reaches us that much later); after the heal it is Ready again. Figures: time
    to detect, time to recover.

    The clock starts when the fault was certainly in effect (the "injected" mark, after its verification), not
    at the journal's "inject" mark before it: the node's last heartbeat is no later than that, so Kubernetes
    owes detection within the window from there, and the injection's own time (two `docker exec`s took 5.5 s
    under load) is not Kubernetes' time. A detection between the two marks counts (0 s). A not-Ready seen only
    later than that is not this fault's doing. Not seen at all: `unknown` when the fault held less than grace +
    monitor period (or ended early), or the node watch was out meanwhile; a failure only when it was watched."""
    name = "node-detection"
    w, missing = fault_claim(name, events, fault_type, node=node)
    if missing:
        return missing
    assert w is not None
    window, lag = grace_period + monitor_period + slack, monitor_period + slack
    t_start, t0 = w.inject_at, w.start
    node_events = [e for e in of_kind(events, "node") if e["name"] == node]
    if missing := lacking(name, node_seen=node_events):
        return Verdict(name, "unknown", f"{missing.summary}: no event of {node} recorded", missing.evidence)
    since = observed_since(events, "node")
    figures: dict[str, float] = {"window": window, "injection_seconds": round(t0 - t_start, 2)}
    detected = next((e for e in node_events if t_start <= e["mono"] <= w.until + lag and e["ready"] != "True"), None)
    if detected is None:
        # Not seen: a failure only if the fault held long enough and the node was watched the whole time.
        if v := inconclusive(name, w, events, grace_period + monitor_period, ("node",), min(w.until, t0 + window)):
            return Verdict(name, "unknown", f"{node} not seen leaving Ready: {v.summary}", v.evidence, figures)
        return Verdict(name, "fail", f"{node} never left Ready=True within {window:.0f}s of {fault_type} taking "
                       f"effect (it held {w.seconds:.0f}s)", (w.about(),), figures)
    figures["time_to_detect"] = max(0.0, detected["mono"] - t0)
    # Seen in a re-list after an outage: it came about at some moment since the outage began, not when listed.
    earliest = max(0.0, since.get(id(detected), detected["mono"]) - t0)
    evidence: list[dict[str, Any]] = [{"node": node, "ready": detected["ready"], "at": detected["wall"],
                                       "after": round(figures["time_to_detect"], 1)}, w.about()]
    summary = (f"{node} Ready={detected['ready']} {figures['time_to_detect']:.1f}s after {fault_type} took effect "
               f"(window {window:.0f}s = grace {grace_period:.0f}s + monitor {monitor_period:.0f}s + {slack:.0f}s; "
               f"injecting it took {figures['injection_seconds']:.1f}s)")
    if figures["time_to_detect"] > window:
        if earliest <= window:
            return Verdict(name, "unknown", f"{summary}; first seen in a re-list after the node watch was out: it "
                           f"may have come in time", tuple(evidence), figures)
        if w.until < t0 + window:
            return Verdict(name, "unknown", f"{summary}; the fault held only {w.seconds:.0f}s", tuple(evidence),
                           figures)
        return Verdict(name, "fail", summary, tuple(evidence), figures)
    healed = [m for m in of_kind(events, "fault") if m["phase"] == "healed" and m["fault"] == w.fault]
    if healed:
        t1 = healed[0]["mono"]
        recovered = next((e for e in node_events if e["mono"] >= t1 and e["ready"] == "True"), None)
        if recovered is None:
            if blinded := outages_over(events, ("node",), t1, float("inf")):
                return blind(name, blinded, f"{node} Ready again after the heal") or Verdict(name, "unknown", summary)
            return Verdict(name, "fail", f"{summary}; never Ready again after the heal", tuple(evidence), figures)
        figures["time_to_recover"] = recovered["mono"] - t1
        evidence.append({"node": node, "ready": "True", "at": recovered["wall"],
                         "after_heal": round(figures["time_to_recover"], 1)})
    return judged(name, True, summary, tuple(evidence), figures)


@checker("not-recreated-during-fault", reads=("pod", "fault"), held_for=eviction_seconds,
         fault="the fault's injection", effect="proof that the fault took effect (a verified injected mark)",
         before="the pod observed before the fault", end="the fault's end (heal mark)",
         watch="the pod watch delivering during the fault",
         held="the fault holding as long as the claim needs (not ended early, not healed sooner)")
def not_recreated_during_fault(events: Sequence[Event], pod: str, fault_type: str,
                               timing: ClusterTiming | None = None) -> Verdict:
    """While the fault is active the identity keeps its one pod object (no new UID), and that object is
    observed Terminating (evicted after the unreachable toleration) but not removed. The fault must be on the
    node the pod ran on. Never Terminating is a failure only when the fault held through detection and the
    toleration (`timing`: the run's, default the recorded one) and the pod watch saw the whole window."""
    name = "not-recreated-during-fault"
    mine = [e for e in of_kind(events, "pod") if e["name"] == pod]
    w, missing = fault_claim(name, events, fault_type, node=_node_before(events, mine, fault_type))
    if missing:
        return missing
    assert w is not None
    before = [e for e in mine if e["mono"] < w.start]
    if missing := lacking(name, before=before, end=w.end is not None):
        return missing
    start, end = w.start, w.until
    during = [e for e in mine if start <= e["mono"] <= end]
    uid = before[-1]["uid"]
    others = sorted({e["uid"] for e in during if e["uid"] != uid})
    terminating = next((e for e in during if e["deleting"]), None)
    deleted = next((e for e in during if e["type"] == "DELETED"), None)
    figures = {"fault_seconds": end - start}
    evidence: list[dict[str, Any]] = [{"pod": pod, "uid": uid, "node": before[-1]["node"]}, w.about()]
    if terminating:
        figures["terminating_after"] = terminating["mono"] - start
        evidence.append({"terminating_at": terminating["wall"], "after": round(figures["terminating_after"], 1)})
    if others or deleted:
        return Verdict(name, "fail", f"{pod} was {'re-created as ' + ', '.join(others) if others else 'removed'} "
                       f"during the fault", tuple(evidence), figures)
    if v := blind(name, outages_within(events, "pod", start, end, pod.__eq__), f"{pod}'s object during {fault_type}"):
        return v
    if not terminating:
        if v := inconclusive(name, w, events, minimum(name, timing_of(events, timing)), ("pod",)):
            return Verdict(name, "unknown", f"{pod} not seen Terminating: {v.summary}", v.evidence, figures)
        return Verdict(name, "fail", f"{pod} was never observed Terminating during the fault (eviction did not "
                       f"happen in its {w.seconds:.0f}s)", tuple(evidence), figures)
    return Verdict(name, "pass", f"{pod} stayed one object: Terminating {figures['terminating_after']:.0f}s into the "
                   f"fault, never re-created while the node was unreachable", tuple(evidence), figures)


@checker("one-incarnation-during-fault", reads=("pod", "fault"), held_for=detection_seconds,
         fault="the fault's injection", effect="proof that the fault took effect (a verified injected mark)",
         before="the pod observed before the fault", after="the pod observed at or after the fault's end",
         held="the fault holding as long as the claim needs (not ended early, not healed sooner)")
def one_incarnation_during_fault(events: Sequence[Event], pod: str, fault_type: str,
                                 timing: ClusterTiming | None = None) -> Verdict:
    """While the fault lasts the identity keeps the pod object it had (same UID, never removed): nothing
    re-creates it elsewhere. Unlike not_recreated_during_fault it does not ask for eviction (short faults), but
    the fault must hold at least until the node is declared lost (grace + monitor period): shorter, nothing
    would have re-created the pod anyway. Evidence: the pod seen before the fault and again at or after its end
    (the final list counts); a watch outage between is harmless when the UID is the same on both sides."""
    name = "one-incarnation-during-fault"
    mine = [e for e in of_kind(events, "pod") if e["name"] == pod]
    w, missing = fault_claim(name, events, fault_type, node=_node_before(events, mine, fault_type))
    if missing:
        return missing
    assert w is not None
    start, end = w.start, w.until
    before = [e for e in mine if e["mono"] < start]
    if missing := lacking(name, before=before, after=any(e["mono"] >= end for e in mine)):
        return missing
    uid = before[-1]["uid"]
    during = [e for e in mine if start <= e["mono"] <= end]
    others = sorted({e["uid"] for e in during if e["uid"] != uid})
    removed = any(e["type"] == "DELETED" for e in during)
    evidence = ({"pod": pod, "uid": uid, "node": before[-1]["node"], "events_during_fault": len(during)}, w.about())
    if others or removed:
        return Verdict(name, "fail", f"{pod} was {'re-created as ' + ', '.join(others) if others else 'removed'} "
                       f"during {fault_type}", evidence)
    if v := blind(name, outages_within(events, "pod", start, end, pod.__eq__), f"{pod}'s object during {fault_type}"):
        return v
    if v := inconclusive(name, w, events, minimum(name, timing_of(events, timing))):
        return Verdict(name, "unknown", f"{pod} kept its object, but {v.summary}", v.evidence + evidence)
    return Verdict(name, "pass", f"{pod} kept its one pod object ({uid[:8]}) through the {w.seconds:.0f}s of "
                   f"{fault_type}", evidence)


@checker("stayed-unscheduled", reads=("pod", "fault"), fault="the fault's injection",
         effect="proof that the fault took effect (a verified injected mark)",
         replacement="the re-created pod observed during the fault",
         held="the fault holding until its heal (not ended early)")
def stayed_unscheduled(events: Sequence[Event], pod: str, fault_type: str, old_uid: str, node: str = "") -> Verdict:
    """The pod re-created under `pod`'s name (a UID other than `old_uid`) was never bound to a node other than
    the faulted `node` while the fault held, per the recorded pod watch (every event of it in the window, not
    one read). Bound to the faulted node itself (its kubelet back, the volume there) is no start elsewhere."""
    name = "stayed-unscheduled"
    w, missing = fault_claim(name, events, fault_type, node=node or None)
    if missing:
        return missing
    assert w is not None
    start, end = w.start, w.until
    new = [e for e in of_kind(events, "pod") if e["name"] == pod and e["uid"] != old_uid and start <= e["mono"] <= end
           and e["type"] != "DELETED"]
    if missing := lacking(name, replacement=new):
        return missing
    bound = next((e for e in new if e.get("node") and e.get("node") != node), None)
    evidence = ({"pod": pod, "uid": new[0]["uid"], "events_during_fault": len(new),
                 "phases": sorted({str(e.get("phase")) for e in new})}, w.about())
    if bound is not None:
        return Verdict(name, "fail", f"the re-created {pod} was bound to {bound['node']} "
                       f"{bound['mono'] - start:.1f}s into {fault_type}", evidence)
    if v := blind(name, outages_within(events, "pod", start, end, pod.__eq__, ("uid", "node")),
                  f"the re-created {pod} during {fault_type}"):
        return v
    if w.early:
        return Verdict(name, "unknown", f"the re-created {pod} stayed unscheduled, but {window_reason(w)}",
                       ({"missing": ["held"]}, *evidence))
    return Verdict(name, "pass", f"the re-created {pod} stayed {new[-1].get('phase') or 'Pending'} on no node in "
                   f"{len(new)} observation(s) through {fault_type}", evidence)


@checker("restarted-in-place", reads=("pod", "runtime", "fault"), fault="the fault's injection",
         effect="proof that the fault took effect (a verified injected mark)",
         before="the pod observed before the fault", after="the pod observed after the fault",
         runtime="the container sampled on the runtime before the fault")
def restarted_in_place(events: Sequence[Event], pod: str, container: str, fault_type: str) -> Verdict:
    """After the fault the pod's container restarted in place: the same pod UID throughout, its restart
    count higher than before the fault, and a new container on the runtime of the node it was killed on."""
    name = "restarted-in-place"
    w, missing = fault_claim(name, events, fault_type)
    if missing:
        return missing
    assert w is not None
    node = w.fault.get("node")
    # Before/after split at the journal's inject mark, not at `injected`: the kubelet may already have started
    # the new container while the kill was being verified, and that one must count as after.
    start = w.inject_at
    seen = [e for e in of_kind(events, "pod") if e["name"] == pod and e["type"] != "DELETED"]
    before = [e for e in seen if e["mono"] < start]
    after = [e for e in seen if e["mono"] >= start]
    sampled = [(at, ev) for at, ev in runtime_samples(events) if node is None or ev["node"] == node]
    ids_before = {c["id"] for at, ev in sampled if at < start
                  for c in ev.get("containers", []) if c["pod"] == pod and c["name"] == container}
    ids_after = {c["id"] for at, ev in sampled if at >= start
                 for c in ev.get("containers", []) if c["pod"] == pod and c["name"] == container}
    if missing := lacking(name, before=before, after=after, runtime=ids_before):
        return missing
    uids = sorted({e["uid"] for e in seen})
    count_before = before[-1].get("restarts", {}).get(container, 0)
    count_after = max(e.get("restarts", {}).get(container, 0) for e in after)
    evidence = ({"pod": pod, "uids": uids, "restarts_before": count_before, "restarts_after": count_after,
                 "runtime_containers_after": sorted(i[:13] for i in ids_after - ids_before)}, w.about())
    figures = {"restarts_added": float(count_after - count_before)}
    if len(uids) != 1:
        return Verdict(name, "fail", f"{pod} was re-created (UIDs {', '.join(u[:8] for u in uids)}), not restarted "
                       f"in place", evidence, figures)
    end = max(e["mono"] for e in events)
    if count_after <= count_before:
        if v := blind(name, outages_over(events, ("pod",), start, end), f"{pod}'s restart count"):
            return v
        return Verdict(name, "fail", f"{pod}/{container}'s restart count stayed {count_before}", evidence, figures)
    if not ids_after - ids_before:
        if node and (v := blind(name, sample_gaps(events, node, start, end), f"{node}'s runtime after the kill")):
            return v
        return Verdict(name, "fail", f"no new {container} container of {pod} was seen on the runtime", evidence,
                       figures)
    return Verdict(name, "pass", f"{pod}/{container} restarted in place: restarts {count_before} -> {count_after}, "
                   f"same pod UID, a new container on the runtime", evidence, figures)



@checker("fault-took-effect", reads=("fault",), fault="an injection of each fault the claim is about",
         effect="proof that each one took effect (a verified injected mark)")
def fault_took_effect(events: Sequence[Event], *fault_types: str) -> Verdict:
    """Every fault of `fault_types` (none given: every fault the history holds) was injected and its effect read
    back (a verified `injected` mark): the claim a scenario makes about a fault means nothing without it. The
    judge adds this verdict to a scenario whose own checks did not, for every fault its history holds."""
    name = "fault-took-effect"
    types = list(dict.fromkeys(fault_types or [m["fault"]["type"] for m in of_kind(events, "fault")]))
    windows = {t: fault_windows(events, t) for t in types}
    absent = [t for t in types if not windows[t]]
    # Every fault the history marks must have opened a window: a heal with no injection before it proves nothing.
    opened = {json.dumps(w.fault, sort_keys=True, default=str) for ws in windows.values() for w in ws}
    orphans = sorted({json.dumps(m["fault"], sort_keys=True, default=str) for m in of_kind(events, "fault")
                      if m["fault"]["type"] in types} - opened)
    unproven = [w for ws in windows.values() for w in ws if not w.verified]
    if missing := lacking(name, fault=types and not absent, effect=not unproven and not orphans):
        why = (f": no {', '.join(absent)} recorded" if absent else
               f": {unproven[0].fault['type']}: {unproven[0].proof or 'its injected mark says it was not verified'}"
               if unproven else f": {orphans[0]} was healed with no injection recorded" if orphans else "")
        return Verdict(name, "unknown", missing.summary + why, missing.evidence)
    held = [w for ws in windows.values() for w in ws]
    return Verdict(name, "pass", "; ".join(f"{w.fault['type']}: {w.proof}" for w in held),
                   tuple(w.about() for w in held))
