"""Whether a pod template could run on a node, as far as the harness needs to know it: the node's standing
taints against the template's tolerations, its nodeSelector, and its required node affinity (labels and
matchFields on metadata.name). Taints Kubernetes sets from a node's state (not-ready, unreachable, unschedulable,
the cloud provider's) are left out: they say what the node is now, not where the workload belongs."""

from __future__ import annotations

from typing import Any

STATE_TAINT_PREFIXES = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")


def _tolerated(taint: Any, tolerations: list[Any]) -> bool:
    for t in tolerations:
        if t.effect and t.effect != taint.effect:
            continue
        if (t.operator or "Equal") == "Exists":
            if not t.key or t.key == taint.key:
                return True
        elif t.key == taint.key and (t.value or "") == (taint.value or ""):
            return True
    return False


def _requirement(req: Any, labels: dict[str, str]) -> bool:
    present, value = req.key in labels, labels.get(req.key)
    op, values = req.operator, req.values or []
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt") and present and values:
        try:
            return int(value or "") > int(values[0]) if op == "Gt" else int(value or "") < int(values[0])
        except ValueError:
            return False
    return False


def _affinity(pod_spec: Any, node: Any) -> bool:
    affinity = getattr(getattr(pod_spec, "affinity", None), "node_affinity", None)
    required = getattr(affinity, "required_during_scheduling_ignored_during_execution", None)
    terms = getattr(required, "node_selector_terms", None) or []
    if not terms:
        return True
    labels = node.metadata.labels or {}
    fields = {"metadata.name": node.metadata.name}
    return any(all(_requirement(r, labels) for r in (term.match_expressions or []))
               and all(_requirement(r, fields) for r in (term.match_fields or [])) for term in terms)


def could_run_on(pod_spec: Any, node: Any) -> bool:
    """True when nothing in `pod_spec` (a V1PodSpec) keeps it off `node` (a V1Node) for good."""
    tolerations = list(getattr(pod_spec, "tolerations", None) or [])
    for taint in node.spec.taints or []:
        if taint.effect in ("NoSchedule", "NoExecute") and not taint.key.startswith(STATE_TAINT_PREFIXES) \
                and not _tolerated(taint, tolerations):
            return False
    labels = node.metadata.labels or {}
    if any(labels.get(k) != v for k, v in (getattr(pod_spec, "node_selector", None) or {}).items()):
        return False
    return _affinity(pod_spec, node)
