"""Checkers: pure functions from a recorded history to a verdict with evidence. They never touch the cluster,
so they are unit-tested on recorded histories (tests/data) as well as hand-made ones.

A checker that finds nothing to look at fails: no runtime samples, no pod of the identity, no fault mark
are all "nothing was checked", never a pass.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.events import RuntimeEvent
from harness.history import Event, of_kind


@dataclass(frozen=True)
class Verdict:
    checker: str
    ok: bool
    summary: str
    evidence: tuple[dict[str, Any], ...] = ()
    figures: dict[str, float] = field(default_factory=dict)
    error: bool = False  # the checker raised: neither pass nor fail (ok is False so nothing counts it a pass)

    def explain(self) -> str:
        lines = [f"{self.checker}: {'PASS' if self.ok else 'FAIL'}: {self.summary}"]
        lines += [f"  evidence: {e}" for e in self.evidence[:10]]
        if self.figures:
            lines.append("  figures: " + ", ".join(f"{k}={v:.1f}" for k, v in self.figures.items()))
        return "\n".join(lines)


def isolated(name: str) -> Callable[[Callable[..., Verdict]], Callable[..., Verdict]]:
    """A checker that raises yields an `error` verdict carrying the exception's message, so the scenario's other
    checkers still run and report (Jepsen's check-safe)."""
    def wrap(fn: Callable[..., Verdict]) -> Callable[..., Verdict]:
        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Verdict:
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                return Verdict(name, False, f"checker raised {type(e).__name__}: {e}", error=True)
        return checked
    return wrap


# How long a node's runtime sample stands for that node: the copy checkers count a node's containers while
# its latest sample is at most this old, and node-observed-during-fault asks for no longer gap during a fault,
# so at every moment of the fault the copy checkers had a current view of the faulted node. One second of
# sampling plus what a busy 2-core host adds to one read (measured up to 2.3 s).
SAMPLE_STALENESS = 3.0


def runtime_samples(events: Sequence[Event]) -> list[tuple[float, RuntimeEvent]]:
    """The runtime samples in the order the runtimes were read, each with the time it was read on the
    recording's monotonic clock.

    A sample reaches the harness some time after the node read its runtime (through the API server for the
    node agent: seconds when the control plane is busy) and carries the node's own `sampled_at`; one without
    it (an older recording) counts as read when recorded. Per node, the smallest (received wall - sampled_at) is taken as clock offset plus the
    shortest transit; each sample is placed that much plus its own extra delay earlier than it was received.
    Clock skew between harness and node cancels out, and the estimate errs late by at most the shortest
    transit."""
    samples = list(of_kind(events, "runtime"))
    offset: dict[str, float] = {}
    for e in samples:
        if "sampled_at" in e:
            lag = e["wall"] - e["sampled_at"]
            offset[e["node"]] = min(lag, offset.get(e["node"], lag))
    timed = [(e["mono"] - (e["wall"] - e["sampled_at"] - offset[e["node"]]) if "sampled_at" in e else e["mono"], e)
             for e in samples]
    return sorted(timed, key=lambda te: (te[0], te[1]["seq"]))


def _ordinal_pod(name: str, statefulset: str) -> bool:
    return re.fullmatch(rf"{re.escape(statefulset)}-\d+", name) is not None


def facts(events: Iterable[Event]) -> dict[str, Any]:
    """Everything the scenario noted while acting (`env.note`), later notes winning."""
    merged: dict[str, Any] = {}
    for ev in of_kind(events, "fact"):
        merged.update({k: v for k, v in ev.items() if k not in ("seq", "mono", "wall", "kind")})
    return merged


def workload_of(events: Sequence[Event]) -> str:
    """The StatefulSet a targetable scenario acted on (the user's --target or the bundled `mysql`)."""
    return str(facts(events).get("workload", "mysql"))


def durability_if_probed(events: Sequence[Event], replicas: Iterable[str]) -> list[Verdict]:
    """The durability verdict when the scenario wrote into its workload; none when a user's target was run
    without a probe (nothing was written, and the run's facts say so: durability was not part of the claim)."""
    if facts(events).get("probe") == "none":
        return []
    return [durability(events, replicas)]


def read_replicas(events: Sequence[Event]) -> list[str]:
    """The replicas whose keys were read back after the fault, in the order they were read."""
    return list(dict.fromkeys(ev["replica"] for ev in of_kind(events, "read-keys")))


def recorded_durability(events: Sequence[Event], replicas: Iterable[str], writes_to: str = "") -> tuple[int, Any]:
    """(writes, DurabilityVerdict) from the history: the "write" events sent to a target starting with
    `writes_to`, against each replica's last recorded read ("read-keys" events)."""
    from harness.workload.durability import check_durability
    from harness.workload.ledger import WriteRecord

    writes = [WriteRecord(**{k: ev[k] for k in WriteRecord.__dataclass_fields__ if k in ev})
              for ev in of_kind(events, "write") if str(ev.get("target", "")).startswith(writes_to)]
    wanted = set(replicas)
    reads = {ev["replica"]: ev["keys"] for ev in of_kind(events, "read-keys") if ev["replica"] in wanted}
    # A user's target (written through a probe) holds other data too; the bundled workload starts empty.
    return len(writes), check_durability(writes, reads, shared_store=facts(events).get("probe") == "yes")


@isolated("durability")
def durability(events: Sequence[Event], replicas: Iterable[str], writes_to: str = "", name: str = "durability") -> Verdict:
    """Every acknowledged write is on every replica's last read; unknown outcomes may be present, failed ones
    must not."""
    writes, verdict = recorded_durability(events, replicas, writes_to)
    return Verdict(name, verdict.ok and bool(writes), verdict.explain() if writes else
                   f"no write to {writes_to or 'the workload'} recorded: nothing was checked",
                   figures={"acknowledged": float(verdict.acknowledged), "unknown": float(verdict.unknown),
                            "failed": float(verdict.failed)})


@isolated("split-brain")
def split_brain(events: Sequence[Event], statefulset: str, staleness: float = SAMPLE_STALENESS,
                across_nodes_only: bool = False) -> Verdict:
    """At most one running container per StatefulSet identity (pod name + container name) across all
    nodes, judged on the runtime samples. A node's sample counts while it is at most `staleness` seconds old.
    `across_nodes_only`: two copies on one node (a kubelet starting a force-deleted pod's replacement a moment
    before the old container is gone) are reported in the summary and evidence, not failed."""
    latest: dict[str, tuple[float, list[dict[str, Any]]]] = {}
    samples = 0
    nodes_seen: set[str] = set()
    violations: dict[tuple[str, str], dict[str, Any]] = {}
    for now, ev in runtime_samples(events):
        nodes_seen.add(ev["node"])
        if not ev.get("ok"):
            latest.pop(ev["node"], None)  # unreachable: we do not know what runs there
            continue
        samples += 1
        latest[ev["node"]] = (now, ev["containers"])
        running: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
        for node, (at, containers) in latest.items():
            if now - at > staleness:
                continue
            for c in containers:
                if c["state"] == "CONTAINER_RUNNING" and _ordinal_pod(c["pod"], statefulset):
                    running.setdefault((c["pod"], c["name"]), set()).add((node, c["id"], c["pod_uid"]))
        for identity, copies in running.items():
            if len({cid for _, cid, _ in copies}) > 1:
                v = violations.setdefault(identity, {"pod": identity[0], "container": identity[1], "first": ev["wall"],
                                                     "copies": set()})
                v["last"] = ev["wall"]
                v["copies"] |= copies
    if samples == 0:
        return Verdict("split-brain", False, f"no runtime samples of {statefulset}: nothing was checked",
                       figures={"samples": 0})
    evidence = tuple({**v, "copies": sorted(({"node": n, "container": cid, "pod_uid": uid}
                                             for n, cid, uid in v["copies"]), key=lambda d: (d["node"], d["container"])),
                      "nodes": sorted({n for n, _, _ in v["copies"]}),
                      "duration": v["last"] - v["first"]} for v in violations.values())
    same_node = [e for e in evidence if len(e["nodes"]) == 1] if across_nodes_only else []
    evidence = tuple(e for e in evidence if e not in same_node)
    if same_node:
        worst = max(same_node, key=lambda e: e["duration"])
        overlap = (f"; on {worst['nodes'][0]} the old and new {worst['pod']}/{worst['container']} overlapped "
                   f"{worst['duration']:.1f}s as its kubelet came back (the force delete's hazard, shown not failed)")
    else:
        overlap = ""
    if evidence:
        worst = max(evidence, key=lambda e: e["duration"])
        return Verdict("split-brain", False,
                       f"{worst['pod']}/{worst['container']} ran twice at once on {', '.join(worst['nodes'])} "
                       f"for {worst['duration']:.1f}s", evidence, {"samples": samples})
    where = "on different nodes " if same_node else ""
    return Verdict("split-brain", True, f"at most one copy of each {statefulset} identity {where}in {samples} "
                   f"samples from {len(nodes_seen)} nodes{overlap}", tuple(same_node),
                   figures={"samples": samples, "nodes": len(nodes_seen),
                            **({"same_node_overlap": max(e["duration"] for e in same_node)} if same_node else {})})


@isolated("no-replacement-while-old-exists")
def replacement_while_old_exists(events: Sequence[Event], statefulset: str) -> Verdict:
    """No new pod (new UID) for an identity is observed while the old pod object has not been observed
    deleted. Watch order is the API server's order, so this is what the controller was shown."""
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
    if seen_pods == 0:
        return Verdict("no-replacement-while-old-exists", False, f"no pod of {statefulset} observed")
    if violations:
        return Verdict("no-replacement-while-old-exists", False,
                       f"{len(violations)} replacement(s) appeared before the old pod object was gone",
                       tuple(violations))
    return Verdict("no-replacement-while-old-exists", True,
                   f"every {statefulset} replacement appeared only after its predecessor was deleted")


def _fault_marks(events: Iterable[Event], fault_type: str, phase: str) -> list[Event]:
    return [e for e in of_kind(events, "fault") if e["phase"] == phase and e["fault"]["type"] == fault_type]


@isolated("node-detection")
def node_detection(events: Sequence[Event], node: str, fault_type: str, grace_period: float, monitor_period: float,
                   slack: float = 5.0) -> Verdict:
    """After the fault was injected, the node leaves Ready=True within grace period + one monitor period
    (+ slack for API latency); after the heal it is Ready again. Figures: time to detect, time to recover.

    The clock starts when the fault was certainly in effect (the "injected" mark, after its verification), not
    at the journal's "inject" mark before it: the node's last heartbeat is no later than that, so Kubernetes
    owes detection within the window from there, and the injection's own time (two `docker exec`s took 5.5 s
    under load) is not Kubernetes' time. A detection between the two marks counts (0 s). Histories without the
    "injected" mark (a fault that failed part-way) fall back to "inject"."""
    started = _fault_marks(events, fault_type, "inject")
    if not started:
        return Verdict("node-detection", False, f"no {fault_type} fault was injected: nothing was checked")
    in_effect = _fault_marks(events, fault_type, "injected") or started
    t_start, t0 = started[0]["mono"], max(in_effect[0]["mono"], started[0]["mono"])
    healed = _fault_marks(events, fault_type, "healed")
    node_events = [e for e in of_kind(events, "node") if e["name"] == node]
    detected = next((e for e in node_events if e["mono"] >= t_start and e["ready"] != "True"), None)
    window = grace_period + monitor_period + slack
    figures: dict[str, float] = {"window": window, "injection_seconds": round(t0 - t_start, 2)}
    if detected is None:
        return Verdict("node-detection", False, f"{node} never left Ready=True after {fault_type}",
                       figures=figures)
    figures["time_to_detect"] = max(0.0, detected["mono"] - t0)
    evidence: list[dict[str, Any]] = [{"node": node, "ready": detected["ready"], "at": detected["wall"],
                                       "after": round(figures["time_to_detect"], 1)}]
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
    return Verdict("node-detection", ok, summary, tuple(evidence), figures)


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


@isolated("ordered-ready")
def ordered_ready(events: Sequence[Event], statefulset: str, replicas: int) -> Verdict:
    """OrderedReady: pod n is first observed only after pod n-1 was observed Ready."""
    first_seen, first_ready = _first_seen_and_ready(events, statefulset)
    violations = []
    for n in range(1, replicas):
        prev, cur = f"{statefulset}-{n - 1}", f"{statefulset}-{n}"
        if cur not in first_seen or prev not in first_ready:
            violations.append({"pod": cur, "problem": "never observed (or predecessor never Ready)"})
        elif first_seen[cur] < first_ready[prev]:
            violations.append({"pod": cur, "created_before_ready_of": prev,
                               "by": round(first_ready[prev] - first_seen[cur], 2)})
    if violations:
        return Verdict("ordered-ready", False, f"{len(violations)} pod(s) started out of order", tuple(violations))
    return Verdict("ordered-ready", True, f"{statefulset}-0..{replicas - 1} each started after its predecessor "
                   f"was Ready")


@isolated("same-pvc-per-identity")
def same_pvc_per_identity(events: Sequence[Event], statefulset: str) -> Verdict:
    """Every incarnation of an identity mounts the same claims, and those claims keep their UID and volume."""
    claims: dict[str, set[tuple[str, ...]]] = {}
    pvcs: dict[str, set[tuple[str, str]]] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] != "DELETED" and _ordinal_pod(ev["name"], statefulset):
            claims.setdefault(ev["name"], set()).add(tuple(sorted(ev["pvcs"])))
    for ev in of_kind(events, "pvc"):
        if ev["volume"]:
            pvcs.setdefault(ev["name"], set()).add((ev["uid"], ev["volume"]))
    if not claims:
        return Verdict("same-pvc-per-identity", False, f"no pod of {statefulset} observed")
    problems = [{"pod": p, "claims": sorted(c)} for p, c in claims.items() if len(c) > 1]
    problems += [{"pvc": n, "bindings": sorted(b)} for n, b in pvcs.items() if len(b) > 1]
    if problems:
        return Verdict("same-pvc-per-identity", False, "an identity changed claims or a claim changed volume",
                       tuple(problems))
    return Verdict("same-pvc-per-identity", True, f"{len(claims)} identities kept their claims and volumes")


@isolated("not-recreated-during-fault")
def not_recreated_during_fault(events: Sequence[Event], pod: str, fault_type: str) -> Verdict:
    """While the fault is active the identity keeps its one pod object (no new UID), and that object is
    observed Terminating (evicted after the unreachable toleration) but not removed."""
    injected = _fault_marks(events, fault_type, "inject")
    healed = _fault_marks(events, fault_type, "healed")
    if not injected:
        return Verdict("not-recreated-during-fault", False, f"no {fault_type} fault was injected: nothing was checked")
    start, end = injected[0]["mono"], healed[0]["mono"] if healed else float("inf")
    during = [e for e in of_kind(events, "pod") if e["name"] == pod and start <= e["mono"] <= end]
    before = [e for e in of_kind(events, "pod") if e["name"] == pod and e["mono"] < start]
    if not before:
        return Verdict("not-recreated-during-fault", False, f"{pod} was not observed before the fault")
    uid = before[-1]["uid"]
    others = sorted({e["uid"] for e in during if e["uid"] != uid})
    terminating = next((e for e in during if e["deleting"]), None)
    deleted = next((e for e in during if e["type"] == "DELETED"), None)
    figures = {"fault_seconds": (end - start) if healed else 0.0}
    evidence: list[dict[str, Any]] = [{"pod": pod, "uid": uid, "node": before[-1]["node"]}]
    if terminating:
        figures["terminating_after"] = terminating["mono"] - start
        evidence.append({"terminating_at": terminating["wall"], "after": round(figures["terminating_after"], 1)})
    if others or deleted:
        return Verdict("not-recreated-during-fault", False,
                       f"{pod} was {'re-created as ' + ', '.join(others) if others else 'removed'} during the fault",
                       tuple(evidence), figures)
    if not terminating:
        return Verdict("not-recreated-during-fault", False,
                       f"{pod} was never observed Terminating during the fault (eviction did not happen)",
                       tuple(evidence), figures)
    return Verdict("not-recreated-during-fault", True,
                   f"{pod} stayed one object: Terminating {figures['terminating_after']:.0f}s into the fault, "
                   f"never re-created while the node was unreachable", tuple(evidence), figures)


def _fault_window(events: Sequence[Event], fault_type: str) -> tuple[float, float] | None:
    injected = _fault_marks(events, fault_type, "inject")
    healed = _fault_marks(events, fault_type, "healed")
    if not injected:
        return None
    return injected[0]["mono"], healed[0]["mono"] if healed else float("inf")


@isolated("one-incarnation-during-fault")
def one_incarnation_during_fault(events: Sequence[Event], pod: str, fault_type: str) -> Verdict:
    """While the fault lasts the identity keeps the pod object it had (same UID, never removed): nothing
    re-creates it elsewhere. Unlike not_recreated_during_fault it does not ask for eviction (short faults)."""
    name = "one-incarnation-during-fault"
    window = _fault_window(events, fault_type)
    if window is None:
        return Verdict(name, False, f"no {fault_type} fault was injected: nothing was checked")
    start, end = window
    before = [e for e in of_kind(events, "pod") if e["name"] == pod and e["mono"] < start]
    if not before:
        return Verdict(name, False, f"{pod} was not observed before the fault")
    uid = before[-1]["uid"]
    during = [e for e in of_kind(events, "pod") if e["name"] == pod and start <= e["mono"] <= end]
    others = sorted({e["uid"] for e in during if e["uid"] != uid})
    removed = any(e["type"] == "DELETED" for e in during)
    evidence = ({"pod": pod, "uid": uid, "node": before[-1]["node"], "events_during_fault": len(during)},)
    if others or removed:
        return Verdict(name, False, f"{pod} was {'re-created as ' + ', '.join(others) if others else 'removed'} "
                       f"during {fault_type}", evidence)
    return Verdict(name, True, f"{pod} kept its one pod object ({uid[:8]}) through {fault_type}", evidence)


@isolated("restarted-in-place")
def restarted_in_place(events: Sequence[Event], pod: str, container: str, fault_type: str) -> Verdict:
    """After the fault the pod's container restarted in place: the same pod UID throughout, its restart
    count higher than before the fault, and a new container on the runtime."""
    name = "restarted-in-place"
    window = _fault_window(events, fault_type)
    if window is None:
        return Verdict(name, False, f"no {fault_type} fault was injected: nothing was checked")
    start = window[0]
    seen = [e for e in of_kind(events, "pod") if e["name"] == pod and e["type"] != "DELETED"]
    before = [e for e in seen if e["mono"] < start]
    after = [e for e in seen if e["mono"] >= start]
    if not before or not after:
        return Verdict(name, False, f"{pod} was not observed both before and after the fault")
    uids = sorted({e["uid"] for e in seen})
    count_before = before[-1].get("restarts", {}).get(container, 0)
    count_after = max(e.get("restarts", {}).get(container, 0) for e in after)
    sampled = runtime_samples(events)
    ids_before = {c["id"] for at, ev in sampled if at < start
                  for c in ev.get("containers", []) if c["pod"] == pod and c["name"] == container}
    ids_after = {c["id"] for at, ev in sampled if at >= start
                 for c in ev.get("containers", []) if c["pod"] == pod and c["name"] == container}
    evidence = ({"pod": pod, "uids": uids, "restarts_before": count_before, "restarts_after": count_after,
                 "runtime_containers_after": sorted(i[:13] for i in ids_after - ids_before)},)
    figures = {"restarts_added": float(count_after - count_before)}
    if len(uids) != 1:
        return Verdict(name, False, f"{pod} was re-created (UIDs {', '.join(u[:8] for u in uids)}), not restarted "
                       f"in place", evidence, figures)
    if count_after <= count_before:
        return Verdict(name, False, f"{pod}/{container}'s restart count stayed {count_before}", evidence, figures)
    if not ids_after - ids_before:
        return Verdict(name, False, f"no new {container} container of {pod} was seen on the runtime", evidence, figures)
    return Verdict(name, True, f"{pod}/{container} restarted in place: restarts {count_before} -> {count_after}, "
                   f"same pod UID, a new container on the runtime", evidence, figures)


@isolated("at-most-unavailable")
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
    if not state:
        return Verdict(name, False, f"no pod of {statefulset} was observed Ready")
    evidence = (worst_at,) if worst_at else ()
    return Verdict(name, worst <= allowed, f"at most {worst} of {len(state)} {statefulset} identities unavailable "
                   f"at once (allowed {allowed})", evidence, {"max_unavailable": float(worst)})


@isolated("concurrent-copies")
def concurrent_copies(events: Sequence[Event], pod_prefix: str, expected: int,
                      staleness: float = SAMPLE_STALENESS) -> Verdict:
    """How many containers of a workload (pods named `<pod_prefix>...`) ran at once, across nodes, on the
    runtime samples. Used to *show* a Deployment's double start; passes when more than `expected` ran."""
    latest: dict[str, tuple[float, list[dict[str, Any]]]] = {}
    peak: list[tuple[str, str, str]] = []
    peak_at = 0.0
    samples = 0
    for now, ev in runtime_samples(events):
        if not ev.get("ok"):
            latest.pop(ev["node"], None)
            continue
        samples += 1
        latest[ev["node"]] = (now, ev["containers"])
        running = [(node, c["pod"], c["id"]) for node, (at, cs) in latest.items() if now - at <= staleness
                   for c in cs if c["state"] == "CONTAINER_RUNNING" and c["pod"].startswith(pod_prefix)]
        if len(running) > len(peak):
            peak, peak_at = running, ev["wall"]
    if samples == 0:
        return Verdict("concurrent-copies", False, "no runtime samples: nothing was checked")
    evidence = tuple({"node": n, "pod": p, "container": cid} for n, p, cid in sorted(peak))
    ok = len(peak) > expected
    return Verdict("concurrent-copies", ok,
                   f"{len(peak)} copies of {pod_prefix}* ran at once (expected {expected}) on "
                   f"{', '.join(sorted({n for n, _, _ in peak}))}" if peak else f"no {pod_prefix}* container seen",
                   evidence, {"peak": float(len(peak)), "peak_wall": peak_at, "samples": float(samples)})


@isolated("hazard-window")
def hazard_window(events: Sequence[Event], pod: str, node: str, fault_type: str) -> Verdict:
    """After `fault_type` removed `pod` from the API, how long its old container kept running on `node`
    (the window in which the API and the node disagree). Reported as a figure; fails only when the old
    container was never seen gone."""
    injected = _fault_marks(events, fault_type, "injected")
    if not injected:
        return Verdict("hazard-window", False, f"no {fault_type} fault: nothing was checked")
    t0 = injected[0]["mono"]
    # The old incarnation only: a re-created pod of the same name may start on the same node later.
    old_uid = injected[0]["fault"].get("uid")
    gone_at = None
    seen_running_before = seen_running_after = False
    for at, ev in runtime_samples(events):
        if ev["node"] != node or not ev.get("ok"):
            continue
        running = any(c["pod"] == pod and c["state"] == "CONTAINER_RUNNING" and (not old_uid or c["pod_uid"] == old_uid)
                      for c in ev["containers"])
        if at < t0:
            seen_running_before |= running
        elif running:
            seen_running_after = True
        elif gone_at is None and seen_running_after:
            gone_at = at
    if not seen_running_after:
        if not seen_running_before:
            return Verdict("hazard-window", False, f"the old {pod} container was never sampled on {node}: "
                           f"nothing was checked")
        return Verdict("hazard-window", True, f"the old {pod} container was already gone from {node}",
                       figures={"hazard_seconds": 0.0})
    if gone_at is None:
        return Verdict("hazard-window", False, f"the old {pod} container never stopped on {node}")
    return Verdict("hazard-window", True, f"the old {pod} kept running on {node} for {gone_at - t0:.1f}s after it "
                   f"left the API", figures={"hazard_seconds": gone_at - t0})


@isolated("events-explain")
def events_mention(events: Sequence[Event], obj: str, *needles: str) -> Verdict:
    """Some Kubernetes Event about `obj` says why (e.g. FailedScheduling: volume node affinity conflict)."""
    found = [e for e in of_kind(events, "event") if e["object"] == obj
             and any(n.lower() in (e.get("message") or "").lower() for n in needles)]
    if not found:
        return Verdict("events-explain", False, f"no event on {obj} mentions {list(needles)}")
    return Verdict("events-explain", True, f"{found[0]['reason']}: {found[0]['message']}",
                   tuple({"reason": e["reason"], "message": e["message"]} for e in found[:3]))


@isolated("node-observed-during-fault")
def node_observed_during_fault(events: Sequence[Event], node: str, fault_type: str,
                               max_gap: float = SAMPLE_STALENESS) -> Verdict:
    """The faulted node's container runtime stayed visible while the fault lasted: at least one successful
    runtime sample every `max_gap` seconds from the injection to the heal, timed when the runtime was read
    (runtime_samples), not when the sample reached the harness. Without that, "no second copy" would be
    unproven exactly where a second copy could run (a node whose kubelet is stopped)."""
    injected = _fault_marks(events, fault_type, "injected") or _fault_marks(events, fault_type, "inject")
    if not injected:
        return Verdict("node-observed-during-fault", False, f"no {fault_type} fault was injected: nothing was checked")
    t0 = injected[0]["mono"]
    healed = _fault_marks(events, fault_type, "heal-failed") + _fault_marks(events, fault_type, "healed")
    t1 = min((e["mono"] for e in healed if e["mono"] >= t0), default=None)
    if t1 is None:
        return Verdict("node-observed-during-fault", False, f"{fault_type} on {node} has no heal mark: the window "
                       f"has no end, nothing was checked")
    times = [at for at, e in runtime_samples(events) if e["node"] == node and e.get("ok") and t0 <= at <= t1]
    edges = [t0, *times, t1]
    gaps = [b - a for a, b in zip(edges, edges[1:])]
    worst = max(gaps)
    sources = sorted({str(e.get("source", "docker")) for e in of_kind(events, "runtime") if e["node"] == node})
    figures = {"samples": float(len(times)), "window": t1 - t0, "max_gap": worst}
    summary = (f"{len(times)} runtime samples of {node} in the {t1 - t0:.0f}s of {fault_type} (through "
               f"{', '.join(sources) or 'nothing'}; largest gap {worst:.1f}s, allowed {max_gap:.1f}s)")
    evidence = ({"node": node, "samples": len(times), "window_seconds": round(t1 - t0, 1),
                 "max_gap_seconds": round(worst, 2), "sources": sources},)
    return Verdict("node-observed-during-fault", bool(times) and worst <= max_gap, summary, evidence, figures)


def _ordinal(name: str) -> int:
    return int(name.rsplit("-", 1)[1])


@isolated("reverse-order-termination")
def reverse_order_termination(events: Sequence[Event], statefulset: str) -> Verdict:
    """Scale-down / delete: pods go in reverse ordinal order, one at a time — pod n-1 starts terminating
    only after pod n is gone."""
    started: dict[str, float] = {}
    gone: dict[str, float] = {}
    for ev in of_kind(events, "pod"):
        if not _ordinal_pod(ev["name"], statefulset):
            continue
        if ev.get("deleting") or ev["type"] == "DELETED":
            started.setdefault(ev["name"], ev["mono"])
        if ev["type"] == "DELETED":
            gone.setdefault(ev["name"], ev["mono"])
    if not gone:
        return Verdict("reverse-order-termination", False, f"no {statefulset} pod was deleted: nothing was checked")
    order = sorted(started, key=lambda n: started[n])
    problems = []
    for earlier, later in zip(order, order[1:]):
        if _ordinal(later) > _ordinal(earlier):
            problems.append({"problem": "not in reverse order", "first": earlier, "then": later})
        elif earlier not in gone or started[later] < gone[earlier]:
            problems.append({"problem": "not one at a time", "still_there": earlier, "started": later})
    if problems:
        return Verdict("reverse-order-termination", False, f"{len(problems)} ordering problem(s)", tuple(problems))
    return Verdict("reverse-order-termination", True, f"terminated one at a time in order {', '.join(order)}")


@isolated("rolling-update")
def rolling_update(events: Sequence[Event], statefulset: str, replicas: int, partition: int,
                   old_revision: str, new_revision: str) -> Verdict:
    """RollingUpdate: ordinals >= partition move to the new revision in reverse ordinal order, one at a time
    (the next only after the previous is Ready on the new revision); ordinals < partition keep the old one."""
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
    problems: list[dict[str, Any]] = []
    for n in range(replicas):
        name = f"{statefulset}-{n}"
        want = new_revision if n >= partition else old_revision
        if last_revision.get(name) != want:
            problems.append({"pod": name, "revision": last_revision.get(name), "expected": want})
    updated = [f"{statefulset}-{n}" for n in range(replicas - 1, partition - 1, -1)]
    for prev, nxt in zip(updated, updated[1:]):
        if nxt in first_new and (prev not in ready_new or first_new[nxt] < ready_new[prev]):
            problems.append({"pod": nxt, "updated_before_ready": prev})
    if problems:
        return Verdict("rolling-update", False, f"{len(problems)} rolling-update problem(s)", tuple(problems))
    kept = f"; ordinals below {partition} kept revision {old_revision}" if partition else ""
    return Verdict("rolling-update", True, f"{', '.join(updated) or 'no pod'} moved to {new_revision} in reverse "
                   f"order, one at a time{kept}")


@isolated("stable-identity")
def stable_identity(events: Sequence[Event], statefulset: str, service: str) -> Verdict:
    """Every incarnation of `<sts>-<n>` has hostname `<sts>-<n>` under the headless Service's subdomain
    (so `<pod>.<service>` names it); the IP may change."""
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
    if not seen:
        return Verdict("stable-identity", False, f"no pod of {statefulset} observed")
    if problems:
        return Verdict("stable-identity", False, "an incarnation had another hostname or subdomain", tuple(problems[:5]))
    return Verdict("stable-identity", True, f"hostname = pod name under {service} for every incarnation",
                   figures={"ip_changes": float(sum(len(v) - 1 for v in ips.values()))})


@isolated("parallel-start")
def parallel_start(events: Sequence[Event], statefulset: str, replicas: int) -> Verdict:
    """podManagementPolicy Parallel: every pod is created before any of them is Ready (none waited)."""
    first_seen, first_ready = _first_seen_and_ready(events, statefulset)
    missing = [f"{statefulset}-{n}" for n in range(replicas) if f"{statefulset}-{n}" not in first_seen]
    if missing or not first_ready:
        return Verdict("parallel-start", False, f"not observed: {missing or 'any pod Ready'}")
    earliest_ready = min(first_ready.values())
    late = [{"pod": p, "created_after_first_ready_by": round(t - earliest_ready, 2)}
            for p, t in sorted(first_seen.items()) if t > earliest_ready]
    spread = max(first_seen.values()) - min(first_seen.values())
    if late:
        return Verdict("parallel-start", False, f"{len(late)} pod(s) waited for another to be Ready", tuple(late),
                       {"creation_spread": spread})
    return Verdict("parallel-start", True, f"all {replicas} pods created within {spread:.1f}s, before any was Ready",
                   figures={"creation_spread": spread})


@isolated("on-delete-update")
def on_delete_update(events: Sequence[Event], statefulset: str, replicas: int, deleted: Iterable[str],
                     old_revision: str, new_revision: str) -> Verdict:
    """updateStrategy OnDelete: a pod moves to the new revision only if it was deleted; the others keep the
    old revision however long the new one exists."""
    deleted = set(deleted)
    last: dict[str, str] = {}
    for ev in of_kind(events, "pod"):
        if ev["type"] != "DELETED" and _ordinal_pod(ev["name"], statefulset) and not ev["deleting"]:
            last[ev["name"]] = ev.get("revision") or ""
    problems = []
    for n in range(replicas):
        pod = f"{statefulset}-{n}"
        want = new_revision if pod in deleted else old_revision
        if last.get(pod) != want:
            problems.append({"pod": pod, "revision": last.get(pod), "expected": want, "deleted": pod in deleted})
    if problems:
        return Verdict("on-delete-update", False, f"{len(problems)} pod(s) on the wrong revision", tuple(problems))
    return Verdict("on-delete-update", True, f"only the deleted pod(s) {', '.join(sorted(deleted))} moved to "
                   f"{new_revision}; the others kept {old_revision}")


@isolated("claims-kept")
def claims_kept(events: Sequence[Event], claims: Iterable[str]) -> Verdict:
    """Each named PVC was observed, never deleted, and kept one UID and one volume throughout."""
    claims = list(claims)
    seen: dict[str, set[tuple[str, str]]] = {}
    deleted = []
    for ev in of_kind(events, "pvc"):
        if ev["name"] not in claims:
            continue
        seen.setdefault(ev["name"], set()).add((ev["uid"], ev["volume"] or ""))
        if ev["type"] == "DELETED" or ev["deleting"]:
            deleted.append({"pvc": ev["name"], "at": ev["wall"]})
    missing = [c for c in claims if c not in seen]
    changed = [{"pvc": c, "bindings": sorted(b)} for c, b in seen.items() if len({u for u, _ in b}) > 1
               or len({v for _, v in b if v}) > 1]
    if missing or deleted or changed:
        return Verdict("claims-kept", False, f"missing {missing}, deleted {len(deleted)}, changed {len(changed)}",
                       tuple(deleted + changed))
    return Verdict("claims-kept", True, f"{', '.join(claims)} never deleted, same UID and volume throughout",
                   tuple({"pvc": c, "uid": sorted(b)[0][0], "volume": sorted(b)[-1][1]} for c, b in sorted(seen.items())))


@isolated("dns-names-pod")
def dns_names_pod(events: Sequence[Event], statefulset: str) -> Verdict:
    """Every recorded in-cluster DNS lookup of `<pod>.<service>...` returned the IP that the pod of that name
    had at the time (the latest incarnation's IP per the pod watch)."""
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
    if not lookups:
        return Verdict("dns-names-pod", False, "no DNS lookup recorded: nothing was checked")
    if problems:
        return Verdict("dns-names-pod", False, f"{len(problems)} of {lookups} lookups did not name the pod",
                       tuple(problems))
    return Verdict("dns-names-pod", True, f"{lookups} lookups each resolved to the named pod's current IP",
                   figures={"lookups": float(lookups)})


@isolated("reads-reach-every-replica")
def reads_reach_every_replica(events: Sequence[Event], server_ids: Iterable[int], rows: int) -> Verdict:
    """Reads through a load-balanced Service (recorded as `read` events with server_id and rows) reached every
    replica, and each returned all `rows` acknowledged rows."""
    want = set(server_ids)
    seen: dict[int, int] = {}
    for ev in of_kind(events, "read"):
        seen[ev["server_id"]] = max(seen.get(ev["server_id"], 0), ev["rows"])
    if not seen:
        return Verdict("reads-reach-every-replica", False, "no read recorded: nothing was checked")
    short = {sid: n for sid, n in seen.items() if n < rows}
    if set(seen) != want or short:
        return Verdict("reads-reach-every-replica", False,
                       f"reached server ids {sorted(seen)} (want {sorted(want)}); short of {rows} rows: {short}",
                       ({"rows_by_server_id": seen},))
    return Verdict("reads-reach-every-replica", True, f"reads reached server ids {sorted(seen)}, each with all "
                   f"{rows} rows", ({"rows_by_server_id": seen},))
