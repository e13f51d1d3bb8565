"""S13: pod 0's container killed on its node, behind the API's back."""

from __future__ import annotations

from chaos_harness.core.timing import ClusterTiming
from chaos_harness.core.waits import watch_until
from chaos_harness.faults import ContainerKill
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv

HYPOTHESIS = ("Killing pod 0's main container on its node's runtime (mysql-0's, or the --target's pod 0) restarts it "
              "in place: its restart count rises, the pod keeps its UID, at most one copy ever runs, and no "
              "acknowledged write is lost.")
FAULTS = ('container-kill',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
TYPICAL_SECONDS = 45  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True
TARGETABLE = True


def run(env: ScenarioEnv) -> None:
    w, node = env.workload()
    pod = w.pod(0)
    spec = env.cluster.core.read_namespaced_pod(pod, env.namespace, _request_timeout=10)
    container = spec.spec.containers[0].name
    restarts = {s.name: s.restart_count for s in spec.status.container_statuses or []}.get(container, 0)
    with env.recording(), env.writing_throughout(w):
        # Read inside the recording: through the node agent, a node reports the containers of the namespaces
        # a recording asks for, and this one's only from now on.
        running = [c for c in env.nodes.runtime_containers(node) if c.pod_name == pod
                   and c.pod_namespace == env.namespace and c.name == container]
        if not running:
            raise AssertionError(f"no running {container} container of {pod} on {node}'s runtime")
        env.note(node=node, pod=pod, container=container, container_id=running[0].container_id)
        with env.faults.injected(ContainerKill(node, running[0].container_id)):
            pass
        _, env.figures["restarted_after"] = watch_until(
            env.cluster.core.list_namespaced_pod,
            lambda p: {s.name: s.restart_count for s in p.status.container_statuses or []}.get(container, 0)
            > restarts, 120, f"{pod}/{container} restarted", namespace=env.namespace,
            field_selector=f"metadata.name={pod}")
        w.wait_ready(300)
    env.read_back(w)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    name = checkers.workload_of(events)
    return [
        checkers.restarted_in_place(events, f["pod"], f["container"], ContainerKill.type),
        checkers.split_brain(events, name),
        checkers.replacement_while_old_exists(events, name),
        *checkers.durability_if_probed(events),  # every replica the workload can read, read or not
    ]
