"""The history's event kinds, typed once and shared: the recorder and the scenarios write them, the checkers
read them, and the tests build them with `make` (which refuses a field the kind does not have, so a test
factory cannot drift from what the recorder writes).

Every event carries `seq`, `mono` (time.monotonic), `wall` (time.time) and `kind`; the fields per kind follow.
Kinds not listed here (`fact`, `dns`, `step`, ...) carry what their scenario notes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, TypedDict, cast


class Stamp(TypedDict):
    seq: int
    mono: float
    wall: float
    kind: str


WatchType = Literal["LISTED", "ADDED", "MODIFIED", "DELETED", "FINAL"]


class PodFields(TypedDict, total=False):
    name: str
    namespace: str
    uid: str
    node: str | None
    phase: str | None
    ready: bool
    deleting: bool
    created: float | None
    running: list[str]
    restarts: dict[str, int]
    owner: str | None
    pvcs: list[str]
    hostname: str | None
    subdomain: str | None
    ip: str | None
    revision: str | None
    rv: str


class PodEvent(Stamp, PodFields, total=False):
    type: WatchType
    synthetic: bool  # a DELETED the recorder inferred from a re-list


class NodeFields(TypedDict, total=False):
    name: str
    ready: str | None  # the Ready condition's status: "True", "False", "Unknown"
    taints: list[str]
    unschedulable: bool
    rv: str


class NodeEvent(Stamp, NodeFields, total=False):
    type: WatchType
    synthetic: bool


class KubeEventFields(TypedDict, total=False):
    reason: str | None
    message: str | None
    event_type: str | None
    object: str  # Kind/name
    count: int | None


class KubeEvent(Stamp, KubeEventFields, total=False):
    type: WatchType
    synthetic: bool


class PvcFields(TypedDict, total=False):
    name: str
    uid: str
    phase: str | None
    volume: str | None
    deleting: bool


class PvcEvent(Stamp, PvcFields, total=False):
    type: WatchType
    synthetic: bool


class RuntimeContainerFields(TypedDict):
    id: str
    name: str
    pod: str
    namespace: str
    pod_uid: str
    state: str
    created_ns: int


class RuntimeEvent(Stamp, total=False):
    """One sample of a node's container runtime (only the recording's namespace)."""
    node: str
    ok: bool
    containers: list[RuntimeContainerFields]
    error: str | None
    source: str          # "agent" when the node agent sampled it
    agent_seq: int       # the agent's own sample counter
    sampled_at: float    # node-side time of the sample
    kubelet: str | None  # the agent's view of the kubelet: active / inactive
    deadman: str         # the agent's dead man's switch (or another of its bounds) ended the fault it held
    hold: str            # the node fault the agent held when it read the sample ("" for none)
    # An agent that publishes on change (images/agent/publish.go): its process, the last change before this
    # sample and the previous published sample (none of the samples between were sent: they looked like the
    # last change), the longest step between its own samples since that previous one, and its heartbeat.
    agent_started: float
    agent_after: int
    agent_prev: int
    agent_gap: float
    heartbeat: float
    rejected: str        # a sample that claimed another node (this one's feed carried it): what it claimed


class FaultEvent(Stamp, total=False):
    phase: Literal["inject", "injected", "heal", "healed", "heal-failed", "heal-interrupted"]
    fault: dict[str, Any]
    evidence: str
    verified: bool  # on "injected": False when the fault's effect could not be read (the evidence says why)
    error: str


class WriteEvent(Stamp, total=False):
    key: int
    value: str
    target: str
    invoked_wall: float
    invoked_mono: float
    completed_mono: float
    outcome: Literal["ok", "fail", "unknown"]
    error: str | None


class ReadKeysEvent(Stamp):
    replica: str
    keys: list[int]


class MetaEvent(Stamp, total=False):
    fingerprint: dict[str, Any]
    timing: dict[str, Any]
    run_id: str
    namespace: str
    node_access: str
    target_nodes: list[str]
    target: str | None


class RecorderEvent(Stamp, total=False):
    """A gap in what the recorder saw: `error` opens an outage of the stream `what` (e.g. "pod watch"), a later
    event with `resumed` closes it (chaos_harness/judge/evidence.py: watch_outages)."""
    what: str
    error: str
    resumed: bool


# The kinds whose fields are fixed: History.record refuses any other field for them.
class SteadyStateEvent(Stamp, total=False):
    """Before an injection: what was read of the target, its budget and the nodes, and whether it was steady."""
    ok: bool
    fault: dict[str, Any]
    checks: list[dict[str, Any]]   # each: check, ok, detail
    reason: str                    # on ok=False: why nothing was injected


class AbortEvent(Stamp, total=False):
    """A run stopped from outside its scenarios: an abort condition breached, or `chaos-harness stop`."""
    source: str                    # "abort-condition", "stop" or "lock-lost" (another run took the run Lease)
    reason: str
    condition: str                 # the condition as given (abort-condition)
    output: str                    # what the probe said (its output, status or result), trimmed


class NotRunEvent(Stamp, total=False):
    """The scenario was not started: the run had already been stopped or aborted."""
    reason: str


KINDS: dict[str, type] = {"steady-state": SteadyStateEvent, "abort": AbortEvent, "not-run": NotRunEvent,
                          "pod": PodEvent, "node": NodeEvent, "event": KubeEvent, "pvc": PvcEvent,
                          "runtime": RuntimeEvent, "fault": FaultEvent, "write": WriteEvent,
                          "read-keys": ReadKeysEvent, "meta": MetaEvent, "recorder": RecorderEvent}
STAMP_KEYS = frozenset(Stamp.__annotations__)


def fields_of(kind: str) -> frozenset[str] | None:
    """The fields `kind` may carry (stamps excluded); None for an open kind."""
    cls = KINDS.get(kind)
    if cls is None:
        return None
    return frozenset(cls.__required_keys__ | cls.__optional_keys__) - STAMP_KEYS


def check_fields(kind: str, fields: Iterable[str]) -> None:
    allowed = fields_of(kind)
    if allowed is not None and (unknown := sorted(set(fields) - allowed)):
        raise TypeError(f"a {kind!r} event has no field {', '.join(unknown)} (chaos_harness/record/events.py)")


# Defaults for the fields tests leave out, so a hand-made event looks like a recorded one.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "pod": {"namespace": "ns", "node": "n1", "phase": "Running", "ready": True, "deleting": False, "created": 0.0,
            "running": [], "restarts": {}, "owner": None, "pvcs": [], "hostname": None, "subdomain": None,
            "ip": None, "revision": None, "rv": "1", "type": "MODIFIED"},
    "node": {"ready": "True", "taints": [], "unschedulable": False, "rv": "1", "type": "MODIFIED"},
    "pvc": {"phase": "Bound", "deleting": False, "type": "MODIFIED"},
    "event": {"event_type": "Normal", "count": 1, "type": "ADDED"},
    "runtime": {"ok": True, "containers": []},
}


def make(kind: str, mono: float, **fields: Any) -> dict[str, Any]:
    """An event as the history would hold it (tests): unknown fields are refused, missing ones defaulted."""
    check_fields(kind, fields)
    return {"seq": 0, "mono": mono, "wall": 1000 + mono, "kind": kind, **_DEFAULTS.get(kind, {}), **fields}


def container(pod: str, container_id: str, pod_uid: str, name: str = "app", namespace: str = "ns",
              state: str = "CONTAINER_RUNNING") -> RuntimeContainerFields:
    return {"id": container_id, "name": name, "pod": pod, "namespace": namespace, "pod_uid": pod_uid,
            "state": state, "created_ns": 0}


def pods(events: Iterable[dict[str, Any]]) -> Iterator[PodEvent]:
    return (cast(PodEvent, e) for e in events if e["kind"] == "pod")


def runtime_samples(events: Iterable[dict[str, Any]]) -> Iterator[RuntimeEvent]:
    return (cast(RuntimeEvent, e) for e in events if e["kind"] == "runtime")


def faults(events: Iterable[dict[str, Any]]) -> Iterator[FaultEvent]:
    return (cast(FaultEvent, e) for e in events if e["kind"] == "fault")


Event = dict[str, Any]


def of_kind(events: Iterable[Event], *kinds: str) -> Iterator[Event]:
    return (e for e in events if e["kind"] in kinds)


Outcome = Literal["ok", "fail", "unknown"]


@dataclass(frozen=True)
class WriteRecord:
    key: int
    value: str
    target: str                 # where the write was sent, e.g. "mysql-0.mysql"
    invoked_wall: float         # time.time() at invoke
    invoked_mono: float         # time.monotonic() at invoke
    completed_mono: float       # time.monotonic() when the outcome was known
    outcome: Outcome
    error: str | None = None

    @property
    def latency(self) -> float:
        return self.completed_mono - self.invoked_mono

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def ordered(events: Iterable[Event]) -> list[Event]:
    """The history in the order things happened, each event once: sorted by (mono, seq), a copy of an event
    (same seq and content) dropped. Checkers read this, never the order of a file, so a history that was
    shuffled, merged or written twice is judged the same. Two events with one seq and different content are both
    kept (a hand-made history gives every event seq 0). Already in order and unique: returned as given, in O(n)."""
    events = events if isinstance(events, list) else list(events)
    seqs = [e.get("seq", 0) for e in events]
    in_order = all((a["mono"], sa) < (b["mono"], sb) for a, b, sa, sb in zip(events, events[1:], seqs, seqs[1:]))
    if in_order:
        return events
    by_seq: dict[Any, list[Event]] = {}
    out: list[Event] = []
    for e in sorted(events, key=lambda e: (e["mono"], e.get("seq", 0))):
        twins = by_seq.setdefault(e.get("seq", 0), [])
        if any(t == e for t in twins):
            continue
        twins.append(e)
        out.append(e)
    return out


def event_problem(e: Any) -> str:
    """What keeps a decoded JSON line from being a history event ("" when nothing does): an object with a
    string `kind`, a whole `seq` and finite `mono` and `wall` times."""
    import math

    if not isinstance(e, dict):
        return f"a JSON {type(e).__name__}, not an object"
    if not isinstance(e.get("kind"), str):
        return "no string 'kind'"
    if not isinstance(e.get("seq"), int) or isinstance(e.get("seq"), bool):
        return "no whole number 'seq'"
    for key in ("mono", "wall"):
        value = e.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return f"'{key}' is not a finite number ({str(value)[:30]!r})"
    return ""


def load(path: Path) -> list[Event]:
    """The events of a history file, each line checked (event_problem): ValueError naming the line of the first
    one that is not an event, or that is nested too deep to read."""
    from chaos_harness.core.files import read_regular

    events: list[Event] = []
    text = read_regular(path, "history").decode("utf-8", errors="strict")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except RecursionError as err:
            raise ValueError(f"{path}:{number}: nested too deep to be a history line") from err
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}:{number}: not a history line ({err.msg})") from err
        if problem := event_problem(e):
            raise ValueError(f"{path}:{number}: not a history event: {problem}")
        events.append(e)
    return events
