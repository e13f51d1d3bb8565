"""Deploy the keystore StatefulSet: `python -m keystore_chaos.deploy [--namespace keystore]`.

Two replicas, a headless Service, one 64Mi claim per pod; each pod keeps its keys in /data/keys. It stands for
your own database: chaos-harness is pointed at it with `--target keystore/keystore` and changes nothing in it.
"""

from __future__ import annotations

import argparse
import sys
import time

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

# Exits at once on SIGTERM (a database would flush first), so a deleted pod is gone in a second.
SCRIPT = "touch /data/keys; trap 'exit 0' TERM; while true; do sleep 1; done"


def objects(namespace: str, image: str, replicas: int) -> tuple[dict, dict]:
    labels = {"app": "keystore"}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "keystore", "namespace": namespace},
               "spec": {"clusterIP": "None", "selector": labels, "ports": [{"name": "none", "port": 1}]}}
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "keystore", "namespace": namespace, "labels": labels},
        "spec": {
            "serviceName": "keystore", "replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {
                "terminationGracePeriodSeconds": 5,
                "containers": [{"name": "keystore", "image": image, "imagePullPolicy": "IfNotPresent",
                                "command": ["sh", "-c", SCRIPT],
                                "readinessProbe": {"exec": {"command": ["test", "-f", "/data/keys"]},
                                                   "periodSeconds": 1},
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {
                "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}}}}],
        },
    }
    return service, statefulset


def image_on_every_node(api: client.ApiClient) -> str:
    """An image kind nodes already hold (local-path's helper), so the example needs no registry; on any other
    cluster pass --image."""
    cm = client.CoreV1Api(api).read_namespaced_config_map("local-path-config", "local-path-storage")
    for line in (cm.data or {}).get("helperPod.yaml", "").splitlines():
        if line.strip().startswith("image:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("local-path-config names no helper image: pass --image")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m keystore_chaos.deploy", description=__doc__)
    parser.add_argument("--kubeconfig", default=None)
    parser.add_argument("--namespace", default="keystore")
    parser.add_argument("--image", default=None, help="an image with a shell (default: one every kind node has)")
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    config.load_kube_config(config_file=args.kubeconfig)
    api = client.ApiClient()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    try:
        core.create_namespace({"metadata": {"name": args.namespace}})
    except ApiException as e:
        if e.status != 409:
            raise
    service, statefulset = objects(args.namespace, args.image or image_on_every_node(api), args.replicas)
    for create, body in ((core.create_namespaced_service, service), (apps.create_namespaced_stateful_set, statefulset)):
        try:
            create(args.namespace, body)
        except ApiException as e:
            if e.status != 409:
                raise
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        sts = apps.read_namespaced_stateful_set("keystore", args.namespace)
        if (sts.status.ready_replicas or 0) == args.replicas:
            print(f"keystore: {args.replicas}/{args.replicas} Ready in namespace {args.namespace}")
            return 0
        time.sleep(1)
    print("keystore: not Ready within 300 s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
