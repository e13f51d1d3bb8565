"""The pipeline's layers (.importlinter, docs/ARCHITECTURE.md) hold: checked here so that `make unit` and
`make test` both fail on an import that climbs a layer, and shown to catch one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def lint(where: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(where / ".importlinter"), "--no-cache"], cwd=where,
                          env={**os.environ, "PYTHONPATH": str(where)}, capture_output=True, text=True, timeout=300)


def test_every_layer_contract_is_kept() -> None:
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_test_bed_import_from_a_lower_layer_breaks_the_build(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".importlinter", tmp_path)
    shutil.copytree(ROOT / "chaos_harness", tmp_path / "chaos_harness", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "_data"))
    kube = tmp_path / "chaos_harness" / "core" / "kube.py"
    kube.write_text(kube.read_text() + "\nfrom chaos_harness.testbed import images  # noqa: E402\n")
    result = lint(tmp_path)
    assert result.returncode != 0 and "BROKEN" in result.stdout, result.stdout[-3000:]
    assert "chaos_harness.core.kube -> chaos_harness.testbed" in result.stdout
