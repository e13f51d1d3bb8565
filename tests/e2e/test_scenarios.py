"""The seed scenarios on the live cluster (fast timing profile in CI)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from harness.journal import Journal
from harness.kube import Cluster
from harness.scenario import make_env
from harness.testbed.images import MySQLImages

pytestmark = [pytest.mark.disruptive, pytest.mark.slow]


@pytest.mark.parametrize("module", ["s08_kubelet_stop_mysql", "s09_kubelet_stop_deployment", "s10_force_delete_mysql"])
def test_scenario(module: str, cluster: Cluster, namespace: str, run_id: str, mysql_images: MySQLImages,
                  tmp_path: Path) -> None:
    scenario = importlib.import_module(f"scenarios.{module}")
    history = Path("reports") / "histories" / f"{module}-{run_id}.jsonl"
    env = make_env(cluster, namespace, run_id, history, Journal(tmp_path / "journal.json"), mysql_images)
    try:
        verdicts = scenario.run(env)
    finally:
        env.history.close()
    report = "\n".join([f"{module}: {scenario.HYPOTHESIS}", *(v.explain() for v in verdicts),
                        f"figures: {env.figures}", f"history: {history}"])
    print(report)
    failed = [v for v in verdicts if not v.ok]
    assert not failed, "hypothesis failed:\n" + "\n".join(v.explain() for v in failed)
