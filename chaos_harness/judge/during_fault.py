"""Checkers of what holds while a fault lasts: the node detected not-Ready in time, the pod object kept (or its replacement unscheduled), a killed container restarted in place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chaos_harness.judge.evidence import fault_marks, fault_window, outages_within, runtime_samples, window_reason
from chaos_harness.judge.verdicts import Verdict, blind, checker, judged, lacking
from chaos_harness.record.events import Event, of_kind


@checker("node-detection", fault="the fault's injection", held="the fault holding through the detection window")
def node_detection(events: Sequence[Event], node: str, fault_type: str, grace_period: float, monitor_period: float,
                   slack: float = 5.0) -> Verdict:
    """After the fault was injected, the node leaves Ready=True within grace period + one monitor period
    (+ slack for API latency); after the heal it is Ready again. Figures: time to detect, time to recover.

    The clock starts when the fault was certainly in effect (the "injected" mark, after its verification), not
    at the journal's "inject" mark before it: the node's last heartbeat is no later than that, so Kubernetes
    owes detection within the window from there, and the injection's own time (two `docker exec`s took 5.5 s
    under load) is not Kubernetes' time. A detection between the two marks counts (0 s). A fault that stopped
    holding (evidence, not the heal) before the window elapsed with the node still Ready is `unknown`."""
    name = "node-detection"
    started = fault_marks(events, fault_type, "inject")
    w = fault_window(events, fault_type)
    window = grace_period + monitor_period + slack
    if missing := lacking(name, fault=started and w):
        return missing
    assert w is not None
    t_start, t0 = started[0]["mono"], max(w.start, started[0]["mono"])
    node_events = [e for e in of_kind(events, "node") if e["name"] == node]
    detected = next((e for e in node_events if e["mono"] >= t_start and e["ready"] != "True"), None)
    figures: dict[str, float] = {"window": window, "injection_seconds": round(t0 - t_start, 2)}
    if detected is None or detected["mono"] > w.until:
        if w.early and w.until - t0 < window:
            return Verdict(name, "unknown", f"not observed: {node} leaving Ready, because {window_reason(w)} "
                           f"(before the {window:.0f}s detection window)", ({"missing": ["held"]},), figures)
        if detected is None:
            return Verdict(name, "fail", f"{node} never left Ready=True after {fault_type}", figures=figures)
    figures["time_to_detect"] = max(0.0, detected["mono"] - t0)
    evidence: list[dict[str, Any]] = [{"node": node, "ready": detected["ready"], "at": detected["wall"],
                                       "after": round(figures["time_to_detect"], 1)}]
    healed = fault_marks(events, fault_type, "healed")
    if healed:
        t1 = healed[0]["mono"]
        recovered = next((e for e in node_events if e["mono"] >= t1 and e["ready"] == "True"), None)
        if recovered is not None:
            figures["time_to_recover"] = recovered["mono"] - t1
            evidence.append({"node": node, "ready": "True", "at": recovered["wall"],
                             "after_heal": round(figures["time_to_recover"], 1)})
    ok = figures["time_to_detect"] <= window and (not healed or "time_to_recover" in figures)
    summary = (f"{node} Ready={detected['ready']} {figures['time_to_detect']:.1f}s after {fault_type} took effect "
               f"(window {window:.0f}s = grace {grace_period:.0f}s + monitor {monitor_period:.0f}s + {slack:.0f}s; "
               f"injecting it took {figures['injection_seconds']:.1f}s)")
    if healed and "time_to_recover" not in figures:
        summary += "; never Ready again after the heal"
    return judged(name, ok, summary, tuple(evidence), figures)


@checker("not-recreated-during-fault", fault="the fault's injection", before="the pod observed before the fault",
         end="the fault's end (heal mark)", watch="the pod watch delivering during the fault")
def not_recreated_during_fault(events: Sequence[Event], pod: str, fault_type: str) -> Verdict:
    """While the fault is active the identity keeps its one pod object (no new UID), and that object is
    observed Terminating (evicted after the unreachable toleration) but not removed. A fault that stopped
    holding early fails: the claim is about a fault held past the toleration, and it was not."""
    name = "not-recreated-during-fault"
    w = fault_window(events, fault_type)
    start = w.start if w else 0.0
    before = [e for e in of_kind(events, "pod") if e["name"] == pod and e["mono"] < start]
    if missing := lacking(name, fault=w, before=before, end=w and w.end is not None):
        return missing
    assert w is not None
    end = w.until
    during = [e for e in of_kind(events, "pod") if e["name"] == pod and start <= e["mono"] <= end]
    uid = before[-1]["uid"]
    others = sorted({e["uid"] for e in during if e["uid"] != uid})
    terminating = next((e for e in during if e["deleting"]), None)
    deleted = next((e for e in during if e["type"] == "DELETED"), None)
    figures = {"fault_seconds": end - start}
    evidence: list[dict[str, Any]] = [{"pod": pod, "uid": uid, "node": before[-1]["node"]}]
    if terminating:
        figures["terminating_after"] = terminating["mono"] - start
        evidence.append({"terminating_at": terminating["wall"], "after": round(figures["terminating_after"], 1)})
    if others or deleted:
        return Verdict(name, "fail", f"{pod} was {'re-created as ' + ', '.join(others) if others else 'removed'} "
                       f"during the fault", tuple(evidence), figures)
    if v := blind(name, outages_within(events, "pod", start, end, pod.__eq__), f"{pod}'s object during {fault_type}"):
        return v
    if not terminating:
        why = f": {window_reason(w)}" if w.early else " (eviction did not happen)"
        return Verdict(name, "fail", f"{pod} was never observed Terminating during the fault{why}",
                       tuple(evidence), figures)
    return Verdict(name, "pass", f"{pod} stayed one object: Terminating {figures['terminating_after']:.0f}s into the "
                   f"fault, never re-created while the node was unreachable", tuple(evidence), figures)


@checker("one-incarnation-during-fault", fault="the fault's injection", before="the pod observed before the fault",
         after="the pod observed at or after the fault's end")
def one_incarnation_during_fault(events: Sequence[Event], pod: str, fault_type: str) -> Verdict:
    """While the fault lasts the identity keeps the pod object it had (same UID, never removed): nothing
    re-creates it elsewhere. Unlike not_recreated_during_fault it does not ask for eviction (short faults).
    Evidence: the pod seen before the fault and again at or after its end (the final list counts); a watch
    outage between is harmless when the UID is the same on both sides (a re-list reports what went)."""
    name = "one-incarnation-during-fault"
    w = fault_window(events, fault_type)
    start, end = (w.start, w.until) if w else (0.0, float("inf"))
    mine = [e for e in of_kind(events, "pod") if e["name"] == pod]
    before = [e for e in mine if e["mono"] < start]
    if missing := lacking(name, fault=w, before=before, after=any(e["mono"] >= end for e in mine)):
        return missing
    uid = before[-1]["uid"]
    during = [e for e in mine if start <= e["mono"] <= end]
    others = sorted({e["uid"] for e in during if e["uid"] != uid})
    removed = any(e["type"] == "DELETED" for e in during)
    evidence = ({"pod": pod, "uid": uid, "node": before[-1]["node"], "events_during_fault": len(during)},)
    if others or removed:
        return Verdict(name, "fail", f"{pod} was {'re-created as ' + ', '.join(others) if others else 'removed'} "
                       f"during {fault_type}", evidence)
    if v := blind(name, outages_within(events, "pod", start, end, pod.__eq__), f"{pod}'s object during {fault_type}"):
        return v
    assert w is not None
    if w.early:
        return Verdict(name, "unknown", f"not observed: the fault holding until its heal: {window_reason(w)}",
                       ({"missing": ["held"]}, *evidence))
    return Verdict(name, "pass", f"{pod} kept its one pod object ({uid[:8]}) through {fault_type}", evidence)


@checker("stayed-unscheduled", fault="the fault's injection", replacement="the re-created pod observed during the fault")
def stayed_unscheduled(events: Sequence[Event], pod: str, fault_type: str, old_uid: str, node: str = "") -> Verdict:
    """The pod re-created under `pod`'s name (a UID other than `old_uid`) was never bound to a node other than
    the faulted `node` while the fault held, per the recorded pod watch (every event of it in the window, not
    one read). Bound to the faulted node itself (its kubelet back, the volume there) is no start elsewhere."""
    name = "stayed-unscheduled"
    w = fault_window(events, fault_type)
    start, end = (w.start, w.until) if w else (0.0, float("inf"))
    new = [e for e in of_kind(events, "pod") if e["name"] == pod and e["uid"] != old_uid and start <= e["mono"] <= end
           and e["type"] != "DELETED"]
    if missing := lacking(name, fault=w, replacement=new):
        return missing
    bound = next((e for e in new if e.get("node") and e.get("node") != node), None)
    evidence = ({"pod": pod, "uid": new[0]["uid"], "events_during_fault": len(new),
                 "phases": sorted({str(e.get("phase")) for e in new})},)
    if bound is not None:
        return Verdict(name, "fail", f"the re-created {pod} was bound to {bound['node']} "
                       f"{bound['mono'] - start:.1f}s into {fault_type}", evidence)
    if v := blind(name, outages_within(events, "pod", start, end, pod.__eq__), f"the re-created {pod} during {fault_type}"):
        return v
    return Verdict(name, "pass", f"the re-created {pod} stayed {new[-1].get('phase') or 'Pending'} on no node in "
                   f"{len(new)} observation(s) through {fault_type}", evidence)


@checker("restarted-in-place", fault="the fault's injection", before="the pod observed before the fault",
         after="the pod observed after the fault", runtime="the container sampled on the runtime before the fault")
def restarted_in_place(events: Sequence[Event], pod: str, container: str, fault_type: str) -> Verdict:
    """After the fault the pod's container restarted in place: the same pod UID throughout, its restart
    count higher than before the fault, and a new container on the runtime."""
    name = "restarted-in-place"
    w = fault_window(events, fault_type)
    # Before/after split at the journal's inject mark, not at `injected`: the kubelet may already have started
    # the new container while the kill was being verified, and that one must count as after.
    inject = fault_marks(events, fault_type, "inject")
    start = inject[0]["mono"] if inject else (w.start if w else 0.0)
    seen = [e for e in of_kind(events, "pod") if e["name"] == pod and e["type"] != "DELETED"]
    before = [e for e in seen if e["mono"] < start]
    after = [e for e in seen if e["mono"] >= start]
    sampled = runtime_samples(events)
    ids_before = {c["id"] for at, ev in sampled if at < start
                  for c in ev.get("containers", []) if c["pod"] == pod and c["name"] == container}
    ids_after = {c["id"] for at, ev in sampled if at >= start
                 for c in ev.get("containers", []) if c["pod"] == pod and c["name"] == container}
    if missing := lacking(name, fault=w, before=before, after=after, runtime=ids_before):
        return missing
    uids = sorted({e["uid"] for e in seen})
    count_before = before[-1].get("restarts", {}).get(container, 0)
    count_after = max(e.get("restarts", {}).get(container, 0) for e in after)
    evidence = ({"pod": pod, "uids": uids, "restarts_before": count_before, "restarts_after": count_after,
                 "runtime_containers_after": sorted(i[:13] for i in ids_after - ids_before)},)
    figures = {"restarts_added": float(count_after - count_before)}
    if len(uids) != 1:
        return Verdict(name, "fail", f"{pod} was re-created (UIDs {', '.join(u[:8] for u in uids)}), not restarted "
                       f"in place", evidence, figures)
    if count_after <= count_before:
        return Verdict(name, "fail", f"{pod}/{container}'s restart count stayed {count_before}", evidence, figures)
    if not ids_after - ids_before:
        return Verdict(name, "fail", f"no new {container} container of {pod} was seen on the runtime", evidence,
                       figures)
    return Verdict(name, "pass", f"{pod}/{container} restarted in place: restarts {count_before} -> {count_after}, "
                   f"same pod UID, a new container on the runtime", evidence, figures)
