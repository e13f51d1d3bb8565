"""Checkers on hand-made histories and on histories recorded from the real kind cluster (tests/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_harness.judge import checkers
from chaos_harness.record.events import container, make
from chaos_harness.record.history import load

DATA = Path(__file__).resolve().parents[1] / "data"


# Hand-made events come from chaos_harness/record/events.py, the same typed kinds the recorder writes.
def runtime(mono: float, node: str, *containers: tuple[str, str, str], ok: bool = True) -> dict:
    return make("runtime", mono, node=node, ok=ok,
                       containers=[container(pod, cid, uid) for pod, cid, uid in containers])


def pod(mono: float, name: str, uid: str, type_: str = "MODIFIED", node: str = "n1", ready: bool = True,
        pvcs: tuple[str, ...] = ()) -> dict:
    return make("pod", mono, type=type_, name=name, uid=uid, node=node, ready=ready, pvcs=list(pvcs))


def timing(grace: float = 4.0, monitor: float = 1.0, toleration: float = 5.0) -> dict:
    """The run's meta event: its node-health timing (short, so that short hand-made faults count as held)."""
    return make("meta", -10.0, timing={"node_monitor_grace_period": grace, "node_monitor_period": monitor,
                                       "not_ready_toleration_seconds": toleration,
                                       "unreachable_toleration_seconds": toleration, "assumed": []})


def test_split_brain_flags_two_copies_on_two_nodes() -> None:
    events = [pod(0, "web-0", "u1"), runtime(0, "n1", ("web-0", "c1", "u1")), runtime(0.5, "n2"),
              runtime(1, "n1", ("web-0", "c1", "u1")), runtime(1.5, "n2", ("web-0", "c2", "u2")),
              runtime(2, "n1", ("web-0", "c1", "u1"))]
    verdict = checkers.split_brain(events, "web")
    assert verdict.status == "fail", verdict.explain()
    assert verdict.evidence[0]["nodes"] == ["n1", "n2"]
    assert {c["container"] for c in verdict.evidence[0]["copies"]} == {"c1", "c2"}


def test_split_brain_counts_a_copy_per_node_and_container_not_per_id() -> None:
    """The same container id sampled on two nodes is two copies (forged, or a runtime that reuses ids): never
    one copy, never a pass."""
    events = [pod(0, "web-0", "u1"), *[s for t in range(4) for s in (
        runtime(t, "n1", ("web-0", "c1", "u1")), runtime(t + 0.5, "n2", ("web-0", "c1", "u1")))]]
    verdict = checkers.split_brain(events, "web")
    assert verdict.status == "fail" and verdict.evidence[0]["nodes"] == ["n1", "n2"], verdict.explain()


def test_split_brain_judges_copies_over_spans_not_instants() -> None:
    """n1 last showed its copy at 1.0 and next showed it gone at 3.0; n2's copy came at 2.0: both may have run
    in between (a handover inside a gap of n1's samples). Neither a pass nor a failure: unknown. With n1 seen
    without its copy at 1.5, the handover is clean."""
    gap = [pod(0, "web-0", "u1"), runtime(0, "n1", ("web-0", "c1", "u1")), runtime(1, "n1", ("web-0", "c1", "u1")),
           runtime(2, "n2", ("web-0", "c2", "u2")), runtime(3, "n1"), runtime(3.5, "n2", ("web-0", "c2", "u2"))]
    verdict = checkers.split_brain(gap, "web")
    assert verdict.status == "unknown" and "n1 unobserved" in verdict.summary, verdict.explain()
    clean = sorted(gap + [runtime(1.5, "n1"), runtime(1.6, "n2")], key=lambda e: e["mono"])
    assert checkers.split_brain(clean, "web").status == "pass", checkers.split_brain(clean, "web").explain()


def test_an_overlap_on_one_node_is_shown_not_failed_when_only_other_nodes_count() -> None:
    """S10: back, the kubelet may start the force-deleted pod's replacement a moment before the old container is
    gone. Two copies on one node fail the strict check; across nodes only, they are shown in the summary."""
    same_node = [pod(0, "web-0", "u1"), runtime(0, "n1", ("web-0", "c1", "u1")),
                 runtime(0.5, "n1", ("web-0", "c1", "u1"), ("web-0", "c2", "u2")), runtime(1, "n1", ("web-0", "c2", "u2"))]
    assert not checkers.split_brain(same_node, "web").ok
    verdict = checkers.split_brain(same_node, "web", across_nodes_only=True)
    assert verdict.ok and "overlapped" in verdict.summary and verdict.figures["same_node_overlap"] == 0
    two_nodes = [pod(0, "web-0", "u1"), runtime(0, "n1", ("web-0", "c1", "u1")),
                 runtime(0.5, "n2", ("web-0", "c2", "u2")), runtime(1, "n1", ("web-0", "c1", "u1"))]
    assert not checkers.split_brain(two_nodes, "web", across_nodes_only=True).ok


def test_split_brain_a_stale_view_beside_another_copy_is_unknown_not_a_pass() -> None:
    """n1's sample is 10 s old when n2 shows another web-0: whether n1's copy still ran is not known."""
    events = [pod(0, "web-0", "u1"), runtime(0, "n1", ("web-0", "c1", "u1")),
              runtime(10, "n2", ("web-0", "c2", "u2"), ("other-0", "c3", "u3"))]
    verdict = checkers.split_brain(events, "web")
    assert verdict.status == "unknown" and "n1 unobserved for 10.0s" in verdict.summary, verdict.explain()


def test_split_brain_ignores_other_workloads() -> None:
    events = [pod(0, "web-0", "u1"), runtime(0, "n1", ("web-0", "c1", "u1")), runtime(1, "n2", ("other-0", "c3", "u3")),
              runtime(2, "n1", ("web-0", "c1", "u1"))]
    assert checkers.split_brain(events, "web").ok


def test_split_brain_an_unreachable_node_is_not_seen_without_its_copy() -> None:
    """n1 stops answering right after showing web-0: its copy may run on while n2 runs another (unknown); once
    n1 answers again without it, the handover is seen and at most one copy ran at a time."""
    events = [pod(0, "web-0", "u1"), runtime(0, "n1", ("web-0", "c1", "u1")), runtime(0.5, "n1", ok=False),
              runtime(1, "n2", ("web-0", "c2", "u2"))]
    assert checkers.split_brain(events, "web").status == "unknown"
    back = [pod(0, "web-0", "u1"), runtime(0, "n1", ("web-0", "c1", "u1")), runtime(0.5, "n1", ok=False),
            runtime(0.8, "n1"), runtime(0.9, "n2"), runtime(1, "n2", ("web-0", "c2", "u2"))]
    assert checkers.split_brain(back, "web").ok


def test_split_brain_with_no_samples_is_not_a_pass() -> None:
    verdict = checkers.split_brain([pod(0, "web-0", "u1")], "web")
    assert verdict.status == "unknown" and "not observed" in verdict.summary


def test_replacement_after_deletion_is_fine() -> None:
    events = [pod(0, "web-0", "u1"), pod(1, "web-0", "u1", "DELETED"), pod(2, "web-0", "u2", "ADDED")]
    assert checkers.replacement_while_old_exists(events, "web").ok


def test_replacement_before_deletion_is_flagged() -> None:
    events = [pod(0, "web-0", "u1"), pod(2, "web-0", "u2", "ADDED"), pod(3, "web-0", "u1", "DELETED")]
    verdict = checkers.replacement_while_old_exists(events, "web")
    assert not verdict.ok and verdict.evidence[0]["new_uid"] == "u2"


def test_ordered_ready() -> None:
    good = [pod(0, "web-0", "a", "ADDED", ready=False), pod(1, "web-0", "a"), pod(2, "web-1", "b", "ADDED", ready=False),
            pod(3, "web-1", "b")]
    assert checkers.ordered_ready(good, "web", 2).ok
    bad = [pod(0, "web-0", "a", "ADDED", ready=False), pod(1, "web-1", "b", "ADDED", ready=False), pod(2, "web-0", "a"),
           pod(3, "web-1", "b")]
    assert checkers.ordered_ready(bad, "web", 2).status == "fail"
    assert checkers.ordered_ready(good[:3], "web", 2).status == "unknown"  # web-1 never Ready: no order to judge


def test_same_pvc_per_identity() -> None:
    same = [pod(0, "web-0", "a", pvcs=("data-web-0",)), pod(5, "web-0", "b", pvcs=("data-web-0",)),
            make("pvc", 0, name="data-web-0", uid="p1", volume="pv1")]
    assert checkers.same_pvc_per_identity(same, "web").ok
    changed = same + [make("pvc", 6, name="data-web-0", uid="p2", volume="pv2")]
    assert not checkers.same_pvc_per_identity(changed, "web").ok


def fault(mono: float, phase: str) -> dict:
    return make("fault", mono, phase=phase, fault={"type": "kubelet-stop", "node": "n1"})


def node(mono: float, ready: str) -> dict:
    return make("node", mono, name="n1", ready=ready)


def test_node_detection_within_window_and_recovery() -> None:
    events = [node(0, "True"), fault(10, "inject"), fault(10, "injected"), node(12, "True"), node(28, "Unknown"),
              fault(40, "healed"), node(42, "True")]
    verdict = checkers.node_detection(events, "n1", "kubelet-stop", grace_period=16, monitor_period=2)
    assert verdict.ok
    assert verdict.figures["time_to_detect"] == 18
    assert verdict.figures["time_to_recover"] == 2


def test_node_detection_counts_from_when_the_fault_was_in_effect() -> None:
    """A slow injection (two docker execs under load) is not Kubernetes' time: the window starts at the
    "injected" mark; a detection before that mark counts as 0 s."""
    slow = [node(-1, "True"), fault(0, "inject"), fault(5.5, "injected"), node(23.5, "Unknown"), fault(40, "healed"),
            node(41, "True")]
    verdict = checkers.node_detection(slow, "n1", "kubelet-stop", 16, 2)
    assert verdict.ok and verdict.figures["time_to_detect"] == 18 and verdict.figures["injection_seconds"] == 5.5
    early = [node(-1, "True"), fault(0, "inject"), node(3, "Unknown"), fault(5.5, "injected")]
    assert checkers.node_detection(early, "n1", "kubelet-stop", 16, 2).figures["time_to_detect"] == 0
    late = [node(-1, "True"), fault(0, "inject"), fault(1, "injected"), node(25, "Unknown"), fault(40, "healed")]
    assert checkers.node_detection(late, "n1", "kubelet-stop", 16, 2).status == "fail"


def test_node_detection_too_late_or_never() -> None:
    late = [fault(0, "inject"), fault(0, "injected"), node(60, "Unknown"), fault(70, "healed")]
    assert checkers.node_detection(late, "n1", "kubelet-stop", 16, 2).status == "fail"
    never = [fault(0, "inject"), fault(0, "injected"), node(5, "True"), fault(70, "healed")]
    assert checkers.node_detection(never, "n1", "kubelet-stop", 16, 2).status == "fail"


def test_node_detection_is_bounded_by_the_fault_and_blind_where_the_node_watch_was_out() -> None:
    """A 2 s fault cannot be what made the node not-Ready 17 s later (unknown: too short to be detected); a
    node watch out across the detection window hides whether it was detected (unknown, never a failure)."""
    short = [node(-1, "True"), fault(0, "inject"), fault(0, "injected"), fault(2, "healed"), node(17, "Unknown")]
    verdict = checkers.node_detection(short, "n1", "kubelet-stop", 16, 2)
    assert verdict.status == "unknown" and "less than" in verdict.summary, verdict.explain()
    blind_watch = [node(-1, "True"), fault(0, "inject"), fault(0, "injected"),
                   make("recorder", 3, what="node watch", error="ApiError: 500"), fault(40, "healed")]
    verdict = checkers.node_detection(blind_watch, "n1", "kubelet-stop", 16, 2)
    assert verdict.status == "unknown" and "node watch" in verdict.summary, verdict.explain()
    unproven = [e for e in blind_watch if e.get("phase") != "injected"]
    verdict = checkers.node_detection(unproven, "n1", "kubelet-stop", 16, 2)
    assert verdict.status == "unknown" and "effect" in verdict.evidence[0]["missing"], verdict.explain()
    no_fault = [node(5, "Unknown")]
    assert checkers.node_detection(no_fault, "n1", "kubelet-stop", 16, 2).status == "unknown"


def test_recorded_split_brain_on_kind() -> None:
    """Recorded by tests/e2e/test_split_brain.py: kubelet stopped on the pod's node, pod force-deleted."""
    events = load(DATA / "split-brain-kind.jsonl")
    verdict = checkers.split_brain(events, "web")
    assert not verdict.ok
    [violation] = verdict.evidence
    assert len(violation["nodes"]) == 2 and len(violation["copies"]) == 2
    assert violation["duration"] > 1
    # The API never showed two pod objects at once: only the runtime saw the second copy.
    assert checkers.replacement_while_old_exists(events, "web").ok
    detection = checkers.node_detection(events, "chaos-worker3", "kubelet-stop", 16, 2)
    assert detection.ok, detection.explain()


def test_recorded_kubelet_stop_on_mysql_holds_every_promise() -> None:
    """Recorded by scenarios/s08 on kind (fast profile): kubelet stopped on mysql-0's node for ~77 s."""
    events = load(DATA / "kubelet-stop-mysql-kind.jsonl")
    meta = events[0]
    assert meta["kind"] == "meta" and meta["timing"]["node_monitor_grace_period"] == 16
    node = next(e for e in events if e["kind"] == "pod" and e["name"] == "mysql-0")["node"]
    for verdict in (checkers.split_brain(events, "mysql"),
                    checkers.replacement_while_old_exists(events, "mysql"),
                    checkers.not_recreated_during_fault(events, "mysql-0", "kubelet-stop"),
                    checkers.same_pvc_per_identity(events, "mysql"),
                    checkers.node_detection(events, node, "kubelet-stop", 16, 2)):
        assert verdict.ok, verdict.explain()
    writes = [e for e in events if e["kind"] == "write"]
    assert {e["outcome"] for e in writes} >= {"ok", "fail"}


def test_not_recreated_during_fault_flags_a_replacement() -> None:
    events = [fault(0, "inject"), fault(0, "injected"), pod(-1, "web-0", "u1"), pod(5, "web-0", "u1", ready=False),
              pod(6, "web-0", "u2", "ADDED"), fault(9, "healed")]
    events.sort(key=lambda e: e["mono"])
    for e in events:
        e.setdefault("deleting", False)
    verdict = checkers.not_recreated_during_fault(events, "web-0", "kubelet-stop")
    assert not verdict.ok and "re-created as u2" in verdict.summary


def test_hazard_window_follows_the_old_incarnation_only() -> None:
    inject = make("fault", 10, phase="injected", fault={"type": "pod-delete", "pod": "web-0", "uid": "u1"})
    events = [inject, *[runtime(t, "n1", ("web-0", "c1", "u1")) for t in range(11, 30)],
              runtime(30, "n1", ("web-0", "c2", "u2"))]  # the old one gone, a new incarnation on the same node
    verdict = checkers.hazard_window(events, "web-0", "n1", "pod-delete")
    assert verdict.ok and verdict.figures["hazard_seconds"] == 20, verdict.explain()
    thinned = [e for e in events if not 15 <= e["mono"] <= 24]  # n1 unseen for 11 s: the figure is a guess
    assert checkers.hazard_window(thinned, "web-0", "n1", "pod-delete").status == "unknown"


def test_hazard_window_fails_only_when_the_node_was_watched_long_after_the_heal() -> None:
    """The old container still runs at the last sample: a finding once the kubelet has been back for
    HAZARD_SETTLE_SECONDS with the node sampled throughout; a recording that ended sooner is unknown."""
    inject = make("fault", 10, phase="injected", fault={"type": "pod-delete", "pod": "web-0", "uid": "u1"})
    heal = make("fault", 12, phase="healed", fault={"type": "kubelet-stop", "node": "n1"})
    running = [runtime(10 + t, "n1", ("web-0", "c1", "u1")) for t in range(0, 45)]
    assert checkers.hazard_window([inject, heal, *running], "web-0", "n1", "pod-delete").status == "fail"
    short = [inject, heal, *running[:20]]
    verdict = checkers.hazard_window(short, "web-0", "n1", "pod-delete")
    assert verdict.status == "unknown" and "17.0s after the last heal" in verdict.summary, verdict.explain()


def test_concurrent_copies_shows_a_double_start() -> None:
    events = [runtime(0, "n1", ("web-abc-1", "c1", "u1")), runtime(0.5, "n2", ("web-abc-2", "c2", "u2")),
              runtime(1, "n1", ("web-abc-1", "c1", "u1"))]
    verdict = checkers.concurrent_copies(events, "web-", expected=1)
    assert verdict.ok and verdict.figures["peak"] == 2, verdict.explain()
    assert not checkers.concurrent_copies(events[:1], "web-", expected=1).ok


def gone(mono: float, name: str, uid: str) -> dict:
    return {**pod(mono, name, uid, "DELETED"), "deleting": True}


def terminating(mono: float, name: str, uid: str) -> dict:
    return {**pod(mono, name, uid), "deleting": True}


def test_reverse_order_termination() -> None:
    last = [terminating(5, "web-0", "a"), gone(6, "web-0", "a")]
    good = [terminating(1, "web-2", "c"), gone(2, "web-2", "c"), terminating(3, "web-1", "b"), gone(4, "web-1", "b")]
    assert checkers.reverse_order_termination(good + last, "web", 3).ok
    assert checkers.reverse_order_termination(good, "web", 3).status == "unknown"  # web-0 never seen gone
    overlapping = [terminating(1, "web-2", "c"), terminating(1.5, "web-1", "b"), gone(2, "web-2", "c"),
                   gone(4, "web-1", "b")]
    assert checkers.reverse_order_termination(overlapping + last, "web", 3).status == "fail"
    wrong_order = [terminating(1, "web-1", "b"), gone(2, "web-1", "b"), terminating(3, "web-2", "c"),
                   gone(4, "web-2", "c")]
    assert checkers.reverse_order_termination(wrong_order + last, "web", 3).status == "fail"
    assert checkers.reverse_order_termination([pod(0, "web-0", "a")], "web", 3).status == "unknown"


def rev(mono: float, name: str, revision: str, ready: bool = True) -> dict:
    return {**pod(mono, name, name + revision, ready=ready), "revision": revision}


def test_rolling_update_with_partition() -> None:
    events = [rev(0, "web-0", "r1"), rev(0, "web-1", "r1"), rev(0, "web-2", "r1"),
              rev(1, "web-2", "r2", ready=False), rev(2, "web-2", "r2"), rev(3, "web-1", "r2", ready=False),
              rev(4, "web-1", "r2")]
    assert checkers.rolling_update(events, "web", 3, partition=1, old_revision="r1", new_revision="r2").ok
    # web-0 updated although the partition protects it:
    assert not checkers.rolling_update(events + [rev(5, "web-0", "r2")], "web", 3, 1, "r1", "r2").ok
    # web-1 started updating before web-2 was Ready:
    eager = [rev(0, "web-1", "r1"), rev(0, "web-2", "r1"), rev(1, "web-2", "r2", ready=False),
             rev(1.5, "web-1", "r2", ready=False), rev(2, "web-2", "r2"), rev(3, "web-1", "r2")]
    assert not checkers.rolling_update(eager, "web", 3, 1, "r1", "r2").ok


def test_stable_identity() -> None:
    ok = [{**pod(0, "web-0", "a"), "hostname": "web-0", "subdomain": "web", "ip": "10.0.0.1"},
          {**pod(5, "web-0", "b"), "hostname": "web-0", "subdomain": "web", "ip": "10.0.0.9"}]
    verdict = checkers.stable_identity(ok, "web", "web")
    assert verdict.ok and verdict.figures["ip_changes"] == 1
    bad = ok + [{**pod(6, "web-1", "c"), "hostname": "web-x", "subdomain": "web", "ip": None}]
    assert not checkers.stable_identity(bad, "web", "web").ok


def test_parallel_start_needs_every_pod_before_the_first_ready() -> None:
    parallel = [pod(0, "web-0", "a", ready=False), pod(0.1, "web-1", "b", ready=False),
                pod(0.1, "web-2", "c", ready=False), pod(4, "web-0", "a"), pod(4.1, "web-1", "b")]
    assert checkers.parallel_start(parallel, "web", 3).ok
    ordered = [pod(0, "web-0", "a", ready=False), pod(4, "web-0", "a"), pod(4.2, "web-1", "b", ready=False)]
    verdict = checkers.parallel_start(ordered + [pod(8, "web-2", "c", ready=False)], "web", 3)
    assert not verdict.ok and verdict.evidence[0]["pod"] == "web-1"
    assert not checkers.parallel_start(ordered, "web", 3).ok  # web-2 never seen: nothing to judge


def test_on_delete_update_moves_only_deleted_pods() -> None:
    base = [{**rev(0, f"web-{n}", "r1"), "deleting": False} for n in range(3)]
    deleted_one = base + [{**rev(5, "web-1", "r2"), "deleting": False}]
    assert checkers.on_delete_update(deleted_one, "web", 3, ["web-1"], "r1", "r2").ok
    rolled_anyway = deleted_one + [{**rev(6, "web-2", "r2"), "deleting": False}]
    verdict = checkers.on_delete_update(rolled_anyway, "web", 3, ["web-1"], "r1", "r2")
    assert not verdict.ok and verdict.evidence[0]["pod"] == "web-2"


def pvc(mono: float, name: str, uid: str, type_: str = "MODIFIED", volume: str = "pv-1") -> dict:
    return make("pvc", mono, type=type_, name=name, uid=uid, volume=volume)


def test_claims_kept() -> None:
    assert checkers.claims_kept([pvc(0, "data-web-0", "u1"), pvc(9, "data-web-0", "u1")], ["data-web-0"]).ok
    assert not checkers.claims_kept([pvc(0, "data-web-0", "u1"), pvc(9, "data-web-0", "u2", volume="pv-2")],
                                    ["data-web-0"]).ok
    assert not checkers.claims_kept([pvc(0, "data-web-0", "u1", "DELETED")], ["data-web-0"]).ok
    assert not checkers.claims_kept([], ["data-web-0"]).ok


def dns(mono: float, name: str, *ips: str) -> dict:
    return {"kind": "dns", "mono": mono, "wall": 1000 + mono, "name": name, "ips": list(ips)}


def test_dns_names_pod_follows_the_current_incarnation() -> None:
    first = {**pod(0, "web-1", "a"), "ip": "10.0.0.1"}
    second = {**pod(5, "web-1", "b"), "ip": "10.0.0.7"}
    assert checkers.dns_names_pod([first, dns(1, "web-1.web.ns.svc.cluster.local", "10.0.0.1"), second,
                                   dns(6, "web-1.web.ns.svc.cluster.local", "10.0.0.7")], "web").ok
    stale = checkers.dns_names_pod([first, second, dns(6, "web-1.web.ns.svc.cluster.local", "10.0.0.1")], "web")
    assert not stale.ok and stale.evidence[0]["pod_ip"] == "10.0.0.7"
    assert not checkers.dns_names_pod([first], "web").ok


def read(server_id: int, rows: int) -> dict:
    return {"kind": "read", "mono": 0, "wall": 1000, "server_id": server_id, "rows": rows}


def test_reads_reach_every_replica() -> None:
    assert checkers.reads_reach_every_replica([read(100, 5), read(101, 5), read(102, 5)], (100, 101, 102), 5).ok
    assert not checkers.reads_reach_every_replica([read(100, 5), read(101, 5)], (100, 101, 102), 5).ok
    assert not checkers.reads_reach_every_replica([read(100, 5), read(101, 4), read(102, 5)], (100, 101, 102), 5).ok
    assert not checkers.reads_reach_every_replica([], (100,), 5).ok


# --- node-observed-during-fault ----------------------------------------------------------------------------

def _observed_history(sample_times: list[float], heal_at: float = 10.0, node: str = "w1") -> list[dict]:
    history = [timing(grace=8), make("fault", 0.0, phase="injected", fault={"type": "kubelet-stop", "node": node})]
    history += [make("runtime", t, node=node, source="agent") for t in sample_times]
    history.append(make("fault", heal_at, phase="healed", fault={"type": "kubelet-stop", "node": node}))
    return history


def test_node_observed_passes_with_a_sample_every_second() -> None:
    from chaos_harness.judge.checkers import node_observed_during_fault

    v = node_observed_during_fault(_observed_history([float(t) for t in range(1, 10)]), "w1", "kubelet-stop")
    assert v.ok, v.explain()
    assert v.figures["samples"] == 9 and v.evidence[0]["sources"] == ["agent"]


def test_node_observed_a_gap_in_the_window_is_unknown_for_its_span() -> None:
    """The harness could not look for 5 s: that is its blind spot, not a failure of the user's StatefulSet."""
    from chaos_harness.judge.checkers import node_observed_during_fault

    v = node_observed_during_fault(_observed_history([1.0, 2.0, 3.0, 4.0, 11.0, 12.0, 13.0], heal_at=14.0), "w1",
                                   "kubelet-stop")
    # Sampled every second: 6 s allowed (STALE_INTERVALS of the measured interval), 7 s seen.
    assert v.status == "unknown" and v.figures["max_gap"] == 7.0, v.explain()
    assert "w1 unobserved for 7.0s (allowed 6.0s)" in v.summary


def test_node_observed_staleness_follows_the_measured_sampling_interval() -> None:
    """A feed that samples every 2 s (the agent on a busy node) is allowed 6 intervals between two samples, but
    never more than the node monitor's grace period (8 s here): a feed that slows down does not make a long gap
    "observed"."""
    from chaos_harness.judge.checkers import node_observed_during_fault

    history = _observed_history([2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 20.0, 22.0], heal_at=23.0)
    v = node_observed_during_fault(history, "w1", "kubelet-stop")
    assert v.ok and v.figures["allowed"] == 8.0, v.explain()
    thinned = _observed_history([0.5, 9.5, 18.5], heal_at=23.0)  # one sample per 9 s: 54 s by its own rhythm
    v = node_observed_during_fault(thinned, "w1", "kubelet-stop")
    assert v.status == "unknown" and v.figures["allowed"] == 8.0, v.explain()


def test_node_observed_with_no_sample_of_that_node_is_unknown() -> None:
    from chaos_harness.judge.checkers import node_observed_during_fault

    v = node_observed_during_fault(_observed_history([1.0, 2.0], node="w2"), "w1", "kubelet-stop")
    assert v.status == "unknown"


def test_node_observed_when_no_fault_was_injected_is_unknown() -> None:
    from chaos_harness.judge.checkers import node_observed_during_fault

    v = node_observed_during_fault([], "w1", "kubelet-stop")
    assert v.status == "unknown" and "not observed" in v.summary


# Every checker's every need, removed one at a time: tests/unit/test_needs.py.


def test_a_checker_that_raises_is_an_error_verdict_and_the_others_still_run() -> None:
    from chaos_harness.judge import checkers
    from chaos_harness.judge.verdicts import verdict_dict
    from chaos_harness.report.results import ScenarioResult

    broken = checkers.split_brain([{"kind": "runtime"}], "web")  # a malformed event: KeyError inside
    assert broken.error and not broken.ok and "KeyError" in broken.summary
    unknown = checkers.node_observed_during_fault([], "n", "kubelet-stop")
    held = checkers.Verdict("x", "pass", "held")
    failed = checkers.Verdict("y", "fail", "failed")
    result = ScenarioResult("s", "h", False, 0, 1, 1, "ns", "h.jsonl", verdicts=[verdict_dict(broken), verdict_dict(held)])
    assert result.status == "error"
    result.verdicts.append(verdict_dict(failed))
    assert result.status == "fail", "a real failure outweighs an error"
    only_unknown = ScenarioResult("s", "h", False, 0, 1, 1, "ns", "h.jsonl",
                                  verdicts=[verdict_dict(held), verdict_dict(unknown)])
    assert only_unknown.status == "unknown", "unknown is never counted a pass"
    assert ScenarioResult("s", "h", True, 0, 1, 1, "ns", "h.jsonl").status == "unknown", "no verdict: nothing judged"


def test_typed_kinds_refuse_fields_they_do_not_have() -> None:
    """The recorder, the scenarios and these factories share chaos_harness/record/events.py: a misspelt field is an error
    where it is written, in the history as in a test."""
    from chaos_harness.record.history import History

    with pytest.raises(TypeError, match="no field redy"):
        make("pod", 0, name="web-0", redy=True)
    with pytest.raises(TypeError, match="no field nodes"):
        History().record("runtime", nodes="n1", ok=True)
    History().record("fact", anything="goes")  # open kinds carry what their scenario notes


# --- agent samples are timed when the runtime was read, not when they arrived ------------------------------

def _late_agent_sample(received: float, node: str, sampled_at: float, seq: int, *containers: tuple[str, str, str],
                       skew: float = 500.0) -> dict:
    """An agent sample received at `received` (mono; wall = mono + 1000) that the node, whose clock runs
    `skew` seconds behind the harness's, read at `sampled_at` (harness time)."""
    e = runtime(received, node, *containers)
    e.update(source="agent", agent_seq=seq, sampled_at=sampled_at + 1000 - skew)
    return e


def test_runtime_samples_place_a_late_sample_when_it_was_read_whatever_the_clock_skew() -> None:
    # Transit 0.1 s, then a busy API server delivers three samples together at 5.1.
    events = [_late_agent_sample(1.1, "w1", 1.0, 1), _late_agent_sample(5.1, "w1", 2.0, 2),
              _late_agent_sample(5.1, "w1", 3.0, 3), _late_agent_sample(5.1, "w1", 4.0, 4),
              _late_agent_sample(5.1, "w1", 5.0, 5)]
    times = [round(t, 6) for t, _ in checkers.runtime_samples(events)]
    assert times == [1.1, 2.1, 3.1, 4.1, 5.1]  # late by the shortest transit only


def test_node_observed_counts_samples_that_arrived_together_after_a_slow_api() -> None:
    from chaos_harness.judge.checkers import node_observed_during_fault

    history = [timing(), make("fault", 0.0, phase="injected", fault={"type": "kubelet-stop", "node": "w1"})]
    history += [_late_agent_sample(0.6, "w1", 0.5, 1)]
    history += [_late_agent_sample(4.6, "w1", t + 0.5, t + 1) for t in range(1, 5)]  # 4 s of API latency
    history += [_late_agent_sample(t + 0.6, "w1", t + 0.5, t + 1) for t in range(5, 9)]
    history.append(make("fault", 9.0, phase="healed", fault={"type": "kubelet-stop", "node": "w1"}))
    v = node_observed_during_fault(history, "w1", "kubelet-stop")
    assert v.ok and v.figures["max_gap"] < 1.1, v.explain()
    stripped = [{k: v for k, v in e.items() if k != "sampled_at"} for e in history]  # timed on arrival: a 4 s gap
    assert node_observed_during_fault(stripped, "w1", "kubelet-stop", max_gap=3.0).status == "unknown"


def test_split_brain_sees_two_copies_when_one_node_reports_late() -> None:
    # w1's copy was read at 2.0 but only reached the harness at 6.0, after w2's copy (read at 2.5): read when
    # they ran, both copies overlap; timed on arrival, w2's sample would have been 3.5 s older than w1's.
    events = [_late_agent_sample(0.1, "w1", 0.0, 1), _late_agent_sample(0.2, "w2", 0.1, 1),
              _late_agent_sample(2.6, "w2", 2.5, 2, ("web-0", "c2", "u2")),
              _late_agent_sample(6.0, "w1", 2.0, 2, ("web-0", "c1", "u1"))]
    assert not checkers.split_brain(events, "web").ok


def test_a_kubelet_the_heal_started_does_not_end_the_fault_early() -> None:
    """Through the agent the heal waits for a sample saying the kubelet runs before its `healed` mark: that
    sample is the heal's doing (after the `heal` mark), not an early end; one before the heal began is."""
    from chaos_harness.judge.evidence import fault_window

    base = [timing(), make("fault", 0.0, phase="injected", fault={"type": "kubelet-stop", "node": "w1"})]
    base += [make("runtime", float(t), node="w1", source="agent", kubelet="inactive") for t in range(1, 10)]
    healing = base + [make("fault", 10.0, phase="heal", fault={"type": "kubelet-stop", "node": "w1"}),
                      make("runtime", 11.0, node="w1", source="agent", kubelet="active"),
                      make("fault", 12.0, phase="healed", fault={"type": "kubelet-stop", "node": "w1"})]
    w = fault_window(healing, "kubelet-stop")
    assert w is not None and not w.early and w.end == 12.0
    assert checkers.node_observed_during_fault(healing, "w1", "kubelet-stop").ok
    early = base[:6] + [make("runtime", 4.5, node="w1", source="agent", kubelet="active")] + healing[6:]
    w = fault_window(sorted(early, key=lambda e: e["mono"]), "kubelet-stop")
    assert w is not None and w.early and w.end == 4.5 and "seen running again" in w.ended_by


def test_restarted_in_place_counts_a_container_started_while_the_kill_was_verified() -> None:
    """The kubelet restarted the container before the fault's `injected` mark (verification under load): the
    new container is still "after" the fault, which began at its `inject` mark."""
    kill = {"type": "container-kill", "node": "n1", "container_id": "c1"}
    events = [make("pod", 0, name="web-0", uid="u1", restarts={"app": 0}), runtime(0.5, "n1", ("web-0", "c1", "u1")),
              make("fault", 1, phase="inject", fault=kill),
              runtime(1.5, "n1", ("web-0", "c2", "u1")),
              make("fault", 2, phase="injected", fault=kill),
              make("pod", 3, name="web-0", uid="u1", restarts={"app": 1})]
    verdict = checkers.restarted_in_place(events, "web-0", "app", "container-kill")
    assert verdict.ok, verdict.explain()


def _held(fault: str, samples: list[dict]) -> list[dict]:
    spec = {"type": fault, "node": "w1"}
    return ([timing(), make("fault", 0.0, phase="injected", fault=spec)] + samples +
            [make("fault", 10.0, phase="heal", fault=spec), make("fault", 11.0, phase="healed", fault=spec)])


@pytest.mark.parametrize("fault", ["node-pause", "network-partition"])
def test_the_agent_saying_what_it_holds_is_the_evidence_of_a_pause_or_partition(fault: str) -> None:
    """Through the agent a paused node still answers (its pause leaves the agent and the runtime running) and a
    partitioned node's samples arrive late: each sample says what the agent held when it read it. The same
    history with the agent holding nothing from 4.5 s on is an early end: unknown, never a pass."""
    from chaos_harness.judge.evidence import fault_window, observed_while_frozen

    held = [make("runtime", t + 0.5, node="w1", ok=True, containers=[], source="agent", hold=fault)
            for t in range(10)]
    history = _held(fault, held)
    w = fault_window(history, fault)
    assert w is not None and not w.early, w
    assert checkers.node_observed_during_fault(history, "w1", fault).ok
    assert observed_while_frozen(history, "w1")
    released = _held(fault, held[:4] + [{**e, "hold": ""} for e in held[4:]])
    w = fault_window(released, fault)
    assert w is not None and w.early and w.end == 4.5 and "no longer held" in w.ended_by, w
    assert checkers.node_observed_during_fault(released, "w1", fault).status == "unknown"


def test_a_docker_sample_of_a_paused_node_still_ends_the_pause_early() -> None:
    """kind's docker pause freezes the sampler with the node: a sample that answered means the pause ended."""
    from chaos_harness.judge.evidence import fault_window, observed_while_frozen

    history = _held("node-pause", [runtime(3.0, "w1")])
    w = fault_window(history, "node-pause")
    assert w is not None and w.early and "answered a runtime sample" in w.ended_by
    assert not observed_while_frozen(history, "w1")


def test_a_sample_reporting_the_switch_ends_any_fault_the_agent_held() -> None:
    """The switch undoes whatever the agent held, not only a kubelet stop (the agent clears the report when it
    takes its next hold, so one hold's switch does not end the next)."""
    from chaos_harness.judge.evidence import fault_window

    history = _held("network-partition", [make("runtime", 2.0, node="w1", ok=True, containers=[], source="agent",
                                               hold="network-partition", deadman="kubelet-stop undone by ...")])
    w = fault_window(history, "network-partition")
    assert w is not None and w.early and "dead man" in w.ended_by


def test_a_sample_the_agent_read_before_its_hold_began_is_no_early_end() -> None:
    """Samples are placed up to their shortest transit late (the min of received - read over the run); the
    agent's own sequence orders them exactly. A sample that shows nothing held, placed just after the injected
    mark, but numbered before the agent's first sample that holds the fault, was read before the hold began.
    Numbered after it, the same sample is an early end."""
    from chaos_harness.judge.evidence import fault_window

    def sample(seq: int, at: float, hold: str) -> dict:
        return make("runtime", at, node="w1", ok=True, containers=[], source="agent", hold=hold,
                    agent_seq=seq, agent_started=100.0, agent_after=seq - 1, agent_prev=seq - 1)

    holding = [sample(12 + i, 1.5 + i, "network-partition") for i in range(8)]
    history = _held("network-partition", [sample(11, 0.6, ""), *holding])
    w = fault_window(history, "network-partition")
    assert w is not None and not w.early, w
    released = _held("network-partition", [*holding, sample(30, 9.6, "")])
    w = fault_window(released, "network-partition")
    assert w is not None and w.early and "no longer held" in w.ended_by, w
    # A hold the agent never showed leaves nothing to order by: nothing held is the evidence.
    w = fault_window(_held("network-partition", [sample(11, 0.6, "")]), "network-partition")
    assert w is not None and w.early, w
