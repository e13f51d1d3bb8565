"""Every `sh` and `python` block of the README runs as written (from the checkout's root), except those the
README marks `readme-test: not run` with the reason. The "Test your own StatefulSet" block is the proof of the
user-project path: chaos-harness and examples/keystore installed (not editable) into a fresh virtualenv, the
project's scenario found by entry point, and s08 passing on the user's StatefulSet with runtime evidence."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\s*$")


def blocks() -> list[tuple[str, str, str, str | None]]:
    """(id, language, text, reason not run) for every fenced block of the README."""
    found, lines, i, section = [], (REPO / "README.md").read_text().splitlines(), 0, "top"
    while i < len(lines):
        if lines[i].startswith("## "):
            section = re.sub(r"[^a-z0-9]+", "-", lines[i][3:].lower()).strip("-")
        m = FENCE.match(lines[i])
        if m and m.group(1):
            start = i
            i += 1
            while not lines[i].startswith("```"):
                i += 1
            previous = next((l for l in reversed(lines[:start]) if l.strip()), "")
            skip = re.match(r"<!-- readme-test: not run \((.*)\) -->", previous)
            found.append((f"{section}-L{start + 1}", m.group(1), "\n".join(lines[start + 1:i]),
                          skip.group(1) if skip else None))
        i += 1
    return found


RUNNABLE = [b for b in blocks() if b[1] in ("sh", "python")]


def test_the_readme_has_runnable_blocks() -> None:
    assert [b for b in RUNNABLE if b[3] is None], "no README block is executed"
    print("\n" + "\n".join(f"| {b[0]} | {b[1]} | {'not run: ' + b[3] if b[3] else 'run'} |" for b in RUNNABLE))


@pytest.mark.parametrize("block", [b for b in blocks() if b[1] == "toml"], ids=lambda b: b[0])
def test_toml_block_is_a_valid_run_file(block: tuple[str, str, str, str | None], tmp_path: Path) -> None:
    from chaos_harness.frontends import cli

    (tmp_path / "run.toml").write_text(block[2])
    args = cli.build_parser().parse_args(["run", "--config", str(tmp_path / "run.toml")])
    targets = cli.apply_run_file(args)
    assert args.scenario and targets


def user_env() -> dict[str, str]:
    """The environment a user's shell has: no virtualenv active, nothing of this test session's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(str(REPO / ".venv")))
    return env


@pytest.fixture
def keystore_namespace(cluster, namespace_reaper):
    yield "keystore"
    namespace_reaper.delete("keystore")


@pytest.mark.parametrize("block", [b for b in RUNNABLE if b[1] == "sh"], ids=lambda b: b[0])
def test_sh_block_runs_as_written(block: tuple[str, str, str, str | None], cluster, request) -> None:
    ident, _, text, reason = block
    if reason:
        pytest.skip(f"README says: {reason}")
    if "keystore" in text:
        request.getfixturevalue("keystore_namespace")
        for old in (REPO / "reports" / "keystore").glob("*"):
            subprocess.run(["rm", "-rf", str(old)], check=True)
    result = subprocess.run(["bash", "-eo", "pipefail", "-c", text], cwd=REPO, env=user_env(), capture_output=True,
                            text=True, timeout=1200)
    print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
    assert result.returncode == 0, f"README block {ident} exited {result.returncode}:\n{result.stderr[-2000:]}"
    if "keystore" in text:
        check_keystore_run(result.stdout)


def check_keystore_run(stdout: str) -> None:
    """The user-project block's run: s08 on the user's StatefulSet passed, with runtime evidence, and the
    project's own scenario (found by entry point) passed with durability judged through the probe."""
    assert "keystore_rolling_delete" in stdout.split("==", 1)[0], "the list did not show the entry-point scenario"
    [run] = list((REPO / "reports" / "keystore").glob("2*/results.json"))
    results = {r["scenario"]: r for r in json.loads(run.read_text())["results"]}
    s08, own = results["s08_kubelet_stop_mysql"], results["keystore_rolling_delete"]
    assert s08["status"] == own["status"] == "pass"
    verdicts = {v["checker"]: v for v in s08["verdicts"]}
    assert {"split-brain", "node-observed-during-fault", "not-recreated-during-fault", "durability"} <= set(verdicts)
    assert verdicts["node-observed-during-fault"]["ok"] and verdicts["node-observed-during-fault"]["figures"]
    assert verdicts["durability"]["figures"]["acknowledged"] > 0
    assert s08["namespace"] == "keystore"
    events = [json.loads(line) for line in (run.parent / s08["history"]).read_text().splitlines()]
    # A sample that failed (a node another lane of the suite holds paused) has no container list.
    samples = [e for e in events if e["kind"] == "runtime" and e["ok"]
               and any(c["pod"] == "keystore-0" for c in e["containers"])]
    assert samples, "no runtime sample of keystore-0: the at-most-one check had nothing to look at"


@pytest.mark.parametrize("block", [b for b in RUNNABLE if b[1] == "python"], ids=lambda b: b[0])
def test_python_block_runs_as_written(block: tuple[str, str, str, str | None], cluster, tmp_path: Path) -> None:
    """A pytest example is run by pytest, in a directory of its own (so none of this project's conftest
    applies), with the plugin as a user gets it."""
    ident, _, text, reason = block
    if reason:
        pytest.skip(f"README says: {reason}")
    (tmp_path / "test_readme_example.py").write_text(text + "\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--chaos-require-cluster",
                             "--chaos-report-dir", str(tmp_path / "reports"), "test_readme_example.py"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            # As a user points it at a cluster: KUBECONFIG (the test bed's; its context is current).
                            env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)})
    print(result.stdout[-3000:])
    assert result.returncode == 0, f"README block {ident}:\n{result.stdout[-3000:]}\n{result.stderr[-2000:]}"
