"""Smoke proof that the test bed is a real cluster: a stopped kubelet really makes its Node unhealthy within
the controller's grace period (read from the cluster). (The PVC smoke test, which faults nothing, runs in the
main lane: test_storage.py.)"""

from __future__ import annotations

import time
import pytest

from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.core.control_plane import read_timing
from chaos_harness.core.waits import node_condition, watch_until

pytestmark = [pytest.mark.disruptive]


def test_kubelet_stop_makes_node_unknown_within_grace_period(cluster: Cluster, side_lane) -> None:
    node = side_lane.nodes[0]
    access = KindNodeAccess()
    timing = read_timing(cluster)
    field = f"metadata.name={node}"
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 60, f"{node} Ready before the fault",
                       field_selector=field)
    # The heal is registered before the fault is injected: whatever happens below, the kubelet is started again.
    try:
        stopped_at = time.monotonic()
        access.kubelet_stop(node)
        assert not access.kubelet_active(node), "systemctl stop kubelet did not stop the kubelet"
        # The controller marks the node Unknown once no heartbeat arrived for the grace period; it notices on
        # its next monitor pass, so allow one node-monitor-period (plus a little API latency) on top.
        window = timing.node_monitor_grace_period + timing.node_monitor_period + 5
        _, waited = watch_until(cluster.core.list_node, lambda n: node_condition(n) == "Unknown",
                                window + 30, f"{node} Ready=Unknown", field_selector=field)
        detected = time.monotonic() - stopped_at
        print(f"kubelet stopped -> {node} Ready=Unknown after {detected:.1f}s "
              f"(grace period {timing.node_monitor_grace_period:.0f}s, window {window:.0f}s)")
        assert detected <= window, (
            f"{node} went Ready=Unknown after {detected:.1f}s, later than the window {window:.0f}s derived from "
            f"node-monitor-grace-period={timing.node_monitor_grace_period}s")
        assert detected >= timing.node_monitor_grace_period * 0.5, (
            f"{node} went Unknown after only {detected:.1f}s: faster than half the grace period, so something "
            f"other than the stopped kubelet caused it")
    finally:
        access.kubelet_start(node)
    healed_at = time.monotonic()
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready again",
                field_selector=field)
    print(f"kubelet started -> {node} Ready after {time.monotonic() - healed_at:.1f}s")
    assert access.kubelet_active(node)


@pytest.mark.faithful_only
def test_faithful_profile_keeps_kubernetes_node_health_defaults(cluster: Cluster) -> None:
    timing = read_timing(cluster)
    print(f"faithful timing read from the cluster: {timing.as_dict()}")
    assert timing.unreachable_toleration_seconds == timing.not_ready_toleration_seconds == 300
    assert timing.node_monitor_grace_period >= 40
