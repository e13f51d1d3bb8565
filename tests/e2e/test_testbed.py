"""Smoke proof that the test bed is a real cluster: a stopped kubelet really makes its Node unhealthy within
the controller's grace period (read from the cluster), and a PVC on the default StorageClass keeps data
across pod deletion."""

from __future__ import annotations

import time
import uuid
import pytest
from kubernetes import client

from harness.kube import Cluster
from harness.nodes import KindNodeAccess
from harness.settings import read_timing
from harness.waits import node_condition, watch_until
from harness.workload.deploy import helper_image

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


def _pod(name: str, image: str, claim: str, command: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            restart_policy="Never",
            containers=[client.V1Container(
                name="main", image=image, command=["sh", "-c", command],
                volume_mounts=[client.V1VolumeMount(name="data", mount_path="/data")])],
            volumes=[client.V1Volume(name="data", persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(
                claim_name=claim))],
        ))



def test_pvc_on_default_storageclass_keeps_file_across_pod_deletion(cluster: Cluster, namespace: str,
                                                                   side_lane) -> None:
    image = helper_image(cluster)
    storage = client.StorageV1Api(cluster.api).list_storage_class()
    defaults = [s.metadata.name for s in storage.items
                if (s.metadata.annotations or {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert defaults, "the cluster has no default StorageClass"

    cluster.core.create_namespaced_persistent_volume_claim(namespace, client.V1PersistentVolumeClaim(
        metadata=client.V1ObjectMeta(name="data"),
        spec=client.V1PersistentVolumeClaimSpec(access_modes=["ReadWriteOnce"],
                                                resources=client.V1VolumeResourceRequirements(requests={"storage": "16Mi"}))))
    marker = uuid.uuid4().hex
    as_dict = cluster.api.sanitize_for_serialization
    cluster.core.create_namespaced_pod(namespace, side_lane.pod(as_dict(
        _pod("writer", image, "data", f"echo {marker} > /data/marker && sync"))))
    writer, _ = watch_until(cluster.core.list_namespaced_pod, lambda p: p.status.phase in ("Succeeded", "Failed"),
                            180, "writer pod finished", namespace=namespace, field_selector="metadata.name=writer")
    assert writer.status.phase == "Succeeded"
    pvc = cluster.core.read_namespaced_persistent_volume_claim("data", namespace)
    assert pvc.status.phase == "Bound", f"PVC is {pvc.status.phase}, not Bound"
    assert pvc.spec.storage_class_name in defaults
    volume = pvc.spec.volume_name

    cluster.core.delete_namespaced_pod("writer", namespace, grace_period_seconds=0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not cluster.core.list_namespaced_pod(namespace, field_selector="metadata.name=writer").items:
            break
        time.sleep(1)
    else:
        raise AssertionError("writer pod was not deleted")

    cluster.core.create_namespaced_pod(namespace, side_lane.pod(as_dict(_pod("reader", image, "data",
                                                                             "cat /data/marker"))))
    reader, _ = watch_until(cluster.core.list_namespaced_pod, lambda p: p.status.phase in ("Succeeded", "Failed"),
                            120, "reader pod finished", namespace=namespace, field_selector="metadata.name=reader")
    log = cluster.core.read_namespaced_pod_log("reader", namespace).strip()
    assert log == marker, f"the new pod read {log!r} from the PVC, expected the marker {marker!r}"
    pvc = cluster.core.read_namespaced_persistent_volume_claim("data", namespace)
    assert pvc.spec.volume_name == volume, "the PVC was rebound to another volume"


@pytest.mark.faithful_only
def test_faithful_profile_keeps_kubernetes_node_health_defaults(cluster: Cluster) -> None:
    timing = read_timing(cluster)
    print(f"faithful timing read from the cluster: {timing.as_dict()}")
    assert timing.unreachable_toleration_seconds == timing.not_ready_toleration_seconds == 300
    assert timing.node_monitor_grace_period >= 40
