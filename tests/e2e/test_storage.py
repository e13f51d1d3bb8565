"""Smoke proof that the test bed's default StorageClass is real storage: a PVC keeps a file across the deletion
of the pod that wrote it. It faults nothing, so it runs in the main lane, on the untainted workers."""

from __future__ import annotations

import time
import uuid

from kubernetes import client

from chaos_harness.core.kube import Cluster
from chaos_harness.core.waits import watch_until
from chaos_harness.workload.deploy import helper_image


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


def test_pvc_on_default_storageclass_keeps_file_across_pod_deletion(cluster: Cluster, namespace: str) -> None:
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
    cluster.core.create_namespaced_pod(namespace, as_dict(
        _pod("writer", image, "data", f"echo {marker} > /data/marker && sync")))
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

    cluster.core.create_namespaced_pod(namespace, as_dict(_pod("reader", image, "data", "cat /data/marker")))
    reader, _ = watch_until(cluster.core.list_namespaced_pod, lambda p: p.status.phase in ("Succeeded", "Failed"),
                            120, "reader pod finished", namespace=namespace, field_selector="metadata.name=reader")
    log = cluster.core.read_namespaced_pod_log("reader", namespace).strip()
    assert log == marker, f"the new pod read {log!r} from the PVC, expected the marker {marker!r}"
    pvc = cluster.core.read_namespaced_persistent_volume_claim("data", namespace)
    assert pvc.spec.volume_name == volume, "the PVC was rebound to another volume"
