"""Every `from chaos_harness... import name` in the code, the tests and the examples names something that
exists, function-local imports included (pyflakes cannot see those: a name moved to another module is found
only when the function runs, e.g. in the middle of an end-to-end test)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_of_the_package_resolves() -> None:
    missing = []
    for path in [p for d in ("chaos_harness", "tests", "benchmarks", "examples") for p in (ROOT / d).rglob("*.py")
                 if "_data" not in p.parts]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                    and node.module.split(".")[0] == "chaos_harness"):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            try:
                module = importlib.import_module(node.module)
            except ImportError as e:
                missing.append(f"{where}: {node.module} ({e})")
                continue
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        missing.append(f"{where}: {node.module} has no {alias.name}")
    assert missing == []
