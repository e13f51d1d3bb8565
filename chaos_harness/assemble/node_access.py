"""Where the harness is assembled: which node access a run uses, and which nodes it may fault.

`--node-access auto` takes docker exec when every node is a running container of the local docker engine (a
kind cluster on this machine), and the node agent otherwise; the choice and its reason are printed and
recorded. `--target-nodes SELECTOR` (default: nodes without the control-plane role) bounds the faults: a fault
on any other node is refused before it is journaled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from chaos_harness.core.api_errors import from_api_exception
from chaos_harness.core.cancellation import quiet
from chaos_harness.core.errors import ClusterError, SelectionError, UsageError
from chaos_harness.core.kube import Cluster
from chaos_harness.core.light import light_list
from chaos_harness.nodes.access import DEFAULT_TIME_BOX_SECONDS, NodeAccess
from chaos_harness.nodes.agent import AgentConfig, NodeAgent
from chaos_harness.nodes.agent_access import AgentNodeAccess
from chaos_harness.nodes.docker import KindNodeAccess

NODE_ACCESS_MODES = ("auto", "docker", "agent")
DEFAULT_TARGET_NODES = "!node-role.kubernetes.io/control-plane"


@dataclass(frozen=True)
class AccessChoice:
    mode: str      # "docker" or "agent"
    reason: str


def _node_names(cluster: Cluster, selector: str | None = None) -> list[str]:
    try:
        nodes = light_list(cluster.core.list_node, label_selector=selector or "", _request_timeout=10)
    except Exception as e:
        raise from_api_exception(e, f"listing nodes{f' ({selector})' if selector else ''}") from e
    return sorted(n.metadata.name for n in nodes.items)


def docker_unusable(cluster: Cluster) -> str | None:
    """Why docker exec cannot reach every node (None when it can)."""
    try:
        nodes = light_list(cluster.core.list_node, _request_timeout=10).items
    except Exception as e:
        raise from_api_exception(e, "listing nodes") from e
    # A node without a container runtime (simulated, virtual) is never sampled or faulted: it decides nothing.
    nodes = [n for n in nodes if runs_containers(n)]
    foreign = [n for n in nodes if not (n.spec.provider_id or "").startswith("kind://")]
    if foreign:
        return f"node {foreign[0].metadata.name} is not a kind node (providerID {foreign[0].spec.provider_id or 'none'})"
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    names = [n.metadata.name for n in nodes]
    try:
        out = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", *names], capture_output=True,
                             text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"docker does not answer ({e})"
    if out.returncode != 0 or set(out.stdout.split()) != {"true"}:
        return "the nodes are not running containers of the local docker engine"
    return None


def choose_access(cluster: Cluster, mode: str) -> AccessChoice:
    if mode not in NODE_ACCESS_MODES:
        raise ClusterError(f"unknown node access {mode!r}; use one of {', '.join(NODE_ACCESS_MODES)}")
    if mode == "agent":
        return AccessChoice("agent", "asked for (--node-access agent)")
    why_not = docker_unusable(cluster)
    if mode == "docker":
        if why_not:
            raise ClusterError(f"--node-access docker is not possible here: {why_not}; use --node-access agent")
        return AccessChoice("docker", "asked for (--node-access docker)")
    if why_not:
        return AccessChoice("agent", f"auto: {why_not}")
    return AccessChoice("docker", "auto: every node is a running container of the local docker engine")


OWN_NODE_ENV = "CHAOS_HARNESS_OWN_NODE"  # set (downward API) when the harness runs in a pod: its node


def runs_containers(node: object) -> bool:
    """A node a kubelet runs, with a container runtime the harness can sample and fault: a kubelet reports its
    runtime as `<name>://<version>` (containerd://1.7.2, cri-o://1.30.0, docker://24.0.7). Simulated nodes (kwok
    reports `kwok-v0.8.0`) and virtual kubelets (a cloud's serverless pods) carry none: never a target."""
    info = getattr(getattr(node, "status", None), "node_info", None)
    return "://" in (getattr(info, "container_runtime_version", None) or "")


def target_nodes(cluster: Cluster, selector: str | None) -> list[str]:
    """The nodes faults may touch: never the control plane (by default), never a node without a container
    runtime (simulated or virtual: runs_containers), and never the node the harness's own pod runs on (a
    scheduled run would cut itself off). A selector that matches nothing is an error, never an empty run."""
    selector = selector or DEFAULT_TARGET_NODES
    try:
        listed = light_list(cluster.core.list_node, label_selector=selector, _request_timeout=30).items
    except Exception as e:
        raise from_api_exception(e, f"listing nodes ({selector})") from e
    names = sorted(n.metadata.name for n in listed if runs_containers(n))
    own = os.environ.get(OWN_NODE_ENV, "")
    if own in names:
        names.remove(own)
    if not names:
        besides = f" besides {own}, where the harness runs" if own else ""
        simulated = len(listed) - sum(runs_containers(n) for n in listed)
        without = f"; {simulated} of them run no container runtime (simulated or virtual)" if simulated else ""
        raise SelectionError(f"--target-nodes {selector!r} matches no node{besides}{without} "
                             f"(nodes: {', '.join(_node_names(cluster)[:20])})")
    return names


def resolve_agent_image(cluster: Cluster, configured: str | None) -> str:
    """--agent-image, else the image the test bed put on its nodes; a user's cluster must name one."""
    if configured:
        return configured
    from chaos_harness.testbed.cluster import read_agent_image

    found = read_agent_image(cluster)
    if not found:
        raise ClusterError("no node agent image: build images/agent/Dockerfile, push it where the cluster can "
                           "pull it, and pass --agent-image IMAGE")
    return found


@dataclass(frozen=True)
class AccessOptions:
    """What the user chose (CLI, pytest options or a run file)."""

    mode: str = "auto"
    target_selector: str | None = None
    agent_image: str | None = None
    deadman_seconds: int = 30
    kubelet_unit: str | None = None       # None: the agent finds it on each node
    runtime_endpoint: str | None = None   # None: the agent finds it on each node

    def agent_config(self, image: str) -> AgentConfig:
        return AgentConfig(image=image, deadman_seconds=self.deadman_seconds, kubelet_unit=self.kubelet_unit or "",
                           runtime_endpoint=self.runtime_endpoint or "")


@contextmanager
def node_access(cluster: Cluster, options: AccessOptions, run_id: str, targets: Sequence[str] | None = None,
                time_box_seconds: float = DEFAULT_TIME_BOX_SECONDS, run_lock: str = ""
                ) -> Iterator[tuple[NodeAccess, AccessChoice, Sequence[str]]]:
    """The run's node access, its reason and the target nodes (`targets`, or read from the selector). The agent
    is installed for the run and removed at its end (also when the run fails). What the run would ask of the
    agent (its switch, its faults' time box) is checked against the agent's limits before it is installed."""
    targets = list(targets) if targets is not None else target_nodes(cluster, options.target_selector)
    choice = choose_access(cluster, options.mode)
    print(f"node access: {choice.mode} ({choice.reason}); target nodes: {', '.join(targets)}", flush=True)
    if choice.mode == "docker":
        access = KindNodeAccess()
        try:
            yield access, choice, targets
        finally:
            access.close()
        return
    config = options.agent_config(resolve_agent_image(cluster, options.agent_image))
    if problem := config.problem(time_box_seconds):
        raise UsageError(problem)
    agent = NodeAgent(cluster, run_id, config, targets, run_lock)
    try:
        seconds = agent.install()
    except BaseException:
        with quiet():  # the failure's own line is what the user needs to read, not the cleanup's progress
            agent.remove()
        raise
    try:
        print(f"node agent {config.image} publishing from {len(targets)} nodes after {seconds:.0f}s "
              f"(namespace {agent.namespace}, dead man's switch {config.deadman_seconds}s)", flush=True)
        agent_access = AgentNodeAccess(cluster, agent)
        try:
            yield agent_access, choice, targets
        finally:
            agent_access.close()
    finally:
        agent.remove()
