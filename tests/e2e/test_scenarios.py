"""The seed scenarios S1–S12 on the live cluster (fast timing profile in CI), on their own workloads: each
one's hypothesis must hold, with evidence. The run's HTML report is reports/<run-id>/report.html.

The selected scenarios run in one go through the plugin's `run_scenarios`, side by side where what they hold
allows (the CLI's --parallel): those acting on their own pods together, each node fault alone. Each test then
judges its own scenario's result.

S13–S17 (container kill, node pause, partition, drain, identity and DNS) prove their mechanism once on the cheapest workload
that shows it, a user's small StatefulSet as --target (tests/e2e/test_user_target.py); `make run` runs them
on the MySQL example."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chaos_harness.frontends.pytest_plugin import record_result
from chaos_harness.assemble.catalogue import scenario_modules
from chaos_harness.report.results import ScenarioResult

# Scenarios that inject node faults are disruptive; the rest only create and delete their own objects.
NODE_FAULTS = {"s08_kubelet_stop_mysql", "s09_kubelet_stop_deployment", "s10_force_delete_mysql"}
ON_A_TARGET = {"s13_container_kill", "s14_node_pause", "s15_network_partition", "s16_node_drain",
               "s17_identity_and_dns"}


def params() -> list[pytest.ParameterSet]:
    return [pytest.param(name, marks=[pytest.mark.disruptive, pytest.mark.slow] if name in NODE_FAULTS else [],
                         id=name.split("_")[0]) for name in scenario_modules() if name not in ON_A_TARGET]


@pytest.fixture(scope="module")
def suite(request: pytest.FixtureRequest, run_scenarios: Callable[..., list[ScenarioResult]]) -> dict[str, ScenarioResult]:
    """Every scenario this session selected from this module, run once, side by side where allowed."""
    names = [item.callspec.params["name"] for item in request.session.items
             if item.module is request.module and hasattr(item, "callspec")]
    return dict(zip(names, run_scenarios(names, parallel=3)))


@pytest.mark.parametrize("name", params())
def test_scenario(name: str, suite: dict[str, ScenarioResult], chaos_session, request: pytest.FixtureRequest) -> None:
    result = suite[name]
    record_result(request, chaos_session, name, result)
    assert result.ok, result.failure_message()
