"""The run Lease (chaos_harness/assemble/run_lock.py) against an in-memory Lease API that keeps resourceVersions
as the API server does: a write computed from an old version is refused with 409."""

from __future__ import annotations

import copy
import json
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from chaos_harness.assemble import run_lock
from chaos_harness.assemble.run_lock import (RUNS_ANNOTATION, STOP_ANNOTATION, Holder, RunLock, check_lock_name,
                                             decide, release_dead, request_stop)
from chaos_harness.core.errors import UsageError


class LeaseApi:
    """create / read / patch / delete of Leases, with resourceVersion preconditions."""

    def __init__(self) -> None:
        self.leases: dict[tuple[str, str], client.V1Lease] = {}
        self.version = 0
        self.writes = 0
        self.lock = threading.Lock()

    def _bump(self, lease: client.V1Lease) -> None:
        self.version += 1
        self.writes += 1
        lease.metadata.resource_version = str(self.version)

    def create_namespaced_lease(self, namespace: str, body: client.V1Lease, **_: Any) -> client.V1Lease:
        with self.lock:
            if (namespace, body.metadata.name) in self.leases:
                raise ApiException(status=409, reason="AlreadyExists")
            lease = copy.deepcopy(body)
            self._bump(lease)
            self.leases[(namespace, body.metadata.name)] = lease
            return lease

    def read_namespaced_lease(self, name: str, namespace: str, **_: Any) -> client.V1Lease:
        with self.lock:
            if (namespace, name) not in self.leases:
                raise ApiException(status=404, reason="NotFound")
            return copy.deepcopy(self.leases[(namespace, name)])

    def patch_namespaced_lease(self, name: str, namespace: str, body: dict[str, Any], **_: Any) -> client.V1Lease:
        with self.lock:
            lease = self.leases.get((namespace, name))
            if lease is None:
                raise ApiException(status=404, reason="NotFound")
            wanted = body.get("metadata", {}).get("resourceVersion")
            if wanted and wanted != lease.metadata.resource_version:
                raise ApiException(status=409, reason="Conflict")
            annotations = dict(lease.metadata.annotations or {})
            for key, value in body.get("metadata", {}).get("annotations", {}).items():
                if value is None:
                    annotations.pop(key, None)
                else:
                    annotations[key] = value
            lease.metadata.annotations = annotations
            spec = body.get("spec", {})
            lease.spec = lease.spec or client.V1LeaseSpec()
            if "holderIdentity" in spec:
                lease.spec.holder_identity = spec["holderIdentity"]
            if "renewTime" in spec:
                lease.spec.renew_time = spec["renewTime"]
            self._bump(lease)
            return copy.deepcopy(lease)

    def delete_namespaced_lease(self, name: str, namespace: str, body: Any = None, **_: Any) -> None:
        with self.lock:
            lease = self.leases.get((namespace, name))
            if lease is None:
                raise ApiException(status=404, reason="NotFound")
            wanted = body.preconditions.resource_version if body is not None and body.preconditions else None
            if wanted and wanted != lease.metadata.resource_version:
                raise ApiException(status=409, reason="Conflict")
            del self.leases[(namespace, name)]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> LeaseApi:
    fake = LeaseApi()
    monkeypatch.setattr(RunLock, "_coord", property(lambda self: fake))
    monkeypatch.setattr(RunLock, "_ensure_namespace", lambda self: None)
    return fake


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """One clock for the wall and this process's monotonic clock; a sleep of the lock advances it."""
    c = Clock()
    monkeypatch.setattr(run_lock, "_now", c)
    monkeypatch.setattr(run_lock, "_mono", c)

    def sleep(seconds: float) -> None:
        c.now += seconds
        for hook in list(c.hooks):
            hook()
    c.hooks = []  # type: ignore[attr-defined]
    monkeypatch.setattr(run_lock, "sleep", sleep)
    return c


CLUSTER: Any = SimpleNamespace(context="kind-test", api=None)


def lock(run_id: str, group: str, **kw: Any) -> RunLock:
    return RunLock(CLUSTER, run_id, ("s08",), group=group, **kw)


def runs_of(api: LeaseApi) -> dict[str, Any]:
    [lease] = api.leases.values()
    return json.loads(lease.metadata.annotations[RUNS_ANNOTATION])


def test_a_second_run_is_refused_in_one_line_naming_the_holder(api: LeaseApi, clock: Clock) -> None:
    first = lock("20261205-070000-aaaa", "group-a")
    assert first.try_acquire() is None
    with pytest.raises(UsageError) as refused:
        lock("20261205-070005-bbbb", "group-b").acquire(0)
    line = str(refused.value)
    assert "\n" not in line and "20261205-070000-aaaa" in line and "s08" in line and "--wait-for-run" in line
    assert "chaos-harness stop" in line and list(runs_of(api)) == ["20261205-070000-aaaa"]


def test_runs_of_one_group_share_the_lease_and_the_last_one_deletes_it(api: LeaseApi, clock: Clock) -> None:
    a, b = lock("run-a", "pytest-1"), lock("run-b", "pytest-1")
    assert a.try_acquire() is None and b.try_acquire() is None
    assert sorted(runs_of(api)) == ["run-a", "run-b"]
    a.release()
    assert sorted(runs_of(api)) == ["run-b"]
    b.release()
    assert api.leases == {}


def test_a_holder_silent_past_the_duration_is_taken_over(api: LeaseApi, clock: Clock) -> None:
    """Taken over once the taker itself has watched the Lease stay unrenewed for the duration, on its own clock."""
    assert lock("killed", "group-a").try_acquire() is None
    clock.now += run_lock.DURATION_SECONDS - 1
    assert lock("early", "group-b").try_acquire() is not None  # still alive by its last renewal
    clock.now += 2
    started = clock.now
    assert lock("later", "group-b").try_acquire() is None
    assert clock.now - started >= run_lock.DURATION_SECONDS  # watched that long before taking it
    [lease] = api.leases.values()
    assert lease.spec.holder_identity == "group-b" and list(runs_of(api)) == ["later"]


def test_a_taker_whose_clock_runs_ahead_never_takes_a_lease_that_is_being_renewed(api: LeaseApi, clock: Clock) -> None:
    """The holder's entries look 40 s old to a taker whose clock runs ahead; its renewTime still changes while
    the taker watches, so the taker is refused, however its clock reads."""
    holder = lock("alive", "group-a")
    assert holder.try_acquire() is None
    clock.now += 40  # the taker's view: every entry stale
    clock.hooks.append(lambda: holder._renew(holder.read()))  # type: ignore[attr-defined]
    with pytest.raises(UsageError, match="alive"):
        lock("ahead", "group-b").acquire(0)
    assert list(runs_of(api)) == ["alive"]


def test_a_run_that_lost_the_lease_injects_nothing_more_and_is_told_who_holds_it(api: LeaseApi, clock: Clock) -> None:
    from chaos_harness.core.errors import Aborted

    lost: list[str] = []
    paused = lock("paused", "group-a", on_lost=lost.append)
    assert paused.try_acquire() is None
    paused.prove()  # held: an injection may go ahead
    clock.now += run_lock.DURATION_SECONDS + 1  # paused past the duration; another run takes over
    assert lock("taker", "group-b").try_acquire() is None
    with pytest.raises(Aborted, match="lost the run lock .* to run taker"):
        paused.prove()
    assert lost and "run taker" in lost[0]
    paused._renew(paused.read())  # its renewer wakes up: it writes nothing over the new holder
    assert list(runs_of(api)) == ["taker"]


def test_two_runs_deciding_at_once_never_both_win(api: LeaseApi, clock: Clock) -> None:
    results: list[object] = []
    barrier = threading.Barrier(8)

    def one(i: int) -> None:
        barrier.wait()
        results.append(lock(f"run-{i}", f"group-{i}").try_acquire())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is None for r in results) == 1 and len(runs_of(api)) == 1


def test_stop_marks_the_lease_and_the_holder_is_told(api: LeaseApi, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_lock, "POLL_SECONDS", 0.05)
    told = threading.Event()
    holder = lock("run-a", "group-a", on_stop=lambda who: told.set())
    holder.acquire(0)
    try:
        asked = request_stop(CLUSTER, who="ops@laptop")
        assert asked is not None and "run-a" in asked.describe(clock.now)
        assert told.wait(30) and holder.stopped_by == "ops@laptop"
    finally:
        holder.release()
    assert api.leases == {}
    assert request_stop(CLUSTER) is None  # nothing holds it: nothing to stop


def test_a_new_holder_starts_without_an_old_stop_mark(api: LeaseApi, clock: Clock) -> None:
    lock("old", "group-a").try_acquire()
    request_stop(CLUSTER, who="ops")
    clock.now += run_lock.DURATION_SECONDS + 1
    assert lock("new", "group-b").try_acquire() is None
    [lease] = api.leases.values()
    assert STOP_ANNOTATION not in lease.metadata.annotations


def test_cleanup_releases_a_lease_whose_holders_are_dead(api: LeaseApi, clock: Clock) -> None:
    lock("alive", "group-a").try_acquire()
    assert release_dead(CLUSTER, dead_runs=["someone-else"]) is None and api.leases
    assert "alive" in (release_dead(CLUSTER, dead_runs=["alive"]) or "")
    assert api.leases == {}
    lock("silent", "group-a").try_acquire()
    clock.now += run_lock.DURATION_SECONDS + 1
    assert release_dead(CLUSTER) is not None and api.leases == {}


def test_decide(clock: Clock) -> None:
    live = Holder("g", {"r": {"renewed": clock.now - 1}})
    dead = Holder("g", {"r": {"renewed": clock.now - 1000}})
    assert decide(None, "g", 0) == "take" and decide(dead, "h", run_lock.DURATION_SECONDS) == "take"
    assert decide(dead, "h", 0) == "watch"  # its entries say gone: confirmed on our own clock before taking
    assert decide(live, "g", 0) == "join" and decide(live, "h", 0) == "busy"


@pytest.mark.parametrize("name", ["Chaos", "under_score", "-lead", "trail-", ""])
def test_a_lease_name_is_checked_before_connecting(name: str) -> None:
    with pytest.raises(UsageError, match="--run-lock"):
        check_lock_name(name)


def test_a_run_that_could_not_renew_for_a_while_resumes_once_it_proves_it_still_holds_the_lease(
        api: LeaseApi, clock: Clock) -> None:
    """The API server did not answer this run for longer than the Lease's duration, and nobody took the Lease:
    nothing was lost. Before its next injection it proves it still holds it (and renews): the run goes on."""
    lost: list[str] = []
    slow = lock("slow", "group-a", on_lost=lost.append)
    assert slow.try_acquire() is None
    clock.now += run_lock.DURATION_SECONDS + 5  # silent: no renewal got through
    slow.prove()  # still the holder: renewed now, the injection may go ahead
    assert not lost and list(runs_of(api)) == ["slow"]


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                  max_size=4), max_leaves=12)
_member = st.fixed_dictionaries({}, optional={"host": _json, "pid": _json, "since": _json, "renewed": _json,
                                              "scenarios": _json})


@settings(max_examples=150, deadline=None)
@given(runs=st.one_of(st.dictionaries(st.text(max_size=70), _member | _json, max_size=3).map(json.dumps),
                      _json.map(json.dumps), st.text(max_size=40)),
       stop=st.text(max_size=400), holder=st.none() | st.text(max_size=80), renew=st.none() | st.datetimes(),
       no_spec=st.booleans())
def test_a_hand_edited_lease_is_read_never_crashes_a_run_and_is_never_joined_blindly(
        runs: str, stop: str, holder: str | None, renew: Any, no_spec: bool) -> None:
    """Whatever a person (or a broken client) left in the run Lease: it reads as a Holder, describes itself in one
    line, and a run meeting it takes it, joins its own group or says who holds it; never a traceback."""
    fake = LeaseApi()
    spec = None if no_spec else client.V1LeaseSpec(holder_identity=holder, renew_time=renew)
    fake.leases[("chaos-harness", "chaos-harness-run")] = client.V1Lease(
        metadata=client.V1ObjectMeta(name="chaos-harness-run", resource_version="1",
                                     annotations={RUNS_ANNOTATION: runs, STOP_ANNOTATION: stop}), spec=spec)
    c = Clock()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunLock, "_coord", property(lambda self: fake))
        mp.setattr(RunLock, "_ensure_namespace", lambda self: None)
        mp.setattr(run_lock, "_now", c)
        mp.setattr(run_lock, "_mono", c)
        mp.setattr(run_lock, "sleep", lambda seconds: setattr(c, "now", c.now + seconds))
        read = lock("me", "group-a").read()
        assert read is not None
        said = read.describe(c.now)
        assert "\n" not in said and len(said) < 2000
        assert all(isinstance(m["renewed"], float) for m in read.runs.values())
        outcome = lock("me", "group-a").try_acquire()
        if outcome is not None:  # refused: someone else's group is alive by the Lease's own account
            assert outcome.group != "group-a" and outcome.live(c.now)
