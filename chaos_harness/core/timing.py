"""The cluster's timing settings as the harness uses them (ClusterTiming): the node monitor's grace period
and period, the unreachable toleration; read from the control plane by chaos_harness/core/control_plane.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
    # Values not read from the cluster (configured or Kubernetes' default), by field name.
    assumed: tuple[str, ...] = ()

    def fault_time_box(self) -> float:
        """How long a node fault may hold at most, undone by the node itself past it (the node agent, the host's
        own timer): a scenario's node fault lasts until the node is seen not-Ready and its pods past the
        unreachable toleration, then a while; twice that and five minutes more is never reached by a run that
        is still in control, and still bounds one that is not."""
        return 2 * (self.node_monitor_grace_period + self.unreachable_toleration_seconds) + 300

    def problem(self) -> str:
        """What makes these values no timing at all ("" when nothing does): each a finite, non-negative number."""
        import math

        for key in ("node_monitor_grace_period", "node_monitor_period", "not_ready_toleration_seconds",
                    "unreachable_toleration_seconds"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                return f"{key} is {str(value)[:30]!r}, not a finite number of seconds"
        return ""

    def as_dict(self) -> dict[str, object]:
        return {**{k: v for k, v in self.__dict__.items() if k != "assumed"}, "assumed": list(self.assumed)}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> "ClusterTiming":
        """The inverse of as_dict (results.json keeps the timing a run was judged with)."""
        fields = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**{**fields, "assumed": tuple(fields.get("assumed") or ())})  # type: ignore[arg-type]


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


