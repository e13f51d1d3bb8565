"""Every recorded history in tests/data, re-judged after every mutation generated for it (tests/unit/mutants.py):
evidence removed never passes, blindness never fails, forgery never passes, reordering changes nothing. The
mutations are generated from what each history holds and aimed by what each checker declares it reads, so a new
checker, a new recording or a new stream is covered by construction."""

from __future__ import annotations

import random
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mutants
from chaos_harness.judge.verdicts import CHECKERS, READS, outcome

RECORDINGS = {r.name: r for r in mutants.recordings()}


@cache
def whole(name: str) -> list:
    r = RECORDINGS[name]
    return r.judge(r.events)


def _cases() -> list[tuple[str, str, str]]:
    return [(name, m.family, m.name) for name, r in RECORDINGS.items() for m in mutants.mutations(r.events)]


CASES = _cases()


def _mutation(name: str, mutation: str) -> mutants.Mutation:
    return next(m for m in mutants.mutations(RECORDINGS[name].events) if m.name == mutation)


@pytest.mark.parametrize("recording,family,mutation", CASES, ids=[f"{r}|{m}" for r, _, m in CASES])
def test_a_mutation_keeps_the_promise_of_its_family(recording: str, family: str, mutation: str) -> None:
    r, m = RECORDINGS[recording], _mutation(recording, mutation)
    before, after = whole(recording), r.judge(m.apply([dict(e) for e in r.events]))
    assert not mutants.broken_promises(m, before, after), "\n".join(v.explain() for v in after)
    was, now = outcome(v.status for v in before), outcome(v.status for v in after)
    if family == "removed" and any(m.aims_at(v.checker, v, v) for v in before):
        assert now != "pass", f"the scenario passed without evidence its claim needs ({mutation})"
    if family == "blind":
        assert now != "fail" or was == "fail", f"the scenario failed on the harness's blindness ({mutation})"
    if family == "reorder":
        assert now == was


def test_every_family_is_exercised_and_every_checker_is_judged() -> None:
    """The suite reaches every kind of mutation, and every registered checker gives a verdict on some recording
    (a checker with no recording to mutate is not covered: record one into tests/data)."""
    assert {f for _, f, _ in CASES} == {"removed", "blind", "forged", "reorder"}
    judged = {v.checker for name in RECORDINGS for v in whole(name)}
    assert set(CHECKERS) <= judged, f"no recording judges {sorted(set(CHECKERS) - judged)}"
    assert len(CASES) > 300


@pytest.mark.parametrize("recording", sorted(RECORDINGS))
def test_a_checker_reads_only_what_it_declares(recording: str) -> None:
    """Taking away a kind of event a checker does not declare (`reads`) leaves its verdict as it was: what the
    mutations aim by is true."""
    r = RECORDINGS[recording]
    before = whole(recording)
    kinds = {e["kind"] for e in r.events} - mutants.IMPLICIT
    for kind in sorted(kinds):
        after = r.judge([e for e in r.events if e["kind"] != kind])
        for b, a in zip(before, after):
            if b.checker == a.checker and b.checker in READS and kind not in READS[b.checker]:
                assert (a.status, a.summary) == (b.status, b.summary), f"{b.checker} reads {kind} undeclared"


@pytest.mark.parametrize("recording", sorted(RECORDINGS))
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_order_and_copies_of_events_never_change_a_verdict(recording: str, data: st.DataObject) -> None:
    """Hypothesis shuffles the history and writes any events of it twice: every verdict stays the same (the
    judge reads events by (mono, seq), each once)."""
    r = RECORDINGS[recording]
    # A seed, not a drawn permutation: a history of 1,500 events is too large an example for Hypothesis to shrink.
    rnd = random.Random(data.draw(st.integers(0, 2**32), label="seed"))
    events = list(r.events)
    rnd.shuffle(events)
    twice = rnd.sample(range(len(events)), data.draw(st.integers(0, len(events) // 2), label="written twice"))
    mutated = events + [dict(events[i]) for i in twice]
    after = r.judge(mutated)
    assert [(v.checker, v.status, v.summary) for v in after] == [(v.checker, v.status, v.summary)
                                                                 for v in whole(recording)]
