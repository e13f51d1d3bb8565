"""A user's StatefulSet as the target: parsing, probes, the ledger's outcomes, and scenario discovery."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from chaos_harness.judge import checkers
from chaos_harness.core.errors import UsageError
from chaos_harness.assemble.runner import namespace_for
from chaos_harness.assemble.catalogue import resolve_scenario, scenario_modules
from chaos_harness.workload.ledger import Ledger
from chaos_harness.workload.probe import ProbeError, ProbeWriteFailed, ProbeWriter, load_hook, parse_keys, read_with_probe
from chaos_harness.workload.target import TargetRef, parse_target


@pytest.mark.parametrize("text,ref", [
    ("shop/db", TargetRef("shop", name="db")),
    ("shop/app=db", TargetRef("shop", selector="app=db")),
    ("shop/app=db,tier=data", TargetRef("shop", selector="app=db,tier=data")),
])
def test_target_forms(text: str, ref: TargetRef) -> None:
    assert parse_target(text) == ref


@pytest.mark.parametrize("text", ["db", "/db", "shop/", "a/b/c"])
def test_bad_target_forms(text: str) -> None:
    with pytest.raises(UsageError, match="NAMESPACE/NAME"):
        parse_target(text)


@pytest.mark.parametrize("text,said", [
    ("Shop/db", "is not a namespace's name"), ("shop_x/db", "is not a namespace's name"),
    ("n" * 64 + "/db", "is not a namespace's name"), ("shop/DB", "is not a StatefulSet's name"),
    ("shop/db-", "is not a StatefulSet's name"), ("shop/" + "d" * 254, "is not a StatefulSet's name"),
    ("shop/a b", "is not a StatefulSet's name"), ("shop/app=db=x", "is not a label selector"),
    ("shop/app=db,,x=y", "is not a label selector"), ("shop/db\n", "is not a StatefulSet's name"),
])
def test_a_target_kubernetes_would_refuse_is_named_before_connecting(text: str, said: str) -> None:
    """Each part is what the API server accepts: a typo is one line now, not a 404 or a 422 mid-run."""
    with pytest.raises(UsageError, match=said) as e:
        parse_target(text)
    assert "\n" not in str(e.value) and len(str(e.value)) < 300


class Flaky:
    """A probe whose writes succeed, fail for certain, or raise (outcome unknown), in turn."""

    def __init__(self) -> None:
        self.keys: list[int] = []
        self.calls = 0

    def write(self, key: int) -> None:
        self.calls += 1
        if self.calls % 3 == 2:
            raise ProbeWriteFailed("refused before sending")
        if self.calls % 3 == 0:
            self.keys.append(key)
            raise TimeoutError("no answer")
        self.keys.append(key)

    def read(self) -> list[int]:
        return self.keys


def test_probe_writer_records_every_outcome() -> None:
    events: list[dict] = []
    ledger = Ledger(sink=lambda r: events.append({"kind": "write", "seq": len(events), "mono": r.completed_mono,
                                                  **r.as_dict()}))
    writer = ProbeWriter(Flaky(), ledger, "db-0")
    for _ in range(6):
        writer.write_one()
    assert [r.outcome for r in ledger] == ["ok", "fail", "unknown"] * 2
    assert len({r.key for r in ledger}) == 6
    events.append({"kind": "read-keys", "seq": len(events), "mono": events[-1]["mono"] + 1, "replica": "db-0",
                   "keys": sorted(writer.probe.read())})
    verdict = checkers.durability(events, ["db-0"])
    assert verdict.ok, verdict.summary  # unknown writes may be present; acknowledged ones are


def test_probe_writer_runs_until_stopped() -> None:
    stop = threading.Event()
    ledger = Ledger()
    writer = ProbeWriter(Flaky(), ledger, "db-0")
    stop.set()
    writer.run(stop)
    assert len(ledger) == 0
    writer.run(threading.Event(), count=4)
    assert len(ledger) == 4


def test_a_probe_read_that_raises_is_a_probe_error() -> None:
    class Broken:
        def write(self, key: int) -> None: ...

        def read(self) -> list[int]:
            raise RuntimeError("database said no")

    with pytest.raises(ProbeError, match="database said no"):
        read_with_probe(Broken())
    with pytest.raises(ProbeError, match="integer keys"):
        parse_keys("1 2 three")


def test_hooks_load_by_module_object_and_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "myprobe.py").write_text(
        "class P:\n    def __init__(self, target): self.target = target\n"
        "    def write(self, key): pass\n    def read(self): return []\n"
        "instance = P(None)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    target = SimpleNamespace(name="db")
    assert load_hook("myprobe:P", target).target is target   # a factory, called with the target
    assert load_hook("myprobe:instance", target).target is None  # an object used as it is
    with pytest.raises(UsageError, match="cannot load"):
        load_hook("myprobe:Missing", target)
    with pytest.raises(UsageError, match="no entry point"):
        load_hook("not-installed", target)


def test_without_a_probe_durability_is_not_claimed() -> None:
    events = [{"kind": "fact", "workload": "db", "probe": "none", "mono": 0, "wall": 0, "seq": 0}]
    assert checkers.durability_if_probed(events, ["db-0"]) == []
    events[0]["probe"] = "yes"
    [verdict] = checkers.durability_if_probed(events, ["db-0"])
    assert verdict.status == "unknown" and "not observed" in verdict.summary


def test_scenario_files_and_clashes(tmp_path: Path) -> None:
    (tmp_path / "my_check.py").write_text("HYPOTHESIS = 'x'\ndef run(env):\n    pass\n")
    (tmp_path / "_helper.py").write_text("raise RuntimeError('never imported')\n")
    (tmp_path / "util.py").write_text("X = 1\n")  # not a scenario: no HYPOTHESIS
    found = scenario_modules([tmp_path])
    assert found["my_check"].CHAOS_SOURCE == f"file {tmp_path / 'my_check.py'}"
    assert "util" not in found and resolve_scenario("my_check", found) == "my_check"
    (tmp_path / "s08_kubelet_stop_mysql.py").write_text("HYPOTHESIS = 'x'\ndef run(env):\n    pass\n")
    with pytest.raises(UsageError, match="clashes with the one from built-in"):
        scenario_modules([tmp_path])


def test_a_failing_import_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text("HYPOTHESIS = 'x'\n\nimport not_a_module_anywhere\n")
    with pytest.raises(UsageError, match=r"boom.py:3: importing it raised ModuleNotFoundError"):
        scenario_modules([tmp_path])


@pytest.mark.parametrize("name", ["s08_kubelet_stop_mysql", "My_Check", "weird.name_x", "ünïcode_y"])
def test_namespaces_are_dns_labels(name: str) -> None:
    ns = namespace_for("20261123-181001", name)
    assert ns.startswith("chaos-181001-") and ns == ns.lower() and len(ns) <= 63
    assert all(c.isalnum() and c.isascii() or c == "-" for c in ns) and not ns.endswith("-")


def test_scenarios_sharing_a_first_word_get_namespaces_of_their_own() -> None:
    assert namespace_for("20261123-181001", "my_check") != namespace_for("20261123-181001", "my_other")
    assert namespace_for("20261123-181001", "s08_kubelet_stop_mysql").startswith("chaos-181001-s08-")


def test_a_users_store_holds_other_keys_which_are_not_unexpected() -> None:
    from chaos_harness.judge.durability import check_durability
    from chaos_harness.workload.ledger import WriteRecord

    writes = [WriteRecord(k, str(k), "db-0", 0, 0, 0, "ok") for k in (100, 101, 102)]
    held = {1, 2, 100, 101, 102, 500}   # data of the user's own and of earlier runs, outside this run's range
    assert not check_durability(writes, {"db-0": held}).ok  # a fresh store: anything unwritten is unexpected
    assert check_durability(writes, {"db-0": held}, shared_store=True).ok
    assert not check_durability(writes, {"db-0": {100, 102}}, shared_store=True).ok  # 101 lost


def test_dns_answers_are_parsed_from_getent_and_nslookup() -> None:
    from chaos_harness.workload.dns import parse_resolved

    assert parse_resolved("10.244.1.7      db-0.db.shop.svc.cluster.local\n") == ["10.244.1.7"]
    nslookup = ("Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tdb-0.db.shop.svc.cluster.local\n"
                "Address: 10.244.2.9\n")
    assert parse_resolved(nslookup) == ["10.244.2.9"]  # the DNS server's own address is not an answer
    assert parse_resolved("") == [] and parse_resolved("** server can't find x: NXDOMAIN") == []
