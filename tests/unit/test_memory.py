"""The command bounds its malloc arenas (chaos_harness/core/memory.py): a bound, not a measured saving (the
README's cost section)."""

import sys


def test_the_command_starts_again_once_with_malloc_arenas_capped(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from chaos_harness.core import memory

    execs: list[list[str]] = []
    monkeypatch.setattr(memory.sys, "platform", "linux")
    monkeypatch.setattr(memory.os, "execv", lambda path, args: execs.append(args))
    monkeypatch.setattr(sys, "argv", ["chaos-harness", "run", "s07"])
    monkeypatch.setattr(memory.os, "environ", {})  # this process's own environment stays as it is
    memory.restart_with_capped_arenas()
    assert execs == [[sys.executable, "-m", "chaos_harness", "run", "s07"]]
    assert memory.os.environ["MALLOC_ARENA_MAX"] == "2"
    memory.restart_with_capped_arenas()  # set now (by the user, or by the first start): no second exec
    assert len(execs) == 1
    assert memory.cap_malloc_arenas() in (True, False)
