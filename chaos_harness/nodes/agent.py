"""The node agent: node access for any cluster, without docker and without the kubelet in the path.

A run installs a DaemonSet (images/agent, one privileged pod per node, hostPID) in a namespace of its own,
`chaos-agent-<run>`, and removes the namespace at its end (`chaos-harness cleanup` removes what a killed run
left). Two channels go through the API server only, so they keep working while a node's kubelet is stopped:

- samples: each agent reads its node's running containers every interval and writes into the ConfigMap
  `chaos-agent-<node>` only a sample that changed (containers of the namespaces its Lease names in
  chaos-harness.io/namespaces, the kubelet, the fault held) and a heartbeat every `heartbeat_seconds`, each
  naming the last change and the previous sample (images/agent/publish.go), so the samples it did not send are
  known to have looked like the last change (judge/evidence.py puts them back). Samples stay in the
  ConfigMap until the harness acknowledges them on the Lease (chaos-harness.io/seen). AgentFeed watches those
  ConfigMaps for the recorder, which records each sample once, with the node's time of sampling.
- node faults: the Lease `chaos-agent-<node>` names the fault to hold (annotation chaos-harness.io/hold:
  kubelet-stop, network-partition, node-pause, or none), each injection with an id and a time box the node
  enforces on its own clock; the agent answers on the same Lease (applied + evidence, hold-error, ended). While
  a fault is held this process renews the Lease every deadman/4 seconds; when renewals stop for
  `deadman_seconds` (the harness was killed, or lost the API), the agent undoes the fault itself, and the host's
  own systemd undoes it if the agent is gone too: none of it needs the harness. A partition lets the agent's
  Lease traffic through (a socket mark), not its samples: those arrive after the heal.

Commands (crictl stop for a container kill) go through `exec` into the agent pod (nsenter into the host), which
needs the node's kubelet like any exec.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kubernetes import client

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import ClusterError, Conflict
from chaos_harness.core.kube import Cluster
from chaos_harness.core.light import light_list
from chaos_harness.core.labels import MANAGED_BY, RUN_LABEL  # the labels of everything a run creates
from chaos_harness.core.waits import poll_until
from chaos_harness.nodes.access import RuntimeContainer

log = logging.getLogger("chaos_harness.agent")

NAME = "chaos-agent"
APP_LABEL = "app.kubernetes.io/name"
SAMPLE_LABEL = "chaos-harness.io/agent-sample"
# The harness asks (images/agent/hold.go): which fault to hold, a new id per injection, its time box (seconds,
# on the node's clock), and for a partition the API server addresses to cut off (host:port, comma-separated).
HOLD_ANNOTATION = "chaos-harness.io/hold"
HOLD_ID_ANNOTATION = "chaos-harness.io/hold-id"
HOLD_SECONDS_ANNOTATION = "chaos-harness.io/hold-seconds"
HOLD_PEERS_ANNOTATION = "chaos-harness.io/hold-peers"
# Which run asks, and the run Lease (namespace/name) it must still hold for the agent to take the hold.
HOLD_RUN_ANNOTATION = "chaos-harness.io/hold-run"
HOLD_RUN_LOCK_ANNOTATION = "chaos-harness.io/hold-run-lock"
# The agent answers: the id once the fault is in force (and what it saw), the id with what went wrong, the id
# once undone, and which bound undid it when the harness did not (deadman, time-box, outside, agent-restart).
APPLIED_ANNOTATION = "chaos-harness.io/applied"
EVIDENCE_ANNOTATION = "chaos-harness.io/evidence"
HOLD_ERROR_ANNOTATION = "chaos-harness.io/hold-error"
ENDED_ANNOTATION = "chaos-harness.io/ended"
HEALED_ANNOTATION = "chaos-harness.io/healed-by"
NO_HOLD = "none"
# On the agent's namespace: the nodes its DaemonSet covers, still readable while the namespace is being deleted
# (its DaemonSet already gone), so whoever looks can tell which nodes' agent it was.
NODES_ANNOTATION = "chaos-harness.io/nodes"
# On the agent's namespace: the run Lease (namespace/name) its run held. Once that run no longer holds it (killed,
# lost it), the namespace is an orphan: the next run of that Lease, or `cleanup`, removes it (orphans()).
RUN_LOCK_ANNOTATION = "chaos-harness.io/run-lock"
# On a node's Lease, for its agent's samples: the namespaces whose containers it reports (comma-separated, "*" for
# all, absent for none) and the newest sample the harness has read ("<seq>@<started>").
SCOPE_ANNOTATION = "chaos-harness.io/namespaces"
SEEN_ANNOTATION = "chaos-harness.io/seen"
DEFAULT_DEADMAN_SECONDS = 30
# The node's own limits on any hold (the agent's -max-hold and -max-switch, set here at install, never taken from
# a Lease): the longest time box (the faithful profile's fault time box is 1000 s) and the longest dead man's switch.
DEFAULT_MAX_HOLD_SECONDS = 1200
DEFAULT_MAX_SWITCH_SECONDS = 120
NODE_LABEL = "chaos-harness.io/node"


@dataclass(frozen=True)
class AgentConfig:
    """How the agent runs. `deadman_seconds` bounds how long a kubelet stays stopped after the harness stops
    renewing its Lease (killed, or cut off from the API)."""

    image: str
    deadman_seconds: int = DEFAULT_DEADMAN_SECONDS
    interval_seconds: float = 1.0
    # An unchanged sample is published this often (a change at once): the agent's idle cost, and how long a
    # node's view stands for it (judge/evidence.staleness).
    heartbeat_seconds: float = 10.0
    # Empty: the agent finds them on each node (images/agent/layout.go): the kubelet's unit from the cgroup of
    # the process serving the kubelet's port, the CRI endpoint from the kubelet's flags or config, else the
    # known sockets matched against nodeInfo.containerRuntimeVersion.
    runtime_endpoint: str = ""
    kubelet_unit: str = ""
    # The node's limits (images/agent/bounds.go): a hold asking for more is refused by the agent itself.
    max_hold_seconds: int = DEFAULT_MAX_HOLD_SECONDS
    max_switch_seconds: int = DEFAULT_MAX_SWITCH_SECONDS

    def problem(self, time_box_seconds: float) -> str | None:
        """One line naming the option to change when what this run would ask is beyond the agent's limits."""
        if self.deadman_seconds > self.max_switch_seconds:
            return (f"--agent-deadman-seconds {self.deadman_seconds} is beyond the node agent's limit of "
                    f"{self.max_switch_seconds}s: the agent would refuse every fault; use at most that")
        if time_box_seconds > self.max_hold_seconds:
            return (f"a node fault here is time-boxed at {time_box_seconds:.0f}s (twice the grace period and the "
                    f"unreachable toleration, plus 300 s), beyond the node agent's limit of {self.max_hold_seconds}s")
        return None


@dataclass(frozen=True)
class NodeLayout:
    """What the agent found on a node (its data.layout), and how."""

    node: str
    kubelet_unit: str
    kubelet_how: str
    runtime_endpoint: str
    runtime_how: str
    runtime: str

    def problem(self) -> str | None:
        """One line naming what is missing and the override that supplies it; None when nothing is."""
        if not self.runtime_endpoint:
            return (f"the node agent on {self.node} found no container runtime ({self.runtime_how}); "
                    f"name it with --agent-runtime-endpoint unix:///PATH")
        if not self.kubelet_unit:
            return (f"the node agent on {self.node} found no kubelet unit ({self.kubelet_how}); "
                    f"name it with --agent-kubelet-unit UNIT")
        return None

    def describe(self) -> str:
        return (f"kubelet unit {self.kubelet_unit or '?'} ({self.kubelet_how}); runtime "
                f"{self.runtime_endpoint or '?'} {self.runtime} ({self.runtime_how})")


def parse_layout(cm: Any) -> NodeLayout | None:
    raw = (cm.data or {}).get("layout") if cm is not None else None
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    node = (cm.metadata.labels or {}).get("chaos-harness.io/node", "") if cm.metadata else ""
    return NodeLayout(node, doc.get("kubelet_unit", ""), doc.get("kubelet_how", ""), doc.get("runtime_endpoint", ""),
                      doc.get("runtime_how", ""), doc.get("runtime", ""))


def object_name(node: str) -> str:
    """The name of a node's sample ConfigMap and of its Lease."""
    return f"{NAME}-{node}"


def node_of(object_name_: str) -> str:
    """The node a sample ConfigMap (or Lease) of the agent is named for: the inverse of object_name."""
    return object_name_.removeprefix(f"{NAME}-")


def agent_namespace(run_id: str) -> str:
    return f"chaos-agent-{run_id.lower().replace('_', '-')}"[:63].rstrip("-")


def micro_time(t: float | None = None) -> str:
    """A Lease's MicroTime."""
    return datetime.fromtimestamp(t if t is not None else time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_sample(cm: Any) -> dict[str, Any] | None:
    raw = (cm.data or {}).get("sample") if cm is not None else None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def parse_samples(cm: Any) -> list[dict[str, Any]]:
    """Every sample a ConfigMap update carries, oldest first: `data.recent` (the samples the agent had not
    yet published when it wrote) or, from an agent that does not write it, just `data.sample`."""
    raw = (cm.data or {}).get("recent") if cm is not None else None
    try:
        recent = json.loads(raw) if raw else None
    except ValueError:
        recent = None
    if isinstance(recent, list) and recent and all(isinstance(s, dict) and "seq" in s for s in recent):
        return sorted(recent, key=lambda s: s["seq"])
    latest = parse_sample(cm)
    return [latest] if latest else []


def covers(sample: dict[str, Any], namespace: str) -> bool:
    """Whether `sample` lists every container of `namespace` ("*": of every namespace). A sample of an agent
    that does not say (an older one) lists them all."""
    scope = sample.get("namespaces")
    return scope is None or "*" in scope or namespace in scope


def sample_containers(sample: dict[str, Any]) -> list[RuntimeContainer]:
    return [RuntimeContainer(node=sample["node"], container_id=c["id"], name=c["name"], pod_name=c["pod"],
                             pod_namespace=c["namespace"], pod_uid=c["pod_uid"], state=c["state"],
                             created_at_ns=int(c["created_ns"])) for c in sample.get("containers") or []]


def _ignore_conflict(call: Callable[[], Any], what: str) -> None:
    try:
        with api_errors(what):
            call()
    except Conflict:
        pass  # already there


class NodeAgent:
    """The agent DaemonSet of one run: install it on `nodes`, wait until each node has published a sample,
    remove it (the namespace and everything in it) at the end."""

    def __init__(self, cluster: Cluster, run_id: str, config: AgentConfig, nodes: Sequence[str],
                 run_lock: str = "") -> None:
        self.cluster = cluster
        self.run_id = run_id
        self.run_lock = run_lock
        self.config = config
        self.nodes = sorted(nodes)
        self.namespace = agent_namespace(run_id)
        self.kubelet_port = 10250  # the kubelet's default; read_nodes() takes what the nodes report
        self.runtimes: list[str] = []

    def install(self, deadline_seconds: float = 120, check_layouts: bool = True) -> float:
        """Create the namespace and, for each node, its own identity, objects and agent; return seconds until every
        node published a sample (and, with `check_layouts`, its layout has the kubelet's unit and the runtime:
        check_layouts())."""
        started = time.monotonic()
        self.read_nodes()
        core, ns = self.cluster.core, self.namespace
        labels = {APP_LABEL: NAME, RUN_LABEL: self.run_id}
        annotations = {NODES_ANNOTATION: ",".join(self.nodes)}
        ns_labels = {**MANAGED_BY, **labels}  # a namespace the harness made: the one kind it may write in
        if self.run_lock:
            annotations[RUN_LOCK_ANNOTATION] = self.run_lock
        namespace = client.V1Namespace(metadata=client.V1ObjectMeta(name=ns, labels=ns_labels, annotations=annotations))
        _ignore_conflict(lambda: core.create_namespace(namespace, _request_timeout=15), f"creating namespace {ns}")
        for node in self.nodes:
            self._install_on(node, labels)
        if self.run_lock:
            self._let_read_run_lock(labels)
        self.wait_published(started + deadline_seconds)
        if check_layouts:
            self.check_layouts()
        return time.monotonic() - started

    def _install_on(self, node: str, labels: dict[str, str]) -> None:
        """One node's agent with an identity of its own. Least privilege: it may read, watch and patch its own
        node's Lease and sample ConfigMap and nothing else (RBAC resourceNames: node A's agent cannot ask node B
        for a fault). Both objects are made here, since a create cannot be limited to a name."""
        core, ns, name = self.cluster.core, self.namespace, object_name(node)
        mine = {**labels, NODE_LABEL: node}
        meta = client.V1ObjectMeta(name=name, labels=mine)
        rbac = client.RbacAuthorizationV1Api(self.cluster.api)
        _ignore_conflict(lambda: core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name=name, labels={**mine, SAMPLE_LABEL: "true"})), _request_timeout=15),
            f"creating the sample ConfigMap of {node}")
        _ignore_conflict(lambda: client.CoordinationV1Api(self.cluster.api).create_namespaced_lease(ns, client.V1Lease(
            metadata=meta, spec=client.V1LeaseSpec(holder_identity=f"chaos-harness/{self.run_id}",
                                                   lease_duration_seconds=self.config.deadman_seconds,
                                                   renew_time=micro_time())), _request_timeout=15),
            f"creating the Lease of {node}")
        _ignore_conflict(lambda: core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=meta), _request_timeout=15), f"creating the agent account of {node}")
        _ignore_conflict(lambda: rbac.create_namespaced_role(ns, client.V1Role(metadata=meta, rules=[
            client.V1PolicyRule(api_groups=[""], resources=["configmaps"], resource_names=[name],
                                verbs=["get", "patch"]),
            client.V1PolicyRule(api_groups=["coordination.k8s.io"], resources=["leases"], resource_names=[name],
                                verbs=["get", "list", "watch", "patch"]),
        ]), _request_timeout=15), f"creating the agent Role of {node}")
        _ignore_conflict(lambda: rbac.create_namespaced_role_binding(ns, client.V1RoleBinding(
            metadata=meta, role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=name),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=ns)]), _request_timeout=15),
            f"creating the agent RoleBinding of {node}")
        _ignore_conflict(lambda: client.AppsV1Api(self.cluster.api).create_namespaced_daemon_set(
            ns, self.daemon_set(mine, node), _request_timeout=15), f"creating the agent of {node}")

    def _let_read_run_lock(self, labels: dict[str, str]) -> None:
        """Each node's agent may read the run Lease (that one Lease, nothing else there): it takes a hold only
        while the run asking for it still holds that Lease. A Role beside the Lease, and one RoleBinding per run,
        removed with the agent."""
        rbac = client.RbacAuthorizationV1Api(self.cluster.api)
        lock_ns, lock_name = self.run_lock.split("/", 1)
        role = f"chaos-agent-read-{lock_name}"[:253]
        _ignore_conflict(lambda: rbac.create_namespaced_role(lock_ns, client.V1Role(
            metadata=client.V1ObjectMeta(name=role, labels={**MANAGED_BY, APP_LABEL: NAME}),
            rules=[client.V1PolicyRule(api_groups=["coordination.k8s.io"], resources=["leases"],
                                       resource_names=[lock_name], verbs=["get"])]), _request_timeout=15),
            f"creating the Role that lets agents read {self.run_lock}")
        _ignore_conflict(lambda: rbac.create_namespaced_role_binding(lock_ns, client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name=self.namespace, labels=labels),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=role),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=object_name(n), namespace=self.namespace)
                      for n in self.nodes]), _request_timeout=15), f"letting this run's agents read {self.run_lock}")

    def daemon_set(self, labels: dict[str, str], node: str) -> client.V1DaemonSet:
        """The agent of one node: a DaemonSet pinned to it (so that a pod restarted for any reason comes back
        there), running as that node's own ServiceAccount."""
        c = self.config
        env = [client.V1EnvVar(name="NODE_NAME", value_from=client.V1EnvVarSource(
                   field_ref=client.V1ObjectFieldSelector(field_path="spec.nodeName"))),
               client.V1EnvVar(name="POD_NAMESPACE", value_from=client.V1EnvVarSource(
                   field_ref=client.V1ObjectFieldSelector(field_path="metadata.namespace"))),
               # A pause freezes every pod's cgroup but this one's.
               client.V1EnvVar(name="POD_UID", value_from=client.V1EnvVarSource(
                   field_ref=client.V1ObjectFieldSelector(field_path="metadata.uid")))]
        return client.V1DaemonSet(
            metadata=client.V1ObjectMeta(name=object_name(node), labels=labels),
            spec=client.V1DaemonSetSpec(
                selector=client.V1LabelSelector(match_labels={APP_LABEL: NAME, NODE_LABEL: node}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        service_account_name=object_name(node), host_pid=True, host_network=True,
                        dns_policy="ClusterFirstWithHostNet", termination_grace_period_seconds=5,
                        # Every taint a faulted node gets (unreachable and not-ready NoExecute among them), and
                        # the priority that the kubelet evicts last: the agent is what heals the node.
                        tolerations=[client.V1Toleration(operator="Exists")],
                        priority_class_name="system-node-critical",
                        affinity=client.V1Affinity(node_affinity=client.V1NodeAffinity(
                            required_during_scheduling_ignored_during_execution=client.V1NodeSelector(
                                node_selector_terms=[client.V1NodeSelectorTerm(match_fields=[
                                    client.V1NodeSelectorRequirement(key="metadata.name", operator="In",
                                                                     values=[node])])]))),
                        containers=[client.V1Container(
                            name="agent", image=c.image, image_pull_policy="IfNotPresent", env=env,
                            args=self.args(),
                            security_context=client.V1SecurityContext(privileged=True),
                            resources=client.V1ResourceRequirements(requests={"cpu": "10m", "memory": "16Mi"},
                                                                    limits={"memory": "64Mi"}))]))))

    def args(self) -> list[str]:
        """The agent's flags: what the user named, else what it is to find on each node, and what the nodes
        say of themselves (their kubelet's port, their runtimes' versions) to check what it finds against."""
        c = self.config
        args = [f"-interval={c.interval_seconds}s", f"-heartbeat={c.heartbeat_seconds}s",
                f"-kubelet-port={self.kubelet_port}", f"-max-hold={c.max_hold_seconds}s",
                f"-max-switch={c.max_switch_seconds}s"]
        if self.runtimes:
            args.append(f"-expect-runtime={','.join(self.runtimes)}")
        if c.runtime_endpoint:
            args.append(f"-runtime-endpoint={c.runtime_endpoint}")
        if c.kubelet_unit:
            args.append(f"-kubelet-unit={c.kubelet_unit}")
        return args

    def read_nodes(self) -> None:
        """The kubelet port and runtime versions the target nodes report (status.daemonEndpoints, nodeInfo)."""
        wanted, ports, runtimes = set(self.nodes), [], set()
        with api_errors("reading the target nodes"):
            for n in light_list(self.cluster.core.list_node, _request_timeout=15).items:  # plain JSON: every node
                if n.metadata.name not in wanted or n.status is None:
                    continue
                endpoint = n.status.daemon_endpoints.kubelet_endpoint if n.status.daemon_endpoints else None
                if endpoint and endpoint.port:
                    ports.append(endpoint.port)
                if n.status.node_info and n.status.node_info.container_runtime_version:
                    runtimes.add(n.status.node_info.container_runtime_version)
        if ports:
            self.kubelet_port = max(set(ports), key=ports.count)
        self.runtimes = sorted(runtimes)

    def layouts(self) -> dict[str, NodeLayout]:
        """What each node's agent found (published beside its samples)."""
        with api_errors("reading the node agent's layouts"):
            items = self.cluster.core.list_namespaced_config_map(self.namespace, label_selector=SAMPLE_LABEL,
                                                                 _request_timeout=10).items
        found = {}
        for cm in items:
            layout = parse_layout(cm)
            if layout and layout.node in self.nodes:
                found[layout.node] = layout
        return found

    def check_layouts(self) -> dict[str, NodeLayout]:
        """Every node's layout, or one line naming the first node where the kubelet's unit or the runtime was
        not found and the option that names it (before anything is injected)."""
        layouts = self.layouts()
        for node in self.nodes:
            layout = layouts.get(node)
            if layout is None:
                raise ClusterError(f"the node agent on {node} published no layout (an older agent image?); "
                                   f"use the image of this harness's version with --agent-image")
            if problem := layout.problem():
                raise ClusterError(problem)
        return layouts

    def wait_published(self, deadline: float) -> None:
        """Until every node's ConfigMap holds a sample. A pod that cannot pull its image is named at once."""
        pending = set(self.nodes)

        def published() -> bool | None:
            with api_errors("listing the node agent's samples"):
                for cm in self.cluster.core.list_namespaced_config_map(
                        self.namespace, label_selector=SAMPLE_LABEL, _request_timeout=10).items:
                    sample = parse_sample(cm)
                    if sample:
                        pending.discard(sample["node"])
            if pending:
                self._raise_on_pod_trouble()
            return not pending or None

        # Several objects of several kinds: a short poll bounded by the deadline.
        poll_until(published, max(0.0, deadline - time.monotonic()),
                   f"the node agent publishing from {', '.join(sorted(pending))}", 1, self.diagnostics)

    def _raise_on_pod_trouble(self) -> None:
        for pod in self.cluster.core.list_namespaced_pod(self.namespace, _request_timeout=10).items:
            for status in pod.status.container_statuses or []:
                waiting = status.state.waiting if status.state else None
                if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
                    raise ClusterError(f"the node agent image {self.config.image} cannot be pulled on "
                                       f"{pod.spec.node_name} ({waiting.reason}); set it with --agent-image")

    def diagnostics(self) -> str:
        lines = []
        try:
            for pod in self.cluster.core.list_namespaced_pod(self.namespace, _request_timeout=10).items:
                lines.append(f"agent pod {pod.metadata.name} on {pod.spec.node_name}: {pod.status.phase}")
        except Exception as e:
            lines.append(f"(diagnostics incomplete: {e})")
        return "\n".join(lines)

    def remove(self, deadline_seconds: float = 120) -> None:
        """Delete the agent's namespace and wait until it is gone. An agent holding a fault undoes it when it is
        told to exit, so this heals too."""
        from chaos_harness.core.namespaces import delete_namespace

        if self.run_lock:
            try:
                with api_errors("removing the agents' binding to the run Lease"):
                    client.RbacAuthorizationV1Api(self.cluster.api).delete_namespaced_role_binding(
                        self.namespace, self.run_lock.split("/", 1)[0], _request_timeout=15)
            except ClusterError:
                pass  # gone already, or not ours to delete: it binds ServiceAccounts that go with the namespace
        delete_namespace(self.cluster, self.namespace, deadline_seconds)


def orphans(cluster: Cluster, run_lock: str, live_runs: Sequence[str]) -> list[str]:
    """The agent namespaces of runs of the run Lease `run_lock` (namespace/name) that no longer hold it: what a
    killed run's privileged agents left. Their agents undo whatever they hold (no renewals: the switch); the
    namespaces, their DaemonSets and their RBAC go here."""
    with api_errors("listing the node agents' namespaces"):
        found = cluster.core.list_namespace(label_selector=f"{APP_LABEL}={NAME}", _request_timeout=15).items
    return sorted(n.metadata.name for n in found
                  if (n.metadata.annotations or {}).get(RUN_LOCK_ANNOTATION) == run_lock
                  and (n.metadata.labels or {}).get(RUN_LABEL) not in live_runs
                  and n.status is not None and n.status.phase != "Terminating")


def remove_orphans(cluster: Cluster, run_lock: str, live_runs: Sequence[str]) -> list[str]:
    """Delete the orphans (in the background: the namespace controller finishes); their names."""
    gone = orphans(cluster, run_lock, live_runs)
    for ns in gone:
        try:
            with api_errors(f"deleting the orphaned node agent namespace {ns}"):
                cluster.core.delete_namespace(ns, _request_timeout=15)
        except ClusterError as e:
            log.warning("%s", e)
    return gone

