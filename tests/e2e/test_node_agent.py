"""The node agent on the live cluster: it sees what docker exec sees, publishes through the API server while
the kubelet it stopped is down, and its dead man's switch brings the kubelet back without the harness. On a
node laid out like k3s (chaos_harness/testbed/layouts.py) it finds the kubelet's unit and the runtime by itself,
and every hold ends by the node's own doing: the host's timer when the agent dies, the hold's time box, a
Lease that stops asking; an ended hold is not taken again."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

from chaos_harness.assemble.node_access import resolve_agent_image
from chaos_harness.nodes.agent import AgentConfig, NodeAgent, covers, parse_sample
from chaos_harness.nodes.agent_access import AgentNodeAccess
from chaos_harness.core.kube import Cluster
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.core.waits import node_condition, watch_until
from chaos_harness.testbed.layouts import K3S_SOCKET, k3s_like, unit_active
from chaos_harness.testbed.node_state import heal_by_hand, kubelet_frozen, partitioned

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
        heal_by_hand(node)  # the test's own heal, whatever the agent did
        KindNodeAccess().kubelet_start(node)
        agent.remove()
    assert not cluster.core.list_namespace(label_selector=f"chaos-harness/run-id={run_id}-agent").items
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")


def test_agent_sees_what_docker_exec_sees(cluster: Cluster, agent_on_a_side_node) -> None:
    node, agent = agent_on_a_side_node
    access, docker = AgentNodeAccess(cluster, agent), KindNodeAccess()
    layout = agent.layouts()[node]
    print(f"{node}: {layout.describe()}")
    assert layout.kubelet_unit == "kubelet" and "serving port 10250" in layout.kubelet_how
    assert layout.runtime_endpoint == "unix:///run/containerd/containerd.sock" and "config file" in layout.runtime_how
    assert not access.runtime_containers(node), "the agent reported containers before any namespace was asked for"
    with access.reporting([node], "*"):
        # Other tests may start or stop containers between the two listings: compare a few times (a change is
        # published as the agent sees it).
        for _ in range(8):
            time.sleep(1.2)
            via_agent = {c.container_id for c in access.runtime_containers(node)}
            via_docker = {c.container_id for c in docker.runtime_containers(node)}
            if via_agent == via_docker:
                break
    assert via_agent and via_agent == via_docker, "the agent and docker exec disagree on the running containers"
    assert access.exec(node, "cat", "/etc/hostname").strip() == node
    assert access.kubelet_active(node)


def next_sample(access: AgentNodeAccess, node: str) -> dict:
    """The node's next published sample (its heartbeat at the latest, AgentConfig.heartbeat_seconds), once it
    shows that the agent kept sampling every second meanwhile (unchanged samples are not sent)."""
    first = access.latest_sample(node)
    deadline = time.monotonic() + access.agent.config.heartbeat_seconds + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        sample = access.latest_sample(node)
        if sample["seq"] > first["seq"]:
            read = sample["seq"] - first["seq"]
            assert read >= (sample["sampled_at"] - first["sampled_at"]) / 2, "the agent stopped sampling meanwhile"
            return sample
    raise AssertionError(f"no sample from {node} within a heartbeat: the agent stopped publishing")


def test_agent_keeps_publishing_with_the_kubelet_down_and_its_switch_restarts_it(cluster: Cluster,
                                                                                 agent_on_a_side_node) -> None:
    node, agent = agent_on_a_side_node
    access, docker = AgentNodeAccess(cluster, agent), KindNodeAccess()
    access.kubelet_stop(node)
    assert not docker.kubelet_active(node), "the agent reported the kubelet stopped, docker exec disagrees"
    sample = next_sample(access, node)
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


@pytest.fixture(scope="module")
def k3s_node(cluster: Cluster, side_lane):
    """The side lane's first worker laid out like a k3s agent, for this module's tests."""
    node = side_lane.nodes[0]
    with k3s_like(node) as layout:
        watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready as k3s-agent",
                    field_selector=f"metadata.name={node}")
        yield layout
    watch_until(cluster.core.list_node, lambda n: node_condition(n) == "True", 120, f"{node} Ready",
                field_selector=f"metadata.name={node}")


@pytest.fixture
def agent_on_a_k3s_node(cluster: Cluster, k3s_node, run_id: str, request: pytest.FixtureRequest):
    """An agent (dead man's switch 10 s) on the k3s-like node, one per test."""
    from kubernetes import client

    node = k3s_node.node
    agent = NodeAgent(cluster, f"{run_id}-k3s{request.node.name[-6:].lower().replace('_', '-')}",
                      AgentConfig(resolve_agent_image(cluster, None), deadman_seconds=10), [node])
    access = AgentNodeAccess(cluster, agent)
    try:
        print(f"agent publishing after {agent.install():.1f}s")
        yield node, agent, access, client.CoordinationV1Api(cluster.api), k3s_node
    finally:
        access.close()
        heal_by_hand(node)
        if not unit_active(node, k3s_node.kubelet_unit):
            subprocess.run(["docker", "exec", node, "systemctl", "start", k3s_node.kubelet_unit], timeout=30)
        agent.remove()


def until(predicate, seconds: float, what: str) -> float:
    """Seconds until `predicate()` holds (polling a node's systemd: no watch reaches it); fails past `seconds`."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < seconds, f"{what}: not within {seconds:.0f}s"
        time.sleep(0.5)
    return time.monotonic() - started


def test_on_a_k3s_node_the_agent_finds_the_unit_and_socket_and_the_host_restarts_the_kubelet_it_dies_holding(
        agent_on_a_k3s_node) -> None:
    node, agent, access, coord, layout = agent_on_a_k3s_node
    found = agent.layouts()[node]
    print(f"{node}: {found.describe()}")
    assert found.kubelet_unit == "k3s-agent" and "cgroup of pid" in found.kubelet_how
    assert found.runtime_endpoint == f"unix://{K3S_SOCKET}" and found.runtime.startswith("containerd://")
    with access.reporting([node], "*"):
        until(lambda: covers(access.latest_sample(node), "*"), 15, "the agent reporting every namespace")
        assert {c.container_id for c in access.runtime_containers(node)}, "no containers read through k3s's socket"
    access.kubelet_stop(node, 600)
    assert not unit_active(node, "k3s-agent"), "the agent stopped another unit than k3s-agent"
    timers = subprocess.run(["docker", "exec", node, "systemctl", "list-timers", "--all", "--no-pager"],
                            capture_output=True, text=True, timeout=30).stdout
    hold_id = (coord.read_namespaced_lease(f"chaos-agent-{node}", agent.namespace).metadata.annotations or {}).get(
        "chaos-harness.io/hold-id")
    assert f"chaos-harness-heal-{hold_id}.timer" in timers, timers  # one timer per hold, armed before the stop
    # The agent dies holding it (its memory limit, say): nothing of the agent is left to start the kubelet.
    subprocess.run(["docker", "exec", node, "pkill", "-KILL", "-x", "chaos-agent"], check=True, timeout=30)
    back = until(lambda: unit_active(node, "k3s-agent"), 10 + 5 + 15, "the host's timer starting k3s-agent")
    print(f"agent SIGKILLed holding k3s-agent stopped: the host's timer started it {back:.1f}s later "
          f"(bound: switch 10s + 5s)")


def test_a_hold_ends_at_its_time_box_and_is_not_taken_again(agent_on_a_k3s_node) -> None:
    from chaos_harness.nodes.agent import (ENDED_ANNOTATION, HEALED_ANNOTATION, HOLD_ANNOTATION, HOLD_ID_ANNOTATION,
                                           micro_time)

    node, agent, access, coord, _ = agent_on_a_k3s_node
    access.kubelet_stop(node, 6)  # renewals go on: only the time box ends it
    stopped = time.monotonic()
    back = until(lambda: unit_active(node, "k3s-agent"), 6 + 10, "the time box starting k3s-agent")
    print(f"hold with a 6 s time box: k3s-agent active again {time.monotonic() - stopped:.1f}s after the stop")
    lease = coord.read_namespaced_lease(f"chaos-agent-{node}", agent.namespace)
    assert lease.metadata.annotations.get(HEALED_ANNOTATION) == "time-box", lease.metadata.annotations
    # The hold's Lease asks for it again, renewed, as if marking it healed had failed: the same hold is over.
    coord.patch_namespaced_lease(f"chaos-agent-{node}", agent.namespace, {
        "metadata": {"annotations": {HOLD_ANNOTATION: "kubelet-stop", HEALED_ANNOTATION: None, ENDED_ANNOTATION: None,
                                     HOLD_ID_ANNOTATION: lease.metadata.annotations[HOLD_ID_ANNOTATION]}},
        "spec": {"renewTime": micro_time()}})
    for _ in range(8):
        time.sleep(0.5)
        assert unit_active(node, "k3s-agent"), "an ended hold stopped the kubelet again"
    assert back < 6 + 10


def test_a_lease_that_stops_asking_for_stopped_releases_the_kubelet(agent_on_a_k3s_node) -> None:
    from chaos_harness.nodes.agent import HOLD_ANNOTATION

    node, agent, access, coord, _ = agent_on_a_k3s_node
    access.kubelet_stop(node, 600)
    coord.patch_namespaced_lease(f"chaos-agent-{node}", agent.namespace,
                                 {"metadata": {"annotations": {HOLD_ANNOTATION: None}}})
    back = until(lambda: unit_active(node, "k3s-agent"), 10, "k3s-agent started once the Lease no longer asks")
    print(f"annotation removed while holding: k3s-agent active {back:.1f}s later")


def test_a_partition_cuts_the_node_off_but_not_the_agents_lease_and_its_samples_arrive_after(
        cluster: Cluster, agent_on_a_side_node) -> None:
    """On the usual layout, the harness gone (no more renewals): the switch heals it."""
    from chaos_harness.core.control_plane import api_server_addresses
    node, agent = agent_on_a_side_node
    access = AgentNodeAccess(cluster, agent)
    peers = api_server_addresses(cluster)
    received: list[dict] = []  # every sample the recorder's feed hands over
    stop = threading.Event()
    feed = access.runtime_feed([node], 1.0).loops()["agent-samples"]
    threading.Thread(target=feed, args=(stop, lambda n, ok, **kw: received.append(kw)), daemon=True).start()
    until(lambda: bool(received), 15, "the feed's first sample (the agent reporting every namespace)")
    before = access.latest_sample(node)["seq"]
    access.partition(node, peers, 600)
    cut = time.time()
    evidence = access.partitioned(node, peers)
    print(f"partition through the agent: {evidence}")
    assert partitioned(node) and "drops the node's traffic" in evidence and "failed" in evidence, evidence
    # Cut off: nothing new is published (one sample may have been on its way)...
    time.sleep(4)
    assert access.latest_sample(node)["seq"] <= before + 2, "samples still published through the cut"
    # ...but the Lease still reaches the agent: the harness "dies" and the switch (10 s) heals the node.
    access.close()
    gone = until(lambda: not partitioned(node), 10 + 15, "the dead man's switch removing the partition")
    healed = time.time()
    print(f"partition undone by the dead man's switch {gone:.1f}s after the last renewal (bound 10s)")
    # What the node read while cut off arrives after the heal (the recorder's feed receives it), each sample with
    # the time the node read it, and the last one read during the cut names the sample sent before it: every
    # sample between looked the same (not sent, not lost: judge/evidence.unsent puts them back).
    deadline = time.monotonic() + 30
    while not any(healed - 3 < s["sampled_at"] for s in received) and time.monotonic() < deadline:
        time.sleep(0.5)
    stop.set()
    sent_before = max(s["agent_seq"] for s in received if s["sampled_at"] < cut)
    during = [s for s in received if cut <= s["sampled_at"] <= healed]
    assert during, f"nothing read during the {healed - cut:.0f}s partition was delivered after it"
    last = during[-1]
    covered = last["agent_seq"] - sent_before
    print(f"{len(during)} samples sent from the {healed - cut:.0f}s partition after it; they stand for {covered} "
          f"read (the last {last['sampled_at'] - cut:.0f}s after the cut)")
    assert last["agent_prev"] <= sent_before or any(s["agent_seq"] == last["agent_prev"] for s in received)
    assert covered >= (last["sampled_at"] - cut) / 2, "the agent did not keep sampling while cut off"


def test_a_pause_freezes_the_kubelet_not_the_agent_and_the_host_thaws_it_when_the_agent_dies(
        agent_on_a_k3s_node) -> None:
    """On the k3s-like node (the partition above runs on the usual layout, S14 and S15 on either)."""
    node, agent, access, _, _ = agent_on_a_k3s_node
    access.pause(node, 600)
    evidence = access.paused(node)
    print(f"pause through the agent: {evidence}")
    assert kubelet_frozen(node) and "k3s-agent.service" in evidence, evidence
    next_sample(access, node)  # the agent did not freeze with the node
    # The agent dies holding it: its pod cannot even be restarted (the kubelet is frozen); the host's timer thaws.
    subprocess.run(["docker", "exec", node, "pkill", "-KILL", "-x", "chaos-agent"], check=True, timeout=30)
    thawed = until(lambda: not kubelet_frozen(node), 10 + 5 + 15, "the host's timer thawing the node")
    print(f"agent SIGKILLed holding the node frozen: the host's timer thawed it {thawed:.1f}s later "
          f"(bound: switch 10s + 5s)")


def test_a_lease_edited_by_hand_cannot_push_the_agent_past_the_nodes_limits(cluster: Cluster,
                                                                           agent_on_a_side_node) -> None:
    """Whoever can patch a node's Lease asks for a kubelet stop of 1e9 s under a 68-year switch: the agent says
    hold-error, spends the id, and the kubelet never stops. And node A's agent, with its own token, cannot ask
    node B for anything: its identity may patch its own node's Lease only (403)."""
    from kubernetes import client

    from chaos_harness.nodes.agent import (ENDED_ANNOTATION, HOLD_ANNOTATION, HOLD_ERROR_ANNOTATION,
                                           HOLD_ID_ANNOTATION, HOLD_SECONDS_ANNOTATION, micro_time, object_name)

    node, agent = agent_on_a_side_node
    coord = client.CoordinationV1Api(cluster.api)
    for renewal in range(2):  # the agent takes nothing before it has seen the Lease renewed
        coord.patch_namespaced_lease(object_name(node), agent.namespace, {
            "metadata": {"annotations": {HOLD_ANNOTATION: "kubelet-stop", HOLD_ID_ANNOTATION: "byhand1",
                                         HOLD_SECONDS_ANNOTATION: "1e9"}},
            "spec": {"renewTime": micro_time(), "leaseDurationSeconds": 2147483647}})
        time.sleep(1.5)
    lease, _ = watch_until(coord.list_namespaced_lease, lambda l: (l.metadata.annotations or {}).get(
        ENDED_ANNOTATION) == "byhand1", 20, "the agent refusing the hold", namespace=agent.namespace,
        field_selector=f"metadata.name={object_name(node)}")
    error = lease.metadata.annotations[HOLD_ERROR_ANNOTATION]
    print(f"a Lease asking for 1e9 s under a 68-year switch: {error}")
    assert error.startswith("byhand1:") and "limit" in error, error
    for _ in range(6):
        assert KindNodeAccess().kubelet_active(node), "the kubelet was stopped by a hold beyond the node's limits"
        time.sleep(0.5)

    others = [n.metadata.name for n in cluster.core.list_node().items if n.metadata.name != node]
    token = cluster.core.create_namespaced_service_account_token(
        object_name(node), agent.namespace, client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=600))).status.token
    configuration = client.Configuration()
    configuration.host, configuration.ssl_ca_cert = cluster.api.configuration.host, cluster.api.configuration.ssl_ca_cert
    configuration.api_key = {"authorization": f"Bearer {token}"}
    as_agent = client.CoordinationV1Api(client.ApiClient(configuration))
    as_agent.patch_namespaced_lease(object_name(node), agent.namespace, {"metadata": {"annotations": {"x": "1"}}})
    with pytest.raises(client.ApiException) as refused:
        as_agent.patch_namespaced_lease(object_name(others[0]), agent.namespace,
                                        {"metadata": {"annotations": {HOLD_ANNOTATION: "kubelet-stop"}}})
    assert refused.value.status in (403, 404), refused.value  # its Role names its own node's Lease only
    with pytest.raises(client.ApiException) as listing:
        as_agent.list_namespaced_lease(agent.namespace)  # the whole namespace's Leases: not its to read
    assert listing.value.status == 403
