"""The scenarios a run can choose from: the built-ins (chaos_harness.scenarios), those of installed packages
(entry-point group chaos_harness.scenarios) and files under --scenarios DIR; what each says about itself
(hypothesis, faults, whether it can act on a user's StatefulSet)."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import traceback
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from chaos_harness.core.errors import UsageError

SCENARIO_GROUP = "chaos_harness.scenarios"


# What a scenario module may declare, and what each must be: checked when it is loaded, so that a typo or a
# value of the wrong kind is one line naming it, never a behaviour that silently differs (Hypothesis checks a
# rule-based state machine's definition the same way, when it is declared).
def _seconds(v: Any) -> bool:
    import math

    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


CONTRACT: dict[str, tuple[Any, str]] = {
    "HYPOTHESIS": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string: the claim, in one sentence"),
    "run": (callable, "a function run(env)"),
    "check": (callable, "a function check(events, timing) returning Verdicts"),
    "FAULTS": (lambda v: isinstance(v, (tuple, list)) and all(isinstance(f, str) for f in v),
               "a tuple of fault type names, e.g. ('kubelet-stop',)"),
    "TYPICAL_SECONDS": (_seconds, "a positive number of seconds"),
    "HOLDS": (lambda v: v in ("pods", "nodes"), "'pods' or 'nodes'"),
    "PLACEABLE": (lambda v: isinstance(v, bool), "True or False"),
    "TARGETABLE": (lambda v: isinstance(v, bool), "True or False"),
    "USES_MYSQL": (lambda v: isinstance(v, bool), "True or False"),
    "CHANGES_TARGET": (lambda v: isinstance(v, str), "a string: what it changes on a target (e.g. 'scale')"),
    "LANE_NODES": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 2, "a whole number >= 2"),
}


def check_contract(name: str, module: ModuleType, source: str) -> None:
    """A scenario's declarations are what they must be (CONTRACT); a name one letter or two from one of them
    (TARGETTABLE) is a typo. Either is one line naming the scenario, the name and what it must be."""
    import difflib

    for key, (ok, must) in CONTRACT.items():
        if hasattr(module, key) and not ok(getattr(module, key)):
            raise UsageError(f"scenario {name} ({source}): {key} = {str(getattr(module, key))[:60]!r} must be {must}")
    for key in vars(module):
        if key in CONTRACT or key.startswith("_"):
            continue
        close = difflib.get_close_matches(key, CONTRACT, n=1, cutoff=0.85)
        if close and (key.isupper() or close[0].islower()):
            raise UsageError(f"scenario {name} ({source}): {key} is not something a scenario declares; did you mean "
                             f"{close[0]}?")


def scenario_modules(dirs: Sequence[Path] = ()) -> dict[str, ModuleType]:
    """Every scenario by name: the built-in `scenarios` package, then the entry points of the group
    `chaos_harness.scenarios` (each names a module), then the `*.py` files of each directory in `dirs`
    (--scenarios DIR). A scenario is a module with a HYPOTHESIS and a run(env); each gets CHAOS_SOURCE (where
    it came from). A name that two sources define is a UsageError, as is a file that does not import."""
    from chaos_harness import scenarios

    found: dict[str, ModuleType] = {}

    def add(name: str, module: ModuleType, source: str) -> None:
        if not (hasattr(module, "HYPOTHESIS") and hasattr(module, "run")):
            raise UsageError(f"scenario {name} ({source}) has no HYPOTHESIS and run(env): not a scenario")
        if name in found:
            raise UsageError(f"scenario {name} from {source} clashes with the one from {found[name].CHAOS_SOURCE}; "
                             f"rename one of them")
        check_contract(name, module, source)
        if not getattr(module, "CHAOS_SOURCE", None):
            module.CHAOS_SOURCE = source  # type: ignore[attr-defined]
        found[name] = module

    for info in sorted(pkgutil.iter_modules(scenarios.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{scenarios.__name__}.{info.name}")
        if hasattr(module, "HYPOTHESIS") and hasattr(module, "run"):
            add(info.name, module, "built-in")
    for ep in sorted(entry_points(group=SCENARIO_GROUP), key=lambda e: e.name):
        source = f"entry point {ep.name} = {ep.value}" + (f" ({ep.dist.name})" if ep.dist else "")
        try:
            module = ep.load()
        except Exception as e:
            raise UsageError(f"scenario {source}: cannot load it ({type(e).__name__}: {e})") from e
        add(ep.name, module, source)
    for directory in dirs:
        if not directory.is_dir():
            raise UsageError(f"--scenarios {directory}: not a directory of scenario files")
        for path in sorted(directory.glob("*.py")):
            if not path.name.startswith("_"):
                module = load_scenario_file(path)
                lacks = [n for n in ("HYPOTHESIS", "run") if not hasattr(module, n)]
                if lacks == ["run"] or (lacks == ["HYPOTHESIS"] and callable(getattr(module, "run", None))):
                    # Half a scenario is a mistake, not a helper module: a helper (no HYPOTHESIS, no run) stays
                    # quiet; name files starting with _ to keep anything else out.
                    raise UsageError(f"--scenarios {path}: a scenario needs HYPOTHESIS and run(env); this file "
                                     f"has no {lacks[0]}")
                if not lacks:
                    add(path.stem, module, f"file {path}")
    return found


def load_scenario_file(path: Path) -> ModuleType:
    """Import one scenario file; a syntax error or a failing import is one line naming the file and line."""
    spec = importlib.util.spec_from_file_location(f"chaos_harness_user_scenarios.{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise UsageError(f"{e.filename or path}:{e.lineno}: syntax error: {e.msg}") from e
    except SystemExit as e:  # a file that ends the process as it is imported ends nothing but its own loading
        raise UsageError(f"{path}: importing it called sys.exit({e.code!r}); a scenario file defines, it does not "
                         f"run") from e
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        line = next((f.lineno for f in reversed(tb) if f.filename == str(path)), None)
        raise UsageError(f"{path}:{line or '?'}: importing it raised {type(e).__name__}: {e}") from e
    return module


def resolve_scenario(name: str, known: dict[str, ModuleType]) -> str:
    """A scenario's module name from what a user types: the full name, or its short name as the README and
    the reports write it (s08, S8, s8, 8). Raises KeyError naming the choices."""
    if name in known:
        return name
    short = name.strip().lower().removeprefix("s")
    if short.isdigit():
        matches = [k for k in known if k.split("_", 1)[0] == f"s{int(short):02d}"]
        if len(matches) == 1:
            return matches[0]
    raise KeyError(name)


def describe(name: str, module: ModuleType) -> dict[str, Any]:
    """What `chaos-harness list` shows: source, faults, needs and typical duration."""
    faults = list(getattr(module, "FAULTS", ()))
    needs = []
    if uses_mysql(module):
        needs.append("MySQL images, or --target NS/NAME" if targetable(module) else "MySQL images")
    if "kubelet-stop" in faults:
        needs.append("2 target nodes (one faulted, one to reschedule on)")
    if changes_target(module):
        needs.append(f"--allow-target-changes to run on --target (it changes the target's {changes_target(module)})")
    builtin = getattr(module, "CHAOS_SOURCE", "built-in") == "built-in"
    return {"name": name, "short": name.split("_", 1)[0].upper().replace("S0", "S") if builtin else name,
            "source": getattr(module, "CHAOS_SOURCE", "built-in"),
            "hypothesis": module.HYPOTHESIS, "faults": faults, "needs": needs,
            "typical_seconds": getattr(module, "TYPICAL_SECONDS", None), "targetable": targetable(module, True),
            "changes_target": changes_target(module) or None}


def targetable(module: ModuleType, allow_changes: bool = False) -> bool:
    """Scenarios that can act on a user's StatefulSet (--target) instead of deploying their own workload; those
    that change the target's spec or scale (CHANGES_TARGET) only when the user allows it."""
    return bool(getattr(module, "TARGETABLE", False)) and (allow_changes or not changes_target(module))


def changes_target(module: ModuleType) -> str:
    """What a targetable scenario changes on the user's StatefulSet ("" for nothing): e.g. "scale"."""
    return str(getattr(module, "CHANGES_TARGET", "") or "")


def uses_mysql(module: ModuleType) -> bool:
    """Scenarios on the MySQL workload say so (USES_MYSQL = True): their images are resolved and loaded first."""
    return bool(getattr(module, "USES_MYSQL", False))
