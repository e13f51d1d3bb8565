"""What the harness and its node agents cost the cluster, from the API server's own metrics (its /metrics:
apiserver_request_total, apiserver_request_body_size_bytes, apiserver_storage_size_bytes), in three windows of
--seconds each: the cluster without agents (its own background), agents installed and idle (as during a run, no
fault), and a kubelet stop held through the agent on one node (--fault). Prints figures against the targets of
issue 30 (idle <= 0.2 writes/s and <= 1 KB/s per node; a faulted node <= 1 write/s; an 8-hour run < 50 MB into
etcd); asserts nothing.

    .venv/bin/python benchmarks/cluster_load.py [--seconds 60] [--fault] [--target-nodes SELECTOR]
                                                [--kubeconfig FILE --context NAME --allow-context GLOB]

The agents' traffic is told apart by resource: their samples are ConfigMap writes (PATCH, POST) and their Lease
reads are Lease GETs, less the same requests' rate in the window without agents. Every request of this process
goes through the harness's client (its throttle counts them: `harness` below).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from pathlib import Path

from chaos_harness.assemble.node_access import resolve_agent_image, target_nodes
from chaos_harness.core.kube import Cluster, allowed_contexts_from_env, connect
from chaos_harness.core.throttle import throttle_of
from chaos_harness.nodes.agent import AgentConfig, NodeAgent
from chaos_harness.nodes.agent_access import AgentNodeAccess

SAMPLE = re.compile(r'^(?P<name>apiserver_request_total|apiserver_request_body_size_bytes_sum)\{(?P<labels>[^}]*)\} '
                    r'(?P<value>\S+)$')
STORAGE = re.compile(r"^apiserver_storage_size_bytes\{[^}]*\} (?P<value>\S+)$")
AGENT_WRITES = {("PATCH", "configmaps"), ("POST", "configmaps")}
AGENT_READS = {("GET", "leases")}  # polling: an agent that watches its Lease sends none while idle
AGENT_WATCHES = {("WATCH", "leases")}


def raw_get(cluster: Cluster, path: str) -> str:
    """GET a path of the API server as text (/metrics), through the harness's client and its throttle. The
    client's raw-request API changed in version 35 (param_serialize); both are served."""
    api = cluster.api
    if hasattr(api, "param_serialize"):
        method, url, headers, body, post = api.param_serialize("GET", path, auth_settings=["BearerToken"])
        response = api.call_api(method, url, headers, body, post, _request_timeout=30)
        response.read()
        return response.data.decode()
    return api.call_api(path, "GET", auth_settings=["BearerToken"], _preload_content=False,
                        _request_timeout=30)[0].data.decode()


def scrape(cluster: Cluster) -> dict[str, dict[tuple[str, str], float]]:
    """requests and body bytes by (verb, resource), and etcd's size, as the API server counts them now."""
    text = raw_get(cluster, "/metrics")
    found: dict[str, dict[tuple[str, str], float]] = {"requests": defaultdict(float), "bytes": defaultdict(float),
                                                      "storage": defaultdict(float)}
    for line in text.splitlines():
        if m := SAMPLE.match(line):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m["labels"]))
            kind = "requests" if m["name"] == "apiserver_request_total" else "bytes"
            verb = labels.get("verb", "").upper()
            found[kind][(verb, labels.get("resource", ""))] += float(m["value"])
        elif m := STORAGE.match(line):
            found["storage"][("etcd", "")] += float(m["value"])
    return found


def rates(before: dict, after: dict, seconds: float, keys: set[tuple[str, str]], kind: str) -> float:
    return sum(after[kind].get(k, 0) - before[kind].get(k, 0) for k in keys) / seconds


def window(cluster: Cluster, seconds: float, what: str) -> tuple[dict, dict, float]:
    print(f"  measuring {what} for {seconds:.0f}s", flush=True)
    before, started = scrape(cluster), time.monotonic()
    time.sleep(seconds)
    return before, scrape(cluster), time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--fault", action="store_true", help="also hold a kubelet stop on one target node")
    parser.add_argument("--target-nodes", default=None)
    parser.add_argument("--kubeconfig", type=Path, default=Path(".kube/chaos.kubeconfig"))
    parser.add_argument("--context", default=None)
    parser.add_argument("--allow-context", action="append", default=[])
    args = parser.parse_args()
    cluster = connect(args.kubeconfig, args.context, allowed_contexts_from_env() + tuple(args.allow_context))
    nodes = target_nodes(cluster, args.target_nodes)
    n = len(nodes)
    print(f"cluster {cluster.context}: {n} target nodes")
    b0, b1, bs = window(cluster, args.seconds, "the cluster without agents")
    base_w = rates(b0, b1, bs, AGENT_WRITES, "requests")
    base_r = rates(b0, b1, bs, AGENT_READS, "requests")
    base_watch = rates(b0, b1, bs, AGENT_WATCHES, "requests")
    base_b = rates(b0, b1, bs, AGENT_WRITES, "bytes")
    agent = NodeAgent(cluster, f"load-{int(time.time())}", AgentConfig(image=resolve_agent_image(cluster, None)), nodes)
    installed = agent.install()
    access = AgentNodeAccess(cluster, agent)
    try:
        print(f"  agents publishing from {n} nodes after {installed:.0f}s")
        i0, i1, is_ = window(cluster, args.seconds, "the agents, idle")
        sizes = [len(json.dumps(cm.data or {})) for cm in cluster.core.list_namespaced_config_map(
            agent.namespace, _request_timeout=10).items]
        writes = (rates(i0, i1, is_, AGENT_WRITES, "requests") - base_w) / n
        reads = (rates(i0, i1, is_, AGENT_READS, "requests") - base_r) / n
        watches = (rates(i0, i1, is_, AGENT_WATCHES, "requests") - base_watch) / n
        written = (rates(i0, i1, is_, AGENT_WRITES, "bytes") - base_b) / n
        grown = i1["storage"][("etcd", "")] - i0["storage"][("etcd", "")]
        print(f"idle, per node: {writes:.2f} writes/s (target <= 0.2), {written / 1024:.2f} KB/s written "
              f"(target <= 1), {max(reads, 0.0):.2f} polling Lease reads/s (target 0: the agent watches its Lease), "
              f"{max(watches, 0.0) * 60:.2f} Lease watches opened per minute; sample ConfigMap "
              f"{sum(sizes) / max(len(sizes), 1) / 1024:.1f} KB each")
        hour = written * n * 3600
        print(f"idle, the whole pool: {writes * n:.1f} writes/s, {written * n / 1024:.1f} KB/s into etcd: "
              f"{hour / 2**20:.0f} MB per hour, {8 * hour / 2**20:.0f} MB in 8 hours (target < 50); etcd's file "
              f"grew {grown / 2**20:.1f} MB in the window")
        if args.fault:
            node = nodes[0]
            access.kubelet_stop(node, 600)
            try:
                f0, f1, fs = window(cluster, min(args.seconds, 30), f"a kubelet stop held on {node}")
            finally:
                access.kubelet_start(node)
            during = rates(f0, f1, fs, AGENT_WRITES, "requests") - base_w - writes * (n - 1)
            print(f"during a fault, the faulted node: {during:.2f} writes/s (target <= 1)")
        api = throttle_of(cluster.api)
        if api:
            figures = api.figures()
            print(f"harness (this process): {figures['requests']} requests, {figures['requests_per_second']}/s")
    finally:
        access.close()
        agent.remove()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
