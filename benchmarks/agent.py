"""Benchmark of the node agent against the docker-exec path on the live test bed. Prints figures:

- the agent's CPU (% of one core) and resident memory per node, read from /proc of its process on the node;
- API writes per second of an idle agent (a sample is published when it changed, else a heartbeat: each is
  one PATCH of the node's ConfigMap; the Lease is only read), counted on a watch of those ConfigMaps;
- the delay from a container starting on a node (the runtime's own createdAt) to the recorder's first sample
  holding it: agent feed vs docker polling feed, both recording at the same time, the same containers.

    .venv/bin/python benchmarks/agent.py [--seconds 30] [--starts 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from pathlib import Path

from kubernetes import client, watch

from chaos_harness.assemble.node_access import resolve_agent_image, target_nodes
from chaos_harness.nodes.agent import SAMPLE_LABEL, AgentConfig, NodeAgent
from chaos_harness.nodes.agent_access import AgentNodeAccess
from chaos_harness.record.history import History
from chaos_harness.core.kube import connect
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.record.recorder import Recorder
from chaos_harness.core.waits import watch_until
from chaos_harness.workload.deploy import helper_image
from chaos_harness.core.namespaces import create_namespace, delete_namespace


def agent_process(docker: KindNodeAccess, node: str) -> tuple[float, int]:
    """(CPU seconds so far, RSS KiB) of chaos-agent on the node."""
    pid = docker.exec(node, "pgrep", "-xo", "chaos-agent").strip()
    stat = docker.exec(node, "cat", f"/proc/{pid}/stat").split(")")[-1].split()
    # utime + stime + cutime + cstime (fields 14-17): the nsenter/systemctl children it waits for count too.
    ticks = sum(int(v) for v in stat[11:15])
    rss = next(int(line.split()[1]) for line in docker.exec(node, "cat", f"/proc/{pid}/status").splitlines()
               if line.startswith("VmRSS:"))
    return ticks / 100.0, rss


def first_seen(history: History, container_name: str) -> float | None:
    for e in history.events("runtime"):
        if e.get("ok") and any(c["name"] == container_name for c in e["containers"]):
            return e["wall"]
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30, help="how long to measure CPU and writes")
    parser.add_argument("--starts", type=int, default=5, help="containers started for the latency figure")
    parser.add_argument("--kubeconfig", type=Path, default=Path(".kube/chaos.kubeconfig"))
    args = parser.parse_args()
    cluster = connect(args.kubeconfig, "kind-chaos")
    nodes = target_nodes(cluster, None)
    run = f"bench-{uuid.uuid4().hex[:6]}"
    agent = NodeAgent(cluster, run, AgentConfig(resolve_agent_image(cluster, None)), nodes)
    docker = KindNodeAccess()
    ns = f"{run}-pods"
    create_namespace(cluster, ns)
    try:
        print(f"agent on {len(nodes)} nodes publishing after {agent.install():.1f}s")
        access = AgentNodeAccess(cluster, agent)
        before = {n: agent_process(docker, n) for n in nodes}
        seq0 = {n: access.latest_sample(n)["seq"] for n in nodes}
        published = {n: 0 for n in nodes}
        listed = cluster.core.list_namespaced_config_map(agent.namespace, label_selector=SAMPLE_LABEL)
        for ev in watch.Watch().stream(cluster.core.list_namespaced_config_map, agent.namespace,
                                       label_selector=SAMPLE_LABEL, resource_version=listed.metadata.resource_version,
                                       timeout_seconds=args.seconds):
            node = (ev["object"].metadata.labels or {}).get("chaos-harness.io/node")
            if node in published:
                published[node] += 1
        after = {n: agent_process(docker, n) for n in nodes}
        seq1 = {n: access.latest_sample(n)["seq"] for n in nodes}
        for n in nodes:
            cpu = (after[n][0] - before[n][0]) / args.seconds * 100
            print(f"{n}: agent CPU {cpu:.1f}% of one core, RSS {after[n][1] / 1024:.1f} MiB, "
                  f"about {(seq1[n] - seq0[n]) / args.seconds:.2f} samples/s read, "
                  f"{published[n] / args.seconds:.2f}/s published")
        writes = sum(published.values()) / args.seconds
        print(f"API writes: {writes:.2f}/s for {len(nodes)} nodes ({writes / len(nodes):.2f}/s per node)")

        agent_history, docker_history = History(), History()
        delays: dict[str, list[float]] = {"agent": [], "docker": []}
        image = helper_image(cluster)
        with Recorder(cluster, agent_history, ns, access, nodes), \
                Recorder(cluster, docker_history, ns, docker, nodes, sample_interval=0.5):
            for i in range(args.starts):
                name = f"probe{i}"
                cluster.core.create_namespaced_pod(ns, client.V1Pod(
                    metadata=client.V1ObjectMeta(name=name),
                    spec=client.V1PodSpec(node_name=nodes[i % len(nodes)], termination_grace_period_seconds=0,
                                          containers=[client.V1Container(name=name, image=image,
                                                                         command=["sleep", "3600"])])))
                watch_until(cluster.core.list_namespaced_pod, lambda p: p.status.phase == "Running", 60,
                            f"{name} running", namespace=ns, field_selector=f"metadata.name={name}")
                time.sleep(3)
                created = next(c.created_at_ns for c in docker.runtime_containers(nodes[i % len(nodes)])
                               if c.name == name) / 1e9
                for path, history in (("agent", agent_history), ("docker", docker_history)):
                    seen = first_seen(history, name)
                    if seen is not None:
                        delays[path].append(seen - created)
        for path, values in delays.items():
            if values:
                print(f"container start -> recorder ({path}): median {statistics.median(values):.2f}s, "
                      f"max {max(values):.2f}s over {len(values)} starts")
            else:
                print(f"container start -> recorder ({path}): never seen")
    finally:
        delete_namespace(cluster, ns, 120)
        agent.remove()


if __name__ == "__main__":
    main()
