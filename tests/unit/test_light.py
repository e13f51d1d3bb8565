"""Objects read as plain JSON (core/light.py): the models' attribute names on the API's JSON, and models decoded
only for the nodes asked for."""

from __future__ import annotations

import json
from types import SimpleNamespace

from kubernetes import client

from chaos_harness.core.light import Light, light_list, nodes_named
from chaos_harness.core.scheduling import could_run_on


# The rest of what the API always sends (the client's models refuse a nodeInfo without it).
NODE_INFO = {k: "x" for k in ("architecture", "bootID", "kernelVersion", "kubeProxyVersion", "kubeletVersion",
                              "machineID", "operatingSystem", "osImage", "systemUUID")}


def node(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels, "resourceVersion": "7"},
            "spec": {"providerID": f"kind://docker/chaos/{name}",
                     "taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"containerRuntimeVersion": "containerd://2.1.4", **NODE_INFO}}}


def listing(*nodes: dict) -> SimpleNamespace:
    """A CoreV1Api stand-in whose list_node answers as the API does when asked for the raw response."""
    calls: list[dict] = []
    body = json.dumps({"kind": "NodeList", "metadata": {"resourceVersion": "42"}, "items": list(nodes)}).encode()

    def list_node(**kwargs: object) -> SimpleNamespace:
        calls.append(kwargs)
        return SimpleNamespace(data=body)
    return SimpleNamespace(list_node=list_node, calls=calls)


def test_the_models_attribute_names_read_the_apis_json() -> None:
    n = Light(node("w1"))
    assert n.metadata.name == "w1" and n.metadata.resource_version == "7"
    assert n.spec.provider_id == "kind://docker/chaos/w1"                     # providerID, an acronym
    assert n.status.daemon_endpoints.kubelet_endpoint.port == 10250          # "Port", capitalised in the API
    assert n.status.node_info.container_runtime_version == "containerd://2.1.4"
    assert [t.effect for t in n.spec.taints] == ["NoSchedule"] and n.spec.unschedulable is None


def test_a_light_list_asks_for_the_raw_response() -> None:
    core = listing(node("w1"), node("w2"))
    listed = light_list(core.list_node, label_selector="a=b", _request_timeout=5)
    assert [n.metadata.name for n in listed.items] == ["w1", "w2"] and listed.metadata.resource_version == "42"
    assert core.calls == [{"label_selector": "a=b", "_request_timeout": 5, "_preload_content": False}]


def test_only_the_named_nodes_become_models() -> None:
    core = listing(*(node(f"kwok-{i:04d}") for i in range(1000)), node("w1", disk="ssd"), node("w2"))
    named = nodes_named(core, ["w2", "w1", "absent"], _request_timeout=10)
    assert [n.metadata.name for n in named] == ["w1", "w2"]                  # the API's order; absent left out
    assert all(isinstance(n, client.V1Node) for n in named)
    assert named[0].metadata.labels == {"disk": "ssd"}                        # a map stays a dict
    pod = client.V1PodSpec(containers=[], node_selector={"disk": "ssd"}, tolerations=[
        client.V1Toleration(key="dedicated", operator="Equal", value="db", effect="NoSchedule")])
    assert could_run_on(pod, named[0]) and not could_run_on(pod, named[1])
