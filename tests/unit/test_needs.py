"""Every checker's every declared need, removed one at a time from a history on which the checker passes: the
verdict is then `unknown`, never a pass and never a failure of the hypothesis (chaos_harness/judge/verdicts.py).

CASES maps checker name -> (call, passing history, {need: mutation}); a test checks that CASES covers every
registered checker and every need it declares, so a new checker or need cannot go untested."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chaos_harness.judge import checkers
from chaos_harness.record.events import container, make
from chaos_harness.judge.verdicts import CHECKERS

H = list[dict]


def pod(mono: float, name: str, uid: str, type_: str = "MODIFIED", node: str = "n1", ready: bool = True,
        **extra: object) -> dict:
    return make("pod", mono, type=type_, name=name, uid=uid, node=node, ready=ready, **extra)


def sample(mono: float, node: str, *pods: tuple[str, str, str], ok: bool = True, **extra: object) -> dict:
    return make("runtime", mono, node=node, ok=ok, containers=[container(p, c, u) for p, c, u in pods], **extra)


def mark(mono: float, phase: str, type_: str = "kubelet-stop", **spec: object) -> dict:
    return make("fault", mono, phase=phase, fault={"type": type_, "node": "n1", **spec})


# The run's node-health timing (its meta event): short, so that the hand-made faults below count as held.
TIMING = make("meta", -10, timing={"node_monitor_grace_period": 4.0, "node_monitor_period": 1.0,
                                   "not_ready_toleration_seconds": 2.0, "unreachable_toleration_seconds": 2.0,
                                   "assumed": []})


def unverified(h: H) -> H:
    """The fault's injected mark says its effect could not be read back."""
    return [{**e, "verified": False} if e["kind"] == "fault" and e["phase"] == "injected" else e for e in h]


def ended_early(at: float, node: str = "n1") -> Callable[[H], H]:
    """The node agent's dead man's switch ended the fault at `at`."""
    return lambda h: sorted(h + [sample(at, node, ("web-0", "c1", "u1"), source="agent", deadman="no renewal",
                                        hold="")], key=lambda e: e["mono"])


def fact(**facts: object) -> dict:
    return {"seq": 0, "mono": 0.0, "wall": 1000.0, "kind": "fact", **facts}


def drop(history: H, pred: Callable[[dict], bool]) -> H:
    return [e for e in history if not pred(e)]


def outage(a: float, b: float, kind: str = "pod") -> H:
    return [make("recorder", a, what=f"{kind} watch", error="ApiError: 500"),
            make("recorder", b, what=f"{kind} watch", resumed=True)]


# --- passing histories ---------------------------------------------------------------------------------------

WRITES = [make("write", 1, key=k, value="v", target="mysql-0.mysql", outcome="ok", invoked_wall=1000.0,
               invoked_mono=1.0, completed_mono=1.1) for k in (1, 2)]
READS = [make("read-keys", 5, replica=f"mysql-{n}", keys=[1, 2]) for n in range(3)]
DURABLE = [fact(workload="mysql", probe="mysql", readable=["mysql-0", "mysql-1", "mysql-2"]), *WRITES, *READS]

# web-0 on n1, sampled twice a second by n1 and n2 for 6 s.
COPIES = [pod(0, "web-0", "u1")] + [s for t in range(12) for s in (
    sample(t / 2, "n1", ("web-0", "c1", "u1")), sample(t / 2 + 0.1, "n2"))]

FAULTED = [TIMING, pod(0, "web-0", "u1"), mark(1, "inject"), mark(1.5, "injected"),
           *[sample(1 + t / 2, "n1", ("web-0", "c1", "u1")) for t in range(20)],
           pod(4, "web-0", "u1", deleting=True), mark(10, "healed"), pod(11, "web-0", "u1")]

HAZARD = [sample(0, "n1", ("web-0", "c1", "u1")), mark(1, "injected", "pod-delete", pod="web-0", uid="u1"),
          *[sample(1 + t / 2, "n1", ("web-0", "c1", "u1")) for t in range(4)],
          *[sample(3 + t / 2, "n1") for t in range(4)]]

ORDERED = [pod(0, "web-0", "a", ready=False), pod(1, "web-0", "a"), pod(2, "web-1", "b", ready=False),
           pod(3, "web-1", "b")]
PARALLEL = [pod(0, "web-0", "a", ready=False), pod(0.1, "web-1", "b", ready=False), pod(2, "web-0", "a"),
            pod(2.1, "web-1", "b")]
TERMINATED = [{**pod(1, "web-1", "b"), "deleting": True}, pod(2, "web-1", "b", "DELETED"),
              {**pod(3, "web-0", "a"), "deleting": True}, pod(4, "web-0", "a", "DELETED")]


def rev(mono: float, name: str, revision: str, ready: bool = True) -> dict:
    return pod(mono, name, name + revision, ready=ready, revision=revision)


ROLLED = [rev(0, "web-0", "r1"), rev(0, "web-1", "r1"), rev(1, "web-1", "r2", ready=False), rev(2, "web-1", "r2"),
          rev(3, "web-0", "r2", ready=False), rev(4, "web-0", "r2")]
ON_DELETE = [rev(0, "web-0", "r1"), rev(0, "web-1", "r1"), rev(5, "web-1", "r2")]
DRAINED = [pod(0, "web-0", "a"), pod(1, "web-1", "b"), pod(2, "web-0", "a", ready=False), pod(3, "web-0", "a")]
CLAIMED = [pod(0, "web-0", "a", pvcs=["data-web-0"]), pod(5, "web-0", "b", pvcs=["data-web-0"]),
           make("pvc", 0, name="data-web-0", uid="p1", volume="pv1")]
DETECTED = [make("node", 0, name="n1", ready="True"), mark(1, "inject"), mark(1.5, "injected"),
            make("node", 15, name="n1", ready="Unknown"), mark(30, "healed"), make("node", 32, name="n1", ready="True")]
RECREATED = [pod(0, "web-0", "u1"), mark(1, "inject", "kubelet-stop"), mark(1.5, "injected", "kubelet-stop"),
             pod(3, "web-0", "u2", node=None, ready=False, phase="Pending"),
             pod(5, "web-0", "u2", node=None, ready=False, phase="Pending"), mark(10, "healed", "kubelet-stop")]
RESTARTED = [pod(0, "web-0", "u1", restarts={"app": 0}), sample(0.5, "n1", ("web-0", "c1", "u1")),
             mark(1, "injected", "container-kill", container_id="c1"), pod(3, "web-0", "u1", restarts={"app": 1}),
             sample(4, "n1", ("web-0", "c2", "u1"))]
TOOK_EFFECT = [mark(1, "inject", "pod-delete", pod="web-0"), mark(1.2, "injected", "pod-delete", pod="web-0"),
               mark(1.3, "healed", "pod-delete", pod="web-0")]
EVENTS = [make("event", 1, object="Pod/web-0", reason="FailedScheduling", message="volume node affinity conflict")]
DNS = [pod(0, "web-1", "a", ip="10.0.0.1"), {"kind": "dns", "mono": 1, "wall": 1001, "seq": 0,
                                             "name": "web-1.web.ns.svc", "ips": ["10.0.0.1"]}]
SERVED = [{"kind": "read", "mono": 0, "wall": 1000, "seq": 0, "server_id": i, "rows": 5} for i in (100, 101)]


def uid_change_in_outage(history: H, name: str = "web-0") -> H:
    """A pod watch outage from 4 to 6 s across which `name` came back with a new UID: the re-list reports the
    old one deleted and the new one there, but not in which order they happened."""
    return sorted(history + outage(4, 6) + [{**pod(6, name, "u1", "DELETED"), "synthetic": True},
                                             pod(6, name, "u9", "LISTED")], key=lambda e: e["mono"])


CASES: dict[str, tuple[Callable[[H], checkers.Verdict], H, dict[str, Callable[[H], H]]]] = {
    "durability": (lambda h: checkers.durability(h, checkers.expected_replicas(h)), DURABLE, {
        "replicas": lambda h: [fact(workload="db", probe="yes", readable=[])] + h[1:],
        "acknowledged": lambda h: [{**e, "outcome": "unknown"} if e["kind"] == "write" else e for e in h],
        "every_replica_read": lambda h: drop(h, lambda e: e["kind"] == "read-keys" and e["replica"] == "mysql-2"),
    }),
    "split-brain": (lambda h: checkers.split_brain(h, "web"), COPIES, {
        "samples": lambda h: drop(h, lambda e: e["kind"] == "runtime"),
        "selection": lambda h: [{**e, "containers": []} if e["kind"] == "runtime" else e for e in h],
        "every_node": lambda h: h + [pod(6, "web-1", "u2", node="n3")],
        "placed": lambda h: drop(h, lambda e: e["kind"] == "pod"),
    }),
    "concurrent-copies": (lambda h: checkers.concurrent_copies(h, "web-", 0), COPIES, {
        "samples": lambda h: drop(h, lambda e: e["kind"] == "runtime"),
        "selection": lambda h: [{**e, "containers": []} if e["kind"] == "runtime" else e for e in h],
    }),
    "node-observed-during-fault": (lambda h: checkers.node_observed_during_fault(h, "n1", "kubelet-stop"), FAULTED, {
        "fault": lambda h: drop(h, lambda e: e["kind"] == "fault"),
        "effect": unverified,
        "end": lambda h: drop(h, lambda e: e["kind"] == "fault" and e["phase"] == "healed"),
        "held": lambda h: sorted(h + [sample(6, "n1", ("web-0", "c1", "u1"), kubelet="active")],
                                 key=lambda e: e["mono"]),
    }),
    "hazard-window": (lambda h: checkers.hazard_window(h, "web-0", "n1", "pod-delete"), HAZARD, {
        "fault": lambda h: drop(h, lambda e: e["kind"] == "fault"),
        "effect": unverified,
        "old_seen": lambda h: [{**e, "containers": []} if e["kind"] == "runtime" else e for e in h],
        "seen_after": lambda h: drop(h, lambda e: e["kind"] == "runtime" and e["mono"] >= 1),
        # The old container runs on, then n1 goes unsampled for 20 s before it is seen gone: a guess, not a figure.
        "watched": lambda h: [*drop(h, lambda e: e["kind"] == "runtime" and e["mono"] >= 3),
                              *[sample(3 + t / 2, "n1", ("web-0", "c1", "u1")) for t in range(8)], sample(27, "n1")],
        # The node's samples stop while the old container still runs; another node is sampled to the end.
        "seen_to_end": lambda h: drop(h, lambda e: e["kind"] == "runtime" and e["mono"] >= 3)
        + [sample(9, "n2")],
    }),
    "no-replacement-while-old-exists": (lambda h: checkers.replacement_while_old_exists(h, "web"),
                                        [pod(0, "web-0", "u1"), pod(8, "web-0", "u1")], {
        "pods": lambda h: [],
        "watch": lambda h: uid_change_in_outage(h[:1]),
    }),
    "stable-identity": (lambda h: checkers.stable_identity(h, "web", "web"),
                        [pod(0, "web-0", "u1", hostname="web-0", subdomain="web")], {"pods": lambda h: []}),
    "ordered-ready": (lambda h: checkers.ordered_ready(h, "web", 2 if len(h) != 1 else 1), ORDERED, {
        "several": lambda h: h[:1],
        "all_ready": lambda h: h[:3],
    }),
    "parallel-start": (lambda h: checkers.parallel_start(h, "web", 1 if h and h[0].get("seq") == -1 else 2),
                       PARALLEL, {
        "several": lambda h: [{**e, "seq": -1} for e in h],
        "all_seen": lambda h: drop(h, lambda e: e.get("name") == "web-1"),
        "any_ready": lambda h: [{**e, "ready": False} for e in h],
    }),
    "reverse-order-termination": (lambda h: checkers.reverse_order_termination(h, "web", 1 if len(h) == 2 else 2),
                                  TERMINATED, {
        "several": lambda h: h[2:],
        "all_gone": lambda h: h[:3],
    }),
    "rolling-update": (lambda h: checkers.rolling_update(h, "web", 2, 0, "r1", checkers.facts(h).get("new", "r2")),
                       ROLLED, {
        "revision_change": lambda h: h + [fact(new="r1")],
        "updated": lambda h: [e for e in h if e.get("revision") == "r1"],
    }),
    "on-delete-update": (lambda h: checkers.on_delete_update(h, "web", 2, [p for p in ["web-1"] if len(h) != 4],
                                                             "r1", "r1" if len(h) == 5 else "r2"), ON_DELETE, {
        "revision_change": lambda h: h + [rev(9, "web-9", "r1"), rev(9, "web-9", "r1")],
        "deleted": lambda h: h + [rev(9, "web-9", "r1")],
        "pods": lambda h: drop(h, lambda e: e.get("name") == "web-0"),
    }),
    "at-most-unavailable": (lambda h: checkers.at_most_unavailable(h, "web", 1), DRAINED, {
        "pods": lambda h: [{**e, "ready": False} for e in h],
        "disruption": lambda h: drop(h, lambda e: not e["ready"]),
    }),
    "same-pvc-per-identity": (lambda h: checkers.same_pvc_per_identity(h, "web"), CLAIMED, {
        "pods": lambda h: drop(h, lambda e: e["kind"] == "pod"),
        "claims": lambda h: [{**e, "pvcs": []} if e["kind"] == "pod" else e for e in h],
        "bound": lambda h: drop(h, lambda e: e["kind"] == "pvc"),
    }),
    "claims-kept": (lambda h: checkers.claims_kept(h, [] if h and h[0].get("seq") == -1 else ["data-web-0"]),
                    CLAIMED, {
        "named": lambda h: [{**e, "seq": -1} for e in h],
        "observed": lambda h: drop(h, lambda e: e["kind"] == "pvc"),
    }),
    "node-detection": (lambda h: checkers.node_detection(h, "n1", "kubelet-stop", 16, 2), DETECTED, {
        "fault": lambda h: drop(h, lambda e: e["kind"] == "fault"),
        "effect": unverified,
        # The kubelet seen running again 3 s in, before the node could be detected, and no detection after.
        "held": lambda h: sorted(drop(h, lambda e: e["kind"] == "node" and e["ready"] != "True")
                                 + [sample(4.5, "n1", kubelet="active")], key=lambda e: e["mono"]),
        "node_seen": lambda h: drop(h, lambda e: e["kind"] == "node"),
    }),
    "not-recreated-during-fault": (lambda h: checkers.not_recreated_during_fault(h, "web-0", "kubelet-stop"), FAULTED, {
        "fault": lambda h: drop(h, lambda e: e["kind"] == "fault"),
        "effect": unverified,
        "before": lambda h: drop(h, lambda e: e["kind"] == "pod" and e["mono"] < 1.5),
        "end": lambda h: drop(h, lambda e: e["kind"] == "fault" and e["phase"] == "healed"),
        # The pod watch broke 5 s in and never came back: what happened to web-0 until the heal is unseen.
        "watch": lambda h: drop(h, lambda e: e["kind"] == "pod" and e["mono"] >= 5)
        + [make("recorder", 5, what="pod watch", error="ApiError: 500")],
        # The agent's switch ended the fault 1 s in, before web-0 could be evicted, and it never was.
        "held": lambda h: ended_early(2.5)(drop(h, lambda e: e["kind"] == "pod" and e.get("deleting"))),
    }),
    "one-incarnation-during-fault": (lambda h: checkers.one_incarnation_during_fault(h, "web-0", "kubelet-stop"),
                                     FAULTED, {
        "fault": lambda h: drop(h, lambda e: e["kind"] == "fault"),
        "effect": unverified,
        "before": lambda h: drop(h, lambda e: e["kind"] == "pod" and e["mono"] < 1.5),
        "after": lambda h: drop(h, lambda e: e["kind"] == "pod" and e["mono"] >= 10),
        "held": ended_early(2.5),
    }),
    "stayed-unscheduled": (lambda h: checkers.stayed_unscheduled(h, "web-0", "kubelet-stop", "u1", "n1"), RECREATED, {
        "fault": lambda h: drop(h, lambda e: e["kind"] == "fault"),
        "effect": unverified,
        "replacement": lambda h: drop(h, lambda e: e["kind"] == "pod" and e["uid"] == "u2"),
        "held": ended_early(4.0),
    }),
    "restarted-in-place": (lambda h: checkers.restarted_in_place(h, "web-0", "app", "container-kill"), RESTARTED, {
        "fault": lambda h: drop(h, lambda e: e["kind"] == "fault"),
        "effect": unverified,
        "before": lambda h: drop(h, lambda e: e["kind"] == "pod" and e["mono"] < 1),
        "after": lambda h: drop(h, lambda e: e["kind"] == "pod" and e["mono"] >= 1),
        "runtime": lambda h: drop(h, lambda e: e["kind"] == "runtime" and e["mono"] < 1),
    }),
    "fault-took-effect": (lambda h: checkers.fault_took_effect(h, "pod-delete"), TOOK_EFFECT, {
        "fault": lambda h: [],
        "effect": unverified,
    }),
    "events-explain": (lambda h: checkers.events_mention(h, "Pod/web-0", "volume node affinity"), EVENTS,
                       {"events": lambda h: []}),
    "dns-names-pod": (lambda h: checkers.dns_names_pod(h, "web"), DNS, {"lookups": lambda h: h[:1]}),
    "reads-reach-every-replica": (lambda h: checkers.reads_reach_every_replica(
        h, () if h and h[0].get("seq") == -1 else (100, 101), 0 if h and h[0].get("seq") == -2 else 5), SERVED, {
        "replicas": lambda h: [{**e, "seq": -1} for e in h],
        "rows": lambda h: [{**e, "seq": -2, "rows": 0} for e in h],
        "read": lambda h: [],
    }),
}

def test_every_checker_and_every_need_has_a_case() -> None:
    assert set(CASES) == set(CHECKERS)
    for name, (_, _, needs) in CASES.items():
        assert set(needs) == set(CHECKERS[name]), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_full_history_passes(name: str) -> None:
    call, history, _ = CASES[name]
    verdict = call(history)
    assert verdict.status == "pass", verdict.explain()


@pytest.mark.parametrize("name,need", sorted((n, k) for n, (_, _, needs) in CASES.items() for k in needs))
def test_without_one_need_the_verdict_is_unknown(name: str, need: str) -> None:
    call, history, needs = CASES[name]
    verdict = call(needs[need](list(history)))
    assert verdict.status == "unknown", verdict.explain()
    missing = verdict.evidence[0].get("missing") if verdict.evidence else None
    assert need in (missing or []) or verdict.evidence[0].get("gap"), verdict.explain()
