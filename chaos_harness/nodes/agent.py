"""The node agent: node access for any cluster, without docker and without the kubelet in the path.

A run installs a DaemonSet (images/agent, one privileged pod per node, hostPID) in a namespace of its own,
`chaos-agent-<run>`, and removes the namespace at its end (`chaos-harness cleanup` removes what a killed run
left). Two channels go through the API server only, so they keep working while a node's kubelet is stopped:

- samples: each agent writes its node's running containers into the ConfigMap `chaos-agent-<node>` every
  interval, with every sample it could not publish yet (a slow API server); AgentFeed watches those
  ConfigMaps for the recorder, which records each sample once, with the node's time of sampling.
- kubelet control: the Lease `chaos-agent-<node>` carries the wanted state (annotation
  chaos-harness.io/kubelet: stopped|running). While a kubelet is held stopped this process renews the Lease
  every deadman/4 seconds; when renewals stop for `deadman_seconds` (the harness was killed, or lost the API),
  the agent starts the kubelet itself: the dead man's switch needs nothing of the harness.

Commands (crictl stop, iptables...) go through `exec` into the agent pod (nsenter into the host), which needs
the node's kubelet like any exec.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from kubernetes import client, watch

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import ClusterError, Conflict, FaultError, NotFound, WaitTimeout
from chaos_harness.core.kube import Cluster
from chaos_harness.core.labels import RUN_LABEL  # the label of everything a run creates
from chaos_harness.core.waits import node_condition, poll_until, watch_until
from chaos_harness.nodes.access import Emit, RuntimeContainer

log = logging.getLogger("chaos_harness.agent")

NAME = "chaos-agent"
APP_LABEL = "app.kubernetes.io/name"
SAMPLE_LABEL = "chaos-harness.io/agent-sample"
STATE_ANNOTATION = "chaos-harness.io/kubelet"
HEALED_ANNOTATION = "chaos-harness.io/healed-by"
# On the agent's namespace: the nodes its DaemonSet covers, still readable while the namespace is being deleted
# (its DaemonSet already gone), so whoever looks can tell which nodes' agent it was.
NODES_ANNOTATION = "chaos-harness.io/nodes"
DEFAULT_DEADMAN_SECONDS = 30


@dataclass(frozen=True)
class AgentConfig:
    """How the agent runs. `deadman_seconds` bounds how long a kubelet stays stopped after the harness stops
    renewing its Lease (killed, or cut off from the API)."""

    image: str
    deadman_seconds: int = DEFAULT_DEADMAN_SECONDS
    interval_seconds: float = 1.0
    runtime_endpoint: str = "unix:///run/containerd/containerd.sock"
    kubelet_unit: str = "kubelet"


def object_name(node: str) -> str:
    """The name of a node's sample ConfigMap and of its Lease."""
    return f"{NAME}-{node}"


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

    def __init__(self, cluster: Cluster, run_id: str, config: AgentConfig, nodes: Sequence[str]) -> None:
        self.cluster = cluster
        self.run_id = run_id
        self.config = config
        self.nodes = sorted(nodes)
        self.namespace = agent_namespace(run_id)

    def install(self, deadline_seconds: float = 120) -> float:
        """Create the namespace, RBAC and DaemonSet; return seconds until every node published a sample."""
        started = time.monotonic()
        core, ns = self.cluster.core, self.namespace
        labels = {APP_LABEL: NAME, RUN_LABEL: self.run_id}
        meta = lambda name: client.V1ObjectMeta(name=name, labels=labels)  # noqa: E731
        rbac = client.RbacAuthorizationV1Api(self.cluster.api)
        namespace = client.V1Namespace(metadata=client.V1ObjectMeta(
            name=ns, labels=labels, annotations={NODES_ANNOTATION: ",".join(self.nodes)}))
        _ignore_conflict(lambda: core.create_namespace(namespace, _request_timeout=15), f"creating namespace {ns}")
        _ignore_conflict(lambda: core.create_namespaced_service_account(
            ns, client.V1ServiceAccount(metadata=meta(NAME)), _request_timeout=15), "creating the agent's account")
        # Least privilege: its own samples and Leases in its own namespace, nothing else.
        _ignore_conflict(lambda: rbac.create_namespaced_role(ns, client.V1Role(metadata=meta(NAME), rules=[
            client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get", "create", "patch"]),
            client.V1PolicyRule(api_groups=["coordination.k8s.io"], resources=["leases"], verbs=["get", "patch"]),
        ]), _request_timeout=15), "creating the agent's Role")
        _ignore_conflict(lambda: rbac.create_namespaced_role_binding(ns, client.V1RoleBinding(
            metadata=meta(NAME), role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name=NAME),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name=NAME, namespace=ns)]), _request_timeout=15),
            "creating the agent's RoleBinding")
        _ignore_conflict(lambda: client.AppsV1Api(self.cluster.api).create_namespaced_daemon_set(
            ns, self.daemon_set(labels), _request_timeout=15), "creating the agent DaemonSet")
        self.wait_published(started + deadline_seconds)
        return time.monotonic() - started

    def daemon_set(self, labels: dict[str, str]) -> client.V1DaemonSet:
        c = self.config
        socket_dir = c.runtime_endpoint.removeprefix("unix://").rsplit("/", 1)[0]
        env = [client.V1EnvVar(name="NODE_NAME", value_from=client.V1EnvVarSource(
                   field_ref=client.V1ObjectFieldSelector(field_path="spec.nodeName"))),
               client.V1EnvVar(name="POD_NAMESPACE", value_from=client.V1EnvVarSource(
                   field_ref=client.V1ObjectFieldSelector(field_path="metadata.namespace")))]
        return client.V1DaemonSet(
            metadata=client.V1ObjectMeta(name=NAME, labels=labels),
            spec=client.V1DaemonSetSpec(
                selector=client.V1LabelSelector(match_labels={APP_LABEL: NAME}),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(
                        service_account_name=NAME, host_pid=True, host_network=True,
                        dns_policy="ClusterFirstWithHostNet", termination_grace_period_seconds=5,
                        tolerations=[client.V1Toleration(operator="Exists")],
                        affinity=client.V1Affinity(node_affinity=client.V1NodeAffinity(
                            # A field selector takes one value per term; terms are ORed: one per node.
                            required_during_scheduling_ignored_during_execution=client.V1NodeSelector(
                                node_selector_terms=[client.V1NodeSelectorTerm(match_fields=[
                                    client.V1NodeSelectorRequirement(key="metadata.name", operator="In",
                                                                     values=[node])]) for node in self.nodes]))),
                        containers=[client.V1Container(
                            name="agent", image=c.image, image_pull_policy="IfNotPresent", env=env,
                            args=[f"-interval={c.interval_seconds}s", f"-runtime-endpoint={c.runtime_endpoint}",
                                  f"-kubelet-unit={c.kubelet_unit}"],
                            security_context=client.V1SecurityContext(privileged=True),
                            resources=client.V1ResourceRequirements(requests={"cpu": "10m", "memory": "16Mi"},
                                                                    limits={"memory": "64Mi"}),
                            volume_mounts=[client.V1VolumeMount(name="runtime", mount_path=socket_dir)])],
                        volumes=[client.V1Volume(name="runtime", host_path=client.V1HostPathVolumeSource(
                            path=socket_dir, type="Directory"))]))))

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
        """Delete the agent's namespace and wait until it is gone. An agent holding a kubelet stopped starts it
        when it is told to exit, so this heals too."""
        from chaos_harness.core.namespaces import delete_namespace

        delete_namespace(self.cluster, self.namespace, deadline_seconds)


class AgentNodeAccess:
    """NodeAccess through the node agent of one run."""

    name = "agent"
    capabilities: frozenset[str] = frozenset()

    def __init__(self, cluster: Cluster, agent: NodeAgent) -> None:
        self.cluster = cluster
        self.agent = agent
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._stop_renewing = threading.Event()

    @classmethod
    def attach(cls, cluster: Cluster, run_id: str) -> "AgentNodeAccess":
        """The access of a run that is gone (for `cleanup`): its agent namespace may still exist, or not."""
        return cls(cluster, NodeAgent(cluster, run_id, AgentConfig(image="(attached)"), []))

    @property
    def namespace(self) -> str:
        return self.agent.namespace

    # --- samples -------------------------------------------------------------------------------------------

    def latest_sample(self, node: str) -> dict[str, Any]:
        try:
            with api_errors("reading it"):
                cm = self.cluster.core.read_namespaced_config_map(object_name(node), self.namespace,
                                                                  _request_timeout=10)
        except ClusterError as e:
            raise FaultError(f"no sample from the node agent on {node}: {e}") from e
        sample = parse_sample(cm)
        if not sample:
            raise FaultError(f"the node agent on {node} has published no sample yet")
        return sample

    def runtime_containers(self, node: str, timeout: float = 30) -> list[RuntimeContainer]:
        return sample_containers(self.latest_sample(node))

    def runtime_feed(self, nodes: Sequence[str], interval: float) -> "AgentFeed":
        return AgentFeed(self.cluster, self.namespace, set(nodes))

    def kubelet_active(self, node: str) -> bool:
        state = self.latest_sample(node).get("kubelet")
        if not state:
            raise FaultError(f"the node agent on {node} reports no kubelet state")
        return state == "active"

    # --- kubelet control through the Lease -----------------------------------------------------------------

    def _set_lease(self, node: str, state: str) -> None:
        coord = client.CoordinationV1Api(self.cluster.api)
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=object_name(node), annotations={STATE_ANNOTATION: state},
                                         labels={APP_LABEL: NAME, RUN_LABEL: self.agent.run_id}),
            spec=client.V1LeaseSpec(holder_identity=f"chaos-harness/{self.agent.run_id}",
                                    lease_duration_seconds=self.agent.config.deadman_seconds,
                                    renew_time=micro_time()))
        try:
            with api_errors(f"creating the Lease for {node}"):
                coord.create_namespaced_lease(self.namespace, body, _request_timeout=10)
        except Conflict:
            patch = {"metadata": {"annotations": {STATE_ANNOTATION: state, HEALED_ANNOTATION: None}},
                     "spec": {"renewTime": micro_time(), "leaseDurationSeconds": self.agent.config.deadman_seconds}}
            with api_errors(f"updating the Lease for {node}"):
                coord.patch_namespaced_lease(object_name(node), self.namespace, patch, _request_timeout=10)

    def _wait_kubelet(self, node: str, state: str, deadline_seconds: float) -> None:
        def reached(cm: Any) -> bool:
            sample = parse_sample(cm)
            return bool(sample) and sample.get("kubelet") == state

        try:
            watch_until(self.cluster.core.list_namespaced_config_map, reached, deadline_seconds,
                        f"kubelet on {node} {state} (node agent)", namespace=self.namespace,
                        field_selector=f"metadata.name={object_name(node)}")
        except WaitTimeout as e:
            raise FaultError(f"the node agent on {node} did not report the kubelet {state} within "
                             f"{deadline_seconds:.0f}s") from e

    def kubelet_stop(self, node: str) -> None:
        # Renewals start before the stop is asked for: the switch is armed the moment the Lease says stopped.
        with self._lock:
            self._held.add(node)
            self._ensure_renewer()
        self._set_lease(node, "stopped")
        self._wait_kubelet(node, "inactive", 30)

    def kubelet_start(self, node: str) -> None:
        with self._lock:
            self._held.discard(node)
        try:
            self._set_lease(node, "running")
        except NotFound:
            # The agent namespace is gone: its agent started the kubelet on exit (or its switch fired). The
            # node's own Ready condition, posted by the kubelet, is the proof.
            watch_until(self.cluster.core.list_node, lambda n: node_condition(n) == "True",
                        self.agent.config.deadman_seconds + 120, f"{node} Ready (kubelet back)",
                        field_selector=f"metadata.name={node}")
            return
        self._wait_kubelet(node, "active", 60)

    def _ensure_renewer(self) -> None:
        if self._renewer and self._renewer.is_alive():
            return
        self._stop_renewing.clear()
        self._renewer = threading.Thread(target=self._renew_loop, name="agent-lease-renewer", daemon=True)
        self._renewer.start()

    def _renew_loop(self) -> None:
        coord = client.CoordinationV1Api(self.cluster.api)
        period = max(1.0, self.agent.config.deadman_seconds / 4)
        while not self._stop_renewing.wait(period):
            with self._lock:
                held = sorted(self._held)
            for node in held:
                try:
                    with api_errors(f"renewing the Lease of {node}"):
                        coord.patch_namespaced_lease(object_name(node), self.namespace,
                                                     {"spec": {"renewTime": micro_time()}}, _request_timeout=5)
                except ClusterError as e:
                    log.warning("renewing the Lease of %s: %s", node, e)  # the next period tries again

    # --- commands ------------------------------------------------------------------------------------------

    def _pod_on(self, node: str) -> str:
        pods = self.cluster.core.list_namespaced_pod(self.namespace, field_selector=f"spec.nodeName={node}",
                                                     label_selector=f"{APP_LABEL}={NAME}", _request_timeout=10)
        running = [p.metadata.name for p in pods.items if p.status.phase == "Running"]
        if not running:
            raise FaultError(f"no running node agent on {node} in {self.namespace}")
        return running[0]

    def exec(self, node: str, *cmd: str, timeout: float = 30) -> str:
        """Run `cmd` in the node's host namespaces through the agent pod (needs the node's kubelet)."""
        pod = self._pod_on(node)
        command = ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", *cmd]
        try:
            return self.cluster.exec(self.namespace, pod, command, timeout=timeout).check(f"{' '.join(cmd)} on {node}")
        except ClusterError as e:
            raise FaultError(f"{e} (through {self.namespace}/{pod})") from e

    def close(self) -> None:
        self._stop_renewing.set()


class AgentFeed:
    """The recorder's runtime samples from the agents' ConfigMaps: list, then watch, re-list on 410."""

    def __init__(self, cluster: Cluster, namespace: str, nodes: set[str]) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.nodes = nodes

    def loops(self) -> dict[str, Callable[[threading.Event, Emit], None]]:
        return {"agent-samples": self._watch}

    def _watch(self, stop: threading.Event, emit: Emit) -> None:
        core = self.cluster.core
        # Per node and agent process: a restarted agent counts from 1 again.
        last_seq: dict[tuple[str, Any], int] = {}

        def take(cm: Any) -> None:
            for sample in parse_samples(cm):
                key = (sample["node"], sample.get("started"))
                if sample["node"] not in self.nodes or sample["seq"] <= last_seq.get(key, 0):
                    continue
                last_seq[key] = sample["seq"]
                extra = {"source": "agent", "agent_seq": sample["seq"], "sampled_at": sample["sampled_at"],
                         "kubelet": sample.get("kubelet")}
                if sample.get("deadman"):
                    extra["deadman"] = sample["deadman"]
                if sample.get("ok"):
                    emit(sample["node"], True, containers=sample_containers(sample), **extra)
                else:
                    emit(sample["node"], False, error=sample.get("error"), **extra)

        rv: str | None = None
        while not stop.is_set():
            try:
                with api_errors("watching the node agent's samples"):
                    if rv is None:
                        listed = core.list_namespaced_config_map(self.namespace, label_selector=SAMPLE_LABEL,
                                                                 _request_timeout=10)
                        for cm in listed.items:
                            take(cm)
                        rv = listed.metadata.resource_version
                    for ev in watch.Watch().stream(core.list_namespaced_config_map, self.namespace,
                                                   label_selector=SAMPLE_LABEL, resource_version=rv, timeout_seconds=5,
                                                   _request_timeout=15):
                        if ev["type"] == "ERROR":
                            rv = None
                            break
                        rv = ev["object"].metadata.resource_version
                        if ev["type"] != "DELETED":
                            take(ev["object"])
                        if stop.is_set():
                            break
            except ClusterError as e:
                log.debug("agent sample watch: %s", e)
                rv = None
                stop.wait(1)
