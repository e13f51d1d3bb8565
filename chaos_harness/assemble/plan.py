"""A run's plan from what the user asked for, checked before anything connects: which scenarios run, on the
bundled example or on which target, with which probe. The frontends parse; this decides and refuses (one
UsageError naming the fix)."""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from chaos_harness.core.errors import UsageError
from chaos_harness.core.kube import Cluster

if TYPE_CHECKING:
    from chaos_harness.workload.target import StatefulSetTarget


def probe_options(target: dict[str, str | None], where: str = "") -> None:
    """Probe options make sense only with a target, and one kind at a time: checked before any connection."""
    given = [o for o in ("probe", "probe_write", "probe_read", "probe_container") if target.get(o)]
    flag = (lambda o: f"{where}{o}") if where else (lambda o: "--" + o.replace("_", "-"))
    if given and not target.get("statefulset"):
        raise UsageError(f"{flag(given[0])} needs --target NAMESPACE/NAME (the bundled example has its own writer)")
    if target.get("probe") and (target.get("probe_write") or target.get("probe_read")):
        raise UsageError(f"{flag('probe')} (a Python hook) and {flag('probe_write')}/{flag('probe_read')} (exec "
                         f"commands) exclude each other")
    if bool(target.get("probe_write")) != bool(target.get("probe_read")):
        raise UsageError(f"{flag('probe_write')} and {flag('probe_read')} go together: one writes {{key}}, the other "
                         f"prints the keys")
    if target.get("probe"):
        from chaos_harness.workload.probe import find_hook

        find_hook(str(target["probe"]))  # the module, the object, or the entry point: found before connecting


def build_target(spec: dict[str, str | None], cluster: Cluster) -> "StatefulSetTarget":
    from chaos_harness.workload.probe import ExecProbe, load_hook
    from chaos_harness.workload.target import parse_target, resolve_target

    target = resolve_target(cluster, parse_target(str(spec["statefulset"])))
    target.allow_changes = bool(spec.get("allow_changes"))
    if spec.get("probe"):
        target.probe = load_hook(str(spec["probe"]), target)
    elif spec.get("probe_write"):
        target.probe = ExecProbe(target, str(spec["probe_write"]), str(spec["probe_read"]), spec.get("probe_container"))
    return target


def plan_run(known: dict[str, ModuleType], targets: list[dict[str, object]], scenarios: Sequence[str] = (),
             target_given: bool = False, probe: dict[str, str | None] | None = None
             ) -> list[tuple[str, dict[str, object] | None]]:
    """(scenario, target spec or None) in the order they run; every name and every target's form checked.
    `scenarios`: the names as typed (for --target, or the bundled example); `target_given`: the one target came
    from the command line (--target), not a run file; `probe`: the command line's probe options."""
    probe = probe or {}
    from chaos_harness.assemble.catalogue import changes_target, resolve_scenario, targetable
    from chaos_harness.workload.target import parse_target

    builtin = sum(getattr(m, "CHAOS_SOURCE", "built-in") == "built-in" for m in known.values())

    def resolve(typed: list[str], default: list[str]) -> list[str]:
        chosen, unknown = [], []
        for name in typed or default:
            try:
                chosen.append(resolve_scenario(name, known))
            except KeyError:
                unknown.append(name)
        if unknown:
            raise UsageError(f"unknown scenario {', '.join(unknown)}; known: {', '.join(known)} or their short "
                             f"names s01..s{builtin:02d} (see 'chaos-harness list')")
        return chosen

    plan: list[tuple[str, dict[str, object] | None]] = []
    if targets and not target_given and list(scenarios):
        # A run file's top-level scenarios run on the bundled example, beside its [[targets]] (they were
        # silently dropped when the file also had targets).
        probe_options(probe)
        plan += [(name, None) for name in resolve(list(scenarios), [])]
    if not targets:
        probe_options(probe)
        return [(name, None) for name in resolve(list(scenarios), list(known))]
    for i, spec in enumerate(targets):
        parse_target(str(spec["statefulset"]))  # its form, before anything else
        probe_options(spec, "" if target_given else f"targets[{i}].")
        typed = list(spec.get("scenarios") or []) or (list(scenarios) if target_given else [])  # type: ignore[arg-type]
        allow = bool(spec.get("allow_changes"))
        names = resolve(typed, [n for n, m in known.items() if targetable(m, allow)])
        if changing := [n for n in names if targetable(known[n], True) and not targetable(known[n], allow)]:
            what = sorted({changes_target(known[n]) for n in changing})
            raise UsageError(f"{', '.join(changing)} change{'s' if len(changing) == 1 else ''} the target's "
                             f"{' and '.join(what)}; allow it with "
                             f"{'--allow-target-changes' if target_given else f'targets[{i}].allow_changes = true'}")
        if own := [n for n in names if not targetable(known[n], True)]:
            raise UsageError(f"{', '.join(own)} deploy{'s' if len(own) == 1 else ''} its own workload and cannot "
                             f"run on --target; targetable: "
                             f"{', '.join(n for n, m in known.items() if targetable(m, allow))}")
        plan += [(name, spec) for name in names]
    return plan
