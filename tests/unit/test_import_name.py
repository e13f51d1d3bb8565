"""One distribution, one import name: run from a user's project that has packages of its own called
`harness` and `scenarios` (generic names a test project may well use), the CLI lists the built-in scenarios
and the pytest plugin loads, both from chaos_harness; neither imports the user's packages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TRAP = "raise ImportError('the user\\'s {name} package was imported by chaos-harness')\n"


def users_project(root: Path) -> Path:
    for name in ("harness", "scenarios"):
        (root / name).mkdir()
        (root / name / "__init__.py").write_text(TRAP.format(name=name))
    (root / "scenarios" / "s01_mine.py").write_text("HYPOTHESIS = 'mine'\ndef run(env): pass\n")
    (root / "test_mine.py").write_text("import pytest\n\n@pytest.mark.disruptive\ndef test_mine():\n    pass\n")
    return root


def in_project(root: Path, *args: str) -> subprocess.CompletedProcess:
    # The project's directory first on the path, as `python -m` and pytest's rootdir insertion put it.
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("CI", None)
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_cli_lists_the_built_ins_beside_a_users_harness_and_scenarios(tmp_path: Path) -> None:
    root = users_project(tmp_path)
    listed = in_project(root, "-m", "chaos_harness", "list")
    assert listed.returncode == 0, listed.stderr
    assert "s08_kubelet_stop_mysql" in listed.stdout and "s17_identity_and_dns" in listed.stdout
    assert "s01_mine" not in listed.stdout and "Traceback" not in listed.stderr


def test_the_plugin_loads_beside_a_users_harness_and_scenarios(tmp_path: Path) -> None:
    root = users_project(tmp_path)
    # --strict-markers: `disruptive` is the plugin's marker, so the user's test only collects with it loaded.
    result = in_project(root, "-m", "pytest", "-q", "--strict-markers", "-p", "no:cacheprovider", "test_mine.py")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout
