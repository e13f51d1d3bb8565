"""The run file (TOML) for scheduled runs: `chaos-harness run --config FILE`.

    scenarios = ["s08", "s13"]          # on the bundled MySQL example (omit with targets: only targets run)
    report_dir = "reports"              # relative paths are relative to this file
    timing_profile = "fast"
    node_access = "agent"
    target_nodes = "chaos-harness/allowed=true"
    max_faulted_nodes = 1               # at most this many nodes faulted at once (0: no limit)
    wait_for_run = 600                  # wait this long for another run's lock (0: refuse at once)
    abort_when = ["https://shop.internal/healthz"]   # or abort_command = "...", abort_http = "URL",
                                        # abort_prometheus = "URL QUERY"

    [[targets]]                         # your StatefulSets; each runs its scenarios (default: every targetable)
    statefulset = "shop/db"
    scenarios = ["s07", "s08"]
    probe_write = "sh -c 'echo {key} >> /data/keys'"
    probe_read = "cat /data/keys"
    allow_changes = false               # true: also S4 and S5, which scale it to 0 and back, and roll it

Options given on the command line win over the file. An unknown key, or a value of the wrong type, is a
UsageError naming the key.

A run file read with `trusted=False` (a scheduled run's, from a ConfigMap that the harness's own identity could
rewrite) may not run a command, an image or code of its choosing, reach another cluster or widen the allowlist, or
lift the blast radius: those keys (UNTRUSTED_KEYS) are refused in one line unless the schedule was installed with
`--trust-run-file`, which is written into the CronJob itself (the harness's identity may not edit CronJobs).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos_harness.core.errors import UsageError

# key -> (type, is a path relative to the file)
TOP_LEVEL: dict[str, tuple[type, bool]] = {
    "scenarios": (list, False), "report_dir": (str, True), "timing_profile": (str, False),
    "keep_runs": (int, False), "kubeconfig": (str, True), "kube_context": (str, False),
    "allow_context": (list, False), "journal": (str, True), "node_access": (str, False),
    "target_nodes": (str, False), "agent_image": (str, False), "agent_deadman_seconds": (int, False),
    "agent_kubelet_unit": (str, False), "agent_runtime_endpoint": (str, False),
    "mysql_image": (str, False), "xtrabackup_image": (str, False), "storage_class": (str, False),
    "scenario_dirs": (list, True), "targets": (list, False), "pushgateway": (str, False),
    "parallel": (int, False), "run_lock": (str, False), "wait_for_run": (int, False),
    "max_faulted_nodes": (int, False), "abort_when": (list, False), "abort_command": (str, False),
    "abort_http": (str, False), "abort_prometheus": (str, False), "api_qps": (int, False), "api_burst": (int, False),
}
# Each abort condition key is one form of `abort_when` (assemble/abort.py): they all add to that list.
ABORT_FORMS = {"abort_command": "command:", "abort_http": "", "abort_prometheus": "prometheus:"}
TARGET_KEYS: dict[str, type] = {"statefulset": str, "scenarios": list, "probe": str, "probe_write": str,
                                "probe_read": str, "probe_container": str, "allow_changes": bool}
_NAMES = {str: "a string", int: "an integer", list: "an array", dict: "a table", bool: "a boolean",
          float: "a float"}
CHOICES = {"timing_profile": ("fast", "faithful"), "node_access": ("auto", "docker", "agent")}
# The least value of each whole-number option, for the command line (its argparse types) and the run file alike.
MINIMUM: dict[str, tuple[int, str]] = {"parallel": (1, ""), "keep_runs": (0, ""), "agent_deadman_seconds": (5, " seconds"),
                                       "wait_for_run": (0, " seconds"), "max_faulted_nodes": (0, ""),
                                       "wait": (0, " seconds"), "api_qps": (1, ""), "api_burst": (1, "")}


# Keys a run file may set only when trusted, and why each is a way in.
UNTRUSTED_KEYS: dict[str, str] = {
    "abort_command": "runs a shell command in the harness's pod",
    "agent_image": "runs an image of its choosing privileged on every target node",
    "mysql_image": "runs an image of its choosing", "xtrabackup_image": "runs an image of its choosing",
    "scenario_dirs": "loads Python code into the harness",
    "allow_context": "widens the allowlist of kube contexts",
    "kubeconfig": "points the run at another cluster", "kube_context": "points the run at another context",
    "agent_deadman_seconds": "lengthens how long a fault outlives the harness",
}
UNTRUSTED_TARGET_KEYS: dict[str, str] = {
    "probe": "loads a Python module into the harness", "probe_write": "runs a command in the target's pods",
    "probe_read": "runs a command in the target's pods",
}


def untrusted_use(key: str, value: Any) -> str:
    """Why `key = value` needs a trusted run file ("" when it does not)."""
    if key in UNTRUSTED_KEYS:
        return UNTRUSTED_KEYS[key]
    if key == "abort_when" and any(str(v).startswith("command:") for v in value):
        return "runs a shell command in the harness's pod"
    if key == "max_faulted_nodes" and value != 1:
        return "lifts the blast radius above one faulted node at a time"
    return ""


def below_minimum(key: str, value: int) -> str:
    """Why `value` is refused for option `key` ("" when it is fine)."""
    least, unit = MINIMUM.get(key, (value, ""))
    return f"must be at least {least}{unit}, not {value}" if value < least else ""


@dataclass
class RunFile:
    path: Path
    options: dict[str, Any] = field(default_factory=dict)   # argparse destinations -> values
    targets: list[dict[str, Any]] = field(default_factory=list)


def load_run_file(path: Path, trusted: bool = True) -> RunFile:
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise UsageError(f"--config {path}: cannot read it ({e.strerror})") from e
    except UnicodeDecodeError as e:
        raise UsageError(f"--config {path}: cannot read it (not UTF-8 text: {e.reason} at byte {e.start})") from e
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"--config {path}: not valid TOML: {e}") from e
    base = path.resolve().parent
    run = RunFile(path)
    for key, value in doc.items():
        if key not in TOP_LEVEL:
            raise UsageError(f"--config {path}: unknown key {key!r} (known: {', '.join(sorted(TOP_LEVEL))})")
        kind, is_path = TOP_LEVEL[key]
        _expect(path, key, value, kind)
        if key in MINIMUM and (why := below_minimum(key, value)):
            raise UsageError(f"--config {path}: {key} = {value}: {why}")
        if key in CHOICES and value not in CHOICES[key]:
            raise UsageError(f"--config {path}: {key} = {value!r}: use one of {', '.join(CHOICES[key])}")
        if not trusted and (why := untrusted_use(key, value)):
            raise UsageError(f"--config {path}: {key} {why}: refused in a run file this schedule does not trust "
                             f"(install the schedule with --trust-run-file to allow it)")
        if key == "targets":
            run.targets = [_target(path, i, t, trusted) for i, t in enumerate(value)]
            continue
        if is_path:
            value = [base / v for v in value] if isinstance(value, list) else base / value
        if key in ABORT_FORMS:
            run.options["abort_when"] = [*run.options.get("abort_when", []), ABORT_FORMS[key] + value]
            continue
        if key == "abort_when":
            value = [*run.options.get("abort_when", []), *value]
        run.options[{"scenarios": "scenario", "scenario_dirs": "scenarios"}.get(key, key)] = value
    return run


def _target(path: Path, index: int, table: Any, trusted: bool = True) -> dict[str, Any]:
    where = f"targets[{index}]"
    _expect(path, where, table, dict)
    for key, value in table.items():
        if key not in TARGET_KEYS:
            raise UsageError(f"--config {path}: unknown key {where}.{key} (known: {', '.join(sorted(TARGET_KEYS))})")
        _expect(path, f"{where}.{key}", value, TARGET_KEYS[key])
        if not trusted and key in UNTRUSTED_TARGET_KEYS:
            raise UsageError(f"--config {path}: {where}.{key} {UNTRUSTED_TARGET_KEYS[key]}: refused in a run file "
                             f"this schedule does not trust (install the schedule with --trust-run-file to allow it)")
    if "statefulset" not in table:
        raise UsageError(f"--config {path}: {where} needs statefulset = \"NAMESPACE/NAME\"")
    return dict(table)


def _expect(path: Path, key: str, value: Any, kind: type) -> None:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UsageError(f"--config {path}: {key} must be {_NAMES[kind]}, not {_NAMES.get(type(value), type(value).__name__)}")
    if kind is list and not all(isinstance(v, dict if key == "targets" else str) for v in value):
        raise UsageError(f"--config {path}: {key} must hold {'tables' if key == 'targets' else 'strings'}")
