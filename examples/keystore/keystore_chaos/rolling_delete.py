"""A scenario of the user's own, registered by entry point (keystore_rolling_delete): same contract as the
built-in ones — HYPOTHESIS, run(env) acts and records, check(events, timing) judges from the history alone."""

from __future__ import annotations

from chaos_harness.judge import checkers
from chaos_harness.faults import pod_delete

HYPOTHESIS = ("Deleting every keystore pod in turn, highest ordinal first, brings each back under its own name "
              "with its own claim, and no acknowledged key is lost.")
FAULTS = ("pod-delete",)
TYPICAL_SECONDS = 30
USES_MYSQL = True   # without --target it runs on the bundled MySQL example
TARGETABLE = True


def run(env) -> None:
    w, _ = env.workload()
    env.write_rows(w, 20)
    with env.recording():
        for ordinal in reversed(range(w.replicas)):
            with env.faults.injected(pod_delete(env.cluster, env.namespace, w.pod(ordinal))):
                pass
            w.wait_ready(180)
            env.write_rows(w, 5)
    env.read_rows(w, 0)


def check(events, timing):
    name = checkers.workload_of(events)
    return [checkers.stable_identity(events, name, checkers.facts(events).get("service", name)),
            checkers.same_pvc_per_identity(events, name),
            checkers.replacement_while_old_exists(events, name),
            *checkers.durability_if_probed(events, [f"{name}-0"])]
