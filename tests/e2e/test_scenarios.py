"""The seed scenarios S1–S12 on the live cluster (fast timing profile in CI), on their own workloads: each
one's hypothesis must hold, with evidence. The run's HTML report is reports/<run-id>/report.html.

S13–S17 (container kill, node pause, partition, drain, identity and DNS) prove their mechanism once on the cheapest workload
that shows it, a user's small StatefulSet as --target (tests/e2e/test_user_target.py); `make run` runs them
on the MySQL example."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.runner import ScenarioResult, scenario_modules

# Scenarios that inject node faults are disruptive; the rest only create and delete their own objects.
NODE_FAULTS = {"s08_kubelet_stop_mysql", "s09_kubelet_stop_deployment", "s10_force_delete_mysql"}
ON_A_TARGET = {"s13_container_kill", "s14_node_pause", "s15_network_partition", "s16_node_drain",
               "s17_identity_and_dns"}


def params() -> list[pytest.ParameterSet]:
    return [pytest.param(name, marks=[pytest.mark.disruptive, pytest.mark.slow] if name in NODE_FAULTS else [],
                         id=name.split("_")[0]) for name in scenario_modules() if name not in ON_A_TARGET]


@pytest.mark.parametrize("name", params())
def test_scenario(name: str, run_scenario: Callable[[str], ScenarioResult]) -> None:
    result = run_scenario(name)
    assert result.ok, result.failure_message()
