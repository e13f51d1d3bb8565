"""The cluster's own timing settings, read from the control plane's static pods (with Kubernetes' defaults
where a flag is not set). Deadlines and checker windows derive from these, never from constants."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import ClusterError, from_api_exception
from harness.kube import Cluster

# Kubernetes v1.34 defaults (pkg/controller/nodelifecycle/config/v1alpha1/defaults.go, DefaultTolerationSeconds).
DEFAULT_NODE_MONITOR_GRACE_PERIOD = 50.0
DEFAULT_NODE_MONITOR_PERIOD = 5.0
DEFAULT_TOLERATION_SECONDS = 300.0


@dataclass(frozen=True)
class ClusterTiming:
    node_monitor_grace_period: float
    node_monitor_period: float
    not_ready_toleration_seconds: float
    unreachable_toleration_seconds: float

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def parse_duration(text: str) -> float:
    """A Go duration ("40s", "1m30s", "500ms") in seconds."""
    total, pos = 0.0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            raise ValueError(f"not a duration: {text!r}")
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {text!r}")
    return total


def flags_of(command: list[str]) -> dict[str, str]:
    flags = {}
    for arg in command:
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
            flags[key] = value
    return flags


def component_flags(cluster: Cluster, component: str) -> dict[str, str]:
    try:
        pods = cluster.core.list_namespaced_pod("kube-system", label_selector=f"component={component}",
                                                _request_timeout=10)
    except Exception as e:
        raise from_api_exception(e, f"reading {component} flags") from e
    if not pods.items:
        raise ClusterError(f"no {component} pod in kube-system: cannot read the cluster's timing settings")
    container = pods.items[0].spec.containers[0]
    return flags_of(list(container.command or []) + list(container.args or []))


def read_timing(cluster: Cluster) -> ClusterTiming:
    cm = component_flags(cluster, "kube-controller-manager")
    api = component_flags(cluster, "kube-apiserver")
    return ClusterTiming(
        node_monitor_grace_period=parse_duration(cm["node-monitor-grace-period"])
        if "node-monitor-grace-period" in cm else DEFAULT_NODE_MONITOR_GRACE_PERIOD,
        node_monitor_period=parse_duration(cm["node-monitor-period"])
        if "node-monitor-period" in cm else DEFAULT_NODE_MONITOR_PERIOD,
        not_ready_toleration_seconds=float(api.get("default-not-ready-toleration-seconds", DEFAULT_TOLERATION_SECONDS)),
        unreachable_toleration_seconds=float(api.get("default-unreachable-toleration-seconds",
                                                     DEFAULT_TOLERATION_SECONDS)),
    )
