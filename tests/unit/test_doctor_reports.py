"""doctor reports what it found even when removing its own look-around agent fails (a 403 on the namespace's
delete): the failure is one more line and one more problem, and the agent stays journaled for `cleanup`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import chaos_harness.faults
from chaos_harness.assemble import doctor
from chaos_harness.assemble.node_access import AccessOptions
from chaos_harness.core.errors import Forbidden


class Layout:
    def describe(self) -> str:
        return "kubelet.service, containerd"

    def problem(self) -> None:
        return None


class AgentThatCannotBeRemoved:
    def __init__(self, *args: Any) -> None:
        pass

    run_id = "doctor-x"

    def install(self, check_layouts: bool) -> None:
        pass

    def layouts(self) -> dict[str, Layout]:
        return {"node-a": Layout()}

    def remove(self) -> None:
        raise Forbidden("namespaces \"chaos-agent-doctor-x\" is forbidden: cannot delete")


def test_doctor_reports_the_layouts_it_found_when_its_agent_cannot_be_removed(monkeypatch: pytest.MonkeyPatch,
                                                                              capsys: pytest.CaptureFixture[str]) -> None:
    kept: list[bool] = []

    @contextmanager
    def run_registered(cluster: Any, journal: Any, run_id: str) -> Iterator[None]:
        try:
            yield
        except BaseException:
            kept.append(True)  # the real one keeps the entry unless the namespaces are seen going
            raise
        kept.append(False)

    monkeypatch.setattr(doctor, "NodeAgent", AgentThatCannotBeRemoved)
    monkeypatch.setattr(chaos_harness.faults, "run_registered", run_registered)
    lines: list[str] = []
    problems = doctor.node_layouts(None, AccessOptions(), "agent:1", ["node-a"],  # type: ignore[arg-type]
                                   lambda what, value: lines.append(f"{what}: {value}"), journal=None)  # type: ignore[arg-type]
    assert lines[0] == "node node-a: kubelet.service, containerd", lines
    assert "could not be removed" in lines[1] and "chaos-harness cleanup" in lines[1]
    assert problems == ["node agent left behind"] and kept == [True]
