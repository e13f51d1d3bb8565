"""Recorded runs (tests/data/run-*: results.json and one history per scenario, as `chaos-harness run` wrote them
on the test bed) are re-judged offline. A run recorded by this harness reproduces every verdict exactly; the
older run-all (twelve scenarios, judged before a pass needed proof that its fault took effect) reproduces every
verdict it had and gains exactly one: `fault-took-effect`, for each scenario whose history holds a fault."""

from __future__ import annotations

from pathlib import Path

from chaos_harness.frontends import cli
from chaos_harness.assemble.runner import rejudge
from chaos_harness.assemble.catalogue import scenario_modules

RUN = Path(__file__).resolve().parents[1] / "data" / "run-all"


WITHOUT_FAULTS = {"s03_ordered_ready", "s04_reverse_order_termination", "s05_rolling_update",
                  "s12_read_from_every_replica"}


def test_every_verdict_of_the_older_recorded_run_is_reproduced_and_only_the_fault_proof_is_new() -> None:
    judged = rejudge(RUN)
    assert len(judged) == 12 and {name for name, _, _ in judged} <= set(scenario_modules())
    for name, recorded, now in judged:
        assert now, f"{name} has no check()"
        expected = [] if name in WITHOUT_FAULTS else ["+ fault-took-effect: pass"]
        assert cli.verdict_changes(recorded, now) == expected, name


def test_chaos_harness_check_names_each_verdict_that_changed(capsys) -> None:
    assert cli.main(["check", str(RUN)]) == cli.EXIT_HYPOTHESIS  # verdicts came: not the run as recorded
    out = capsys.readouterr().out
    assert out.count("DIFFERENT from results.json: + fault-took-effect: pass") == 8
    assert out.count("same as recorded") == 4


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



RECORDED_BY_THIS_HARNESS = sorted(p for p in RUN.parent.glob("run-*") if p.name != "run-all")


def test_the_runs_recorded_by_this_harness_are_rejudged_exactly(capsys) -> None:
    """S13-S17 on kind (docker) and S8, S13, S14, S15 through the node agent, recorded with the judge of this
    version: re-judged offline, every verdict comes back word for word."""
    assert {p.name for p in RECORDED_BY_THIS_HARNESS} >= {"run-kind", "run-agent", "run-agent-s13"}
    for run in RECORDED_BY_THIS_HARNESS:
        for name, recorded, now in rejudge(run):
            assert cli.normalized(now) == cli.normalized(recorded), f"{run.name}/{name}"
        assert cli.main(["check", str(run)]) == cli.EXIT_PASS
    assert "DIFFERENT" not in capsys.readouterr().out
