"""S15: pod 0's node cut off from the control plane."""

from __future__ import annotations

from chaos_harness.core.control_plane import api_server_addresses, peer_host
from chaos_harness.core.errors import UsageError
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import NetworkPartition
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv

HYPOTHESIS = ("Cutting pod 0's node (mysql-0's, or the --target's pod 0) off the control plane makes the Node "
              "not-Ready within the grace period; pod 0 is not re-created elsewhere while the node is cut off, and "
              "the node's runtime shows at most one copy of it throughout; after the partition heals everything "
              "returns with no acknowledged write lost.")
FAULTS = ('network-partition',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 90  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True
TARGETABLE = True


def node_addresses(env: ScenarioEnv, node: str) -> set[str]:
    status = env.cluster.core.read_node(node, _request_timeout=10).status
    return {a.address for a in (status.addresses or [])}


def run(env: ScenarioEnv) -> None:
    w, node = env.workload()
    peers = api_server_addresses(env.cluster)
    if any(peer_host(p) in node_addresses(env, node) for p in peers):
        raise UsageError(f"{node} serves the API server itself: it cannot be cut off from it; target another node")
    env.note(node=node, pod=w.pod(0), peers=peers)
    with env.recording(), env.writing_throughout(w):
        env.silent_node(w, NetworkPartition(node, tuple(peers)), node)
    env.read_back(w)


def check(events: list[Event], t: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    name = checkers.workload_of(events)
    return [
        checkers.node_detection(events, f["node"], NetworkPartition.type, t.node_monitor_grace_period,
                                t.node_monitor_period),
        checkers.one_incarnation_during_fault(events, f["pod"], NetworkPartition.type, t),
        checkers.split_brain(events, name),
        checkers.node_observed_during_fault(events, f["node"], NetworkPartition.type, timing=t),
        checkers.replacement_while_old_exists(events, name),
        *checkers.durability_if_probed(events),  # every replica the workload can read, read or not
    ]
