"""Checkers: pure functions from a recorded history to a verdict with evidence. They never touch the cluster,
so they are unit-tested on recorded histories (tests/data) as well as hand-made ones.

Each checker declares the evidence it needs (`@checker(name, need=...)`, chaos_harness/judge/verdicts.py) and answers
`unknown` when any of it was not observed: no runtime sample of the workload, no acknowledged write, a replica
never read, a fault that stopped holding early, a gap in a stream it relies on. Only what was seen passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from chaos_harness.judge.evidence import (MIN_STALENESS, FaultWindow, expected_replicas, facts, fault_marks,
                                          fault_window, outages_within, read_replicas, runtime_samples, sample_gaps,
                                          staleness, staleness_by_node, workload_of)
from chaos_harness.judge.verdicts import CHECKERS, STATUSES, Verdict, blind, checker, judged, lacking, outcome
from chaos_harness.record.events import Event, of_kind

__all__ = ["CHECKERS", "STATUSES", "Verdict", "checker", "judged", "lacking", "outcome", "facts", "workload_of",
           "read_replicas", "expected_replicas", "runtime_samples", "durability_if_probed", "recorded_durability"]

# Kept for scenarios written against it: the least a sample stands for its node (chaos_harness/judge/evidence.py).
SAMPLE_STALENESS = MIN_STALENESS


def _ordinal_pod(name: str, statefulset: str) -> bool:
    return re.fullmatch(rf"{re.escape(statefulset)}-\d+", name) is not None


def _ordinal(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


def _window_reason(w: FaultWindow) -> str:
    return f"{w.fault['type']} stopped holding {w.until - w.start:.1f}s after it took effect: {w.ended_by}"


# --- durability ---------------------------------------------------------------------------------------------

def durability_if_probed(events: Sequence[Event], replicas: Iterable[str] | None = None) -> list[Verdict]:
    """The durability verdict when the scenario wrote into its workload; none when a user's target was run
    without a probe (nothing was written, and the run's facts say so: durability was not part of the claim).
    `replicas` default: every replica the workload says is readable (not the ones that happened to be read)."""
    if facts(events).get("probe") == "none":
        return []
    return [durability(events, expected_replicas(events) if replicas is None else list(replicas))]


def recorded_durability(events: Sequence[Event], replicas: Iterable[str], writes_to: str = "") -> tuple[int, Any]:
    """(writes, DurabilityVerdict) from the history: the "write" events sent to a target starting with
    `writes_to`, against each replica's last recorded read ("read-keys" events)."""
    from chaos_harness.judge.durability import check_durability
    from chaos_harness.record.events import WriteRecord

    writes = [WriteRecord(**{k: ev[k] for k in WriteRecord.__dataclass_fields__ if k in ev})
              for ev in of_kind(events, "write") if str(ev.get("target", "")).startswith(writes_to)]
    wanted = set(replicas)
    reads = {ev["replica"]: ev["keys"] for ev in of_kind(events, "read-keys") if ev["replica"] in wanted}
    # A user's target (written through a probe) holds other data too; the bundled workload starts empty.
    return len(writes), check_durability(writes, reads, shared_store=facts(events).get("probe") == "yes")


@checker("durability", replicas="the replicas to read back named by the workload",
         acknowledged="at least one acknowledged write", every_replica_read="a read of every expected replica")
def durability(events: Sequence[Event], replicas: Iterable[str], writes_to: str = "", name: str = "durability") -> Verdict:
    """Every acknowledged write is on every expected replica's last read; unknown outcomes may be present,
    failed ones must not."""
    replicas = list(replicas)
    writes, verdict = recorded_durability(events, replicas, writes_to)
    unread = sorted(set(replicas) - {r.replica for r in verdict.replicas})
    figures = {"acknowledged": float(verdict.acknowledged), "unknown": float(verdict.unknown),
               "failed": float(verdict.failed)}
    if missing := lacking("durability", replicas=replicas, acknowledged=verdict.acknowledged,
                          every_replica_read=not unread):
        detail = f"; never read: {', '.join(unread)}" if unread and replicas else ""
        return Verdict(name, "unknown", f"{missing.summary}: {writes} write(s), {verdict.acknowledged} acknowledged"
                       f"{detail}", missing.evidence, figures)
    return Verdict(name, "pass" if verdict.ok else "fail", verdict.explain(), figures=figures)


# --- copies on the nodes' runtime ---------------------------------------------------------------------------

def _nodes_that_matter(events: Sequence[Event], statefulset: str) -> set[str]:
    """Nodes the pod watch saw run a Ready pod of the StatefulSet: their runtime must have been seen."""
    return {e["node"] for e in of_kind(events, "pod") if _ordinal_pod(e["name"], statefulset) and e.get("ready")
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
            if any(c["state"] == "CONTAINER_RUNNING" and _ordinal_pod(c["pod"], statefulset) for c in ev["containers"]):
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
                if c["state"] == "CONTAINER_RUNNING" and _ordinal_pod(c["pod"], statefulset):
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
        why = f": {_window_reason(w)}" if w and w.early else ""
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


# --- the API's view: pods and identities --------------------------------------------------------------------

@checker("no-replacement-while-old-exists", pods="a pod of the StatefulSet observed",
         watch="the pod watch delivering throughout")
def replacement_while_old_exists(events: Sequence[Event], statefulset: str) -> Verdict:
    """No new pod (new UID) for an identity is observed while the old pod object has not been observed
    deleted. Watch order is the API server's order, so this is what the controller was shown."""
    name = "no-replacement-while-old-exists"
    live: dict[str, str] = {}
    seen_pods = 0
    violations = []
    for ev in of_kind(events, "pod"):
        if not _ordinal_pod(ev["name"], statefulset):
            continue
        seen_pods += 1
        if ev["type"] == "DELETED":
            if live.get(ev["name"]) == ev["uid"]:
                del live[ev["name"]]
            continue
        old = live.get(ev["name"])
        if old is not None and old != ev["uid"]:
            violations.append({"pod": ev["name"], "old_uid": old, "new_uid": ev["uid"], "at": ev["wall"],
                               "node": ev["node"]})
        live[ev["name"]] = ev["uid"]
    if violations:
        return Verdict(name, "fail", f"{len(violations)} replacement(s) appeared before the old pod object was gone",
                       tuple(violations))
    outages = outages_within(events, "pod", 0.0, float("inf"), lambda n: _ordinal_pod(n, statefulset))
    if missing := lacking(name, pods=seen_pods):
        return missing
    if v := blind(name, outages, "the order of deletions and creations"):
        return v
    return Verdict(name, "pass", f"every {statefulset} replacement appeared only after its predecessor was deleted")


@checker("stable-identity", pods="a pod of the StatefulSet observed")
def stable_identity(events: Sequence[Event], statefulset: str, service: str) -> Verdict:
    """Every incarnation of `<sts>-<n>` has hostname `<sts>-<n>` under the headless Service's subdomain
    (so `<pod>.<service>` names it); the IP may change."""
    name = "stable-identity"
    seen = 0
    problems = []
    ips: dict[str, set[str]] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] == "DELETED" or not _ordinal_pod(ev["name"], statefulset):
            continue
        seen += 1
        if ev.get("hostname") != ev["name"] or ev.get("subdomain") != service:
            problems.append({"pod": ev["name"], "hostname": ev.get("hostname"), "subdomain": ev.get("subdomain")})
        if ev.get("ip"):
            ips.setdefault(ev["name"], set()).add(ev["ip"])
    if missing := lacking(name, pods=seen):
        return missing
    if problems:
        return Verdict(name, "fail", "an incarnation had another hostname or subdomain", tuple(problems[:5]))
    return Verdict(name, "pass", f"hostname = pod name under {service} for every incarnation",
                   figures={"ip_changes": float(sum(len(v) - 1 for v in ips.values()))})


def _first_seen_and_ready(events: Sequence[Event], statefulset: str) -> tuple[dict[str, float], dict[str, float]]:
    """Per pod of the StatefulSet: when it was first observed, and when first observed Ready."""
    first_seen: dict[str, float] = {}
    first_ready: dict[str, float] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] == "DELETED" or not _ordinal_pod(ev["name"], statefulset):
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
        if not _ordinal_pod(ev["name"], statefulset):
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
        if _ordinal(later) > _ordinal(earlier):
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
        if ev["type"] == "DELETED" or not _ordinal_pod(ev["name"], statefulset):
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
        if ev["type"] != "DELETED" and _ordinal_pod(ev["name"], statefulset) and not ev["deleting"]:
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
        if not _ordinal_pod(ev["name"], statefulset):
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


# --- storage ------------------------------------------------------------------------------------------------

@checker("same-pvc-per-identity", pods="a pod of the StatefulSet observed", claims="a pod mounting a claim")
def same_pvc_per_identity(events: Sequence[Event], statefulset: str) -> Verdict:
    """Every incarnation of an identity mounts the same claims, and those claims keep their UID and volume."""
    name = "same-pvc-per-identity"
    claims: dict[str, set[tuple[str, ...]]] = {}
    pvcs: dict[str, set[tuple[str, str]]] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] != "DELETED" and _ordinal_pod(ev["name"], statefulset):
            claims.setdefault(ev["name"], set()).add(tuple(sorted(ev["pvcs"])))
    for ev in of_kind(events, "pvc"):
        if ev["volume"]:
            pvcs.setdefault(ev["name"], set()).add((ev["uid"], ev["volume"]))
    if missing := lacking(name, pods=claims, claims=any(any(c) for c in claims.values())):
        return missing
    problems = [{"pod": p, "claims": sorted(c)} for p, c in claims.items() if len(c) > 1]
    problems += [{"pvc": n, "bindings": sorted(b)} for n, b in pvcs.items() if len(b) > 1]
    if problems:
        return Verdict(name, "fail", "an identity changed claims or a claim changed volume", tuple(problems))
    return Verdict(name, "pass", f"{len(claims)} identities kept their claims and volumes")


@checker("claims-kept", named="the claims to follow named", observed="a named claim observed")
def claims_kept(events: Sequence[Event], claims: Iterable[str]) -> Verdict:
    """Each named PVC was observed, never deleted, and kept one UID and one volume throughout."""
    name = "claims-kept"
    claims = list(claims)
    seen: dict[str, set[tuple[str, str]]] = {}
    deleted = []
    for ev in of_kind(events, "pvc"):
        if ev["name"] not in claims:
            continue
        seen.setdefault(ev["name"], set()).add((ev["uid"], ev["volume"] or ""))
        if ev["type"] == "DELETED" or ev["deleting"]:
            deleted.append({"pvc": ev["name"], "at": ev["wall"]})
    if missing := lacking(name, named=claims, observed=seen):
        return missing
    absent = [c for c in claims if c not in seen]
    changed = [{"pvc": c, "bindings": sorted(b)} for c, b in seen.items() if len({u for u, _ in b}) > 1
               or len({v for _, v in b if v}) > 1]
    if absent or deleted or changed:
        return Verdict(name, "fail", f"missing {absent}, deleted {len(deleted)}, changed {len(changed)}",
                       tuple(deleted + changed))
    return Verdict(name, "pass", f"{', '.join(claims)} never deleted, same UID and volume throughout",
                   tuple({"pvc": c, "uid": sorted(b)[0][0], "volume": sorted(b)[-1][1]} for c, b in sorted(seen.items())))


# --- during a fault -----------------------------------------------------------------------------------------

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
            return Verdict(name, "unknown", f"not observed: {node} leaving Ready, because {_window_reason(w)} "
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
        why = f": {_window_reason(w)}" if w.early else " (eviction did not happen)"
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
        return Verdict(name, "unknown", f"not observed: the fault holding until its heal: {_window_reason(w)}",
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


# --- what the cluster said ----------------------------------------------------------------------------------

@checker("events-explain", events="a Kubernetes Event about the object")
def events_mention(events: Sequence[Event], obj: str, *needles: str) -> Verdict:
    """Some Kubernetes Event about `obj` says why (e.g. FailedScheduling: volume node affinity conflict)."""
    name = "events-explain"
    about = [e for e in of_kind(events, "event") if e["object"] == obj]
    if missing := lacking(name, events=about):
        return Verdict(name, "unknown", f"{missing.summary}: no event on {obj} recorded", missing.evidence)
    found = [e for e in about if any(n.lower() in (e.get("message") or "").lower() for n in needles)]
    if not found:
        return Verdict(name, "fail", f"none of the {len(about)} event(s) on {obj} mentions {list(needles)}")
    return Verdict(name, "pass", f"{found[0]['reason']}: {found[0]['message']}",
                   tuple({"reason": e["reason"], "message": e["message"]} for e in found[:3]))


@checker("dns-names-pod", lookups="a DNS lookup recorded")
def dns_names_pod(events: Sequence[Event], statefulset: str) -> Verdict:
    """Every recorded in-cluster DNS lookup of `<pod>.<service>...` returned the IP that the pod of that name
    had at the time (the latest incarnation's IP per the pod watch)."""
    name = "dns-names-pod"
    ip_now: dict[str, str] = {}
    lookups = 0
    problems = []
    for ev in events:
        if ev["kind"] == "pod" and _ordinal_pod(ev["name"], statefulset) and ev["type"] != "DELETED" and ev.get("ip"):
            ip_now[ev["name"]] = ev["ip"]
        elif ev["kind"] == "dns":
            lookups += 1
            pod = ev["name"].split(".", 1)[0]
            if ev["ips"] != [ip_now.get(pod)]:
                problems.append({"name": ev["name"], "resolved": ev["ips"], "pod_ip": ip_now.get(pod), "at": ev["wall"]})
    if missing := lacking(name, lookups=lookups):
        return missing
    if problems:
        return Verdict(name, "fail", f"{len(problems)} of {lookups} lookups did not name the pod", tuple(problems))
    return Verdict(name, "pass", f"{lookups} lookups each resolved to the named pod's current IP",
                   figures={"lookups": float(lookups)})


@checker("reads-reach-every-replica", replicas="the replicas' server ids named", rows="at least one acknowledged row",
         reads="a read recorded")
def reads_reach_every_replica(events: Sequence[Event], server_ids: Iterable[int], rows: int) -> Verdict:
    """Reads through a load-balanced Service (recorded as `read` events with server_id and rows) reached every
    replica, and each returned all `rows` acknowledged rows."""
    name = "reads-reach-every-replica"
    want = set(server_ids)
    seen: dict[int, int] = {}
    for ev in of_kind(events, "read"):
        seen[ev["server_id"]] = max(seen.get(ev["server_id"], 0), ev["rows"])
    if missing := lacking(name, replicas=want, rows=rows > 0, reads=seen):
        return missing
    short = {sid: n for sid, n in seen.items() if n < rows}
    if set(seen) != want or short:
        return Verdict(name, "fail", f"reached server ids {sorted(seen)} (want {sorted(want)}); short of {rows} rows: "
                       f"{short}", ({"rows_by_server_id": seen},))
    return Verdict(name, "pass", f"reads reached server ids {sorted(seen)}, each with all {rows} rows",
                   ({"rows_by_server_id": seen},))
