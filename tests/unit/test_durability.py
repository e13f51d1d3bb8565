from chaos_harness.judge.durability import check_durability
from chaos_harness.workload.ledger import Ledger, WriteRecord


def rec(key: int, outcome: str) -> WriteRecord:
    return WriteRecord(key, f"v{key}", "mysql-0.mysql", 1000.0 + key, 10.0 + key, 10.5 + key, outcome)  # type: ignore[arg-type]


LEDGER = [rec(1, "ok"), rec(2, "ok"), rec(3, "unknown"), rec(4, "unknown"), rec(5, "fail")]


def test_everything_acknowledged_is_present() -> None:
    verdict = check_durability(LEDGER, {"mysql-0": {1, 2, 3}, "mysql-1": {1, 2}})
    assert verdict.ok
    assert verdict.replicas[0].recovered == (3,)
    assert verdict.replicas[1].recovered == ()
    assert (verdict.acknowledged, verdict.unknown, verdict.failed) == (2, 2, 1)


def test_acknowledged_but_absent_is_lost() -> None:
    verdict = check_durability(LEDGER, {"mysql-0": {1}})
    assert not verdict.ok
    assert verdict.replicas[0].lost == (2,)
    assert "1 lost (ids 2)" in verdict.explain() and "none unexpected" in verdict.explain()
    assert "[" not in verdict.explain(), "no Python reprs in what a person reads"
    many = check_durability(LEDGER, {"mysql-0": set()})
    assert "lost (ids" in many.explain()


def test_rows_never_written_are_unexpected() -> None:
    verdict = check_durability(LEDGER, {"mysql-0": {1, 2, 99}})
    assert not verdict.ok
    assert verdict.replicas[0].unexpected == (99,)


def test_failed_write_found_present_is_flagged() -> None:
    verdict = check_durability(LEDGER, {"mysql-0": {1, 2, 5}})
    assert not verdict.ok
    assert verdict.replicas[0].failed_but_present == (5,)


def test_unknown_writes_may_be_absent() -> None:
    assert check_durability(LEDGER, {"mysql-0": {1, 2}}).ok


def test_no_replica_read_is_not_a_pass() -> None:
    verdict = check_durability(LEDGER, {})
    assert not verdict.ok
    assert "nothing was checked" in verdict.explain()


def test_emptydir_data_loss_is_reported_as_lost() -> None:
    # The emptyDir scenario: the pod came back empty.
    verdict = check_durability(LEDGER, {"mysql-ephemeral-0": set()})
    assert verdict.replicas[0].lost == (1, 2)


def test_ledger_round_trip(tmp_path) -> None:
    path = tmp_path / "ledger.jsonl"
    Ledger.of(LEDGER).save(path)
    assert Ledger.load(path).records() == LEDGER
