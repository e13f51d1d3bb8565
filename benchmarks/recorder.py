"""Benchmark of the recorder on the live test bed: runtime sampler period per node, latency from an API
change to its event in the history, and the harness process's CPU while recording. Prints figures.

    .venv/bin/python benchmarks/recorder.py [--seconds 60] [--cycles 8]

Also the recorder's own start and stop: every scenario's recording pays both, so they are its overhead over the
cluster's floor (benchmarks/suite.py).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import uuid
from pathlib import Path

from kubernetes import client

from chaos_harness.record.history import History
from chaos_harness.core.kube import connect
from chaos_harness.nodes.docker import KindNodeAccess
from chaos_harness.record.recorder import Recorder
from chaos_harness.workload.deploy import helper_image
from chaos_harness.core.namespaces import create_namespace, delete_namespace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--cycles", type=int, default=8, help="short recordings whose start and stop are timed")
    parser.add_argument("--kubeconfig", type=Path, default=Path(".kube/chaos.kubeconfig"))
    args = parser.parse_args()
    cluster = connect(args.kubeconfig, "kind-chaos")
    ns = f"bench-{uuid.uuid4().hex[:6]}"
    create_namespace(cluster, ns)
    nodes = sorted(n.metadata.name for n in cluster.core.list_node().items)
    history = History()
    try:
        cluster.core.create_namespaced_pod(ns, client.V1Pod(
            metadata=client.V1ObjectMeta(name="probe", labels={"n": "0"}),
            spec=client.V1PodSpec(containers=[client.V1Container(
                name="c", image=helper_image(cluster), command=["sleep", "3600"])])))
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall0 = time.monotonic()
        latencies = []
        with Recorder(cluster, history, ns, KindNodeAccess(), nodes, sample_interval=0.5):
            i = 0
            while time.monotonic() - wall0 < args.seconds:
                i += 1
                sent = time.monotonic()
                cluster.core.patch_namespaced_pod("probe", ns, {"metadata": {"labels": {"n": str(i)}}})
                rv_seen = None
                while time.monotonic() - sent < 10 and rv_seen is None:
                    for e in reversed(history.events("pod")):
                        if e["mono"] < sent:
                            break
                        if e["type"] == "MODIFIED" and e["name"] == "probe":
                            rv_seen = e["mono"]
                            break
                    time.sleep(0.005)
                if rv_seen is not None:
                    latencies.append(rv_seen - sent)
                time.sleep(1)
        wall = time.monotonic() - wall0
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        starts, stops = [], []
        for _ in range(args.cycles):
            t0 = time.monotonic()
            recorder = Recorder(cluster, History(), ns, KindNodeAccess(), nodes, sample_interval=0.5).__enter__()
            t1 = time.monotonic()
            time.sleep(2)
            t2 = time.monotonic()
            recorder.stop()
            starts.append(t1 - t0)
            stops.append(time.monotonic() - t2)
    finally:
        delete_namespace(cluster, ns)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    children = (child1.ru_utime - child0.ru_utime) + (child1.ru_stime - child0.ru_stime)
    print(f"recorded {wall:.0f}s, {len(history.events())} events, {len(nodes)} nodes")
    for node in nodes:
        times = [e["mono"] for e in history.events("runtime") if e["node"] == node and e["ok"]]
        gaps = [b - a for a, b in zip(times, times[1:])]
        print(f"  sampler {node}: {len(times)} samples, period mean {statistics.mean(gaps):.3f}s "
              f"max {max(gaps):.3f}s")
    latencies.sort()
    print(f"  API change -> history (watch): n={len(latencies)} p50 {latencies[len(latencies) // 2] * 1000:.0f} ms "
          f"max {latencies[-1] * 1000:.0f} ms")
    print(f"  harness CPU: {cpu:.1f}s over {wall:.0f}s = {100 * cpu / wall:.0f}% of one core "
          f"(includes the probe's patch loop); docker exec children {children:.1f}s = "
          f"{100 * children / wall:.0f}%; max RSS {cpu1.ru_maxrss / 1024:.0f} MiB")
    if starts:
        print(f"  recorder start (first lists in): p50 {statistics.median(starts):.2f}s max {max(starts):.2f}s; "
              f"stop (final lists in): p50 {statistics.median(stops):.2f}s max {max(stops):.2f}s "
              f"over {len(stops)} recordings")


if __name__ == "__main__":
    main()
