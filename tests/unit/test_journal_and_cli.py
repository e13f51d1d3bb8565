from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from chaos_harness.frontends import cli
from chaos_harness.assemble.catalogue import scenario_modules
from chaos_harness.core.errors import CleanupError, FaultError
from chaos_harness.faults import FaultSession, PodDelete, fault_from_spec, spec_of
from chaos_harness.record.history import History
from chaos_harness.faults.journal import Journal, JournalEntry
from chaos_harness.nodes.docker import KindNodeAccess


def test_journal_add_remove_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    entry = Journal(path).add({"type": "kubelet-stop", "node": "chaos-worker"}, "uid-1", "kind-chaos", "run-1")
    [again] = Journal(path).entries()
    assert again == entry
    Journal(path).remove(entry.id)
    assert Journal(path).entries() == []


def test_fault_specs_round_trip() -> None:
    fault = PodDelete("ns", "web-0", force=True, uid="u1")
    assert fault_from_spec(spec_of(fault)) == fault
    with pytest.raises(FaultError, match="unknown fault type"):
        fault_from_spec({"type": "meteor-strike"})


@dataclass(frozen=True)
class Recording:
    type: ClassVar[str] = "recording"
    log: list
    fail_heal: bool = False

    def inject(self, ctx) -> None:
        self.log.append("inject")

    def verify_injected(self, ctx) -> str:
        return "recorded"

    def heal(self, ctx) -> None:
        self.log.append("heal")
        if self.fail_heal:
            raise RuntimeError("stuck")


class FakeCluster:
    context = "kind-test"

    def fingerprint(self):
        class F:
            kube_system_uid = "uid-1"
        return F()


class Ctx:
    cluster = FakeCluster()
    nodes = None
    target_nodes = None

    def access_record(self) -> dict:
        return {"name": "test"}


def session(tmp_path: Path) -> tuple[FaultSession, Journal, History]:
    journal, history = Journal(tmp_path / "j.json"), History()
    return FaultSession(Ctx(), journal, history, "run-1"), journal, history  # type: ignore[arg-type]


def test_fault_is_journaled_before_inject_and_healed_when_the_block_raises(tmp_path: Path) -> None:
    s, journal, history = session(tmp_path)
    log: list = []
    with pytest.raises(ZeroDivisionError):
        with s.injected(Recording(log)):
            assert len(journal.entries()) == 1, "the fault must be in the journal while it is active"
            1 / 0
    assert log == ["inject", "heal"]
    assert journal.entries() == []
    assert [e["phase"] for e in history.events("fault")] == ["inject", "injected", "heal", "healed"]


def test_failed_heal_is_a_cleanup_error_and_stays_in_the_journal(tmp_path: Path) -> None:
    s, journal, history = session(tmp_path)
    with pytest.raises(CleanupError):
        with s.injected(Recording([], fail_heal=True)):
            pass
    assert len(journal.entries()) == 1
    assert history.events("fault")[-1]["phase"] == "heal-failed"


def test_cli_cleanup_with_empty_journal(tmp_path: Path, capsys) -> None:
    assert cli.main(["--journal", str(tmp_path / "j.json"), "cleanup"]) == cli.EXIT_PASS
    assert "nothing to heal" in capsys.readouterr().out


def test_cli_cleanup_refuses_a_bad_kubeconfig_with_exit_2(tmp_path: Path, capsys) -> None:
    journal = tmp_path / "j.json"
    Journal(journal).add({"type": "kubelet-stop", "node": "chaos-worker"}, "uid-1", "kind-chaos", "run-1")
    code = cli.main(["--journal", str(journal), "--kubeconfig", str(tmp_path / "missing"), "cleanup"])
    assert code == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kubeconfig" in err


def test_cli_lists_every_scenario_with_its_hypothesis(capsys) -> None:
    assert cli.main(["list"]) == cli.EXIT_PASS
    out = capsys.readouterr().out
    assert "s08_kubelet_stop_mysql: With the kubelet of pod 0's node stopped" in out
    assert "S8 · built-in · takes --target NS/NAME · faults: kubelet-stop · needs: MySQL images" in out
    assert "S9 · built-in · its own workload only · faults: kubelet-stop" in out
    # Scenarios that installed packages register by entry point are listed too; the built-ins are 17.
    assert len(out.splitlines()) == 2 * len(scenario_modules())
    assert sum("· built-in ·" in line for line in out.splitlines()) == 17


def test_cli_lists_scenarios_as_json(capsys) -> None:
    import json

    assert cli.main(["list", "--json"]) == cli.EXIT_PASS
    listed = json.loads(capsys.readouterr().out)
    builtin = [d for d in listed if d["source"] == "built-in"]
    assert [d["short"] for d in builtin][:3] == ["S1", "S2", "S3"] and len(builtin) == 17
    s10 = next(d for d in listed if d["short"] == "S10")
    assert s10["faults"] == ["kubelet-stop", "pod-delete"] and s10["typical_seconds"] > 0


@pytest.mark.parametrize("typed", ["s08", "S8", "s8", "8", "s08_kubelet_stop_mysql"])
def test_short_scenario_names_resolve(typed: str) -> None:
    from chaos_harness.assemble.catalogue import resolve_scenario

    assert resolve_scenario(typed, scenario_modules()) == "s08_kubelet_stop_mysql"


def test_unknown_short_name_is_a_usage_error_naming_the_short_names(capsys) -> None:
    assert cli.main(["run", "s99"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown scenario s99" in err and "s01..s17" in err


def test_cli_run_unknown_scenario_is_a_one_line_usage_error(capsys) -> None:
    assert cli.main(["run", "s99_meteor"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown scenario s99_meteor" in err and "chaos-harness list" in err


# --- the journal fails safe ----------------------------------------------------------------------------------

def test_a_journal_named_like_a_lock_file_is_not_truncated_by_its_lock(tmp_path: Path) -> None:
    path = tmp_path / "x.lock"
    Journal(path).add({"type": "kubelet-stop", "node": "n"}, "uid", "kind-chaos", "r")
    assert len(Journal(path).entries()) == 1
    assert len(Journal(path).entries()) == 1, "reading the journal must not empty it"


def test_reading_the_journal_never_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "j.json"
    Journal(path).add({"type": "kubelet-stop", "node": "n"}, "uid", "kind-chaos", "r")
    before = path.stat().st_mtime_ns
    path.chmod(0o444)
    try:
        assert len(Journal(path).entries()) == 1
    finally:
        path.chmod(0o644)
    assert path.stat().st_mtime_ns == before


@pytest.mark.parametrize("make,expect", [
    (lambda p: p.write_text("{not json"), "not valid JSON"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_text('{"a": 1}'), "does not hold a list"),
])
def test_a_broken_journal_is_one_line_and_exit_2(tmp_path: Path, capsys, make, expect: str) -> None:
    path = tmp_path / "j.json"
    make(path)
    assert cli.main(["--journal", str(path), "journal"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expect in err and "Traceback" not in err


def test_an_empty_journal_says_so(tmp_path: Path, capsys) -> None:
    assert cli.main(["--journal", str(tmp_path / "none.json"), "journal"]) == cli.EXIT_PASS
    assert "is empty" in capsys.readouterr().out
    assert not (tmp_path / "none.json").exists(), "a read created the journal"


def test_global_options_work_after_the_subcommand(tmp_path: Path, capsys) -> None:
    assert cli.main(["journal", "--journal", str(tmp_path / "after.json")]) == cli.EXIT_PASS
    assert "after.json is empty" in capsys.readouterr().out


def test_entries_record_their_owner_and_a_live_owner_is_alive(tmp_path: Path) -> None:
    entry = Journal(tmp_path / "j.json").add({"type": "kubelet-stop", "node": "n"}, "uid", "kind-chaos", "r")
    assert entry.owner_alive()
    dead = JournalEntry(**{**entry.as_dict(), "owner": {**entry.owner, "pid": 2 ** 22 + 1}})
    assert not dead.owner_alive()


class FakeIptables(KindNodeAccess):
    """A kind node whose iptables holds `copies` of each rule (a stub `iptables` on PATH keeps them in files, so
    the access's own shell script runs for real), or cannot be reached at all. Its systemd is a stub too."""

    def __init__(self, tmp: Path, copies: int = 1, reachable: bool = True, check_status: int | None = None) -> None:
        self.dir, self.reachable = tmp, reachable
        for chain in ("INPUT", "OUTPUT"):
            (tmp / chain).write_text(str(copies))
        forced = f"exit {check_status}" if check_status is not None else "true"
        for name in ("systemd-run", "systemctl"):
            (tmp / name).write_text(f"#!/bin/sh\necho \"$*\" >> {tmp}/{name}.log\n")
            (tmp / name).chmod(0o755)
        stub = tmp / "iptables"
        stub.write_text(f"""#!/bin/sh
[ "$1" = -w ] && shift
op=$1 chain=$2 n=$(cat {tmp}/$2)
case $op in
  -C) {forced}; [ "$n" -gt 0 ] ;;
  -D) [ "$n" -gt 0 ] || exit 1; echo $((n - 1)) > {tmp}/$chain ;;
  -I) echo $((n + 1)) > {tmp}/$chain ;;
esac
""")
        stub.chmod(0o755)

    def copies(self) -> dict[str, int]:
        return {chain: int((self.dir / chain).read_text()) for chain in ("INPUT", "OUTPUT")}

    def exec(self, node: str, *cmd: str, timeout: float = 30) -> str:
        import os
        import subprocess

        if not self.reachable:
            raise FaultError(f"docker exec {node}: no such container")
        env = {**os.environ, "PATH": f"{self.dir}:{os.environ['PATH']}"}
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=True).stdout


def test_partition_inject_and_heal_remove_every_copy_of_its_rules(tmp_path: Path) -> None:
    from chaos_harness.faults import FaultContext, NetworkPartition

    node = FakeIptables(tmp_path, copies=1)
    fault = NetworkPartition("n", ("10.0.0.1:6443", "10.0.0.1:443"))
    fault.inject(FaultContext(FakeCluster(), node, time_box_seconds=120))  # type: ignore[arg-type]
    assert node.copies() == {"INPUT": 2, "OUTPUT": 2}
    # The node's own systemd removes the rules at the time box, whatever becomes of the harness.
    armed = (tmp_path / "systemd-run.log").read_text()
    assert "--on-active=120s" in armed and "iptables -w -D INPUT -s 10.0.0.1" in armed, armed
    fault.heal(FaultContext(FakeCluster(), node))  # type: ignore[arg-type]
    assert node.copies() == {"INPUT": 0, "OUTPUT": 0}
    assert "stop chaos-harness-heal-partition.timer" in (tmp_path / "systemctl.log").read_text()


def test_partition_heal_that_cannot_tell_or_reach_fails(tmp_path: Path) -> None:
    from chaos_harness.faults import FaultContext, NetworkPartition

    with pytest.raises(FaultError, match="answered 2"):
        NetworkPartition("n", ("10.0.0.1:6443",)).heal(FaultContext(FakeCluster(), FakeIptables(tmp_path, check_status=2)))  # type: ignore[arg-type]
    with pytest.raises(FaultError):
        NetworkPartition("n", ("10.0.0.1:6443",)).heal(FaultContext(FakeCluster(), FakeIptables(tmp_path, reachable=False)))  # type: ignore[arg-type]


# --- signals -------------------------------------------------------------------------------------------------

def test_an_interrupt_during_a_fault_heals_and_stays_the_interrupt(tmp_path: Path) -> None:
    from chaos_harness.core.errors import Interrupted

    s, journal, history = session(tmp_path)
    log: list = []
    with pytest.raises(Interrupted):
        with s.injected(Recording(log)):
            raise Interrupted(15)
    assert log == ["inject", "heal"] and journal.entries() == []


def test_a_failed_heal_during_an_interrupt_never_replaces_the_interrupt(tmp_path: Path) -> None:
    """Seen before: the heal's CleanupError replaced SIGTERM, the next scenario ran and the process exited 0."""
    from chaos_harness.core.errors import Interrupted

    s, journal, history = session(tmp_path)
    with pytest.raises(KeyboardInterrupt) as raised:
        with s.injected(Recording([], fail_heal=True)):
            raise KeyboardInterrupt
    assert "'chaos-harness cleanup' will finish it" in " ".join(raised.value.__notes__)
    assert len(journal.entries()) == 1, "the unhealed fault must stay journaled"
    with pytest.raises(Interrupted):
        with s.injected(Recording([], fail_heal=True)):
            raise Interrupted(15)


def test_sigterm_during_a_cli_command_is_one_line_and_exit_143(tmp_path: Path, capsys, monkeypatch) -> None:
    import os
    import signal

    def slow_list(args):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    monkeypatch.setattr(cli, "cmd_list", slow_list)
    assert cli.main(["--journal", str(tmp_path / "j.json"), "list"]) == 143
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted by SIGTERM" in err and "Traceback" not in err


@dataclass(frozen=True)
class SignalledHeal:
    """A heal during which the process receives `signals` (as a user pressing Ctrl-C while it runs)."""

    type: ClassVar[str] = "signalled"
    log: list
    signals: tuple = ()

    def inject(self, ctx) -> None:
        self.log.append("inject")

    def verify_injected(self, ctx) -> str:
        return "ok"

    def heal(self, ctx) -> None:
        import os
        import time

        for signum in self.signals:
            os.kill(os.getpid(), signum)
            time.sleep(0.05)  # let the handler run
        self.log.append("healed")


def test_a_signal_during_a_heal_waits_for_it_then_interrupts(tmp_path: Path) -> None:
    import signal

    from chaos_harness.core.errors import Interrupted

    s, journal, history = session(tmp_path)
    log: list = []
    with pytest.raises(Interrupted):
        with s.injected(SignalledHeal(log, (signal.SIGTERM,))):
            pass
    assert log == ["inject", "healed"] and journal.entries() == []
    assert history.events("fault")[-1]["phase"] == "healed"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_a_second_signal_during_a_heal_stops_it_and_keeps_the_fault(tmp_path: Path) -> None:
    import signal

    s, journal, history = session(tmp_path)
    log: list = []
    with pytest.raises(KeyboardInterrupt) as raised:
        with s.injected(SignalledHeal(log, (signal.SIGINT, signal.SIGINT))):
            pass
    assert log == ["inject"] and len(journal.entries()) == 1
    assert history.events("fault")[-1]["phase"] == "heal-interrupted"
    assert any("chaos-harness cleanup' will finish it" in n for n in raised.value.__notes__)


def test_a_full_disk_never_skips_a_heal_and_is_cleanup_failed(tmp_path) -> None:
    """The history cannot be written (no space left): the heal still runs, and the session says what it could not
    write as `cleanup failed` (exit 3), never as a plain error that leaves the fault in place."""
    from dataclasses import dataclass
    from types import SimpleNamespace
    from typing import ClassVar

    import pytest

    from chaos_harness.core.errors import CleanupError
    from chaos_harness.faults.journal import Journal
    from chaos_harness.faults.session import FaultSession

    healed: list[str] = []

    @dataclass(frozen=True)
    class Noted:
        type: ClassVar[str] = "noted"

        def inject(self, ctx: object) -> None:
            pass

        def verify_injected(self, ctx: object) -> str:
            return "in force"

        def heal(self, ctx: object) -> None:
            healed.append("healed")

    class FullDisk:
        def __init__(self) -> None:
            self.writes = 0

        def record(self, kind: str, **fields: object) -> None:
            self.writes += 1
            if fields.get("phase") in ("heal", "healed"):
                raise OSError(28, "No space left on device")

    cluster = SimpleNamespace(context="kind-x", fingerprint=lambda: SimpleNamespace(kube_system_uid="u"))
    ctx = SimpleNamespace(cluster=cluster, target_nodes=None, time_box_seconds=60,
                          access_record=lambda: {"name": "docker"})
    journal = Journal(tmp_path / "journal.json")
    session = FaultSession(ctx, journal, FullDisk(), "run-1")  # type: ignore[arg-type]
    with pytest.raises(CleanupError, match="was healed, but .*No space left"):
        with session.injected(Noted()):
            pass
    assert healed == ["healed"] and journal.entries() == []


@pytest.mark.parametrize("case", ["symlink loop", "fifo", "utf-16", "binary", "owner a string", "access a string",
                                  "entry a number", "fault without type", "nested"])
def test_a_journal_that_cannot_be_read_is_an_error_never_nothing_to_heal(tmp_path: Path, capsys, case: str) -> None:
    import json as j
    import os

    path = tmp_path / "journal.json"
    entry = {"id": "e1", "fault": {"type": "kubelet-stop", "node": "n"}, "cluster_uid": "u", "context": "kind-x",
             "run_id": "r", "written_at": 1.0, "access": {"name": "docker"}, "owner": {"pid": 1}}
    if case == "symlink loop":
        os.symlink(path, path)
    elif case == "fifo":
        os.mkfifo(path)
    elif case == "utf-16":
        path.write_bytes(j.dumps([entry]).encode("utf-16"))
    elif case == "binary":
        path.write_bytes(bytes(range(256)))
    elif case == "nested":
        path.write_text("[" * 100000 + "]" * 100000)
    else:
        changed = {"owner a string": {**entry, "owner": "me"}, "access a string": {**entry, "access": "docker"},
                   "entry a number": 5, "fault without type": {**entry, "fault": {"node": "n"}}}[case]
        path.write_text(j.dumps([changed]))
    for command in (["cleanup"], ["journal"]):
        code = cli.main(["--journal", str(path), *command])
        out, err = capsys.readouterr()
        assert code == cli.EXIT_USAGE and "journal" in err and err.count("\n") == 1, (case, command, code, out, err)
        assert "nothing to heal" not in out and "Traceback" not in out + err


def test_context_is_spelled_as_kubectl_spells_it_too(tmp_path: Path) -> None:
    from chaos_harness.frontends.cli_parser import build_parser

    for argv in (["--context", "kind-x", "doctor"], ["doctor", "--context", "kind-x"], ["--kube-context", "kind-x", "doctor"]):
        assert build_parser().parse_args(argv).kube_context == "kind-x", argv
