"""The harness beside 1,000 simulated nodes (`make scale`): kwok (sigs.k8s.io/kwok, built from the Go module proxy
into the test bed's cache) runs on this machine against the test bed's API server and keeps --nodes fake nodes
alive (their Leases renewed, their pods Running) with --pods fake pods in namespaces of their own. The harness
then runs `doctor` and S8 (kubelet stop, on a real lane) beside S7 (pod delete), once before the fake nodes and
once with them, and prints: planning time (doctor), each run's wall time, the harness's RSS and CPU, its API
requests per second (its throttle's count, results.json `api`), and the report's size. The fake nodes carry no
container runtime (kwok reports `kwok-v...`), so the default target selection never faults them nor places an
agent there (chaos_harness/assemble/node_access.py runs_containers). Asserts nothing; everything it made is
deleted at the end (also on Ctrl-C).

    .venv/bin/python benchmarks/scale.py [--nodes 1000] [--pods 20000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from kubernetes import client

from chaos_harness.core.kube import Cluster, connect
from cluster_load import scrape  # this directory's: the API server's own request counts

KWOK_VERSION = "v0.8.0"  # its go.mod asks for go 1.26.0: the machine's Go builds it
KWOK_LABEL = "chaos-harness.bench/kwok"
SIMULATED_LABEL = "chaos-harness.test/simulated"
TAINT = client.V1Taint(key="kwok.x-k8s.io/node", value="fake", effect="NoSchedule")
ROOT = Path(__file__).resolve().parents[1]


def kwok_binary() -> Path:
    """kwok, built once into the test bed's cache with `go install` (the Go module proxy)."""
    cache = Path(os.environ.get("CHAOS_HARNESS_CACHE", Path.home() / ".cache" / "chaos-harness")) / "kwok-bin"
    binary = cache / "kwok"
    if not binary.exists():
        print(f"building kwok {KWOK_VERSION} (a few minutes, once)", flush=True)
        subprocess.run(["go", "install", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"], check=True,
                       env={**os.environ, "GOBIN": str(cache), "CGO_ENABLED": "0"})
    return binary


STAGES = ("node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
          "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml")


def direct_kubeconfig(core: client.CoreV1Api, kubeconfig: Path, into: Path) -> Path:
    """The test bed's kubeconfig aimed at the API server's own address (the `kubernetes` Service's endpoint, the
    control-plane node's; its certificate names it) instead of the host port docker forwards: through that port
    every Lease renewal of 1,000 nodes passes docker-proxy, which took 6 % of a core on its own."""
    [endpoints] = client.DiscoveryV1Api(core.api_client).list_namespaced_endpoint_slice(
        "default", label_selector="kubernetes.io/service-name=kubernetes").items
    server = f"https://{endpoints.endpoints[0].addresses[0]}:{endpoints.ports[0].port}"
    config = yaml.safe_load(kubeconfig.read_text())
    for entry in config["clusters"]:
        entry["cluster"]["server"] = server
    path = into / "kwok.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def kwok_stages(into: Path) -> Path:
    """kwok's own lifecycle stages from its module (nodes Ready and their Leases renewed, pods Running): the
    binary ships none."""
    found = subprocess.run(["go", "mod", "download", "-json", f"sigs.k8s.io/kwok@{KWOK_VERSION}"], check=True,
                           capture_output=True, text=True, cwd="/tmp")
    root = Path(json.loads(found.stdout)["Dir"]) / "kustomize" / "stage"
    into.write_text("\n---\n".join((root / stage).read_text() for stage in STAGES))
    return into


def fake_node(name: str) -> client.V1Node:
    return client.V1Node(metadata=client.V1ObjectMeta(
        name=name, labels={KWOK_LABEL: "true", "type": "kwok", "kubernetes.io/hostname": name,
                           SIMULATED_LABEL: "true"},  # the test bed's CNI (chaosnet) leaves these out
        annotations={"kwok.x-k8s.io/node": "fake"}), spec=client.V1NodeSpec(taints=[TAINT]))


def fake_pod(name: str, node: str) -> client.V1Pod:
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name, labels={KWOK_LABEL: "true"}), spec=client.V1PodSpec(
        node_name=node, containers=[client.V1Container(name="app", image="fake")],
        tolerations=[client.V1Toleration(key=TAINT.key, operator="Exists", effect="NoSchedule")]))


def populate(core: client.CoreV1Api, nodes: int, pods: int, namespaces: int) -> float:
    started = time.monotonic()
    names = [f"kwok-node-{i:04d}" for i in range(nodes)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: core.create_node(fake_node(n)), names))
        print(f"  {nodes} fake nodes created in {time.monotonic() - started:.0f}s", flush=True)
        for ns in range(namespaces):
            core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(
                name=f"kwok-load-{ns}", labels={KWOK_LABEL: "true"})))
        list(pool.map(lambda i: core.create_namespaced_pod(f"kwok-load-{i % namespaces}",
                                                           fake_pod(f"fake-{i:05d}", names[i % nodes])), range(pods)))
    print(f"  {pods} fake pods created in {time.monotonic() - started:.0f}s", flush=True)
    return time.monotonic() - started


def pending_fake_pods(core: client.CoreV1Api) -> bool:
    """Whether any fake pod is not Running yet (filtered by the API server: one pod at most comes back; an empty
    page with more to read is not an answer)."""
    page = core.list_pod_for_all_namespaces(label_selector=f"{KWOK_LABEL}=true", limit=1,
                                            field_selector="status.phase!=Running", _request_timeout=60)
    return bool(page.items or page.metadata._continue)


def ready_fake_nodes(core: client.CoreV1Api) -> int:
    items = core.list_node(label_selector=f"{KWOK_LABEL}=true", _request_timeout=60).items
    return sum(any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or []) for n in items)


def cpu_seconds() -> tuple[float, float, dict[str, tuple[str, float]]]:
    """CPU seconds so far: the machine's busy and total (/proc/stat), and each process's as pid -> (command,
    seconds), the kind nodes' included (they are this machine's processes too)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    processes = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        comm, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        processes[pid] = (comm, (int(rest[11]) + int(rest[12])) / tick)
    return (sum(fields) - fields[3] - fields[4]) / tick, sum(fields) / tick, processes


def idle_load(cluster: Cluster, seconds: float = 30) -> str:
    """How busy the machine and the API server are with no scenario running, and who keeps them busy: on one
    small machine the simulated nodes' heartbeats (kwok's Lease renewals, the control plane serving them) take
    CPU the workload's pods would otherwise get."""
    busy_before, total_before, before = cpu_seconds()
    requests_before = scrape(cluster)["requests"]
    time.sleep(seconds)
    busy_after, total_after, after = cpu_seconds()
    requests = {k: (v - requests_before.get(k, 0.0)) / seconds for k, v in scrape(cluster)["requests"].items()}
    used: dict[str, float] = {}
    for pid, (comm, cpu) in after.items():
        used[comm] = used.get(comm, 0.0) + cpu - before.get(pid, (comm, 0.0))[1]
    top = sorted(used.items(), key=lambda kv: -kv[1])[:5]
    busy = (busy_after - busy_before) / (total_after - total_before) * 100
    busiest = sorted(requests.items(), key=lambda kv: -kv[1])[:3]
    return (f"machine {busy:.0f}% busy idle ({os.cpu_count()} cores): "
            + ", ".join(f"{name} {cpu / seconds * 100:.0f}%" for name, cpu in top)
            + f"; API server {sum(requests.values()):.0f} requests/s: "
            + ", ".join(f"{verb} {resource} {rate:.0f}/s" for (verb, resource), rate in busiest))


def peak_rss_mib(pid: int) -> float:
    """The process's own peak RSS so far (VmHWM of its current image), 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0.0)


def harness(*args: str) -> tuple[float, dict[str, float], str]:
    """Run the CLI as a user does; (wall seconds, its RSS and CPU, its output). CPU comes from wait4 of that one
    process. Its RSS is read from its own /proc status while it runs (every 0.2 s, the last read before it
    exits): a child's ru_maxrss is not its own, Linux carries the parent's RSS at the fork into it (this
    script holds hundreds of MiB after creating 20,000 pods, and a child that only runs `pass` reported 613
    MiB after a 600 MiB parent), and RUSAGE_CHILDREN's is also the largest of every child, kwok's go install
    too."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen([sys.executable, "-m", "chaos_harness", *args], stdout=out, stderr=subprocess.STDOUT,
                                 text=True, cwd=ROOT)
        peak = 0.0
        # Until it exits, without reaping it (WNOWAIT): wait4 below reaps it and gives its CPU.
        while not os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG):
            peak = max(peak, peak_rss_mib(child.pid))
            time.sleep(0.2)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        out.seek(0)
        output = out.read()
    figures = {"rss_mib": peak, "cpu_seconds": usage.ru_utime + usage.ru_stime, "exit": child.returncode}
    return wall, figures, output


def one_round(cluster: Cluster, label: str, report_dir: Path) -> dict[str, float]:
    print(f"{label}: {idle_load(cluster)}", flush=True)
    doctor, _, _ = harness("doctor")
    wall, usage, out = harness("run", "s08", "s07", "--parallel", "2", "--report-dir", str(report_dir))
    [run] = sorted(report_dir.glob("2*/results.json"))[-1:]
    document = json.loads(run.read_text())
    report = run.parent / "report.html"
    results = document["results"]
    # The scenarios' own wall time: from the first one's start to the last one's end. The command's wall time
    # also holds loading the workload's images onto the nodes, ~2 minutes on the first run after `make cluster`
    # and none after, so it measures the test bed's history rather than the cluster's size.
    span = (max(r["started_wall"] + r["seconds"] for r in results) - min(r["started_wall"] for r in results))
    figures = {"doctor_seconds": doctor, "run_seconds": wall, "scenario_seconds": span, **usage,
               "api_requests_per_second": document.get("api", {}).get("requests_per_second", 0),
               "api_requests": document.get("api", {}).get("requests", 0),
               "report_kib": report.stat().st_size / 1024,
               "statuses": ",".join(r["status"] for r in results), "results": results}
    print(f"{label}: doctor {doctor:.1f}s; S8 + S7 {span:.0f}s ({figures['statuses']}, exit {usage['exit']}; the "
          f"command {wall:.0f}s with its set-up); harness "
          f"max RSS {usage['rss_mib']:.0f} MiB, CPU {usage['cpu_seconds']:.1f}s; API {figures['api_requests']} "
          f"requests, {figures['api_requests_per_second']}/s; report {figures['report_kib']:.0f} KiB", flush=True)
    if usage["exit"] not in (0, 4):
        print(out[-3000:])
    return figures


def compare_waits(before: list[dict], after: list[dict]) -> None:
    """Where the wall time went, per scenario: the harness's own time (what it did between waits) and each wait on
    the cluster, without the fake nodes and with them. On one small machine kwok and a control plane serving
    1,000 nodes take CPU from the workload too, so a wall time can grow in a wait the harness does not drive
    (MySQL starting) while its own time and the fault's waits stay the same."""
    for a, b in zip(before, after):
        print(f"  {a['scenario']}: {a['seconds']:.0f}s -> {b['seconds']:.0f}s; the harness's own time "
              f"{a['seconds'] - a['wait_seconds']:.1f}s -> {b['seconds'] - b['wait_seconds']:.1f}s")
        for x, y in zip(a["waits"], b["waits"]):
            if x["what"] == y["what"] and max(x["seconds"], y["seconds"]) >= 1:
                print(f"    {x['seconds']:6.1f}s -> {y['seconds']:6.1f}s  {x['what']}")


def clean(core: client.CoreV1Api, seconds: float = 600) -> None:
    """Delete the fake namespaces (their pods) and nodes, and wait until they are gone."""
    for ns in core.list_namespace(label_selector=f"{KWOK_LABEL}=true").items:
        # At once (grace 0, one request per namespace): a graceful delete waits for a kubelet, and once kwok is
        # gone the pod garbage collector would take many minutes over 20,000 pods of vanished nodes.
        try:
            core.delete_collection_namespaced_pod(ns.metadata.name, grace_period_seconds=0, _request_timeout=300)
        except client.ApiException as e:
            # A busy API server gives up on a 1,000-pod delete after its 60 s request timeout (504), or etcd
            # does (500 "etcdserver: request timed out"); the namespace's deletion below finishes what is left.
            if e.status < 500:
                raise
        if not ns.metadata.deletion_timestamp:
            core.delete_namespace(ns.metadata.name)
    end = time.monotonic() + seconds
    while core.list_namespace(label_selector=f"{KWOK_LABEL}=true").items and time.monotonic() < end:
        time.sleep(2)
    # The nodes last, while kwok still renews their Leases: a fake node that goes NotReady queues an eviction in
    # kube-controller-manager's rate-limited tainter (0.1 node/s once most nodes are unhealthy), which delays the
    # taints of the real nodes the next scenarios fault, and deleting the node does not take it out of that queue.
    core.delete_collection_node(label_selector=f"{KWOK_LABEL}=true")
    while core.list_node(label_selector=f"{KWOK_LABEL}=true", limit=1).items and time.monotonic() < end:
        time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=20000)
    parser.add_argument("--namespaces", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="leave the fake nodes and pods (and kwok) behind")
    args = parser.parse_args()
    kubeconfig = ROOT / ".kube" / "chaos.kubeconfig"
    # Populating is this script's own load, not the harness's: its own client, not throttled to the harness's 50/s.
    cluster = connect(kubeconfig, "kind-chaos", ("kind-*",), qps=400, burst=400)
    core = cluster.core
    clean(core)
    reports = ROOT / "reports" / "scale"
    reports.mkdir(parents=True, exist_ok=True)
    baseline = one_round(cluster, "without kwok", reports / "baseline")
    kwok = subprocess.Popen([str(kwok_binary()), "--kubeconfig", str(direct_kubeconfig(core, kubeconfig, reports)),
                             "--manage-all-nodes=false",
                             "--config", str(kwok_stages(reports / "kwok-stages.yaml")),
                             f"--manage-nodes-with-label-selector={KWOK_LABEL}=true", "--cidr", "10.128.0.0/12",
                             "--node-lease-duration-seconds", "40"],
                            stdout=open(reports / "kwok.log", "w"), stderr=subprocess.STDOUT)
    try:
        populated = populate(core, args.nodes, args.pods, args.namespaces)
        started = time.monotonic()
        while (ready := ready_fake_nodes(core)) < args.nodes and time.monotonic() - started < 600:
            time.sleep(5)
        print(f"  {ready} fake nodes Ready {time.monotonic() - started:.0f}s after populating ({populated:.0f}s)",
              flush=True)
        # kwok makes the pods Running at its own pace, minutes after they were created (131 PATCH/s while it
        # catches up): measured before it is done, the run would time kwok's catching up, not a large cluster.
        while (pending := pending_fake_pods(core)) and time.monotonic() - started < 900:
            time.sleep(5)
        print(f"  every fake pod Running {time.monotonic() - started:.0f}s after populating"
              if not pending else f"  fake pods still not Running after {time.monotonic() - started:.0f}s", flush=True)
        scaled = one_round(cluster, f"with {args.nodes} fake nodes and {args.pods} fake pods", reports / "scaled")
        slower = (scaled["scenario_seconds"] - baseline["scenario_seconds"]) / baseline["scenario_seconds"] * 100
        compare_waits(baseline["results"], scaled["results"])
        print(f"scenario wall time with the fake nodes: {slower:+.0f}% (target within 10%); harness RSS "
              f"{scaled['rss_mib']:.0f} MiB (target <= 300); planning (doctor) {baseline['doctor_seconds']:.1f}s -> "
              f"{scaled['doctor_seconds']:.1f}s")
    finally:
        if not args.keep:
            clean(core)
            kwok.terminate()
            kwok.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
