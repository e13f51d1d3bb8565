"""An agent that publishes on change (images/agent/publish.go): the samples it read but did not send are put
back from what the samples it sent say of them, and only then; a broken chain stays a gap (judge/evidence.py)."""

from __future__ import annotations

from chaos_harness.judge.checkers import node_observed_during_fault, split_brain
from chaos_harness.judge.evidence import runtime_samples, staleness
from chaos_harness.record.events import container, make


def sent(t: float, seq: int, after: int, prev: int, *pods: tuple[str, str], node: str = "w1", gap: float = 1.0,
         ok: bool = True) -> dict:
    """A sample the agent sent: read at t (node clock = recording clock here), seq, its chain fields."""
    return make("runtime", t, node=node, ok=ok, source="agent", agent_seq=seq, sampled_at=1000 + t,
                agent_started=50.0, agent_after=after, agent_prev=prev, agent_gap=gap, heartbeat=10.0,
                containers=[container(pod, cid, f"u-{cid}") for pod, cid in pods])


def fault(t: float, phase: str, node: str = "w1") -> dict:
    return make("fault", t, phase=phase, fault={"type": "kubelet-stop", "node": node})


# The run's node-health timing: the fault time boxes below (about 19 s) count as held; a gap up to 16 s may count.
TIMING = make("meta", -1, timing={"node_monitor_grace_period": 16.0, "node_monitor_period": 1.0,
                                  "not_ready_toleration_seconds": 5.0, "unreachable_toleration_seconds": 5.0,
                                  "assumed": []})


def test_heartbeats_stand_for_the_unchanged_samples_between_them() -> None:
    """One change and two heartbeats over 20 s: 21 samples read, a sample every second for the checkers."""
    history = [TIMING, fault(0.5, "injected"), sent(0, 1, 0, 0, ("web-0", "c1")), sent(10, 11, 1, 1, ("web-0", "c1")),
               sent(20, 21, 1, 11, ("web-0", "c1")), fault(19.5, "healed")]
    times = [at for at, e in runtime_samples(history)]
    assert len(times) == 21 and max(b - a for a, b in zip(times, times[1:])) <= 1.0001
    v = node_observed_during_fault(history, "w1", "kubelet-stop")
    assert v.ok and v.figures["samples"] == 19, v.explain()


def test_a_sample_sent_but_never_received_leaves_a_gap() -> None:
    """The heartbeat at 20 names a previous sample (15) the harness never received: 0-20 is not filled."""
    history = [TIMING, fault(0.5, "injected"), sent(0, 1, 0, 0), sent(20, 21, 1, 15), fault(19.5, "healed")]
    assert len(runtime_samples(history)) == 2
    v = node_observed_during_fault(history, "w1", "kubelet-stop", max_gap=6.0)
    assert v.status == "unknown" and v.figures["max_gap"] > 18, v.explain()


def test_a_change_never_received_leaves_a_gap() -> None:
    """B's last change (12) is after A: what the node showed between is not known."""
    history = [sent(0, 1, 0, 0, ("web-0", "c1")), sent(20, 21, 12, 1, ("web-0", "c2"))]
    assert len(runtime_samples(history)) == 2


def test_the_agent_s_own_longest_step_is_kept() -> None:
    """The agent stalled 8 s somewhere between two heartbeats: the samples put back keep an 8 s step."""
    history = [TIMING, fault(0.5, "injected"), sent(0, 1, 0, 0), sent(10, 4, 1, 1, gap=8.0), sent(20, 14, 4, 4),
               fault(19.5, "healed")]
    times = [at for at, _ in runtime_samples(history)]
    assert max(b - a for a, b in zip(times, times[1:])) == 8.0
    v = node_observed_during_fault(history, "w1", "kubelet-stop", max_gap=6.0)
    assert v.status == "unknown" and v.figures["max_gap"] == 7.5, v.explain()  # the 8 s step, from the injection


def test_staleness_follows_the_heartbeat() -> None:
    """A quiet node is still watched until its next heartbeat is due: the heartbeat and two steps (12 s)."""
    history = [sent(0, 1, 0, 0), sent(10, 11, 1, 1), sent(20, 21, 1, 11)]
    assert staleness(history, "w1") == 12.0


def test_a_second_copy_is_seen_across_unsent_samples() -> None:
    """w1 runs web-0 (sent once, then heartbeats); w2 starts another web-0 at 5 s: two copies, a failure, even
    though nothing was sent by w1 between 0 and 10."""
    history = [make("pod", -1, name="web-0", uid="u-c1", node="w1"),
               sent(0, 1, 0, 0, ("web-0", "c1")), sent(0.2, 1, 0, 0, node="w2"),
               sent(5, 6, 1, 1, ("web-0", "c2"), node="w2"),
               sent(10, 11, 1, 1, ("web-0", "c1")), sent(10.2, 11, 6, 6, ("web-0", "c2"), node="w2")]
    v = split_brain(history, "web")
    assert v.status == "fail", v.explain()
