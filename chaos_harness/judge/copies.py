"""Checkers of copies on the nodes' container runtime: at most one running copy of an identity (split-brain), a Deployment's double start, the faulted node seen throughout, and the hazard window of a force delete."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.judge.evidence import (detection_seconds, fault_claim, inconclusive, is_ordinal_pod, minimum,
                                          outages_within, runtime_samples, sample_gaps, staleness,
                                          timing_of)
from chaos_harness.judge.verdicts import Verdict, blind, checker, judged, lacking
from chaos_harness.record.events import Event, of_kind


def _nodes_that_matter(events: Sequence[Event], statefulset: str) -> set[str]:
    """Nodes the pod watch saw run a Ready pod of the StatefulSet: their runtime must have been seen."""
    return {e["node"] for e in of_kind(events, "pod") if is_ordinal_pod(e["name"], statefulset) and e.get("ready")
            and e["type"] != "DELETED" and e.get("node")}


@dataclass(frozen=True)
class Copy:
    """One container of an identity as one node's runtime showed it: surely running from the first to the last
    sample of a run of that node's samples holding it (a container id never restarts), and possibly running from
    that node's sample before the run to its sample after (-inf / inf where there is none: not seen either way)."""
    pod: str
    container: str
    node: str
    cid: str
    pod_uid: str
    sure: tuple[float, float]
    possible: tuple[float, float]


def copies(events: Sequence[Event], statefulset: str | Callable[[str], bool]
           ) -> tuple[list[Copy], list[tuple[float, str, list[str]]]]:
    """Every running copy of a `statefulset` identity (or of the pods a predicate selects), node by node, and
    the snapshots in which one node ran two copies of one identity (time, node, the container ids): what the
    nodes' runtime samples show. A copy is a (node, container id) seen by that node: the same id on two nodes is
    two copies."""
    selects = statefulset if callable(statefulset) else lambda pod: is_ordinal_pod(pod, statefulset)
    by_node: dict[str, list[tuple[float, dict[tuple[str, str, str, str], None]]]] = {}
    for at, ev in runtime_samples(events):
        if not ev.get("ok"):
            continue  # an unanswered sample shows nothing either way
        running = {(c["pod"], c["name"], c["id"], c.get("pod_uid", "")): None for c in ev.get("containers") or []
                   if c.get("state") == "CONTAINER_RUNNING" and selects(c.get("pod", ""))}
        by_node.setdefault(ev["node"], []).append((at, running))
    found: list[Copy] = []
    crowded: list[tuple[float, str, list[str]]] = []
    for node, samples in by_node.items():
        runs: dict[tuple[str, str, str, str], list[int]] = {}
        for i, (at, running) in enumerate(samples):
            per_identity: dict[tuple[str, str], list[str]] = {}
            for key in running:
                runs.setdefault(key, []).append(i)
                per_identity.setdefault(key[:2], []).append(key[2])
            crowded += [(at, node, ids) for ids in per_identity.values() if len(ids) > 1]
        for (pod, container, cid, uid), seen in runs.items():
            start = seen[0]
            for j, i in enumerate(seen):
                if j + 1 < len(seen) and seen[j + 1] == i + 1:
                    continue  # the run goes on
                lo = samples[start - 1][0] if start > 0 else float("-inf")
                hi = samples[i + 1][0] if i + 1 < len(samples) else float("inf")
                found.append(Copy(pod, container, node, cid, uid, (samples[start][0], samples[i][0]), (lo, hi)))
                if j + 1 < len(seen):
                    start = seen[j + 1]
    return found, crowded


@checker("split-brain", reads=("runtime", "pod"), samples="a successful runtime sample",
         selection="a sample holding a container of the StatefulSet",
         every_node="a sample holding the StatefulSet on every node the API ran one of its Ready pods on",
         placed="the StatefulSet's pods observed by the pod watch (where it ran)")
def split_brain(events: Sequence[Event], statefulset: str, staleness_seconds: float | None = None,
                across_nodes_only: bool = False) -> Verdict:
    """At most one running container per StatefulSet identity (pod name + container name) across all nodes,
    judged on the runtime samples as spans, not instants: a copy surely ran between the first and last sample of
    its node that showed it, and possibly from that node's sample before to its sample after (copies()). Two
    copies on different nodes whose sure spans meet fail; whose possible spans meet (a handover inside a gap of
    either node's samples, a node silent while another ran a copy) are `unknown` for that span. On one node a
    sample is one snapshot of its runtime: two copies fail only when one snapshot showed both.
    `across_nodes_only`: two copies on one node (a kubelet starting a force-deleted pod's replacement a moment
    before the old container is gone) are reported in the summary and evidence, not failed.
    (`staleness_seconds` is no longer needed: each copy's span comes from its own node's samples.)"""
    name = "split-brain"
    found, crowded = copies(events, statefulset)
    ok_samples = [e for e in of_kind(events, "runtime") if e.get("ok")]
    holding = {c.node for c in found}
    placed = [e for e in of_kind(events, "pod") if is_ordinal_pod(e["name"], statefulset)]
    unseen = sorted(_nodes_that_matter(events, statefulset) - holding)
    figures: dict[str, float] = {"samples": float(len(ok_samples)), "nodes": float(len({e["node"] for e in ok_samples})),
                                 "copies": float(len(found))}
    if missing := lacking(name, samples=ok_samples, selection=holding, placed=placed, every_node=not unseen):
        return Verdict(name, "unknown", missing.summary + (f": never seen on {', '.join(unseen)}" if unseen and holding
                                                           else ""), missing.evidence, figures)
    wall = _wall_of(events)
    violations: dict[tuple[str, str], dict[str, Any]] = {}
    doubts: list[dict[str, Any]] = []
    by_identity: dict[tuple[str, str], list[Copy]] = {}
    for c in found:
        by_identity.setdefault((c.pod, c.container), []).append(c)
    for (pod, container), mine in by_identity.items():
        for i, a in enumerate(mine):
            for b in mine[i + 1:]:
                if a.node == b.node:
                    continue  # one node: its snapshots (crowded) say whether both ran at once
                lo, hi = max(a.sure[0], b.sure[0]), min(a.sure[1], b.sure[1])
                if lo <= hi:
                    v = violations.setdefault((pod, container), {"pod": pod, "container": container, "first": wall(lo),
                                                                 "last": wall(hi), "copies": set(), "duration": 0.0})
                    v["first"], v["last"] = min(v["first"], wall(lo)), max(v["last"], wall(hi))
                    v["duration"] = max(v["duration"], hi - lo)
                    v["copies"] |= {(a.node, a.cid, a.pod_uid), (b.node, b.cid, b.pod_uid)}
                    continue
                plo, phi = max(a.possible[0], b.possible[0]), min(a.possible[1], b.possible[1])
                if plo < phi:
                    doubts.append(_doubt(a, b, plo, phi, events))
    same_node = [{"pod": pod, "container": "", "nodes": [node], "first": wall(at), "last": wall(at), "duration": 0.0,
                  "copies": [{"node": node, "container": cid, "pod_uid": ""} for cid in ids]} for at, node, ids in crowded
                 for pod in {c.pod for c in found if c.node == node and c.cid in ids}]
    evidence = tuple({**v, "copies": sorted(({"node": n, "container": cid, "pod_uid": uid} for n, cid, uid in v["copies"]),
                                            key=lambda d: (d["node"], d["container"])),
                      "nodes": sorted({n for n, _, _ in v["copies"]})} for v in violations.values())
    if not across_nodes_only:
        evidence += tuple(_merge_same_node(same_node))
        same_node = []
    if evidence:
        worst = max(evidence, key=lambda e: e["duration"])
        where = ", ".join(worst["nodes"])
        return Verdict(name, "fail", f"{worst['pod']} ran twice at once on {where} for {worst['duration']:.1f}s",
                       evidence, figures)
    if v := blind(name, outages_within(events, "pod", 0.0, float("inf"), lambda n: is_ordinal_pod(n, statefulset),
                                       ("uid", "node")), f"where a {statefulset} pod ran"):
        return v
    if doubts:
        worst = max(doubts, key=lambda d: d["seconds"])
        return Verdict(name, "unknown", f"another copy of a {statefulset} identity may have run unseen: "
                       f"{worst['summary']}{f' and {len(doubts) - 1} more' if len(doubts) > 1 else ''}",
                       tuple({"gap": True, **{k: v for k, v in d.items() if k != 'summary'}} for d in doubts[:10]),
                       {**figures, "max_gap": worst["seconds"]})
    overlap = ""
    if same_node:
        merged = _merge_same_node(same_node)
        worst = max(merged, key=lambda e: e["duration"])
        figures["same_node_overlap"] = worst["duration"]
        overlap = (f"; on {worst['nodes'][0]} the old and new {worst['pod']} overlapped {worst['duration']:.1f}s as "
                   f"its kubelet came back (the force delete's hazard, shown not failed)")
        same_node = merged
    where = "on different nodes " if across_nodes_only else ""
    return Verdict(name, "pass", f"at most one copy of each {statefulset} identity {where}in {len(ok_samples)} samples "
                   f"from {int(figures['nodes'])} nodes (each copy timed by its own node's samples){overlap}",
                   tuple(same_node), figures)


def _merge_same_node(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One node's snapshots of two copies of one pod, merged per (node, pod): from the first to the last."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for s in snapshots:
        m = merged.setdefault((s["nodes"][0], s["pod"]), {**s, "copies": []})
        m["first"], m["last"] = min(m["first"], s["first"]), max(m["last"], s["last"])
        m["duration"] = m["last"] - m["first"]
        m["copies"] = sorted({(c["node"], c["container"]) for c in m["copies"]} |
                             {(c["node"], c["container"]) for c in s["copies"]})
    return [{**m, "copies": [{"node": n, "container": c, "pod_uid": ""} for n, c in m["copies"]]} for m in merged.values()]


def _doubt(a: Copy, b: Copy, lo: float, hi: float, events: Sequence[Event]) -> dict[str, Any]:
    """The span (within the recording) in which copies a and b may both have run, named by the node that left
    the doubt: the one whose copy was surely running over less of it (its samples did not show it either way)."""
    first, last = min(e["mono"] for e in events), max(e["mono"] for e in events)
    lo, hi = max(lo, first), min(hi, last)
    covered = {c: max(0.0, min(hi, c.sure[1]) - max(lo, c.sure[0])) for c in (a, b)}
    unsure = a if covered[a] <= covered[b] else b
    seconds = round(max(0.0, hi - lo - covered[unsure]), 2)
    return {"node": unsure.node, "pod": a.pod, "containers": sorted([f"{a.node}/{a.cid[:13]}", f"{b.node}/{b.cid[:13]}"]),
            "seconds": seconds, "allowed": 0.0,
            "summary": f"{unsure.node} unobserved for {seconds:.1f}s while {a.pod} ran on "
                       f"{(b if unsure is a else a).node}"}


def _wall_of(events: Sequence[Event]) -> Any:
    """Recording time (monotonic) to wall time, by the first event's pair."""
    first = next(iter(events), {"mono": 0.0, "wall": 0.0})
    return lambda t: t - first["mono"] + first["wall"]


@checker("concurrent-copies", reads=("runtime",), samples="a successful runtime sample",
         selection="a sample holding a container of the workload")
def concurrent_copies(events: Sequence[Event], pod_prefix: str, expected: int,
                      staleness_seconds: float | None = None) -> Verdict:
    """How many containers of a workload (pods named `<pod_prefix>...`) surely ran at once, across nodes, on the
    runtime samples (each copy's span from its own node's samples, as split-brain judges them). Used to *show* a
    Deployment's double start; passes when more than `expected` ran."""
    name = "concurrent-copies"
    found, _ = copies(events, lambda pod: pod.startswith(pod_prefix))
    samples = sum(1 for e in of_kind(events, "runtime") if e.get("ok"))
    peak: list[Copy] = []
    for t in sorted({c.sure[0] for c in found}):
        running = [c for c in found if c.sure[0] <= t <= c.sure[1]]
        if len(running) > len(peak):
            peak = running
    figures = {"peak": float(len(peak)), "peak_wall": _wall_of(events)(max((c.sure[0] for c in peak), default=0.0)),
               "samples": float(samples)}
    if missing := lacking(name, samples=samples, selection=found):
        return Verdict(name, "unknown", missing.summary, missing.evidence, figures)
    evidence = tuple({"node": c.node, "pod": c.pod, "container": c.cid} for c in sorted(peak, key=lambda c: (c.node, c.pod)))
    return judged(name, len(peak) > expected, f"{len(peak)} copies of {pod_prefix}* ran at once (expected "
                  f"{expected}) on {', '.join(sorted({c.node for c in peak}))}", evidence, figures)


@checker("node-observed-during-fault", reads=("runtime", "fault"), held_for=detection_seconds,
         fault="the fault's injection", effect="proof that the fault took effect (a verified injected mark)",
         end="the fault's end (heal mark)",
         held="the fault holding as long as the claim needs (not ended early, not healed sooner)")
def node_observed_during_fault(events: Sequence[Event], node: str, fault_type: str, max_gap: float | None = None,
                               timing: ClusterTiming | None = None) -> Verdict:
    """The faulted node's container runtime stayed visible while the fault lasted: a successful runtime sample
    at least every `max_gap` seconds (default: the run's staleness for that node, from its measured sampling
    interval, never more than the node monitor's grace period) from the injection to the heal, timed when the
    runtime was read (runtime_samples), not when the sample reached the harness. Without that, "no second copy"
    would be unproven exactly where a second copy could run (a node whose kubelet is stopped); so a gap is
    `unknown` for its span, never a pass or a fail. A fault held shorter than it takes to declare the node lost
    (grace + monitor period) showed nothing worth observing: `unknown` too."""
    name = "node-observed-during-fault"
    w, missing = fault_claim(name, events, fault_type, node=node)
    if missing:
        return missing
    assert w is not None
    if missing := lacking(name, end=w.end is not None):
        return missing
    assert w.end is not None
    if v := inconclusive(name, w, events, minimum(name, timing_of(events, timing))):
        return v
    allowed = staleness(events, node) if max_gap is None else max_gap
    times = [at for at, e in runtime_samples(events) if e["node"] == node and e.get("ok") and w.start <= at <= w.end]
    edges = [w.start, *times, w.end]
    worst = max(b - a for a, b in zip(edges, edges[1:]))
    sources = sorted({str(e.get("source", "docker")) for e in of_kind(events, "runtime") if e["node"] == node})
    figures = {"samples": float(len(times)), "window": w.end - w.start, "max_gap": worst, "allowed": allowed}
    summary = (f"{len(times)} runtime samples of {node} in the {w.end - w.start:.0f}s of {fault_type} (through "
               f"{', '.join(sources) or 'nothing'}; largest gap {worst:.1f}s, allowed {allowed:.1f}s)")
    evidence = ({"node": node, "samples": len(times), "window_seconds": round(w.end - w.start, 1),
                 "max_gap_seconds": round(worst, 2), "allowed_seconds": round(allowed, 2), "sources": sources},
                w.about())
    gaps = sample_gaps(events, node, w.start, w.end, allowed)
    if gaps:
        v = blind(name, gaps, f"{node}'s runtime during {fault_type}")
        assert v is not None
        return Verdict(name, "unknown", f"{v.summary}; {summary}", v.evidence + evidence, figures)
    return Verdict(name, "pass", summary, evidence, figures)


# A kubelet back for this long has had every chance to kill a container whose pod the API no longer has.
HAZARD_SETTLE_SECONDS = 30.0


@checker("hazard-window", reads=("runtime", "fault"), fault="the fault's injection",
         effect="proof that the fault took effect (a verified injected mark)",
         old_seen="the old container sampled on the node", seen_after="a sample of the node after the fault",
         watched="the node sampled without a gap from the fault until the old container was seen gone",
         seen_to_end=f"the node sampled until the recording's end, {HAZARD_SETTLE_SECONDS:.0f}s past the last heal")
def hazard_window(events: Sequence[Event], pod: str, node: str, fault_type: str) -> Verdict:
    """After `fault_type` removed `pod` from the API, how long its old container kept running on `node`
    (the window in which the API and the node disagree). Reported as a figure, measured only where the node's
    runtime was sampled without a gap longer than its staleness from the fault until the container was seen gone
    (otherwise the figure is a guess: `unknown`); fails only when the node was watched to the end, at least
    HAZARD_SETTLE_SECONDS past the last heal, and the old container was never seen gone; a recording that ended
    sooner is `unknown`."""
    name = "hazard-window"
    w, missing = fault_claim(name, events, fault_type, pod=pod)
    if missing:
        return missing
    assert w is not None
    t0 = w.start
    # The old incarnation only: a re-created pod of the same name may start on the same node later.
    old_uid = w.fault.get("uid")
    gone_at = None
    seen_running_before = seen_running_after = False
    node_after: list[float] = []
    for at, ev in runtime_samples(events):
        if ev["node"] != node or not ev.get("ok"):
            continue
        running = any(c["pod"] == pod and c["state"] == "CONTAINER_RUNNING" and (not old_uid or c["pod_uid"] == old_uid)
                      for c in ev["containers"])
        if at < t0:
            seen_running_before |= running
            continue
        node_after.append(at)
        if running:
            seen_running_after = True
        elif gone_at is None:
            gone_at = at
    if missing := lacking(name, old_seen=seen_running_before or seen_running_after, seen_after=node_after):
        return missing
    if gone_at is not None:
        if seen_running_after and (gaps := sample_gaps(events, node, t0, gone_at)):
            v = blind(name, gaps, f"{node}'s runtime between {fault_type} and the old {pod} seen gone")
            assert v is not None
            return Verdict(name, "unknown", v.summary, ({"missing": ["watched"]}, *v.evidence, w.about()), v.figures)
        hazard = max(0.0, gone_at - t0) if seen_running_after else 0.0
        return Verdict(name, "pass", f"the old {pod} kept running on {node} for {hazard:.1f}s after it left the API"
                       if seen_running_after else f"the old {pod} container was already gone from {node}",
                       (w.about(),), figures={"hazard_seconds": hazard})
    # Still running at the node's last sample: a finding only if the node was watched to the end of sampling,
    # and long enough after the last heal for the kubelet to have killed it.
    end = max(at for at, _ in runtime_samples(events))
    last_heal = max((e["mono"] for e in of_kind(events, "fault") if e["phase"] == "healed"), default=t0)
    watched = (end - node_after[-1] <= staleness(events, node) and node_after[-1] - last_heal >= HAZARD_SETTLE_SECONDS
               and not sample_gaps(events, node, t0, node_after[-1]))
    if missing := lacking(name, seen_to_end=watched):
        return Verdict(name, "unknown", f"{missing.summary}: the old {pod} still ran on {node} at its last sample, "
                       f"{node_after[-1] - last_heal:.1f}s after the last heal", missing.evidence)
    return Verdict(name, "fail", f"the old {pod} container never stopped on {node}", (w.about(),),
                   figures={"hazard_seconds": end - t0})
