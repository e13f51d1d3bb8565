"""`chaos-harness doctor`: what a run against the chosen context would use, one line each, and every
permission the scenarios need (manifests/rbac/harness.yaml), checked with SelfSubjectAccessReviews.
Exit 2 when a permission is missing."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from pathlib import Path

import yaml
from kubernetes import client

from chaos_harness.assemble.node_access import AccessOptions, choose_access, resolve_agent_image, target_nodes
from chaos_harness.assemble.run_lock import LOCK_NAMESPACE, lock_line
from chaos_harness.assemble.session import blast_radius
from chaos_harness.core.api_errors import from_api_exception
from chaos_harness.core.cancellation import quiet
from chaos_harness.core.control_plane import read_timing
from chaos_harness.core.errors import HarnessError
from chaos_harness.core.kube import Cluster
from chaos_harness.core.resources import MANIFESTS
from chaos_harness.faults.journal import Journal
from chaos_harness.nodes.agent import NodeAgent

RBAC_MANIFEST = MANIFESTS / "rbac" / "harness.yaml"


def needed_permissions(manifest: Path = RBAC_MANIFEST) -> list[tuple[str, str, str, str | None]]:
    """(verb, group, resource, subresource) for every rule of the harness's ClusterRole."""
    role = next(d for d in yaml.safe_load_all(manifest.read_text()) if d and d.get("kind") == "ClusterRole")
    needed = []
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                name, _, sub = resource.partition("/")
                needed += [(verb, group, name, sub or None) for verb in rule["verbs"]]
    return needed


def _policies(manifest: Path) -> dict[str, set[str]]:
    """Per admission policy of the manifest, the group/resource pairs it confines ("apps/statefulsets")."""
    found: dict[str, set[str]] = {}
    for doc in yaml.safe_load_all(manifest.read_text()):
        if doc and doc.get("kind") == "ValidatingAdmissionPolicy":
            found[doc["metadata"]["name"]] = {f"{g}/{r}" for rule in doc["spec"]["matchConstraints"]["resourceRules"]
                                              for g in rule["apiGroups"] for r in rule["resources"]}
    return found


WRITES = {"create", "update", "patch", "delete", "deletecollection"}


def rights_table(manifest: Path = RBAC_MANIFEST) -> str:
    """The README's table of the harness's rights, generated from the manifest: each rule of its ClusterRole,
    and where its admission policies confine the writes."""
    role = next(d for d in yaml.safe_load_all(manifest.read_text()) if d and d.get("kind") == "ClusterRole")
    policies = _policies(manifest)
    rows = ["| API group | resources | verbs | writes confined to |", "|---|---|---|---|"]
    for rule in role["rules"]:
        keys = {f"{g}/{r}" for g in rule["apiGroups"] for r in rule["resources"]}
        if not WRITES & set(rule["verbs"]) and not ({"create", "get"} == set(rule["verbs"]) and
                                                     any(r.endswith(("/exec", "/portforward")) for r in keys)):
            where = "(reads only)"
        elif keys & policies.get("chaos-harness-own-namespaces", set()):
            where = "namespaces it made (`app.kubernetes.io/managed-by=chaos-harness`), `chaos-harness`, and targets labelled `chaos-harness.io/target=allowed`"
        elif "/namespaces" in keys & policies.get("chaos-harness-namespaces-and-nodes", set()):
            where = "creates and deletes only namespaces labelled `app.kubernetes.io/managed-by=chaos-harness`"
        elif "/nodes" in keys & policies.get("chaos-harness-namespaces-and-nodes", set()):
            where = "a node's `spec.unschedulable` only (cordon, uncordon)"
        elif any(k.endswith("/eviction") for k in keys):
            where = "anywhere: the drain evicts every pod of the node it drains (PodDisruptionBudgets honoured)"
        else:
            where = "not confined"
        rows.append(f"| {', '.join(g or 'core' for g in rule['apiGroups'])} | {', '.join(rule['resources'])} | "
                    f"{', '.join(rule['verbs'])} | {where} |")
    return "\n".join(rows)


def _allowed(auth: client.AuthorizationV1Api, verb: str, group: str, resource: str, sub: str | None,
             namespace: str | None = None) -> bool:
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
        resource_attributes=client.V1ResourceAttributes(verb=verb, group=group, resource=resource, subresource=sub,
                                                        namespace=namespace)))
    try:
        return bool(auth.create_self_subject_access_review(review, _request_timeout=10).status.allowed)
    except Exception as e:
        raise from_api_exception(e, "asking the API server what this identity may do") from e


def missing_permissions(cluster: Cluster) -> list[str]:
    auth = client.AuthorizationV1Api(cluster.api)
    missing = []
    for verb, group, resource, sub in needed_permissions():
        if not _allowed(auth, verb, group, resource, sub):
            missing.append(f"{verb} {resource}{'/' + sub if sub else ''}"
                           f"{' (' + group + ')' if group else ''}")
    return missing


# Rights the harness never needs: an identity that has any of them holds much more than the harness asks
# (cluster-admin, say), and a run through it can do far more than fault the nodes it targets.
NEVER_NEEDED: tuple[tuple[str, str, str, str | None, str | None], ...] = (
    ("get", "", "secrets", None, "kube-system"),
    ("create", "rbac.authorization.k8s.io", "clusterrolebindings", None, None),
    ("escalate", "rbac.authorization.k8s.io", "clusterroles", None, None),
    ("impersonate", "", "users", None, None),
    ("*", "*", "*", None, None),
)


def excess_permissions(cluster: Cluster) -> list[str]:
    """What this identity may do that the harness never needs (NEVER_NEEDED), one phrase each."""
    auth = client.AuthorizationV1Api(cluster.api)
    return [f"{verb} {resource}{' in ' + ns if ns else ''}" for verb, group, resource, sub, ns in NEVER_NEEDED
            if _allowed(auth, verb, group, resource, sub, ns)]


def default_storage_class(cluster: Cluster) -> str:
    try:
        classes = client.StorageV1Api(cluster.api).list_storage_class(_request_timeout=10).items
    except Exception as e:
        return f"unknown ({from_api_exception(e, 'listing StorageClasses')})"
    default = [c.metadata.name for c in classes if (c.metadata.annotations or {}).get(
        "storageclass.kubernetes.io/is-default-class") == "true"]
    return ", ".join(default) if default else "none (PVC scenarios need one, or --storage-class NAME)"


def node_layouts(cluster: Cluster, options: AccessOptions, image: str, nodes: list[str],
                 line: Callable[[str, str], None], journal: Journal) -> list[str]:
    """What the node agent finds on each target node (its kubelet's unit, its runtime, and how), from an agent
    installed for the look and removed after it (journaled meanwhile, so that `cleanup` removes what a killed
    doctor left). The problems, one per node the agent cannot work on."""
    from chaos_harness.faults import run_registered

    agent = NodeAgent(cluster, f"doctor-{uuid.uuid4().hex[:6]}", options.agent_config(image), nodes)
    problems: list[str] = []
    try:
        with run_registered(cluster, journal, agent.run_id):
            try:
                problems += _look(agent, nodes, line)
            finally:
                with quiet():
                    agent.remove()
    except HarnessError as e:
        # What was found is still reported (the report is what doctor is for); the agent stays journaled.
        line("node agent", f"could not be removed after the look ({e}); 'chaos-harness cleanup' removes it")
        problems.append("node agent left behind")
    return problems


def _look(agent: NodeAgent, nodes: list[str], line: Callable[[str, str], None]) -> list[str]:
    problems = []
    try:
        with quiet():
            agent.install(check_layouts=False)
        layouts = agent.layouts()
        for node in nodes:
            layout = layouts.get(node)
            line(f"node {node}", layout.describe() if layout else "no layout published (an older agent image?)")
            if layout is None or (problem := layout.problem()):
                print(f"  {problem}" if layout else f"  use the agent image of this harness's version")
                problems.append(f"node {node}")
    except HarnessError as e:
        line("node layouts", str(e))
        problems.append("node agent")
    return problems


def cmd_doctor(args: argparse.Namespace, cluster: Cluster, options: AccessOptions) -> int:
    def line(what: str, value: str) -> None:
        print(f"{what + ':':<22}{value}", flush=True)

    fingerprint = cluster.fingerprint()  # raises (exit 2) when the API does not answer
    line("context", f"{cluster.context} ({cluster.api.configuration.host})")
    line("API", f"reachable, Kubernetes {fingerprint.server_version}, {len(fingerprint.nodes)} nodes")
    problems = []
    targets: list[str] = []
    try:
        targets = target_nodes(cluster, options.target_selector)
        line("target nodes", ", ".join(targets))
    except HarnessError as e:
        line("target nodes", str(e))
        problems.append("target nodes")
    choice = choose_access(cluster, options.mode)
    line("node access", f"{choice.mode} ({choice.reason})")
    if choice.mode == "agent":
        try:
            image = resolve_agent_image(cluster, options.agent_image)
            line("agent image", image)
        except HarnessError as e:
            line("agent image", str(e))
            problems.append("agent image")
            image = None
        line("dead man's switch", f"kubelet restarted {options.deadman_seconds}s after the last Lease renewal")
        if image and targets:
            problems += node_layouts(cluster, options, image, targets, line, Journal(args.journal))
    timing = read_timing(cluster)
    source = (f"assumed for {', '.join(timing.assumed)} (control plane not visible: configured or Kubernetes' "
              f"defaults)" if timing.assumed else "read from the control plane's flags")
    line("timing", f"grace {timing.node_monitor_grace_period:.0f}s, monitor {timing.node_monitor_period:.0f}s, "
                   f"unreachable toleration {timing.unreachable_toleration_seconds:.0f}s: {source}")
    line("default StorageClass", default_storage_class(cluster))
    line("run lock", lock_line(cluster, args.run_lock).split(": ", 1)[1] + f" ({LOCK_NAMESPACE}/{args.run_lock})")
    radius = blast_radius(cluster, None)
    line("blast radius", f"at most {radius} node(s) faulted at once by default" if radius else
                         "no limit by default on a local kind test bed (--max-faulted-nodes N sets one)")
    missing = missing_permissions(cluster)
    if missing:
        for m in missing:
            print(f"missing permission: {m} (see manifests/rbac/harness.yaml)")
        problems.append(f"{len(missing)} permissions")
    else:
        line("permissions", f"all {len(needed_permissions())} the scenarios need (manifests/rbac/harness.yaml)")
    if excess := excess_permissions(cluster):
        line("privileges", f"more than the harness needs ({', '.join(excess)}): outside a throwaway test bed, run "
                           f"it as the ServiceAccount of manifests/rbac/harness.yaml, confined by its admission "
                           f"policies, not as this identity")
    if problems:
        print(f"doctor: not ready: {', '.join(problems)}")
        return 2
    print("doctor: ready")
    return 0
