"""`chaos-harness check` never tracebacks: each file of a recorded run truncated, corrupted, emptied, made binary
or deleted in turn gives an exit code and at most a line, never an exception."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from chaos_harness.frontends import cli

RUN = Path(__file__).resolve().parents[1] / "data" / "run-all"
FILES = sorted(p.name for p in RUN.iterdir() if p.suffix in (".json", ".jsonl"))

DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) * 2 // 3]),
    "corrupted": lambda p: p.write_bytes(p.read_bytes().replace(b'"', b"'", 7)),
    "emptied": lambda p: p.write_text(""),
    "an empty object": lambda p: p.write_text("{}"),
    "binary": lambda p: p.write_bytes(bytes(range(256)) * 4),
    "deleted": lambda p: p.unlink(),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("name", FILES)
def test_check_on_a_damaged_run_is_an_exit_code_never_a_traceback(name: str, damage: str, tmp_path: Path,
                                                                  capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    DAMAGE[damage](run / name)
    code = cli.main(["check", str(run)])
    out, err = capsys.readouterr()
    assert code in (cli.EXIT_HYPOTHESIS, cli.EXIT_USAGE, cli.EXIT_UNKNOWN) or (code == cli.EXIT_PASS and (
        name == "history.jsonl" or damage == "corrupted")), (code, out[-500:], err)  # the merged copy is not read
    assert "Traceback" not in out + err and err.count("\n") <= 1, err
    if name == "results.json" or (damage in ("deleted", "binary", "emptied") and name != "history.jsonl"):
        assert code != cli.EXIT_PASS


def test_a_run_of_scenarios_not_installed_here_is_exit_2(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    text = (run / "results.json").read_text().replace('"s01_stable_identity"', '"their_own_check"')
    (run / "results.json").write_text(text)
    assert cli.main(["check", str(run)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "their_own_check are not installed here" in err and err.count("\n") == 1
