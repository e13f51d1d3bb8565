"""The cluster's own timing settings, read from the control plane's static pods (with Kubernetes' defaults
where a flag is not set): the ClusterTiming (chaos_harness/core/timing.py) every deadline and checker window
derives from.

A managed control plane shows no kube-controller-manager or kube-apiserver pod: then each value comes from
the run's configuration (`overrides`) or Kubernetes' default, and its name is listed in `assumed`, which
results.json and the report show next to every window derived from it."""

from __future__ import annotations

from chaos_harness.core.api_errors import from_api_exception
from chaos_harness.core.errors import ClusterError
from chaos_harness.core.kube import Cluster
from chaos_harness.core.timing import (DEFAULT_NODE_MONITOR_GRACE_PERIOD, DEFAULT_NODE_MONITOR_PERIOD,
                                       DEFAULT_TOLERATION_SECONDS, ClusterTiming, parse_duration)


def flags_of(command: list[str]) -> dict[str, str]:
    flags = {}
    for arg in command:
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            flags[key] = value
    return flags


def component_flags(cluster: Cluster, component: str) -> dict[str, str] | None:
    """The flags of the control-plane component's static pod; None when the cluster does not show one
    (a managed control plane)."""
    try:
        pods = cluster.core.list_namespaced_pod("kube-system", label_selector=f"component={component}",
                                                _request_timeout=10)
    except Exception as e:
        raise from_api_exception(e, f"reading {component} flags") from e
    if not pods.items:
        return None
    container = pods.items[0].spec.containers[0]
    return flags_of(list(container.command or []) + list(container.args or []))


# Where each value lives: (component, flag, parser, Kubernetes' default).
_SOURCES = {
    "node_monitor_grace_period": ("kube-controller-manager", "node-monitor-grace-period", parse_duration,
                                  DEFAULT_NODE_MONITOR_GRACE_PERIOD),
    "node_monitor_period": ("kube-controller-manager", "node-monitor-period", parse_duration,
                            DEFAULT_NODE_MONITOR_PERIOD),
    "not_ready_toleration_seconds": ("kube-apiserver", "default-not-ready-toleration-seconds", float,
                                     DEFAULT_TOLERATION_SECONDS),
    "unreachable_toleration_seconds": ("kube-apiserver", "default-unreachable-toleration-seconds", float,
                                       DEFAULT_TOLERATION_SECONDS),
}


def read_timing(cluster: Cluster, overrides: dict[str, float] | None = None) -> ClusterTiming:
    """Flags where the control plane shows them (a flag it does not set means Kubernetes' default, which is
    then known, not assumed); otherwise `overrides`, else the default, marked assumed."""
    overrides = overrides or {}
    unknown = set(overrides) - set(_SOURCES)
    if unknown:
        raise ClusterError(f"unknown timing setting(s) {sorted(unknown)}; known: {sorted(_SOURCES)}")
    flags = {component: component_flags(cluster, component) for component in ("kube-controller-manager",
                                                                               "kube-apiserver")}
    values: dict[str, float] = {}
    assumed = []
    for name, (component, flag, parse, default) in _SOURCES.items():
        shown = flags[component]
        if shown is None:
            values[name] = float(overrides.get(name, default))
            assumed.append(name)
        else:
            values[name] = float(parse(shown[flag])) if flag in shown else default
    return ClusterTiming(**values, assumed=tuple(assumed))


def peer_host(peer: str) -> str:
    """The address of a host:port peer as api_server_addresses writes it ([v6]:port for IPv6)."""
    host = peer.rsplit(":", 1)[0] if peer.count(":") == 1 or peer.startswith("[") else peer
    return host.strip("[]")


def api_server_addresses(cluster: Cluster) -> list[str]:
    """host:port of every API server as the cluster advertises them: the endpoints of the `kubernetes` Service
    (its EndpointSlices in `default`), else the control-plane nodes' InternalIPs on 6443. What a partition of a
    node from the control plane cuts off."""
    from kubernetes import client

    from chaos_harness.core.api_errors import api_errors

    def join(address: str, port: int) -> str:
        return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"

    found: list[str] = []
    try:
        with api_errors("reading the kubernetes Service's endpoints"):
            slices = client.DiscoveryV1Api(cluster.api).list_namespaced_endpoint_slice(
                "default", label_selector="kubernetes.io/service-name=kubernetes", _request_timeout=10).items
        for s in slices:
            ports = [p.port for p in s.ports or [] if p.port] or [6443]
            for endpoint in s.endpoints or []:
                found += [join(a, port) for a in endpoint.addresses or [] for port in ports]
    except ClusterError:
        pass  # not allowed to read them: the control-plane nodes say where they are
    if found:
        return sorted(set(found))
    try:
        nodes = cluster.core.list_node(label_selector="node-role.kubernetes.io/control-plane", _request_timeout=10)
    except Exception as e:
        raise from_api_exception(e, "listing the control-plane nodes") from e
    found = [join(a.address, 6443) for n in nodes.items for a in n.status.addresses or [] if a.type == "InternalIP"]
    if not found:
        raise ClusterError("neither the kubernetes Service's endpoints nor a control-plane node with an InternalIP "
                           "are readable: a partition from the control plane cannot be aimed")
    return sorted(set(found))
