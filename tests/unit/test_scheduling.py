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


def test_simulated_and_virtual_nodes_are_never_targets(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """kwok's nodes (and virtual kubelets) run no container runtime: the default target selection leaves them out,
    and a selector matching only them says so."""
    import pytest

    from chaos_harness.assemble.node_access import runs_containers, target_nodes
    from chaos_harness.core.errors import SelectionError

    def with_runtime(name: str, runtime: str | None) -> client.V1Node:
        n = node(name)
        n.status = client.V1NodeStatus(node_info=client.V1NodeSystemInfo(
            architecture="amd64", boot_id="", container_runtime_version=runtime or "", kernel_version="",
            kube_proxy_version="", kubelet_version="", machine_id="", operating_system="linux", os_image="",
            system_uuid=""))
        return n

    nodes = [with_runtime("real", "containerd://1.6.20"), with_runtime("crio", "cri-o://1.30.0"),
             with_runtime("kwok-1", "kwok-v0.8.0"), with_runtime("virtual", None)]
    assert [runs_containers(n) for n in nodes] == [True, True, False, False]

    class Core:
        def list_node(self, label_selector: str = "", **_: object) -> client.V1NodeList:
            return client.V1NodeList(items=[n for n in nodes if label_selector != "type=kwok" or "kwok" in
                                            n.metadata.name])

    cluster = type("C", (), {"core": Core()})()
    monkeypatch.delenv("CHAOS_HARNESS_OWN_NODE", raising=False)
    assert target_nodes(cluster, None) == ["crio", "real"]  # type: ignore[arg-type]
    with pytest.raises(SelectionError, match="1 of them run no container runtime"):
        target_nodes(cluster, "type=kwok")  # type: ignore[arg-type]

    # Nor do they decide the node access: a kind cluster with simulated nodes beside it is still reached with
    # docker exec (only the nodes with a runtime must be kind's containers).
    from chaos_harness.assemble import node_access

    for n in nodes:
        n.spec = client.V1NodeSpec(provider_id=f"kind://docker/chaos/{n.metadata.name}" if runs_containers(n) else None)
    monkeypatch.setattr(node_access.shutil, "which", lambda _: "/usr/bin/docker")
    asked: list[list[str]] = []
    monkeypatch.setattr(node_access.subprocess, "run", lambda cmd, **_: asked.append(cmd[4:]) or
                        type("Done", (), {"returncode": 0, "stdout": "true\ntrue\n"})())
    assert node_access.docker_unusable(cluster) is None  # type: ignore[arg-type]
    assert asked == [["real", "crio"]]
