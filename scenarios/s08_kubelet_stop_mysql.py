"""S8: kubelet stopped on mysql-0's node."""

from __future__ import annotations

import time

from harness import checkers
from harness.checkers import Verdict
from harness.faults import KubeletStop
from harness.progress import observe
from harness.history import Event
from harness.scenario import ScenarioEnv
from harness.settings import ClusterTiming
from harness.waits import node_condition, watch_until
from harness.workload.mysql_client import Writer, background_writer, ensure_schema

HYPOTHESIS = ("With mysql-0's kubelet stopped, its Node goes not-Ready within the grace period; mysql-0 is not "
              "re-created anywhere while the node is unreachable, through and past the unreachable toleration "
              "(the pod ends Terminating); no second mysql-0 container ever runs; after the kubelet starts, "
              "everything returns with no acknowledged write lost.")
FAULTS = ('kubelet-stop',)
TYPICAL_SECONDS = 171  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True


def run(env: ScenarioEnv) -> None:
    mysql, node = env.deploy_mysql()
    env.note(node=node)
    t = env.timing
    ledger = env.ledger()

    with env.recording(), mysql.endpoint(0) as endpoint:
        ensure_schema(endpoint)
        with background_writer(Writer(endpoint, ledger), pause=0.02):
            observe(2, "acknowledged writes before the fault")
            with env.faults.injected(KubeletStop(node)):
                watch_until(env.cluster.core.list_node, lambda n: node_condition(n) != "True",
                            t.node_monitor_grace_period + t.node_monitor_period + 30, f"{node} not Ready",
                            field_selector=f"metadata.name={node}")
                # Past the unreachable toleration the taint manager evicts mysql-0: it turns Terminating and
                # stays so, since no kubelet confirms the kill. Watch it happen, then keep watching a while.
                watch_until(env.cluster.core.list_namespaced_pod, lambda p: p.metadata.deletion_timestamp is not None,
                            t.unreachable_toleration_seconds + t.node_monitor_grace_period + 60,
                            "mysql-0 Terminating", namespace=env.namespace, field_selector="metadata.name=mysql-0")
                observe(min(30.0, t.unreachable_toleration_seconds), "no second mysql-0 appears")
            started = time.monotonic()
            mysql.wait_ready(300)
            env.figures["recover_3of3_seconds"] = time.monotonic() - started
            observe(2, "acknowledged writes after recovery")
    primary = env.read_rows(mysql, 0)
    for i in (1, 2):
        env.read_rows(mysql, i, expected=primary)


def check(events: list[Event], t: ClusterTiming) -> list[Verdict]:
    node = checkers.facts(events)["node"]
    return [
        checkers.node_detection(events, node, KubeletStop.type, t.node_monitor_grace_period, t.node_monitor_period),
        checkers.not_recreated_during_fault(events, "mysql-0", KubeletStop.type),
        checkers.split_brain(events, "mysql"),
        checkers.node_observed_during_fault(events, node, KubeletStop.type),
        checkers.replacement_while_old_exists(events, "mysql"),
        checkers.same_pvc_per_identity(events, "mysql"),
        checkers.durability(events, ["mysql-0", "mysql-1", "mysql-2"]),
    ]
