"""The privileged-pod node access (for clusters that are not kind), tested on the kind cluster against the
docker-exec access it must agree with."""

from __future__ import annotations

import pytest

from harness.kube import Cluster
from harness.nodes import HostPodNodeAccess, KindNodeAccess
from harness.waits import node_condition, watch_until
from harness.workload.deploy import helper_image

pytestmark = [pytest.mark.disruptive]



def test_host_pod_access_sees_what_docker_exec_sees(cluster: Cluster, kind_cluster_name: str) -> None:
    node = f"{kind_cluster_name}-worker3"
    host_pod = HostPodNodeAccess(cluster, helper_image(cluster))
    kind = KindNodeAccess()
    try:
        assert host_pod.kubelet_active(node)
        via_pod = {c.container_id for c in host_pod.runtime_containers(node)}
        via_docker = {c.container_id for c in kind.runtime_containers(node)}
        assert via_pod and via_pod == via_docker, "the two node accesses disagree on the running containers"
        assert host_pod.exec(node, "cat", "/etc/hostname").strip() == node
    finally:
        host_pod.close()


def test_host_pod_kubelet_stop_is_healed_by_its_armed_timer(cluster: Cluster, kind_cluster_name: str) -> None:
    node = f"{kind_cluster_name}-worker3"
    host_pod = HostPodNodeAccess(cluster, helper_image(cluster), max_stop_seconds=20)
    kind = KindNodeAccess()
    try:
        host_pod.kubelet_stop(node)
        assert not kind.kubelet_active(node), "kubelet still active after a stop through the host pod"
        host_pod.kubelet_start(node)  # exec is impossible while the kubelet is down: waits for the timer
        assert kind.kubelet_active(node)
    finally:
        kind.kubelet_start(node)
        host_pod.close()
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")
