"""Checkers: pure functions from a recorded history to a verdict with evidence. They never touch the cluster,
so they are unit-tested on recorded histories (tests/data) as well as hand-made ones.

Each checker declares the evidence it needs (`@checker(name, need=...)`, chaos_harness/judge/verdicts.py) and
answers `unknown` when any of it was not observed: no runtime sample of the workload, no acknowledged write, a
replica never read, a fault that stopped holding early, a gap in a stream it relies on. Only what was seen passes.

One module per family: data.py, copies.py (the nodes' runtime), identity.py, ordering.py, during_fault.py; the
evidence they share (fault windows, sample staleness, facts) is in evidence.py. This module is the scenarios'
contract: `from chaos_harness.judge import checkers; checkers.split_brain(events, name)`. A new checker goes
into its family's module with `@checker(...)` and is listed here.
"""

from chaos_harness.judge.copies import (HAZARD_SETTLE_SECONDS, concurrent_copies, hazard_window,
                                        node_observed_during_fault, split_brain)
from chaos_harness.judge.data import durability, durability_if_probed, reads_reach_every_replica, recorded_durability
from chaos_harness.judge.during_fault import (fault_took_effect, node_detection, not_recreated_during_fault,
                                              one_incarnation_during_fault, restarted_in_place, stayed_unscheduled)
from chaos_harness.judge.evidence import (MIN_STALENESS, expected_replicas, facts, observed_while_frozen, read_replicas, runtime_samples,
                                          workload_of)
from chaos_harness.judge.identity import (claims_kept, dns_names_pod, events_mention, replacement_while_old_exists,
                                          same_pvc_per_identity, stable_identity)
from chaos_harness.judge.ordering import (at_most_unavailable, on_delete_update, ordered_ready, parallel_start,
                                          reverse_order_termination, rolling_update)
from chaos_harness.judge.verdicts import CHECKERS, STATUSES, Verdict, blind, checker, judged, lacking, outcome

# Kept for scenarios written against it: the least a sample stands for its node (evidence.py).
SAMPLE_STALENESS = MIN_STALENESS

__all__ = ["CHECKERS", "STATUSES", "SAMPLE_STALENESS", "Verdict", "blind", "checker", "judged", "lacking",
           "outcome", "facts", "observed_while_frozen", "workload_of", "read_replicas", "expected_replicas", "runtime_samples",
           "HAZARD_SETTLE_SECONDS", "at_most_unavailable", "claims_kept", "concurrent_copies", "dns_names_pod",
           "durability", "durability_if_probed", "events_mention", "fault_took_effect", "hazard_window", "node_detection",
           "node_observed_during_fault", "not_recreated_during_fault", "on_delete_update",
           "one_incarnation_during_fault", "ordered_ready", "parallel_start", "reads_reach_every_replica",
           "recorded_durability", "replacement_while_old_exists", "restarted_in_place", "reverse_order_termination",
           "rolling_update", "same_pvc_per_identity", "split_brain", "stable_identity", "stayed_unscheduled"]
