"""The node agent's idle cost on the cluster it watches (issue: light on the cluster it tests). The figure
benchmarks/cluster_load.py measures from the API server's own metrics, asserted here against a generous bound so
that a regression in the agent's publishing (a write per sample again) fails make test."""

from __future__ import annotations

import json
import time
from collections import Counter

from kubernetes import watch

from chaos_harness.assemble.node_access import resolve_agent_image
from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.agent import SAMPLE_LABEL, AgentConfig, NodeAgent

WINDOW_SECONDS = 30
# The targets of the issue: per idle node at most 0.2 writes/s and 1 KB/s. The agent's heartbeat (10 s) is half
# of the first; a regression to publishing every sample is five times it.
MAX_WRITES_PER_SECOND = 0.25
MAX_BYTES_PER_SECOND = 1024


def test_an_idle_agent_writes_a_heartbeat_not_every_sample(cluster: Cluster, side_lane, run_id: str) -> None:
    nodes = side_lane.nodes
    agent = NodeAgent(cluster, f"{run_id}-load", AgentConfig(resolve_agent_image(cluster, None)), nodes)
    writes: Counter[str] = Counter()
    written: Counter[str] = Counter()
    try:
        agent.install()
        core = cluster.core
        listed = core.list_namespaced_config_map(agent.namespace, label_selector=SAMPLE_LABEL, _request_timeout=10)
        started = time.monotonic()
        # Every write to a sample ConfigMap is one event; the object as stored is what etcd keeps per revision.
        for ev in watch.Watch().stream(core.list_namespaced_config_map, agent.namespace, label_selector=SAMPLE_LABEL,
                                       resource_version=listed.metadata.resource_version,
                                       timeout_seconds=WINDOW_SECONDS, _request_timeout=WINDOW_SECONDS + 10):
            node = (ev["object"].metadata.labels or {}).get("chaos-harness.io/node", "?")
            writes[node] += 1
            written[node] += len(json.dumps(cluster.api.sanitize_for_serialization(ev["object"])))
        window = time.monotonic() - started
    finally:
        agent.remove()
    assert window >= WINDOW_SECONDS * 0.8, f"the watch ended after {window:.0f}s"
    for node in nodes:
        rate, size = writes[node] / window, written[node] / window
        print(f"idle agent on {node}: {writes[node]} writes in {window:.0f}s = {rate:.2f}/s, {size:.0f} B/s "
              f"({written[node] / max(1, writes[node]):.0f} B per write)")
        assert writes[node] >= 1, f"no heartbeat from {node} in {window:.0f}s"
        assert rate <= MAX_WRITES_PER_SECOND, f"{node}: {rate:.2f} writes/s idle (bound {MAX_WRITES_PER_SECOND})"
        assert size <= MAX_BYTES_PER_SECOND, f"{node}: {size:.0f} B/s written idle (bound {MAX_BYTES_PER_SECOND})"
