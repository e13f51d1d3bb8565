"""A port-forward on 127.0.0.1 through the API server, with the official client (no kubectl needed).

Each accepted local connection gets its own forwarding stream to the pod, so a reconnecting MySQL client
behaves as it would through `kubectl port-forward`. Traffic leaves the host only to the API server, itself
on loopback.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable
from types import TracebackType

from kubernetes.stream import portforward

from chaos_harness.core.api_errors import from_api_exception
from chaos_harness.core.errors import ClusterError
from chaos_harness.core.kube import Cluster

log = logging.getLogger("chaos_harness.portforward")


def _quiet_proxy_threads(previous: Callable[[threading.ExceptHookArgs], object]
                         ) -> Callable[[threading.ExceptHookArgs], None]:
    """The client's port-forward proxy threads end with a traceback on stderr when a faulted pod resets the
    connection. For a chaos tool that reset is the expected outcome (the writer's ledger records it), so such
    a thread's exception goes to the debug log instead of the user's terminal; any other thread's is untouched."""
    def hook(args: threading.ExceptHookArgs) -> None:
        if args.thread is not None and args.thread.name.startswith("Kubernetes port forward proxy") and \
                isinstance(args.exc_value, OSError):
            log.debug("port-forward proxy thread %s ended: %r", args.thread.name, args.exc_value)
            return
        previous(args)
    return hook


threading.excepthook = _quiet_proxy_threads(threading.excepthook)


class PortForward:
    """`with PortForward(cluster, ns, pod, 3306) as pf: connect to 127.0.0.1:pf.local_port`."""

    def __init__(self, cluster: Cluster, namespace: str, pod: str, remote_port: int) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.pod = pod
        self.remote_port = remote_port
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.local_port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> "PortForward":
        self._listener.listen(16)
        self._listener.settimeout(0.2)
        t = threading.Thread(target=self._accept_loop, name=f"pf-{self.pod}", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._pump, args=(conn,), daemon=True)
            t.start()

    def _open_stream(self) -> socket.socket:
        try:
            pf = portforward(self.cluster.streaming_core().connect_get_namespaced_pod_portforward, self.pod,
                             self.namespace, ports=str(self.remote_port), _request_timeout=10)
        except Exception as e:
            raise from_api_exception(e, f"port-forward to {self.namespace}/{self.pod}:{self.remote_port}") from e
        return pf.socket(self.remote_port)

    def _pump(self, local: socket.socket) -> None:
        try:
            remote = self._open_stream()
        except ClusterError as e:
            log.debug("%s", e)
            local.close()
            return
        try:
            local.setblocking(True)
            remote.setblocking(True)
            pair = {local: remote, remote: local}
            while not self._closed.is_set():
                readable, _, _ = select.select(list(pair), [], [], 0.5)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)
        except OSError:
            return
        finally:
            local.close()
            remote.close()
