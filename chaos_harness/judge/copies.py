"""Checkers of copies on the nodes' container runtime: at most one running copy of an identity (split-brain), a Deployment's double start, the faulted node seen throughout, and the hazard window of a force delete."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chaos_harness.judge.evidence import (MIN_STALENESS, fault_marks, fault_window, is_ordinal_pod, runtime_samples,
                                          sample_gaps, staleness, staleness_by_node, window_reason)
from chaos_harness.judge.verdicts import Verdict, blind, checker, judged, lacking
from chaos_harness.record.events import Event, of_kind


def _nodes_that_matter(events: Sequence[Event], statefulset: str) -> set[str]:
    """Nodes the pod watch saw run a Ready pod of the StatefulSet: their runtime must have been seen."""
    return {e["node"] for e in of_kind(events, "pod") if is_ordinal_pod(e["name"], statefulset) and e.get("ready")
            and e["type"] != "DELETED" and e.get("node")}


@checker("split-brain", samples="a successful runtime sample", selection="a sample holding a container of the "
         "StatefulSet", every_node="a sample holding the StatefulSet on every node the API ran one of its Ready pods on")
def split_brain(events: Sequence[Event], statefulset: str, staleness_seconds: float | None = None,
                across_nodes_only: bool = False) -> Verdict:
    """At most one running container per StatefulSet identity (pod name + container name) across all nodes,
    judged on the runtime samples. A node's latest sample is a sure view while it is no older than the run's
    staleness for that node; past it, or when the node stopped answering, what it last showed is only possible.
    Two sure copies fail; a sure copy beside a possible one on a node we could not see is `unknown` for that
    span. `across_nodes_only`: two copies on one node (a kubelet starting a force-deleted pod's replacement a
    moment before the old container is gone) are reported in the summary and evidence, not failed."""
    name = "split-brain"
    timed = runtime_samples(events)
    stale = {n: staleness_seconds or s for n, s in staleness_by_node(events).items()}
    latest: dict[str, tuple[float, bool, list[dict[str, Any]]]] = {}  # node -> (read at, answered, containers)
    samples = 0
    holding: set[str] = set()
    violations: dict[tuple[str, str], dict[str, Any]] = {}
    blind_spans: dict[tuple[str, str, str], dict[str, Any]] = {}
    for now, ev in timed:
        node = ev["node"]
        if ev.get("ok"):
            samples += 1
            latest[node] = (now, True, ev["containers"])
            if any(c["state"] == "CONTAINER_RUNNING" and is_ordinal_pod(c["pod"], statefulset) for c in ev["containers"]):
                holding.add(node)
        elif node in latest:  # unreachable: what it last showed may still run there
            latest[node] = (latest[node][0], False, latest[node][2])
        # Sure: a node that answered within its staleness. Unseen: a node silent for longer, whose last view may
        # still run. A node that just failed one sample is neither (too short to hide anything).
        sure: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
        unseen: dict[tuple[str, str], list[tuple[str, str, float]]] = {}
        for n, (at, answered, containers) in latest.items():
            fresh = now - at <= stale[n]
            if fresh and not answered:
                continue
            for c in containers:
                if c["state"] == "CONTAINER_RUNNING" and is_ordinal_pod(c["pod"], statefulset):
                    if fresh:
                        sure.setdefault((c["pod"], c["name"]), set()).add((n, c["id"], c["pod_uid"]))
                    else:
                        unseen.setdefault((c["pod"], c["name"]), []).append((n, c["id"], now - at))
        for identity, copies in sure.items():
            if len({cid for _, cid, _ in copies}) > 1:
                v = violations.setdefault(identity, {"pod": identity[0], "container": identity[1], "first": ev["wall"],
                                                     "copies": set()})
                v["last"] = ev["wall"]
                v["copies"] |= copies
            for n, cid, silent in unseen.get(identity, ()):
                if n not in {m for m, _, _ in copies} and cid not in {c for _, c, _ in copies}:
                    span = blind_spans.setdefault((identity[0], n, cid), {"node": n, "pod": identity[0],
                                                                          "at_wall": ev["wall"]})
                    span["seconds"] = round(max(silent, span.get("seconds", 0.0)), 2)
                    span["allowed"] = stale[n]
    figures: dict[str, float] = {"samples": float(samples), "nodes": float(len(latest)),
                                 "staleness": max(stale.values(), default=MIN_STALENESS)}
    unseen = sorted(_nodes_that_matter(events, statefulset) - holding)
    if missing := lacking(name, samples=samples, selection=holding, every_node=not unseen):
        return Verdict(name, "unknown", missing.summary + (f": never seen on {', '.join(unseen)}" if unseen and holding
                                                           else ""), missing.evidence, figures)
    evidence = tuple({**v, "copies": sorted(({"node": n, "container": cid, "pod_uid": uid}
                                             for n, cid, uid in v["copies"]), key=lambda d: (d["node"], d["container"])),
                      "nodes": sorted({n for n, _, _ in v["copies"]}),
                      "duration": v["last"] - v["first"]} for v in violations.values())
    same_node = [e for e in evidence if len(e["nodes"]) == 1] if across_nodes_only else []
    evidence = tuple(e for e in evidence if e not in same_node)
    if evidence:
        worst = max(evidence, key=lambda e: e["duration"])
        return Verdict(name, "fail", f"{worst['pod']}/{worst['container']} ran twice at once on "
                       f"{', '.join(worst['nodes'])} for {worst['duration']:.1f}s", evidence, figures)
    if blind_spans:
        v = blind(name, blind_spans.values(), f"another copy of a {statefulset} identity may have run unseen")
        assert v is not None
        return Verdict(name, "unknown", v.summary, v.evidence, {**figures, **v.figures})
    if same_node:
        worst = max(same_node, key=lambda e: e["duration"])
        figures["same_node_overlap"] = max(e["duration"] for e in same_node)
        overlap = (f"; on {worst['nodes'][0]} the old and new {worst['pod']}/{worst['container']} overlapped "
                   f"{worst['duration']:.1f}s as its kubelet came back (the force delete's hazard, shown not failed)")
    else:
        overlap = ""
    where = "on different nodes " if same_node else ""
    return Verdict(name, "pass", f"at most one copy of each {statefulset} identity {where}in {samples} samples from "
                   f"{len(latest)} nodes (a node's view counts for {figures['staleness']:.1f}s){overlap}",
                   tuple(same_node), figures)


@checker("concurrent-copies", samples="a successful runtime sample",
         selection="a sample holding a container of the workload")
def concurrent_copies(events: Sequence[Event], pod_prefix: str, expected: int,
                      staleness_seconds: float | None = None) -> Verdict:
    """How many containers of a workload (pods named `<pod_prefix>...`) ran at once, across nodes, on the
    runtime samples. Used to *show* a Deployment's double start; passes when more than `expected` ran."""
    name = "concurrent-copies"
    latest: dict[str, tuple[float, list[dict[str, Any]]]] = {}
    peak: list[tuple[str, str, str]] = []
    peak_at = 0.0
    samples = 0
    seen = False
    timed = runtime_samples(events)
    stale = {n: staleness_seconds or s for n, s in staleness_by_node(events).items()}
    for now, ev in timed:
        if not ev.get("ok"):
            latest.pop(ev["node"], None)
            continue
        samples += 1
        latest[ev["node"]] = (now, ev["containers"])
        running = [(node, c["pod"], c["id"]) for node, (at, cs) in latest.items() if now - at <= stale[node]
                   for c in cs if c["state"] == "CONTAINER_RUNNING" and c["pod"].startswith(pod_prefix)]
        seen |= bool(running)
        if len(running) > len(peak):
            peak, peak_at = running, ev["wall"]
    figures = {"peak": float(len(peak)), "peak_wall": peak_at, "samples": float(samples)}
    if missing := lacking(name, samples=samples, selection=seen):
        return Verdict(name, "unknown", missing.summary, missing.evidence, figures)
    evidence = tuple({"node": n, "pod": p, "container": cid} for n, p, cid in sorted(peak))
    return judged(name, len(peak) > expected, f"{len(peak)} copies of {pod_prefix}* ran at once (expected "
                  f"{expected}) on {', '.join(sorted({n for n, _, _ in peak}))}", evidence, figures)


@checker("node-observed-during-fault", fault="the fault's injection", end="the fault's end (heal mark)",
         held="the fault holding until its heal")
def node_observed_during_fault(events: Sequence[Event], node: str, fault_type: str,
                               max_gap: float | None = None) -> Verdict:
    """The faulted node's container runtime stayed visible while the fault lasted: a successful runtime sample
    at least every `max_gap` seconds (default: the run's staleness for that node, from its measured sampling
    interval) from the injection to the heal, timed when the runtime was read (runtime_samples), not when the
    sample reached the harness. Without that, "no second copy" would be unproven exactly where a second copy
    could run (a node whose kubelet is stopped); so a gap is `unknown` for its span, never a pass or a fail."""
    name = "node-observed-during-fault"
    w = fault_window(events, fault_type)
    if missing := lacking(name, fault=w, end=w and w.end is not None, held=w and not w.early):
        why = f": {window_reason(w)}" if w and w.early else ""
        return Verdict(name, "unknown", missing.summary + why, missing.evidence)
    assert w is not None and w.end is not None
    allowed = staleness(events, node) if max_gap is None else max_gap
    times = [at for at, e in runtime_samples(events) if e["node"] == node and e.get("ok") and w.start <= at <= w.end]
    edges = [w.start, *times, w.end]
    worst = max(b - a for a, b in zip(edges, edges[1:]))
    sources = sorted({str(e.get("source", "docker")) for e in of_kind(events, "runtime") if e["node"] == node})
    figures = {"samples": float(len(times)), "window": w.end - w.start, "max_gap": worst, "allowed": allowed}
    summary = (f"{len(times)} runtime samples of {node} in the {w.end - w.start:.0f}s of {fault_type} (through "
               f"{', '.join(sources) or 'nothing'}; largest gap {worst:.1f}s, allowed {allowed:.1f}s)")
    evidence = ({"node": node, "samples": len(times), "window_seconds": round(w.end - w.start, 1),
                 "max_gap_seconds": round(worst, 2), "allowed_seconds": round(allowed, 2), "sources": sources},)
    gaps = sample_gaps(events, node, w.start, w.end, allowed)
    if gaps:
        v = blind(name, gaps, f"{node}'s runtime during {fault_type}")
        assert v is not None
        return Verdict(name, "unknown", f"{v.summary}; {summary}", v.evidence + evidence, figures)
    return Verdict(name, "pass", summary, evidence, figures)


# A kubelet back for this long has had every chance to kill a container whose pod the API no longer has.
HAZARD_SETTLE_SECONDS = 30.0


@checker("hazard-window", fault="the fault's injection", old_seen="the old container sampled on the node",
         seen_after="a sample of the node after the fault",
         seen_to_end=f"the node sampled until the recording's end, {HAZARD_SETTLE_SECONDS:.0f}s past the last heal")
def hazard_window(events: Sequence[Event], pod: str, node: str, fault_type: str) -> Verdict:
    """After `fault_type` removed `pod` from the API, how long its old container kept running on `node`
    (the window in which the API and the node disagree). Reported as a figure; fails only when the node was
    watched to the end, at least HAZARD_SETTLE_SECONDS past the last heal, and the old container was never
    seen gone; a recording that ended sooner is `unknown`."""
    name = "hazard-window"
    injected = fault_marks(events, fault_type, "injected")
    if missing := lacking(name, fault=injected):
        return missing
    t0 = injected[0]["mono"]
    # The old incarnation only: a re-created pod of the same name may start on the same node later.
    old_uid = injected[0]["fault"].get("uid")
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
        hazard = max(0.0, gone_at - t0) if seen_running_after else 0.0
        return Verdict(name, "pass", f"the old {pod} kept running on {node} for {hazard:.1f}s after it left the API"
                       if seen_running_after else f"the old {pod} container was already gone from {node}",
                       figures={"hazard_seconds": hazard})
    # Still running at the node's last sample: a finding only if the node was watched to the end of sampling,
    # and long enough after the last heal for the kubelet to have killed it.
    end = max(at for at, _ in runtime_samples(events))
    last_heal = max((e["mono"] for e in of_kind(events, "fault") if e["phase"] == "healed"), default=t0)
    watched = end - node_after[-1] <= staleness(events, node) and node_after[-1] - last_heal >= HAZARD_SETTLE_SECONDS
    if missing := lacking(name, seen_to_end=watched):
        return Verdict(name, "unknown", f"{missing.summary}: the old {pod} still ran on {node} at its last sample, "
                       f"{node_after[-1] - last_heal:.1f}s after the last heal", missing.evidence)
    return Verdict(name, "fail", f"the old {pod} container never stopped on {node}",
                   figures={"hazard_seconds": end - t0})
