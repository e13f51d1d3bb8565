"""One run per cluster at a time: the run Lease.

A run takes the Lease `chaos-harness-run` in the namespace `chaos-harness` (made if missing) before it
deploys or injects anything, renews it while it runs and deletes it at its end. A second run waits up to
`--wait-for-run` seconds for it, or is refused in one line naming the holder. A holder that was killed stops
renewing: once `leaseDurationSeconds` has passed since its last renewal the next run takes the Lease over
(`chaos-harness cleanup` deletes such a Lease at once).

The holder is a *run group*: the runs of one pytest invocation (its xdist workers and the CLI runs its tests
start) share one, through CHAOS_HARNESS_RUN_GROUP, so they do not queue behind one another. Each member has its
own entry (run id, host, pid, since, scenarios, last renewal); the last live member to leave deletes the Lease.

`chaos-harness stop` writes the stop annotation; every member reads the Lease every POLL_SECONDS, and one that
finds the mark calls its `on_stop` (the session heals, deletes what it made and ends as `aborted`).

Liveness is judged as client-go's leader election judges it: a holder is gone once this process has seen its
renewTime stay the same for DURATION_SECONDS on its own monotonic clock, never by comparing another host's
clock with ours (a taker whose clock runs ahead would take a Lease just renewed). And the Lease fences its
holder: before every injection `prove()` reads the Lease and refuses (Aborted) unless this run still holds it
and has renewed it within DURATION_SECONDS (renewing it there if it is late: a run that could not reach the API
server for a while injects nothing until it has); a run that finds the Lease held by another group has lost it
for good and calls `on_lost` (the session heals, stops, and names the new holder).

Every write is a patch carrying the resourceVersion it was computed from, so two runs that decide at the same
moment cannot both win (one gets 409 and decides again), and an identity needs only get/create/patch/delete.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kubernetes import client

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.cancellation import sleep, waiting
from chaos_harness.core.text import one_line
from chaos_harness.core.errors import (Aborted, ClusterError, Conflict, Forbidden, NotFound, TransientClusterError,
                                      UsageError)
from chaos_harness.core.kube import Cluster
from chaos_harness.core.labels import MANAGED_BY

LOCK_NAMESPACE = "chaos-harness"
DEFAULT_LOCK = "chaos-harness-run"
GROUP_ENV = "CHAOS_HARNESS_RUN_GROUP"
DURATION_SECONDS = 30       # a holder silent this long is gone
RENEW_SECONDS = 10          # a third of it: two renewals may fail before the Lease is lost
POLL_SECONDS = 2.0          # how often a holder looks for `stop`, and a waiting run for the Lease
NAMESPACE_GONE_SECONDS = 180  # a namespace being deleted with the Lease in it: how long to wait for it to go

RUNS_ANNOTATION = "chaos-harness.io/runs"
STOP_ANNOTATION = "chaos-harness.io/stop"
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def check_lock_name(name: str) -> str:
    """A Lease's name (a DNS subdomain), checked before connecting."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"--run-lock {name!r} is not a Lease name (lower-case letters, digits, '-' and '.'); "
                         f"e.g. {DEFAULT_LOCK}-pool-a")
    return name


def run_group() -> str:
    """This process's run group: the one it inherited, else a new one (its children inherit it)."""
    group = os.environ.get(GROUP_ENV) or f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    os.environ[GROUP_ENV] = group
    return group


def _now() -> float:
    return time.time()


def _mono() -> float:
    """This process's own clock, for every judgement of liveness (a variable: tests stand in for it)."""
    return time.monotonic()


def _number(value: object, default: float) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return default
    return number if math.isfinite(number) else default


def _member(m: object) -> dict[str, Any]:
    """One run's entry of the runs annotation, as the code reads it, whatever a hand edit left there: numbers
    that are not numbers read as long ago (a member not seen renewing, which another run still confirms on its
    own clock before taking over), text cut to a line."""
    m = m if isinstance(m, dict) else {}
    scenarios = m.get("scenarios")
    return {"host": one_line(m.get("host", "?"), 100), "pid": one_line(m.get("pid", "?"), 20),
            "since": _number(m.get("since"), 0.0), "renewed": _number(m.get("renewed"), 0.0),
            "scenarios": [one_line(x, 63) for x in scenarios][:100] if isinstance(scenarios, list) else []}


def _iso(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # a hand-edited time no calendar holds
        return f"{t:.0f}"


@dataclass(frozen=True)
class Holder:
    """What the Lease says of the run group holding it."""
    group: str
    runs: dict[str, dict[str, Any]]      # run id -> host, pid, since, scenarios, renewed (epoch seconds)
    stop: str = ""                       # who asked for a stop, and when; empty: none
    resource_version: str = ""
    renew_time: str = ""                 # spec.renewTime as written: what a reader watches change

    @classmethod
    def of(cls, lease: Any) -> "Holder":
        ann = lease.metadata.annotations or {}
        try:
            runs = json.loads(ann.get(RUNS_ANNOTATION) or "{}")
        except ValueError:
            runs = {}
        runs = {one_line(r, 63): _member(m) for r, m in runs.items()} if isinstance(runs, dict) else {}
        spec = lease.spec  # a Lease's spec is optional: one made or edited by hand may have none
        return cls(one_line(getattr(spec, "holder_identity", None) or "", 200), runs,
                   one_line(ann.get(STOP_ANNOTATION, ""), 300),
                   lease.metadata.resource_version or "", str(getattr(spec, "renew_time", None) or ""))

    def live(self, now: float, duration: float = DURATION_SECONDS) -> dict[str, dict[str, Any]]:
        """The members that renewed within `duration` (by the renewing host's clock: runs on hosts whose clocks
        differ by more than that see each other as gone or as alive too long)."""
        return {r: m for r, m in self.runs.items() if now - float(m.get("renewed", 0)) < duration}

    def describe(self, now: float) -> str:
        live = self.live(now) or self.runs
        parts = []
        for run_id, m in sorted(live.items(), key=lambda kv: float(kv[1].get("since", 0))):
            since = float(m.get("since", now))
            scenarios = ",".join(m.get("scenarios") or []) or "-"
            parts.append(f"run {run_id} on {m.get('host', '?')} pid {m.get('pid', '?')} since {_iso(since)} "
                         f"({now - since:.0f}s), scenarios {scenarios}")
        return "; ".join(parts) or f"run group {self.group}"


class Silence:
    """How long this process has seen each holder's renewTime stay the same, on its own monotonic clock."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, float]] = {}

    def of(self, holder: Holder) -> float:
        now = _mono()
        seen = self._seen.get(holder.group)
        if seen is None or seen[0] != holder.renew_time:
            self._seen[holder.group] = (holder.renew_time, now)
            return 0.0
        return now - seen[1]


def decide(holder: Holder | None, group: str, silent: float) -> str:
    """'take' (no Lease, or its holder seen silent for DURATION_SECONDS on our own clock), 'join' (our own group
    holds it), 'watch' (its members say they are gone: confirm it on our own clock before taking it) or 'busy'."""
    if holder is None or silent >= DURATION_SECONDS:
        return "take"
    if holder.group == group:
        return "join"
    return "watch" if not holder.live(_now()) else "busy"


@dataclass
class RunLock:
    """The run Lease as one run holds it: `acquire`, then `release`; a renewer thread keeps it and watches for
    `stop`."""

    cluster: Cluster
    run_id: str
    scenarios: Sequence[str] = ()
    name: str = DEFAULT_LOCK
    namespace: str = LOCK_NAMESPACE
    group: str = field(default_factory=run_group)
    on_stop: Callable[[str], None] | None = None
    on_lost: Callable[[str], None] | None = None
    stopped_by: str = ""
    lost_to: str = ""
    _done: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _silence: Silence = field(default_factory=Silence)
    _renewed: float = 0.0  # when (our monotonic clock) this run last wrote the Lease

    @property
    def _coord(self) -> client.CoordinationV1Api:
        return client.CoordinationV1Api(self.cluster.api)

    def read(self) -> Holder | None:
        try:
            with api_errors(f"reading Lease {self.namespace}/{self.name}"):
                return Holder.of(self._coord.read_namespaced_lease(self.name, self.namespace, _request_timeout=10))
        except NotFound:
            return None

    def _me(self, now: float, since: float | None = None) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid(), "since": since or now,
                "scenarios": list(self.scenarios), "renewed": now}

    def _write(self, holder: Holder | None, runs: dict[str, dict[str, Any]], group: str, now: float,
               stop: str | None = None) -> None:
        """Create the Lease, or patch it from the version `holder` was read at (409 if it changed since)."""
        annotations: dict[str, str | None] = {RUNS_ANNOTATION: json.dumps(runs, sort_keys=True)}
        if stop is not None:
            annotations[STOP_ANNOTATION] = stop or None
        stamp = datetime.fromtimestamp(now, timezone.utc)
        if holder is None:
            self._ensure_namespace()
            body = client.V1Lease(metadata=client.V1ObjectMeta(
                name=self.name, namespace=self.namespace, labels=dict(MANAGED_BY),
                annotations={k: v for k, v in annotations.items() if v is not None}),
                spec=client.V1LeaseSpec(holder_identity=group, lease_duration_seconds=DURATION_SECONDS,
                                        acquire_time=stamp, renew_time=stamp))
            with api_errors(f"creating Lease {self.namespace}/{self.name}"):
                self._coord.create_namespaced_lease(self.namespace, body, _request_timeout=10)
            return
        patch = {"metadata": {"resourceVersion": holder.resource_version, "annotations": annotations},
                 "spec": {"holderIdentity": group, "leaseDurationSeconds": DURATION_SECONDS,
                          "renewTime": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}}
        if group != holder.group:
            patch["spec"]["acquireTime"] = patch["spec"]["renewTime"]
        with api_errors(f"updating Lease {self.namespace}/{self.name}"):
            self._coord.patch_namespaced_lease(self.name, self.namespace, patch, _request_timeout=10)

    def _ensure_namespace(self) -> None:
        try:
            with api_errors(f"reading namespace {self.namespace}"):
                self.cluster.core.read_namespace(self.namespace, _request_timeout=10)
            return
        except (NotFound, Forbidden):
            pass  # absent, or this identity may not read it: try to make it (409 when it exists)
        try:
            with api_errors(f"creating namespace {self.namespace} for the run Lease"):
                self.cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
                    name=self.namespace, labels={**MANAGED_BY, "app.kubernetes.io/name": "chaos-harness"})),
                    _request_timeout=10)
        except Conflict:
            pass

    def try_acquire(self) -> Holder | None:
        """Take or join the Lease; None when done, else the holder that keeps it. A holder whose members say they
        are gone is watched on our own clock first: taken over only once its renewTime stood still that long."""
        terminating = time.monotonic()
        while True:
            now = _now()
            holder = self.read()
            verdict = decide(holder, self.group, self._silence.of(holder) if holder is not None else 0.0)
            if verdict == "watch":
                assert holder is not None
                print(f"the run lock {self.namespace}/{self.name} looks abandoned ({holder.describe(now)}); "
                      f"confirming on this host's clock for up to {DURATION_SECONDS}s", flush=True)
                holder = self._watch_silent(holder)
                if holder is not None:
                    return holder
                continue
            if verdict == "busy":
                return holder
            kept = holder.live(now) if holder is not None and verdict == "join" else {}
            # A stop asked of our own group while we were starting applies to us too; a taken-over Lease starts clean.
            stop = None if verdict == "join" else ""
            try:
                self._write(holder, {**kept, self.run_id: self._me(now)}, self.group, now, stop)
                self._renewed = _mono()
            except Conflict:
                continue  # someone else wrote in between: decide again on what is there now
            except Forbidden as e:
                # `kubectl delete -f manifests/rbac/harness.yaml` (or a test doing so) deletes the namespace and the
                # Lease with it: wait for it to go and make it again, as the holders' renewals do.
                if "being terminated" not in str(e) or time.monotonic() - terminating > NAMESPACE_GONE_SECONDS:
                    raise
                sleep(1)
                continue
            return None

    def _watch_silent(self, holder: Holder) -> Holder | None:
        """Watch the holder's renewTime for DURATION_SECONDS on our own clock: None once it stood still (or the
        Lease went), the holder again when it was renewed meanwhile (it is alive)."""
        with waiting(f"the run lock {self.namespace}/{self.name} staying unrenewed", DURATION_SECONDS + POLL_SECONDS):
            while True:
                now_holder = self.read()
                if now_holder is None:
                    return None
                silent = self._silence.of(now_holder)
                if now_holder.renew_time != holder.renew_time or now_holder.group != holder.group:
                    return now_holder
                if silent >= DURATION_SECONDS:
                    return None
                sleep(POLL_SECONDS)

    def prove(self) -> None:
        """Before an injection: this run still holds the Lease (its group holds it, with this run in it) and
        renewed it within DURATION_SECONDS on our own clock; else Aborted naming who holds it now."""
        if self.lost_to:
            raise Aborted(f"this run lost the run lock {self.namespace}/{self.name} to {self.lost_to}: nothing more "
                          f"is injected")
        try:
            holder = self.read()
        except ClusterError as e:
            raise Aborted(f"this run cannot read the run lock {self.namespace}/{self.name} to prove it still holds "
                          f"it ({e}): nothing is injected") from e
        if holder is None or holder.group != self.group or self.run_id not in holder.runs:
            self._lose(holder.describe(_now()) if holder is not None else "nobody (the Lease is gone)")
            raise Aborted(f"this run lost the run lock {self.namespace}/{self.name} to {self.lost_to}: nothing more "
                          f"is injected")
        if _mono() - self._renewed > DURATION_SECONDS - RENEW_SECONDS:
            try:
                self._renew(holder)
            except ClusterError as e:
                raise Aborted(f"this run could not renew the run lock {self.namespace}/{self.name} before "
                              f"injecting ({e}): nothing is injected") from e

    def _lose(self, to: str) -> None:
        if self.lost_to:
            return
        self.lost_to = to
        if self.on_lost:
            self.on_lost(to)

    def acquire(self, wait_seconds: float = 0) -> float:
        """Hold the Lease (seconds waited for it), or UsageError naming the holder. Starts the renewer."""
        started = time.monotonic()
        holder = self.try_acquire()
        if holder is not None and wait_seconds > 0:
            print(f"waiting up to {wait_seconds:.0f}s for the run lock {self.namespace}/{self.name}: "
                  f"{holder.describe(_now())}", flush=True)
            with waiting(f"the run lock {self.namespace}/{self.name}", wait_seconds):
                while holder is not None and time.monotonic() - started < wait_seconds:
                    sleep(min(POLL_SECONDS, max(0.1, wait_seconds - (time.monotonic() - started))))
                    holder = self.try_acquire()
        if holder is not None:
            waited = f" after waiting {time.monotonic() - started:.0f}s" if wait_seconds > 0 else ""
            raise UsageError(f"the cluster is in use{waited}: {holder.describe(_now())} holds the run lock "
                             f"{self.namespace}/{self.name}; pass --wait-for-run SECONDS to wait for it, or stop it "
                             f"with 'chaos-harness stop'")
        self._thread = threading.Thread(target=self._keep, name="run-lock", daemon=True)
        self._thread.start()
        return time.monotonic() - started

    def _keep(self) -> None:
        """Renew every RENEW_SECONDS; every POLL_SECONDS look for a stop. Errors are retried at the next tick;
        after DURATION_SECONDS without a renewal (on our own clock) the Lease may be another's: lost."""
        while not self._done.wait(POLL_SECONDS):
            try:
                holder = self.read()
                if holder is not None and holder.stop and not self.stopped_by:
                    self.stopped_by = holder.stop
                    if self.on_stop:
                        self.on_stop(holder.stop)
                if holder is not None and holder.group != self.group:
                    self._lose(holder.describe(_now()))
                    return
                if _mono() - self._renewed >= RENEW_SECONDS:
                    self._renew(holder)
            except (Conflict, TransientClusterError, NotFound, Forbidden):
                pass
            except Exception:  # noqa: BLE001 - a bug here must not end the run it guards
                pass
            # Not renewed for the Lease's duration (the API server did not answer us): another run may take it over
            # now, so nothing is injected until this run has proved it still holds it (prove() reads the Lease);
            # lost for good only once another run is seen holding it.

    def _renew(self, holder: Holder | None) -> None:
        if holder is not None and holder.group != self.group:
            self._lose(holder.describe(_now()))  # taken over: not ours to write any more
            return
        if self.lost_to:
            return
        now = _now()
        mine = (holder.runs.get(self.run_id) if holder else None) or {}
        runs = {**(holder.live(now) if holder else {}),
                self.run_id: self._me(now, float(mine["since"]) if "since" in mine else None)}
        self._write(holder, runs, self.group, now)
        self._renewed = _mono()

    def delete(self, holder: Holder) -> None:
        """Delete the Lease as `holder` read it (409 if it changed since)."""
        with api_errors(f"deleting Lease {self.namespace}/{self.name}"):
            self._coord.delete_namespaced_lease(self.name, self.namespace, _request_timeout=10, body=client.V1DeleteOptions(
                preconditions=client.V1Preconditions(resource_version=holder.resource_version)))

    def release(self) -> None:
        """Leave the Lease: delete it when no other member of the group is alive, else remove our entry."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        for _ in range(10):
            try:
                holder = self.read()
                if holder is None or holder.group != self.group:
                    return
                others = {r: m for r, m in holder.live(_now()).items() if r != self.run_id}
                if others:
                    self._write(holder, others, self.group, _now())
                else:
                    self.delete(holder)
                return
            except (Conflict, NotFound):
                continue


def lock_line(cluster: Cluster, name: str = DEFAULT_LOCK, namespace: str = LOCK_NAMESPACE) -> str:
    """Who holds the run lock now, and whether a stop was asked of it (doctor, schedule status)."""
    try:
        holder = RunLock(cluster, "status", name=name, namespace=namespace, group="-").read()
    except ClusterError as e:
        return f"run lock {namespace}/{name}: cannot be read ({e})"
    if holder is None or not holder.live(_now()):
        return f"run lock {namespace}/{name}: free"
    stop = f"; stop asked by {holder.stop}" if holder.stop else ""
    return f"run lock {namespace}/{name}: held by {holder.describe(_now())}{stop}"


def request_stop(cluster: Cluster, name: str = DEFAULT_LOCK, namespace: str = LOCK_NAMESPACE,
                 who: str | None = None) -> Holder | None:
    """Mark the Lease for a stop; the holder it names (None: no run holds it)."""
    who = who or f"{os.environ.get('USER', 'someone')}@{socket.gethostname()} at {_iso(_now())}"
    lock = RunLock(cluster, "stop", name=name, namespace=namespace, group="-")
    while True:
        holder = lock.read()
        if holder is None or not holder.live(_now()):
            return None
        patch = {"metadata": {"resourceVersion": holder.resource_version, "annotations": {STOP_ANNOTATION: who}}}
        try:
            with api_errors(f"marking Lease {namespace}/{name} for a stop"):
                lock._coord.patch_namespaced_lease(name, namespace, patch, _request_timeout=10)
            return holder
        except Conflict:
            continue


def wait_released(cluster: Cluster, holder: Holder, seconds: float, name: str = DEFAULT_LOCK,
                  namespace: str = LOCK_NAMESPACE) -> float | None:
    """Seconds until the stopped group let go of the Lease (deleted, or held by another group), None if it did
    not within `seconds`."""
    lock = RunLock(cluster, "stop", name=name, namespace=namespace, group="-")
    started = time.monotonic()
    with waiting(f"the run {holder.group} to heal and let go of {namespace}/{name}", seconds):
        while time.monotonic() - started < seconds:
            now_holder = lock.read()
            if now_holder is None or now_holder.group != holder.group or not now_holder.live(_now()):
                return time.monotonic() - started
            sleep(0.5)
    return None


def release_dead(cluster: Cluster, name: str = DEFAULT_LOCK, namespace: str = LOCK_NAMESPACE,
                 dead_runs: Sequence[str] = ()) -> str | None:
    """For `cleanup`: delete the Lease when no member is alive any more (none renewed within its duration, or
    every live one is a run the journal knows to be dead). What was released, or None."""
    lock = RunLock(cluster, "cleanup", name=name, namespace=namespace, group="-")
    try:
        holder = lock.read()
    except Forbidden:
        return None
    if holder is None:
        return None
    live = {r: m for r, m in holder.live(_now()).items() if r not in dead_runs}
    if live:
        return None
    try:
        lock.delete(holder)
    except (Conflict, NotFound):
        return None
    return f"run lock {namespace}/{name} of {holder.describe(_now())}"
