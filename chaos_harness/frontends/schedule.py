"""Scheduled resilience checks inside the cluster, on Kubernetes' own CronJob (no scheduler of ours):
`chaos-harness schedule install | uninstall | status`.

install applies, all labelled `app.kubernetes.io/managed-by=chaos-harness` and `chaos-harness/schedule=NAME`:
a ServiceAccount; a ClusterRole with exactly the harness's rules (manifests/rbac/harness.yaml) plus creating
Events, and its binding; a ConfigMap holding the run file; a PVC for the reports; and the CronJob
(concurrencyPolicy Forbid, startingDeadlineSeconds, Job backoffLimit 0, activeDeadlineSeconds derived from the
planned scenarios' typical durations). The pod runs `chaos-harness run --config` with the node agent as node
access, its own node excluded from the faults (downward API), and tells the end of each run as an Event on the
CronJob: Normal ResilienceCheckPassed, Warning ResilienceCheckFailed naming the failed checkers, or Warning
ResilienceCheckUnknown when nothing failed but a scenario could not be judged.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kubernetes import client

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import Forbidden, NotFound, UsageError
from chaos_harness.core.kube import Cluster
from chaos_harness.core.labels import MANAGED_BY, SCHEDULE_LABEL
# Re-exported: the whole interface of the schedule is here.
from chaos_harness.frontends.schedule_spec import (CRONJOB_ENV, CRONJOB_NAME_MAX, REPORTS, RUN_FILE_KEY, SETUP_SECONDS,
                                                   ScheduleSpec, active_deadline, as_yaml, check_cron,
                                                   check_install_values, check_names, harness_rules, objects)

if TYPE_CHECKING:
    from pathlib import Path

    from chaos_harness.report.results import ScenarioResult

# Taints the node lifecycle controller adds and removes as nodes fail and recover (a fault in progress): they
# say nothing about where the schedule's pods may run once the node is back.
LIFECYCLE_TAINT_PREFIX = "node.kubernetes.io/"


def runnable_nodes(cluster: Cluster) -> list[str]:
    """The nodes the schedule's pods can run on, by the pod spec `objects` writes: no control plane (its node
    affinity) and no NoSchedule or NoExecute taint (it tolerates none), the node lifecycle's own excepted."""
    with api_errors("listing nodes"):
        nodes = cluster.core.list_node(_request_timeout=30).items
    return sorted(n.metadata.name for n in nodes
                  if "node-role.kubernetes.io/control-plane" not in (n.metadata.labels or {})
                  and not any(t.effect in ("NoSchedule", "NoExecute") and not t.key.startswith(LIFECYCLE_TAINT_PREFIX)
                              for t in n.spec.taints or []))


def target_pod_labels(cluster: Cluster, targets: Sequence[str]) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """(namespace, the pods' labels) of each run-file target (NS/NAME or NS/LABEL=VALUE), read from its
    StatefulSet's selector; a target that does not resolve is the run's error, not install's."""
    from chaos_harness.core.errors import ClusterError
    from chaos_harness.workload.target import parse_target, resolve_target

    found = []
    for text in targets:
        ref = parse_target(text)
        try:
            sts = resolve_target(cluster, ref)
            with api_errors(f"reading StatefulSet {ref}"):
                selector = cluster.apps.read_namespaced_stateful_set(sts.name, ref.namespace,
                                                                     _request_timeout=10).spec.selector
        except (UsageError, ClusterError):
            continue
        if selector.match_labels:
            found.append((ref.namespace, tuple(sorted(selector.match_labels.items()))))
    return tuple(found)


def install(cluster: Cluster, spec: ScheduleSpec) -> list[str]:
    """Create or update every object (server-side apply, field manager chaos-harness). Missing permission is a
    UsageError naming what was refused."""
    from kubernetes.dynamic import DynamicClient

    with api_errors("discovering the API server's resources"):
        dynamic = DynamicClient(cluster.api)  # one discovery for every object
    applied = []
    for obj in objects(spec):
        kind, name = obj["kind"], obj["metadata"]["name"]
        try:
            apply(cluster, obj, dynamic=dynamic)
        except Forbidden as e:
            raise UsageError(f"schedule install: not allowed to apply {kind} {name} ({e}); ask for that "
                             f"permission, or install as a cluster admin") from e
        applied.append(f"{kind}/{name}")
    return applied


def apply(cluster: Cluster, obj: dict[str, Any], dry_run: bool = False, dynamic: Any = None) -> None:
    """Server-side apply of one object, as `kubectl apply --server-side` (with dry_run: `--dry-run=server`);
    `dynamic`: a DynamicClient already made (its construction reads the API server's discovery)."""
    from kubernetes.dynamic import DynamicClient

    kind, meta = obj["kind"], obj["metadata"]
    with api_errors(f"applying {kind} {meta['name']}"):
        dynamic = dynamic or DynamicClient(cluster.api)
        resource = dynamic.resources.get(api_version=obj["apiVersion"], kind=kind)
        dynamic.server_side_apply(
            resource, body=obj, name=meta["name"], namespace=meta.get("namespace"), field_manager="chaos-harness",
            force_conflicts=True, **({"dry_run": "All"} if dry_run else {}))


def uninstall(cluster: Cluster, name: str, namespace: str) -> list[str]:
    """Delete every object of schedule `name` (found by its labels; its Jobs and their pods go with the CronJob).
    The namespace stays: it may hold the user's own things. Every call has a request timeout: an API that
    accepts and never answers is one line within seconds, like status and fetch."""
    selector = f"{SCHEDULE_LABEL}={name},app.kubernetes.io/managed-by=chaos-harness"
    batch, rbac, core = client.BatchV1Api(cluster.api), client.RbacAuthorizationV1Api(cluster.api), cluster.core
    kinds = [
        ("CronJob", lambda: batch.list_namespaced_cron_job(namespace, label_selector=selector, _request_timeout=10),
         lambda n: batch.delete_namespaced_cron_job(n, namespace, propagation_policy="Foreground", _request_timeout=10)),
        ("Job", lambda: batch.list_namespaced_job(namespace, label_selector=selector, _request_timeout=10),
         lambda n: batch.delete_namespaced_job(n, namespace, propagation_policy="Foreground", _request_timeout=10)),
        ("ConfigMap", lambda: core.list_namespaced_config_map(namespace, label_selector=selector, _request_timeout=10),
         lambda n: core.delete_namespaced_config_map(n, namespace, _request_timeout=10)),
        ("PersistentVolumeClaim", lambda: core.list_namespaced_persistent_volume_claim(namespace, label_selector=selector, _request_timeout=10),
         lambda n: core.delete_namespaced_persistent_volume_claim(n, namespace, _request_timeout=10)),
        ("ServiceAccount", lambda: core.list_namespaced_service_account(namespace, label_selector=selector, _request_timeout=10),
         lambda n: core.delete_namespaced_service_account(n, namespace, _request_timeout=10)),
        ("ClusterRoleBinding", lambda: rbac.list_cluster_role_binding(label_selector=selector, _request_timeout=10),
         lambda n: rbac.delete_cluster_role_binding(n, _request_timeout=10)),
        ("ClusterRole", lambda: rbac.list_cluster_role(label_selector=selector, _request_timeout=10), lambda n: rbac.delete_cluster_role(n, _request_timeout=10)),
    ]
    removed = []
    for kind, lister, deleter in kinds:
        with api_errors(f"listing {kind}s of schedule {name}"):
            found = lister().items
        for obj in found:
            try:
                with api_errors(f"deleting {kind} {obj.metadata.name}"):
                    deleter(obj.metadata.name)
            except NotFound:
                continue
            removed.append(f"{kind}/{obj.metadata.name}")
    return removed


def _cronjob(cluster: Cluster, name: str, namespace: str) -> Any:
    """The schedule's CronJob; a schedule that is not there is a UsageError saying how to make one."""
    try:
        with api_errors(f"reading CronJob {namespace}/{name}"):
            return client.BatchV1Api(cluster.api).read_namespaced_cron_job(name, namespace, _request_timeout=10)
    except NotFound:
        raise UsageError(f"no schedule {name} in namespace {namespace} (chaos-harness schedule install)") from None


def status(cluster: Cluster, name: str, namespace: str, limit: int = 5, lock: str = "chaos-harness-run") -> list[str]:
    """Lines for `schedule status`: the CronJob, its reports claim (a claim that never binds is said plainly),
    its recent runs and the verdicts their Events told."""
    batch = client.BatchV1Api(cluster.api)
    cron = _cronjob(cluster, name, namespace)
    last = cron.status.last_schedule_time
    lines = [f"schedule {namespace}/{name}: '{cron.spec.schedule}'{' (suspended)' if cron.spec.suspend else ''}; "
             f"last scheduled {last.isoformat() if last else 'never'}; {len(cron.status.active or [])} running"]
    with api_errors(f"reading the reports claim of {name}"):
        pvc = cluster.core.read_namespaced_persistent_volume_claim(f"{name}-reports", namespace, _request_timeout=10)
    if pvc.status.phase != "Bound":
        age = time.time() - pvc.metadata.creation_timestamp.timestamp()
        lines.append(f"reports claim {name}-reports is {pvc.status.phase} after {age:.0f}s: it never bound, so no run "
                     f"can start (kubectl describe pvc -n {namespace} {name}-reports; --storage-class NAME)")
    else:
        lines.append(f"reports claim {name}-reports: Bound ({pvc.spec.volume_name})")
    selector = f"{SCHEDULE_LABEL}={name},app.kubernetes.io/managed-by=chaos-harness"
    with api_errors(f"listing the Jobs of {name}"):
        jobs = sorted(batch.list_namespaced_job(namespace, label_selector=selector, _request_timeout=10).items,
                      key=lambda j: j.metadata.creation_timestamp, reverse=True)[:limit]
    verdicts = run_events(cluster, name, namespace)
    for job in jobs:
        state = "succeeded" if job.status.succeeded else "failed" if job.status.failed else "running"
        took = (f" in {(job.status.completion_time - job.status.start_time).total_seconds():.0f}s"
                if job.status.completion_time and job.status.start_time else "")
        verdict = verdicts.get(job.metadata.name, "")
        lines.append(f"  {job.metadata.name}: {state}{took}; started "
                     f"{job.status.start_time.isoformat() if job.status.start_time else '-'}"
                     f"{f'; {verdict}' if verdict else ''}")
    if not jobs:
        lines.append("  no run yet (kubectl create job --from=cronjob/"
                     f"{name} {name}-now -n {namespace} starts one now)")
    from chaos_harness.assemble.run_lock import lock_line

    return lines + [lock_line(cluster, lock)]


def run_events(cluster: Cluster, name: str, namespace: str) -> dict[str, str]:
    """The verdict each run told in its Event, by Job name (the pod's name starts with it)."""
    with api_errors(f"listing the Events of CronJob {name}"):
        events = cluster.core.list_namespaced_event(
            namespace, field_selector=f"involvedObject.kind=CronJob,involvedObject.name={name}", _request_timeout=10).items
    told = {}
    for ev in events:
        if ev.reason in ("ResilienceCheckPassed", "ResilienceCheckFailed", "ResilienceCheckUnknown",
                         "ResilienceCheckAborted", "ResilienceCheckNotRun"):
            job = (ev.metadata.annotations or {}).get("chaos-harness/job", "")
            told[job] = f"{ev.reason}: {ev.message}"
    return told


# --- inside the scheduled pod ----------------------------------------------------------------------------------

def job_of_this_pod() -> str:
    """The Job's name: the pod's hostname is <job>-<suffix>."""
    return re.sub(r"-[a-z0-9]{5}$", "", os.environ.get("HOSTNAME", ""))


def run_end_event(results: Sequence["ScenarioResult"], run_id: str) -> tuple[str, str, str]:
    """(reason, type, message) of a scheduled run's Event: Normal ResilienceCheckPassed; Warning
    ResilienceCheckFailed naming the scenarios and checkers that did not hold; Warning ResilienceCheckUnknown when
    nothing failed but some scenario could not be judged (its evidence was not observed)."""
    from chaos_harness.judge.verdicts import verdict_status

    def named(rs: Sequence["ScenarioResult"]) -> str:
        return "; ".join(f"{r.scenario} {r.status}: " + (", ".join(v["checker"] for v in r.verdicts
                                                                  if verdict_status(v) != "pass")
                                                         or (r.error or r.cleanup_error or "")[:80]) for r in rs)

    failed = [r for r in results if r.status not in ("pass", "unknown", "aborted", "not-run")]
    unknown = [r for r in results if r.status == "unknown"]
    halted = [r for r in results if r.status in ("aborted", "not-run")]
    if failed:
        return "ResilienceCheckFailed", "Warning", (f"run {run_id}: {len(failed)} of {len(results)} scenarios did not "
                                                    f"hold: {named(failed)}"
                                                    + (f"; could not judge: {named(unknown)}" if unknown else ""))
    if halted:
        reason = "ResilienceCheckAborted" if any(r.status == "aborted" for r in halted) else "ResilienceCheckNotRun"
        return reason, "Warning", (f"run {run_id}: {len(halted)} of {len(results)} scenarios were stopped or not run "
                                   f"(nothing judged): {named(halted)}")
    if unknown:
        return "ResilienceCheckUnknown", "Warning", (f"run {run_id}: nothing failed, but {len(unknown)} of "
                                                     f"{len(results)} scenarios could not be judged: {named(unknown)}")
    return "ResilienceCheckPassed", "Normal", f"run {run_id}: all {len(results)} scenarios held"


def tell_run_end(cluster: Cluster, results: Sequence["ScenarioResult"], run_id: str) -> str | None:
    """When this run is a scheduled one (CHAOS_HARNESS_CRONJOB), an Event on its CronJob (run_end_event)."""
    where = os.environ.get(CRONJOB_ENV, "")
    if "/" not in where:
        return None
    namespace, name = where.split("/", 1)
    reason, kind, message = run_end_event(results, run_id)
    with api_errors(f"reading CronJob {where}"):
        cron = client.BatchV1Api(cluster.api).read_namespaced_cron_job(name, namespace, _request_timeout=10)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(generate_name=f"{name}.", namespace=namespace, labels=dict(MANAGED_BY),
                                     annotations={"chaos-harness/job": job_of_this_pod(),
                                                  "chaos-harness/run-id": run_id}),
        involved_object=client.V1ObjectReference(kind="CronJob", api_version="batch/v1", name=name,
                                                 namespace=namespace, uid=cron.metadata.uid),
        reason=reason, message=message[:1000], type=kind, count=1, first_timestamp=stamp, last_timestamp=stamp,
        source=client.V1EventSource(component="chaos-harness"))
    with api_errors(f"creating the run's Event on CronJob {where}"):
        cluster.core.create_namespaced_event(namespace, event, _request_timeout=10)
    return f"{kind} {reason}"


def fetch(cluster: Cluster, name: str, namespace: str, to: "Path") -> int:
    """Copy the reports claim's files to `to` through a short-lived pod that mounts it (the harness image,
    whose tar packs them); the pod is deleted afterwards. Returns the number of files."""
    import base64
    import io
    import tarfile

    from chaos_harness.core.waits import poll_until

    image = _cronjob(cluster, name, namespace).spec.job_template.spec.template.spec.containers[0].image
    pod_name = f"{name}-fetch-{int(time.time())}"
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": pod_name, "namespace": namespace, "labels": {**MANAGED_BY, SCHEDULE_LABEL: name}},
           "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "fetch", "image": image, "imagePullPolicy": "IfNotPresent",
                                    "command": ["sleep", "600"],
                                    "volumeMounts": [{"name": "reports", "mountPath": REPORTS, "readOnly": True}]}],
                    "volumes": [{"name": "reports", "persistentVolumeClaim": {"claimName": f"{name}-reports"}}]}}
    with api_errors(f"creating pod {namespace}/{pod_name}"):
        cluster.core.create_namespaced_pod(namespace, pod, _request_timeout=15)
    try:
        def running() -> bool | None:
            with api_errors(f"reading pod {pod_name}"):
                phase = cluster.core.read_namespaced_pod(pod_name, namespace, _request_timeout=10).status.phase
            return True if phase == "Running" else None

        poll_until(running, 120, f"pod {pod_name} mounting {name}-reports", 1)
        out = cluster.exec(namespace, pod_name, ["sh", "-c", f"tar czf - -C {REPORTS} . | base64 -w0"],
                           timeout=120)
        if out.code != 0:
            raise UsageError(f"reading {name}-reports failed: {out.stderr.strip()[:200]}")
        to.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(out.stdout)), mode="r:gz") as tar:
            members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
            tar.extractall(to, members=members, filter="data")
        return sum(1 for m in members if m.isfile())
    finally:
        # Already gone is deleted (seen once in CI: 404 for the fetch pod; the client repeats a DELETE whose
        # answer was lost, retries = 1, and the repeat finds nothing).
        try:
            with api_errors(f"deleting pod {pod_name}"):
                cluster.core.delete_namespaced_pod(pod_name, namespace, grace_period_seconds=0, _request_timeout=15)
        except NotFound:
            pass
