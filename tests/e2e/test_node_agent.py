"""The node agent on the live cluster: it sees what docker exec sees, publishes through the API server while
the kubelet it stopped is down, and its dead man's switch brings the kubelet back without the harness."""

from __future__ import annotations

import time

import pytest

from chaos_harness.assemble.node_access import resolve_agent_image
from chaos_harness.nodes.agent import AgentConfig, NodeAgent, parse_sample
from chaos_harness.nodes.agent_access import AgentNodeAccess
from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.core.waits import node_condition, watch_until

pytestmark = [pytest.mark.disruptive]


@pytest.fixture
def agent_on_a_side_node(cluster: Cluster, side_lane, run_id: str):
    node = side_lane.nodes[-1]
    agent = NodeAgent(cluster, f"{run_id}-agent", AgentConfig(resolve_agent_image(cluster, None), deadman_seconds=10),
                      [node])
    try:
        print(f"agent publishing after {agent.install():.1f}s")
        yield node, agent
    finally:
        KindNodeAccess().kubelet_start(node)  # the test's own heal, whatever the agent did
        agent.remove()
    assert not cluster.core.list_namespace(label_selector=f"chaos-harness/run-id={run_id}-agent").items
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")


def test_agent_sees_what_docker_exec_sees(cluster: Cluster, agent_on_a_side_node) -> None:
    node, agent = agent_on_a_side_node
    access, docker = AgentNodeAccess(cluster, agent), KindNodeAccess()
    # Other tests may start or stop containers between the two listings: compare a few times.
    for _ in range(6):
        time.sleep(1.2)
        via_agent = {c.container_id for c in access.runtime_containers(node)}
        via_docker = {c.container_id for c in docker.runtime_containers(node)}
        if via_agent == via_docker:
            break
    assert via_agent and via_agent == via_docker, "the agent and docker exec disagree on the running containers"
    assert access.exec(node, "cat", "/etc/hostname").strip() == node
    assert access.kubelet_active(node)


def test_agent_keeps_publishing_with_the_kubelet_down_and_its_switch_restarts_it(cluster: Cluster,
                                                                                 agent_on_a_side_node) -> None:
    node, agent = agent_on_a_side_node
    access, docker = AgentNodeAccess(cluster, agent), KindNodeAccess()
    access.kubelet_stop(node)
    assert not docker.kubelet_active(node), "the agent reported the kubelet stopped, docker exec disagrees"
    first = access.latest_sample(node)["seq"]
    time.sleep(3)
    sample = access.latest_sample(node)
    assert sample["seq"] >= first + 2, "no new samples while the kubelet is down: the agent depends on it"
    assert sample["kubelet"] == "inactive" and sample["holding"]
    # The harness "dies": no more renewals. The switch must fire within its bound (10 s) plus one interval.
    access.close()
    stopped_renewing = time.monotonic()
    while not docker.kubelet_active(node):
        assert time.monotonic() - stopped_renewing < 10 + 15, "the dead man's switch did not restart the kubelet"
        time.sleep(0.5)
    restarted_after = time.monotonic() - stopped_renewing
    print(f"kubelet restarted by the dead man's switch {restarted_after:.1f}s after the last renewal (bound 10s)")
    watch_until(cluster.core.list_namespaced_config_map, lambda cm: "dead man" in (parse_sample(cm) or {}).get(
        "deadman", ""), 10, "the agent reporting its switch", namespace=agent.namespace,
        field_selector=f"metadata.name=chaos-agent-{node}")
