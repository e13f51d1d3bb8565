"""S17: stable identity and DNS of any StatefulSet (the bundled MySQL, or the --target)."""

from __future__ import annotations

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import pod_delete
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv
from chaos_harness.workload.dns import lookup_pod

HYPOTHESIS = ("Every pod of the StatefulSet (mysql's, or the --target's) is <sts>-<n> under its headless Service, "
              "and <pod>.<service>.<ns>.svc.cluster.local resolves, from inside the set, to that pod's current IP; "
              "the highest ordinal, deleted, comes back under the same name and DNS name (its IP may change).")
FAULTS = ('pod-delete',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 63  # wall time on the fast-profile test bed (2 cores); ~15 s on a small target
USES_MYSQL = True
TARGETABLE = True  # asks the cluster's DNS from inside pod 0 (getent or nslookup must be in its image)


def run(env: ScenarioEnv) -> None:
    w, _ = env.workload()
    service = env.target.service if env.target else w.name
    last = w.pod(w.replicas - 1)
    with env.recording():
        for ordinal in range(w.replicas):
            env.history.record("dns", **lookup_pod(env.cluster, env.namespace, w.pod(ordinal), service, w.pod(0)))
        with env.faults.injected(pod_delete(env.cluster, env.namespace, last)):
            pass
        w.wait_ready(300)
        env.history.record("dns", **lookup_pod(env.cluster, env.namespace, last, service, w.pod(0)))


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    name = checkers.workload_of(events)
    service = checkers.facts(events).get("service", name)
    return [checkers.fault_took_effect(events, *FAULTS), checkers.stable_identity(events, name, service),
            checkers.dns_names_pod(events, name),
            checkers.replacement_while_old_exists(events, name)]
