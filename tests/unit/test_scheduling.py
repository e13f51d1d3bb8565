"""core/scheduling.could_run_on: where a pod template could run, on the API's own objects."""

from __future__ import annotations

from kubernetes import client

from chaos_harness.core.scheduling import could_run_on


def node(name: str, taints: list[client.V1Taint] | None = None, labels: dict[str, str] | None = None) -> client.V1Node:
    return client.V1Node(metadata=client.V1ObjectMeta(name=name, labels=labels or {}),
                         spec=client.V1NodeSpec(taints=taints))


def test_taints_tolerations_selectors_and_affinity() -> None:
    lane = client.V1Taint(key="lane", value="side", effect="NoSchedule")
    state = client.V1Taint(key="node.kubernetes.io/unreachable", effect="NoSchedule")
    plain = client.V1PodSpec(containers=[])
    tolerant = client.V1PodSpec(containers=[], tolerations=[client.V1Toleration(key="lane", operator="Equal",
                                                                                value="side", effect="NoSchedule")])
    pinned = client.V1PodSpec(containers=[], affinity=client.V1Affinity(node_affinity=client.V1NodeAffinity(
        required_during_scheduling_ignored_during_execution=client.V1NodeSelector(node_selector_terms=[
            client.V1NodeSelectorTerm(match_fields=[client.V1NodeSelectorRequirement(
                key="metadata.name", operator="In", values=["w1"])])]))))
    ssd = client.V1PodSpec(containers=[], node_selector={"disk": "ssd"})
    assert could_run_on(plain, node("w1")) and not could_run_on(plain, node("w2", [lane]))
    assert could_run_on(tolerant, node("w2", [lane])) and could_run_on(plain, node("w3", [state]))
    assert could_run_on(pinned, node("w1")) and not could_run_on(pinned, node("w2"))
    assert could_run_on(ssd, node("w1", labels={"disk": "ssd"})) and not could_run_on(ssd, node("w1"))
