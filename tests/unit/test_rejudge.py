"""A recorded run of all twelve scenarios (tests/data/run-all: results.json and one history per scenario, as
`chaos-harness run` wrote them on the test bed) is re-judged offline and reproduces every verdict exactly."""

from __future__ import annotations

from pathlib import Path

from chaos_harness.frontends import cli
from chaos_harness.assemble.runner import rejudge
from chaos_harness.assemble.catalogue import scenario_modules

RUN = Path(__file__).resolve().parents[1] / "data" / "run-all"


def test_every_scenario_of_the_recorded_run_is_rejudged_exactly() -> None:
    judged = rejudge(RUN)
    assert len(judged) == 12 and {name for name, _, _ in judged} <= set(scenario_modules())
    for name, recorded, now in judged:
        assert now, f"{name} has no check()"
        assert cli.normalized(now) == cli.normalized(recorded), name


def test_chaos_harness_check_says_the_run_is_reproduced(capsys) -> None:
    assert cli.main(["check", str(RUN)]) == cli.EXIT_PASS
    out = capsys.readouterr().out
    assert out.count("same as recorded") == 12 and "DIFFERENT" not in out


def test_a_tampered_history_is_judged_differently(tmp_path: Path, capsys) -> None:
    """Proof that the verdicts come from the history: drop every runtime sample of S8 and split-brain cannot
    be judged (unknown, exit 4), never a pass."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    history = run / "s08_kubelet_stop_mysql.history.jsonl"
    history.write_text("".join(line + "\n" for line in history.read_text().splitlines()
                               if '"kind": "runtime"' not in line))
    assert cli.main(["check", str(run)]) == cli.EXIT_UNKNOWN
    out = capsys.readouterr().out
    assert "s08_kubelet_stop_mysql: UNKNOWN" in out
    assert "UNKNOWN split-brain: not observed: a successful runtime sample" in out


def test_check_needs_a_run_directory(tmp_path: Path, capsys) -> None:
    assert cli.main(["check", str(tmp_path)]) == cli.EXIT_USAGE
    assert "holds no results.json" in capsys.readouterr().err

