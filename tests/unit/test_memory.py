"""The command bounds its malloc arenas (chaos_harness/core/memory.py): a bound, not a measured saving (the
README's cost section), asked of glibc in the process itself: no second start-up."""


def test_the_arenas_are_capped_in_process_and_a_users_choice_stands(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from chaos_harness.core import memory

    monkeypatch.setattr(memory.sys, "platform", "linux")
    monkeypatch.setattr(memory.os, "environ", {})
    assert memory.cap_malloc_arenas() is True  # glibc, as on every machine this runs on
    monkeypatch.setattr(memory.os, "environ", {"MALLOC_ARENA_MAX": "8"})
    assert memory.cap_malloc_arenas() is False, "a MALLOC_ARENA_MAX the user set is theirs"
    monkeypatch.setattr(memory.sys, "platform", "darwin")
    monkeypatch.setattr(memory.os, "environ", {})
    assert memory.cap_malloc_arenas() is False
