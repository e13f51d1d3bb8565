"""One watch of the node agents' sample ConfigMaps per run, shared by every recorder of the run (S8 and S7 side
by side read the same samples): list, then watch, re-list on 410 or a broken stream, each ConfigMap handed to
every subscriber. A subscriber that joins late is handed the latest ConfigMap of every node first, so it starts
where the others are; each subscriber drops what it has already taken (by the agent's sequence)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.errors import ClusterError
from chaos_harness.core.kube import Cluster

log = logging.getLogger("chaos_harness.agent")

Take = Callable[[Any], None]


class SampleWatch:
    def __init__(self, cluster: Cluster, namespace: str, label_selector: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.label_selector = label_selector
        # Held while handing out, so each subscriber is called from one thread at a time and in order.
        self._lock = threading.RLock()
        self._takers: dict[int, Take] = {}
        self._latest: dict[str, Any] = {}  # ConfigMap name -> the newest seen
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def subscribe(self, take: Take) -> int:
        """`take` is called with every sample ConfigMap from now on (the latest of each first) until
        `unsubscribe`. It is called from the watch's thread; one that raises is logged and kept."""
        with self._lock:
            key = id(take)
            self._takers[key] = take
            for cm in list(self._latest.values()):
                self._hand(take, cm)
            if self._thread is None or not self._thread.is_alive():
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name="agent-samples",
                                                daemon=True)
                self._thread.start()
        return key

    def unsubscribe(self, key: int) -> None:
        """The last subscriber gone, the watch ends (within its 5 s stream timeout)."""
        with self._lock:
            self._takers.pop(key, None)
            if not self._takers:
                self._stop.set()
                self._thread = None

    def _hand(self, take: Take, cm: Any) -> None:
        try:
            take(cm)
        except Exception:  # one recorder's bug must not starve the others of samples
            log.exception("a sample subscriber failed")

    def _publish(self, cm: Any) -> None:
        with self._lock:
            self._latest[cm.metadata.name] = cm
            for take in list(self._takers.values()):
                self._hand(take, cm)

    def _run(self, stop: threading.Event) -> None:
        core = self.cluster.core
        rv: str | None = None
        while not stop.is_set():
            try:
                with api_errors("watching the node agent's samples"):
                    if rv is None:
                        listed = core.list_namespaced_config_map(self.namespace, label_selector=self.label_selector,
                                                                 _request_timeout=10)
                        for cm in listed.items:
                            self._publish(cm)
                        rv = listed.metadata.resource_version
                    for ev in watch.Watch().stream(core.list_namespaced_config_map, self.namespace,
                                                   label_selector=self.label_selector, resource_version=rv,
                                                   timeout_seconds=5, _request_timeout=15):
                        if ev["type"] == "ERROR":
                            rv = None
                            break
                        rv = ev["object"].metadata.resource_version
                        if ev["type"] != "DELETED":
                            self._publish(ev["object"])
                        if stop.is_set():
                            break
            except ClusterError as e:
                log.debug("agent sample watch: %s", e)
                rv = None
                stop.wait(1)
            except Exception:  # never a silent end: the recorders would see a gap and not know why
                log.exception("agent sample watch")
                rv = None
                stop.wait(1)
