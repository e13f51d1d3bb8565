"""S16: pod 0's node drained, under a PodDisruptionBudget."""

from __future__ import annotations

from kubernetes import client

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.cancellation import observe
from chaos_harness.core.timing import ClusterTiming
from chaos_harness.core.waits import watch_until
from chaos_harness.faults import NodeDrain
from chaos_harness.judge import checkers
from chaos_harness.judge.checkers import Verdict
from chaos_harness.record.history import Event
from chaos_harness.scenario import ScenarioEnv

HYPOTHESIS = ("Draining pod 0's node (mysql-0's, or the --target's pod 0) evicts pod 0 through the Eviction API, "
              "respecting the PodDisruptionBudget: at most one identity is unavailable at a time, pod 0 comes back "
              "under its own name with its own claim, and no acknowledged write is lost.")
FAULTS = ('node-drain',)
PLACEABLE = True  # deploys only through the harness (Web, MySQLWorkload, deploy.apply): can be pinned
# One replica per node: two on the drained node would block its drain (maxUnavailable 1, node-bound claims).
LANE_NODES = 3
TYPICAL_SECONDS = 70  # wall time on the fast-profile test bed (2 cores)
USES_MYSQL = True
TARGETABLE = True  # on a target, its own PodDisruptionBudgets apply; none is created in the user's namespace


def budget(env: ScenarioEnv, name: str, labels: dict[str, str]) -> None:
    """maxUnavailable 1 over the bundled workload (a user's target keeps whatever budget it has)."""
    body = client.V1PodDisruptionBudget(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodDisruptionBudgetSpec(max_unavailable=1, selector=client.V1LabelSelector(match_labels=labels)))
    with api_errors(f"creating PodDisruptionBudget {name}"):
        client.PolicyV1Api(env.cluster.api).create_namespaced_pod_disruption_budget(env.namespace, body,
                                                                                    _request_timeout=10)


def run(env: ScenarioEnv) -> None:
    w, node = env.workload()
    pod = w.pod(0)
    if env.target is None:
        budget(env, w.name, {"app": w.name})
    old_uid = env.cluster.core.read_namespaced_pod(pod, env.namespace, _request_timeout=10).metadata.uid
    env.note(node=node, pod=pod, pdb="created maxUnavailable=1" if env.target is None else "the target's own")
    env.note(claim_before=list(w.pvc_of(0)))
    with env.recording(), env.writing_throughout(w):
        with env.faults.injected(NodeDrain(node)):
            _, env.figures["recreated_after"] = watch_until(
                env.cluster.core.list_namespaced_pod, lambda p: p.metadata.uid != old_uid, 120,
                f"{pod} re-created after its eviction", namespace=env.namespace, field_selector=f"metadata.name={pod}")
            # A node-bound volume keeps the new pod 0 Pending until the node is uncordoned; a network volume
            # lets it start elsewhere. Either way, watch a while before uncordoning.
            observe(5, f"the new {pod} while its node is cordoned")
        w.wait_ready(300)
    env.note(claim_after=list(w.pvc_of(0)))
    env.read_back(w)


def check(events: list[Event], timing: ClusterTiming) -> list[Verdict]:
    f = checkers.facts(events)
    name = checkers.workload_of(events)
    claim_before, claim_after = tuple(f["claim_before"]), tuple(f["claim_after"])
    verdicts = [checkers.fault_took_effect(events, *FAULTS), checkers.at_most_unavailable(events, name, 1),
                checkers.stable_identity(events, name, f.get("service", name)),
                checkers.split_brain(events, name),
                checkers.replacement_while_old_exists(events, name)]
    if any(claim_before):
        verdicts += [checkers.same_pvc_per_identity(events, name),
                     Verdict("same-claim-and-volume", claim_before == claim_after,
                             f"{name}-0's claim and volume before {claim_before}, after {claim_after}")]
    return verdicts + checkers.durability_if_probed(events)
