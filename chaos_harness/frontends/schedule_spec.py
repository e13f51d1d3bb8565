"""What `schedule install` applies, as plain objects from a ScheduleSpec (no cluster needed: `--dry-run`
prints them), and the checks of its inputs (names, cron line, time zone, size) made before anything is
applied. chaos_harness/frontends/schedule.py applies, inspects and removes them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from chaos_harness.core.errors import UsageError
from chaos_harness.core.kube import IN_CLUSTER
from chaos_harness.core.labels import MANAGED_BY, SCHEDULE_LABEL
from chaos_harness.core.resources import MANIFESTS

CRONJOB_ENV = "CHAOS_HARNESS_CRONJOB"        # namespace/name of the CronJob a scheduled run belongs to


RUN_FILE_KEY = "run.toml"


REPORTS = "/reports"


SETUP_SECONDS = 600  # agent install, images, namespaces: added to the scenarios' own durations


_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))


_NAMES = {3: ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
          4: ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]}


_MACROS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


# A Kubernetes quantity (resource.Quantity): a decimal number, then a binary or decimal suffix or an exponent.
_QUANTITY = re.compile(r"(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][-+]?\d+)?")


# A CronJob's Jobs are named <cronjob>-<11 characters>, and a Job name must stay a 63-character label.
CRONJOB_NAME_MAX = 52


def check_names(name: str, namespace: str) -> None:
    """The schedule's name and namespace as the API server will take them, before anything is sent."""
    for flag, value, most in (("--name", name, CRONJOB_NAME_MAX), ("--namespace", namespace, 63)):
        if not _DNS_LABEL.fullmatch(value) or len(value) > most:
            raise UsageError(f"{flag} {value!r}: must be a DNS label of at most {most} characters (lower-case "
                             f"letters, digits and '-', starting and ending with a letter or digit)")


def check_install_values(time_zone: str | None, reports_size: str) -> None:
    """--time-zone against the tz database (when this machine has one) and --reports-size as a quantity."""
    if time_zone:
        import zoneinfo

        known = zoneinfo.available_timezones()
        if known and time_zone not in known:
            raise UsageError(f"--time-zone {time_zone!r}: not a time zone of the tz database (e.g. Europe/Berlin, "
                             f"Etc/UTC)")
    match = _QUANTITY.fullmatch(reports_size)
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--reports-size {reports_size!r}: a positive Kubernetes quantity, e.g. 1Gi or 500Mi")


def check_cron(schedule: str) -> None:
    """The CronJob's schedule syntax (five fields, ranges, steps, lists, month and day names, or a macro);
    anything else is a UsageError naming the field, before anything is applied."""
    text = schedule.strip()
    if text in _MACROS:
        return
    if text.startswith(("TZ=", "CRON_TZ=")):
        raise UsageError(f"--schedule {schedule!r}: a time zone goes in --time-zone, not in the schedule")
    fields = text.split()
    if len(fields) != 5:
        raise UsageError(f"--schedule {schedule!r}: a cron schedule has 5 fields (minute hour day-of-month month "
                         f"day-of-week), this has {len(fields)}; e.g. '0 3 * * *'")
    for index, (field, (what, low, high)) in enumerate(zip(fields, _CRON_FIELDS)):
        for part in field.split(","):
            if not _cron_part_ok(part, low, high, _NAMES.get(index, [])):
                raise UsageError(f"--schedule {schedule!r}: {what} field {field!r} is not valid "
                                 f"({low}-{high}, *, a-b, */n or a list)")


def _cron_part_ok(part: str, low: int, high: int, names: list[str]) -> bool:
    base, _, step = part.partition("/")
    if step and not (step.isdigit() and int(step) > 0):
        return False
    if base in ("*", "?"):
        return True

    def value(v: str) -> int | None:
        if v.isdigit():
            return int(v)
        if v.lower() in names:
            return names.index(v.lower()) + (1 if len(names) == 12 else 0)
        return None

    ends = base.split("-")
    if len(ends) > 2:
        return False
    values = [value(v) for v in ends]
    return all(v is not None and low <= v <= high for v in values) and (len(values) == 1 or values[0] <= values[1])


@dataclass(frozen=True)
class ScheduleSpec:
    name: str
    namespace: str
    schedule: str
    image: str
    run_file: str                  # the run file's text (TOML); the pod reads it from a ConfigMap
    active_deadline_seconds: int
    time_zone: str | None = None
    storage_class: str | None = None
    reports_size: str = "1Gi"
    starting_deadline_seconds: int = 300
    # The run file may run commands, images and code of its own (schedule install --trust-run-file): written into
    # the CronJob, which the harness's own identity cannot edit, never into the run file's ConfigMap, which it can.
    trust_run_file: bool = False
    # (namespace, pod labels) of the targets: the run's pod prefers nodes where none of them runs, so that the
    # node it must never fault is not the one a scenario needs
    avoid: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()


def active_deadline(modules: Sequence[Any]) -> int:
    """The Job's activeDeadlineSeconds: three times the planned scenarios' typical durations plus set-up, so a
    run that hangs is stopped by Kubernetes, and a slow but healthy one is not."""
    return SETUP_SECONDS + 3 * sum(int(getattr(m, "TYPICAL_SECONDS", 120) or 120) for m in modules)


def harness_rules() -> list[dict[str, Any]]:
    """The harness's ClusterRole rules (the same least privilege a user grants by hand), plus telling each run's
    end: reading its CronJob and creating an Event on it."""
    role = next(d for d in yaml.safe_load_all((MANIFESTS / "rbac" / "harness.yaml").read_text())
                if d and d.get("kind") == "ClusterRole")
    return [*role["rules"], {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
            {"apiGroups": ["batch"], "resources": ["cronjobs"], "verbs": ["get"]}]


def objects(spec: ScheduleSpec) -> list[dict[str, Any]]:
    """Every object install applies, in apply order; all carry the schedule's labels."""
    labels = {**MANAGED_BY, SCHEDULE_LABEL: spec.name}
    cluster_name = f"chaos-harness-schedule-{spec.namespace}-{spec.name}"

    def meta(name: str, namespaced: bool = True) -> dict[str, Any]:
        return {"name": name, "labels": labels, **({"namespace": spec.namespace} if namespaced else {})}

    pod = {
        "serviceAccountName": spec.name, "restartPolicy": "Never",
        "containers": [{
            "name": "chaos-harness", "image": spec.image, "imagePullPolicy": "IfNotPresent",
            "args": ["run", "--config", f"/etc/chaos-harness/{RUN_FILE_KEY}", "--report-dir", REPORTS,
                     "--allow-context", IN_CLUSTER, "--node-access", "agent", "--journal", f"{REPORTS}/journal.json",
                     *([] if spec.trust_run_file else ["--untrusted-run-file"])],
            # What the run needs and nothing more: no privilege, no capability, bounded CPU and memory.
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
            "env": [{"name": "CHAOS_HARNESS_OWN_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": CRONJOB_ENV, "value": f"{spec.namespace}/{spec.name}"},
                    {"name": "HOME", "value": "/tmp"}],
            "volumeMounts": [{"name": "run-file", "mountPath": "/etc/chaos-harness", "readOnly": True},
                             {"name": "reports", "mountPath": REPORTS}],
        }],
        "volumes": [{"name": "run-file", "configMap": {"name": spec.name}},
                    {"name": "reports", "persistentVolumeClaim": {"claimName": f"{spec.name}-reports"}}],
        # Never on the control plane; the run itself never faults the node it runs on (CHAOS_HARNESS_OWN_NODE).
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}]}]}}},
    }
    if spec.avoid:
        pod["affinity"]["podAntiAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "namespaces": [ns],
                                                "labelSelector": {"matchLabels": dict(labels)}}}
            for ns, labels in spec.avoid]}
    cronjob_spec: dict[str, Any] = {
        "schedule": spec.schedule, "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": spec.starting_deadline_seconds,
        "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
        "jobTemplate": {"metadata": {"labels": labels}, "spec": {
            "backoffLimit": 0, "activeDeadlineSeconds": spec.active_deadline_seconds,
            "template": {"metadata": {"labels": labels}, "spec": pod}}},
    }
    if spec.time_zone:
        cronjob_spec["timeZone"] = spec.time_zone
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spec.namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(spec.name)},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": meta(cluster_name, namespaced=False), "rules": harness_rules()},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": meta(cluster_name, namespaced=False),
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_name},
         "subjects": [{"kind": "ServiceAccount", "name": spec.name, "namespace": spec.namespace}]},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(spec.name), "data": {RUN_FILE_KEY: spec.run_file}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(f"{spec.name}-reports"),
         "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": spec.reports_size}},
                  **({"storageClassName": spec.storage_class} if spec.storage_class else {})}},
        {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta(spec.name), "spec": cronjob_spec},
    ]


class _PlainDumper(yaml.SafeDumper):
    """Every object written out in full: an object used twice (the labels of a selector and of a template) would
    otherwise become an anchor and an alias (`&id001`), which `kubectl apply` reads but no person expects."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def as_yaml(spec: ScheduleSpec) -> str:
    return yaml.dump_all(objects(spec), Dumper=_PlainDumper, sort_keys=False)
