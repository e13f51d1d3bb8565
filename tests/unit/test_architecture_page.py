"""docs/ARCHITECTURE.md stays true of the code: every module of the package and every source file of the node
agent is named on it, so a module added without saying where it sits fails here. The built-in scenarios are
catalogued by `chaos-harness list`, not one by one."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules() -> list[Path]:
    found = [p for p in (ROOT / "chaos_harness").rglob("*.py")
             if p.name != "__init__.py" and not re.fullmatch(r"s\d\d_\w+\.py", p.name)]
    return sorted(found + [p for p in (ROOT / "images" / "agent").glob("*.go") if not p.name.endswith("_test.go")])


def test_every_module_is_named_on_the_architecture_page() -> None:
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    missing = [str(p.relative_to(ROOT)) for p in modules()
               if not re.search(r"(?<![\w/.])" + re.escape(p.name) + r"(?!\w)", page)]
    assert len(modules()) > 60
    assert not missing, f"add these to docs/ARCHITECTURE.md, where they sit and what they are for: {missing}"
