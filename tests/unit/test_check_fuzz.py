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


def _history(run: Path) -> Path:
    return run / "s08_kubelet_stop_mysql.history.jsonl"


def _add_line(text: str):  # type: ignore[no-untyped-def]
    return lambda run: _history(run).write_text(_history(run).read_text() + text + "\n")


def _results(change):  # type: ignore[no-untyped-def]
    def apply(run: Path) -> None:
        import json

        doc = json.loads((run / "results.json").read_text())
        change(doc)
        (run / "results.json").write_text(json.dumps(doc))
    return apply


def _fifo(name: str):  # type: ignore[no-untyped-def]
    def apply(run: Path) -> None:
        import os

        (run / name).unlink()
        os.mkfifo(run / name)
    return apply


def _loop(run: Path) -> None:
    import os

    (run / "results.json").unlink()
    os.symlink(run / "results.json", run / "results.json")


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "a history line that is 5": (_add_line("5"), "not a history event: a JSON int"),
    "a history line that is []": (_add_line("[]"), "not a history event: a JSON list"),
    "a history line nested 100,000 deep": (_add_line("[" * 100000 + "]" * 100000), "nested too deep"),
    "a history event whose mono is NaN": (_add_line('{"seq": 9999, "mono": NaN, "wall": 1, "kind": "x"}'),
                                          "'mono' is not a finite number"),
    "results.json nested 100,000 deep": (lambda run: (run / "results.json").write_text("[" * 100000 + "]" * 100000),
                                         "nested too deep"),
    "timing values as strings": (_results(lambda d: d["timing"].update(node_monitor_grace_period="16")),
                                 "not a finite number of seconds"),
    "results.json a FIFO": (_fifo("results.json"), "not a regular file"),
    "a history a FIFO": (_fifo("s08_kubelet_stop_mysql.history.jsonl"), "not a regular file"),
    "results.json a symlink loop": (_loop, "cannot be read"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_check_on_a_hostile_run_is_one_line_naming_what_and_where(case: str, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    damage, said = HOSTILE[case]
    damage(run)
    code = cli.main(["check", str(run)])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_USAGE and said in err and err.count("\n") == 1 and "Traceback" not in out + err, (
        code, err[-500:])


def test_a_steady_state_event_of_the_wrong_shape_is_judged_not_a_traceback(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    _add_line('{"seq": 9998, "mono": 1e9, "wall": 1, "kind": "steady-state", "ok": false, "checks": 5}')(run)
    _add_line('{"seq": 9999, "mono": 1e9, "wall": 1, "kind": "steady-state", "ok": false, "checks": [5]}')(run)
    code = cli.main(["check", str(run)])
    out, err = capsys.readouterr()
    assert code in (cli.EXIT_HYPOTHESIS, cli.EXIT_NOT_RUN) and "Traceback" not in out + err, (code, out[-300:], err)


@pytest.mark.parametrize("body,said", [("return [1]", "returned '1' (int), not a Verdict"),
                                       ("import sys; sys.exit(3)", "called sys.exit(3)")])
def test_a_users_check_that_returns_junk_or_exits_is_an_error_verdict(tmp_path: Path, capsys, body: str,
                                                                     said: str) -> None:
    import json

    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    doc = json.loads((run / "results.json").read_text())
    doc["results"] = [dict(r, scenario="mine") for r in doc["results"] if r["scenario"] == "s01_stable_identity"]
    (run / "results.json").write_text(json.dumps(doc))
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    (scenarios / "mine.py").write_text(f'HYPOTHESIS = "mine"\n\ndef run(env):\n    pass\n\ndef check(events, timing):\n'
                                       f'    {body}\n')
    code = cli.main(["check", str(run), "--scenarios", str(scenarios)])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_HYPOTHESIS and said in out and "Traceback" not in out + err, (code, out[-500:], err)
