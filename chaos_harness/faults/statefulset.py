"""Changes to a StatefulSet itself that scenarios use as disruptions: scaled, or its pods restarted by a rollout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import FaultError
from chaos_harness.faults.base import FaultContext


@dataclass(frozen=True)
class StatefulSetScale:
    """A change, not a fault: scale a StatefulSet to `replicas`; healing scales it back to `original`. On a
    user's StatefulSet only with --allow-target-changes; journaled like a fault, so `cleanup` restores the scale
    a killed run left."""

    type: ClassVar[str] = "statefulset-scale"
    namespace: str
    statefulset: str
    replicas: int
    original: int

    def _scale(self, ctx: FaultContext, replicas: int) -> None:
        with api_errors(f"scaling StatefulSet {self.namespace}/{self.statefulset} to {replicas}"):
            ctx.cluster.apps.patch_namespaced_stateful_set_scale(
                self.statefulset, self.namespace, {"spec": {"replicas": replicas}}, _request_timeout=15)

    def inject(self, ctx: FaultContext) -> None:
        self._scale(ctx, self.replicas)

    def verify_injected(self, ctx: FaultContext) -> str:
        with api_errors(f"reading StatefulSet {self.namespace}/{self.statefulset}"):
            sts = ctx.cluster.apps.read_namespaced_stateful_set(self.statefulset, self.namespace, _request_timeout=10)
        if sts.spec.replicas != self.replicas:
            raise FaultError(f"{self.statefulset} has spec.replicas {sts.spec.replicas}, not {self.replicas}")
        return f"{self.statefulset} spec.replicas {self.original} -> {self.replicas}"

    def heal(self, ctx: FaultContext) -> None:
        self._scale(ctx, self.original)


@dataclass(frozen=True)
class RolloutRestart:
    """A change, not a fault: what `kubectl rollout restart` does (a restartedAt annotation on the pod template,
    hence a new controller revision rolled out by the StatefulSet's own update strategy). Nothing to undo: the
    new revision is the same pods restarted. On a user's StatefulSet only with --allow-target-changes."""

    type: ClassVar[str] = "rollout-restart"
    namespace: str
    statefulset: str
    stamp: str

    def inject(self, ctx: FaultContext) -> None:
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: self.stamp}}}}}
        with api_errors(f"restarting StatefulSet {self.namespace}/{self.statefulset}"):
            ctx.cluster.apps.patch_namespaced_stateful_set(self.statefulset, self.namespace, body, _request_timeout=15)

    def verify_injected(self, ctx: FaultContext) -> str:
        with api_errors(f"reading StatefulSet {self.namespace}/{self.statefulset}"):
            sts = ctx.cluster.apps.read_namespaced_stateful_set(self.statefulset, self.namespace, _request_timeout=10)
        if (sts.spec.template.metadata.annotations or {}).get(RESTARTED_AT) != self.stamp:
            raise FaultError(f"{self.statefulset}'s pod template lacks {RESTARTED_AT}={self.stamp}")
        return f"{self.statefulset} pod template annotated {RESTARTED_AT}={self.stamp} (generation " \
               f"{sts.metadata.generation})"

    def heal(self, ctx: FaultContext) -> None:
        """Nothing to undo (see the class)."""


RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
