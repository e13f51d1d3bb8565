"""Durability on a user's own StatefulSet: a probe writes keys into it and reads back the keys it holds.

Two kinds, one contract (`write(key)`, `read() -> keys`):
- exec commands run in the target's pod 0 (`--probe-write 'sh -c "echo {key} >> /data/keys"'`,
  `--probe-read 'cat /data/keys'`): `{key}` is replaced, the exit status comes from the exec channel, and
  the read's output is whitespace-separated integer keys;
- a Python hook (`--probe module:object`, or the name of an entry point in the group `chaos_harness.probes`):
  an object with `write(key)` and `read()`, or a factory called with the StatefulSetTarget that returns one.

Every write goes through the ledger. A write that raised or exited non-zero is `unknown` (the harness cannot
tell whether it landed), unless the probe raises ProbeWriteFailed to say it certainly did not; a read that
raises is a ProbeError, which makes the scenario `error` (neither pass nor fail) with the probe's message.
"""

from __future__ import annotations

import importlib
import shlex
import threading
import time
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from chaos_harness.core.errors import HarnessError, UsageError
from chaos_harness.workload.ledger import Ledger, Outcome, WriteRecord, now

if TYPE_CHECKING:
    from chaos_harness.workload.target import StatefulSetTarget

PROBE_GROUP = "chaos_harness.probes"


class ProbeError(HarnessError):
    """The probe itself failed (a read raised, or its output is not keys)."""


class ProbeWriteFailed(Exception):
    """Raised by a probe's write when the write certainly did not happen (recorded as `fail`, not `unknown`)."""


@runtime_checkable
class Probe(Protocol):
    def write(self, key: int) -> None: ...

    def read(self) -> Iterable[int]: ...


class ExecProbe:
    """Commands run in a pod of the target through the API server's exec."""

    def __init__(self, target: "StatefulSetTarget", write: str, read: str, container: str | None = None,
                 ordinal: int = 0, timeout: float = 10) -> None:
        self.target = target
        self.write_argv, self.read_argv = shlex.split(write), shlex.split(read)
        if not any("{key}" in a for a in self.write_argv):
            raise UsageError(f"--probe-write {write!r} never mentions {{key}}: the command must write the key")
        self.container, self.pod, self.timeout = container, target.pod(ordinal), timeout

    def write(self, key: int) -> None:
        argv = [a.replace("{key}", str(key)) for a in self.write_argv]
        self.target.cluster.exec(self.target.namespace, self.pod, argv, self.container, self.timeout) \
            .check(f"probe write {key}")

    def read(self) -> set[int]:
        out = self.target.cluster.exec(self.target.namespace, self.pod, self.read_argv, self.container,
                                       self.timeout * 3).check("probe read")
        return parse_keys(out)


def parse_keys(text: str) -> set[int]:
    try:
        return {int(word) for word in text.split()}
    except ValueError as e:
        raise ProbeError(f"the probe's read printed something other than integer keys: {e}") from e


def find_hook(spec: str) -> Any:
    """The object `spec` names (`module:object`, or an entry point's name in chaos_harness.probes), not yet
    started: found before the run connects, so a typo is one line and nothing else happens."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError, ValueError) as e:
            raise UsageError(f"--probe {spec}: cannot load it ({type(e).__name__}: {e})") from e
    else:
        found = [ep for ep in entry_points(group=PROBE_GROUP) if ep.name == spec]
        if not found:
            known = ", ".join(sorted(ep.name for ep in entry_points(group=PROBE_GROUP))) or "none installed"
            raise UsageError(f"--probe {spec}: no entry point of that name in {PROBE_GROUP} ({known}); "
                             f"or write module:object")
        try:
            obj = found[0].load()
        except (ImportError, AttributeError) as e:
            raise UsageError(f"--probe {spec}: its entry point does not load ({type(e).__name__}: {e})") from e
    if not (isinstance(obj, type) or callable(obj) or isinstance(obj, Probe)):
        raise UsageError(f"--probe {spec}: needs write(key) and read(), or a factory returning such an object")
    return obj


def load_hook(spec: str, target: "StatefulSetTarget") -> Probe:
    """The probe `spec` names, started for `target` (a class or factory is called with it)."""
    obj = find_hook(spec)
    if isinstance(obj, type) or (callable(obj) and not isinstance(obj, Probe)):  # a class or factory
        try:
            obj = obj(target)
        except Exception as e:
            raise ProbeError(f"probe {spec} raised while starting: {type(e).__name__}: {e}") from e
    if not isinstance(obj, Probe):
        raise UsageError(f"--probe {spec}: needs write(key) and read(), or a factory returning such an object")
    return obj


class ProbeWriter:
    """Writes increasing keys through a probe, each attempt recorded in the ledger. Keys start from the wall
    clock in milliseconds, so a run never collides with keys a previous run left in the user's database."""

    def __init__(self, probe: Probe, ledger: Ledger, target: str) -> None:
        self.probe, self.ledger, self.target = probe, ledger, target
        self.next_key = int(time.time() * 1000)

    def write_one(self) -> WriteRecord:
        key = self.next_key
        self.next_key += 1
        wall, mono = now()
        outcome: Outcome = "ok"
        error = None
        try:
            self.probe.write(key)
        except ProbeWriteFailed as e:
            outcome, error = "fail", f"{type(e).__name__}: {e}"
        except Exception as e:  # anything else: the write may or may not have landed
            outcome, error = "unknown", f"{type(e).__name__}: {e}"
        record = WriteRecord(key, str(key), self.target, wall, mono, now()[1], outcome, error)
        self.ledger.append(record)
        return record

    def run(self, stop: threading.Event, count: int | None = None, pause: float = 0.0) -> None:
        from chaos_harness.workload.mysql_client import write_until

        write_until(self.write_one, stop, count, pause)

    def close(self) -> None:
        close = getattr(self.probe, "close", None)
        if callable(close):
            close()


def read_with_probe(probe: Probe) -> set[int]:
    try:
        return {int(k) for k in probe.read()}
    except ProbeError:
        raise
    except Exception as e:
        raise ProbeError(f"the probe's read raised {type(e).__name__}: {e}") from e
