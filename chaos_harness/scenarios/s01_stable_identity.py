"""S1: stable network identity."""

from __future__ import annotations

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.faults import pod_delete
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv
from chaos_harness.workload.web import NAME, Web, WebSpec

HYPOTHESIS = ("Each pod of a StatefulSet has hostname <sts>-<n>, and <pod>.<service>.<ns>.svc.cluster.local "
              "resolves to it through the headless Service; a re-created pod keeps its name and DNS name "
              "(its IP may change).")
FAULTS = ('pod-delete',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 20  # wall time on the fast-profile test bed (2 cores)


def run(env: ScenarioEnv) -> None:
    web = Web(env.cluster, env.namespace, WebSpec(replicas=2, persistent=False))
    with env.recording():
        web.deploy()
        for ordinal in (0, 1):
            env.history.record("dns", **web.lookup(ordinal))
        with env.faults.injected(pod_delete(env.cluster, env.namespace, f"{NAME}-1")):
            pass
        web.wait_ready(2)
        env.history.record("dns", **web.lookup(1))
        env.note(hostname_after_recreation=web.hostname(1))


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    hostname = checkers.facts(events).get("hostname_after_recreation")
    return [
        checkers.fault_took_effect(events, *FAULTS),
        checkers.stable_identity(events, NAME, NAME),
        checkers.dns_names_pod(events, NAME),
        Verdict("hostname-after-recreation", "unknown" if hostname is None else hostname == f"{NAME}-1",
                f"`hostname` in the re-created pod says {hostname!r}", ({"pod": f"{NAME}-1", "hostname": hostname},)),
        checkers.replacement_while_old_exists(events, NAME),
    ]
