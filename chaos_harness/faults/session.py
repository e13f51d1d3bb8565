"""The fault session: the only way a fault is applied. It journals the fault before injecting, records inject/heal
marks in the history, heals on exit (also on SIGINT/SIGTERM) and reports a failed heal as CleanupError, apart
from whatever the scenario itself found."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chaos_harness.core.errors import Aborted, CleanupError, GuardError, Interrupted
from chaos_harness.faults.base import Fault, FaultContext, Unverified, spec_of
from chaos_harness.faults.journal import Journal, JournalError
from chaos_harness.record.history import History

if TYPE_CHECKING:
    from chaos_harness.faults.guard import RunGuard


@contextmanager
def heal_on_signals() -> Iterator[None]:
    def raise_interrupted(signum: int, frame: Any) -> None:
        raise Interrupted(signum)

    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupted)
    except ValueError:  # not the main thread: the caller's own handlers apply
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def signals_deferred(already_interrupted: bool) -> Iterator[list[int]]:
    """While a heal runs, SIGINT and SIGTERM wait for it: the first is recorded and the heal goes on (the
    caller raises it afterwards); a second one, or the first when the run was already interrupted, stops the
    heal at once (the journal keeps the fault for `chaos-harness cleanup`)."""
    received: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        received.append(signum)
        if already_interrupted or len(received) > 1:
            raise KeyboardInterrupt() if signum == signal.SIGINT else Interrupted(signum)

    try:
        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: the caller's own handlers apply
        yield received
        return
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def raise_deferred(received: list[int]) -> None:
    if received:
        raise KeyboardInterrupt() if received[0] == signal.SIGINT else Interrupted(received[0])


class FaultSession:
    """Applies faults for one run against one cluster, journaled and recorded."""

    def __init__(self, ctx: FaultContext, journal: Journal, history: History, run_id: str,
                 guard: "RunGuard | None" = None, namespace: str = "", workload: str | None = None) -> None:
        """`guard` (a run's, from where it is assembled): the steady state, blast radius and abort conditions
        around every injection, for the workload `workload` (None: every StatefulSet and Deployment) in
        `namespace`. Without one, faults are injected as asked (a test's own session)."""
        self.ctx = ctx
        self.journal = journal
        self.history = history
        self.run_id = run_id
        self.guard, self.namespace, self.workload = guard, namespace, workload
        self.in_flight = 0
        self._cluster_uid = ctx.cluster.fingerprint().kube_system_uid

    @contextmanager
    def injected(self, fault: Fault) -> Iterator[str]:
        """Inject `fault` for the duration of the block; yields the evidence that it took effect."""
        spec = spec_of(fault)
        node = spec.get("node")
        targets = self.ctx.target_nodes
        if node and targets is not None and node not in targets:
            raise GuardError(f"refusing {spec['type']} on {node}: not a target node (--target-nodes selects "
                             f"{', '.join(sorted(targets))})")
        if self.guard is not None:
            self.guard.before(spec, self.history, self.namespace, self.workload, sorted(targets or ()),
                              self.in_flight, self.ctx.time_box_seconds)
        try:
            with self._journaled(fault, spec) as evidence:
                yield evidence
        finally:
            if self.guard is not None:
                self.guard.after(spec)

    @contextmanager
    def _journaled(self, fault: Fault, spec: dict[str, Any]) -> Iterator[str]:
        entry = self.journal.add(spec, self._cluster_uid, self.ctx.cluster.context, self.run_id,
                                 access=self.ctx.access_record())
        self.in_flight += 1
        with heal_on_signals():
            try:
                self.history.record("fault", phase="inject", fault=spec)
                fault.inject(self.ctx)
                evidence = fault.verify_injected(self.ctx)
                self.history.record("fault", phase="injected", fault=spec, evidence=evidence,
                                    verified=not isinstance(evidence, Unverified))
                yield evidence
            except (Exception, Aborted):  # an abort heals as an error does, then ends the scenario
                self._heal(fault, spec, entry.id)
                raise
            except BaseException as interrupt:
                # A signal: heal, but never let a failed (or second-signal-interrupted) heal hide the interrupt;
                # the journal keeps what was not healed, for `chaos-harness cleanup`.
                try:
                    self._heal(fault, spec, entry.id, already_interrupted=True)
                except BaseException as heal_error:
                    interrupt.add_note(f"{spec['type']} not healed ({heal_error or type(heal_error).__name__}); "
                                       f"'chaos-harness cleanup' will finish it")
                raise
            finally:
                self.in_flight -= 1
            self._heal(fault, spec, entry.id)

    def _heal(self, fault: Fault, spec: dict[str, Any], entry_id: str, already_interrupted: bool = False) -> None:
        """Heal first, record after: the heal runs whatever the history or the journal can take (a full disk, a
        file gone), and what could not be written afterwards is `cleanup failed` (CleanupError, exit 3)."""
        unwritten: list[str] = []

        def mark(phase: str, **fields: Any) -> None:
            try:
                self.history.record("fault", phase=phase, fault=spec, **fields)
            except OSError as e:
                unwritten.append(f"the history's {phase} mark ({e})")

        with signals_deferred(already_interrupted) as received:
            # The heal begins: from here on, evidence that the fault no longer holds is the heal's own doing.
            mark("heal")
            try:
                fault.heal(self.ctx)
            except Exception as e:
                mark("heal-failed", error=f"{type(e).__name__}: {e}")
                raise CleanupError(f"healing {spec} failed: {e}; run 'chaos-harness cleanup'") from e
            except BaseException as interrupt:  # a second signal: the heal stops, the journal keeps the fault
                mark("heal-interrupted")
                interrupt.add_note(f"{spec['type']} not healed (a second signal stopped its heal); "
                                   f"'chaos-harness cleanup' will finish it")
                raise
            mark("healed")
            try:
                self.journal.remove(entry_id)
            except (OSError, JournalError) as e:
                unwritten.append(f"the journal ({e}: it still lists the fault; 'chaos-harness cleanup' heals it again, "
                                 f"harmlessly)")
        if unwritten:
            raise CleanupError(f"{spec['type']} was healed, but the harness could not write {'; '.join(unwritten)}")
        raise_deferred(received)  # the signal that waited for the heal now interrupts the run
