"""Cluster access: one API client per kube context, refused unless the context is on the allowlist.

No process-wide configuration is touched: every client is built from its own Configuration and passed in,
so a kubeconfig's `proxy-url` reaches every request the client makes (REST, watch, exec, port-forward).
Any API server the user allows is fine; the allowlist (kind-* by default) is the safety, checked before any
connection is made.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from chaos_harness.core.api_errors import from_api_exception
from chaos_harness.core.errors import ClusterError, GuardError
from chaos_harness.core.light import light_list
from chaos_harness.core.answers import BadAnswer, guard_answers
from chaos_harness.core.text import one_line
from chaos_harness.core.throttle import DEFAULT_BURST, DEFAULT_QPS, Throttle, install, transport_retries

# A kubeconfig's exec credential plugin (aws eks get-token, gke-gcloud-auth-plugin, kubelogin) answers in seconds;
# one that has not within this is reported by name instead of holding the command for ever (the client waits
# without a bound). Long enough for a plugin that asks its user something on the terminal.
EXEC_PLUGIN_SECONDS = 60.0


class _BoundedPlugin(subprocess.Popen):  # type: ignore[type-arg]
    """The client's exec credential plugin process, whose wait is bounded by EXEC_PLUGIN_SECONDS."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # A plugin that does not talk to the terminal gets a process group of its own, so that what it started
        # (a shell's children holding its stdout) ends with it; an interactive one stays in the terminal's.
        if kwargs.get("stdin") is None:
            kwargs.setdefault("process_group", 0)
        super().__init__(*args, **kwargs)

    def communicate(self, input: Any = None, timeout: float | None = None) -> Any:  # noqa: A002 - Popen's name
        try:
            return super().communicate(input, timeout=timeout or EXEC_PLUGIN_SECONDS)
        except subprocess.TimeoutExpired:
            self._end()
            program = self.args[0] if isinstance(self.args, list) and self.args else self.args
            raise ConfigException(f"exec: the credential plugin {one_line(program, 200)} did not finish within "
                                  f"{EXEC_PLUGIN_SECONDS:.0f}s (run it by hand to see why)") from None

    def _end(self) -> None:
        """Kill the plugin (its group when it has one) and let go of its pipes without reading them: a child it
        left behind may hold them open."""
        try:
            os.killpg(self.pid, 9) if os.getpgid(self.pid) == self.pid else self.kill()
        except OSError:
            pass
        for pipe in (self.stdout, self.stderr):
            if pipe is not None:
                pipe.close()
        try:
            self.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _bound_exec_plugins() -> None:
    """The client runs exec plugins through its module's `subprocess.Popen`: that one name is given the bound."""
    from types import SimpleNamespace

    from kubernetes.config import exec_provider

    exec_provider.subprocess = SimpleNamespace(Popen=_BoundedPlugin, PIPE=subprocess.PIPE)  # type: ignore[assignment]


_bound_exec_plugins()


@contextmanager
def exec_plugin_failures() -> Iterator[None]:
    """The client logs an exec plugin's failure and goes on without credentials (every request then answers 401):
    here the failure ends the block as a ConfigException saying what the plugin did, and nothing is logged."""
    import logging

    failures: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR and str(record.getMessage()).startswith("exec:"):
                failures.append(record.getMessage())

    catch, root = Catch(), logging.getLogger()
    root.addHandler(catch)
    try:
        yield
    finally:
        root.removeHandler(catch)
    if failures:
        raise ConfigException(failures[0])

DEFAULT_ALLOWED_CONTEXTS: tuple[str, ...] = ("kind-*",)
# The default pattern admits a local kind test bed only: a `kind-*` context whose server is on this machine
# (kind's own kubeconfig points at 127.0.0.1). Any other server behind such a name is a user's cluster and must
# be allowed by name.
TESTBED_PATTERN = "kind-*"


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a cluster: recorded in every history, checked before a journal is healed."""

    context: str
    kube_system_uid: str
    nodes: tuple[str, ...]
    server_version: str

    def as_dict(self) -> dict[str, object]:
        return {"context": self.context, "kube_system_uid": self.kube_system_uid, "nodes": list(self.nodes),
                "server_version": self.server_version}


def exit_status(error_channel: str) -> int:
    """The exit status from exec's error channel: a metav1.Status, Success, or Failure with an ExitCode cause;
    any other failure (command not found, the stream cut) is 126."""
    try:
        status = json.loads(error_channel) if error_channel else {}
    except ValueError:
        status = {}
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 1))
    return 126


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    code: int | None

    def check(self, what: str) -> str:
        """stdout, or a ClusterError naming `what`, the exit status and stderr's tail."""
        if self.code != 0:
            raise ClusterError(f"{what} exited {self.code}: {(self.stderr or self.stdout).strip()[-300:]}")
        return self.stdout


@dataclass(frozen=True)
class Cluster:
    """An API client bound to one allowed context."""

    context: str
    api: client.ApiClient
    kubeconfig: Path | None

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def streaming_core(self) -> client.CoreV1Api:
        """A CoreV1Api on its own ApiClient, for exec and port-forward. `kubernetes.stream` swaps the client's
        `call_api` for a websocket call while it runs, so on a shared client a concurrent list or watch in
        another thread would be sent down the websocket path (seen: "Missing required parameter `ports`")."""
        return client.CoreV1Api(client.ApiClient(self.api.configuration))


    def exec(self, namespace: str, pod: str, command: Sequence[str], container: str | None = None,
             timeout: float = 30) -> "ExecResult":
        """Run `command` in a pod through the API server's exec; the exit status is read from the exec's own
        error channel (never from the output), stdout and stderr kept apart. Without `container`, the pod's
        default one, as kubectl chooses it (its default-container annotation, else its first container)."""
        from kubernetes.stream import stream

        if container is None:
            container = self.default_container(namespace, pod)
        try:
            ws = stream(self.streaming_core().connect_get_namespaced_pod_exec, pod, namespace, container=container,
                        command=list(command), stderr=True, stdin=False, stdout=True, tty=False,
                        _preload_content=False, _request_timeout=timeout)
            try:
                ws.run_forever(timeout=timeout)
                finished = not ws.is_open()
                result = ExecResult(ws.read_stdout() or "", ws.read_stderr() or "",
                                    exit_status(ws.read_channel(3)) if finished else None)
            finally:
                ws.close()
        except Exception as e:  # websocket, urllib3 and API errors alike
            raise from_api_exception(e, f"exec {' '.join(command)[:60]} in {namespace}/{pod}") from e
        if result.code is None:
            raise ClusterError(f"exec {' '.join(command)[:60]} in {namespace}/{pod}: no exit status within {timeout}s")
        return result

    def default_container(self, namespace: str, pod: str) -> str:
        from chaos_harness.core.api_errors import api_errors

        with api_errors(f"reading pod {namespace}/{pod}"):
            p = self.core.read_namespaced_pod(pod, namespace, _request_timeout=10)
        annotated = (p.metadata.annotations or {}).get("kubectl.kubernetes.io/default-container")
        return str(annotated or p.spec.containers[0].name)

    def probe(self, seconds: float = 10) -> str:
        """The API server's version, or a ClusterError saying it did not answer within `seconds`."""
        from chaos_harness.core.cancellation import waiting

        with waiting(f"the API server {self.api.configuration.host} to answer", seconds):
            try:
                return str(client.VersionApi(self.api).get_code(_request_timeout=(5, seconds)).git_version)
            except BadAnswer as e:  # it answered, too slowly or not with a version
                raise from_api_exception(e, f"the API server {self.api.configuration.host} of context "
                                            f"{self.context}") from e
            except ValueError as e:  # the client's models refused what it said
                raise from_api_exception(e, f"the API server {self.api.configuration.host} of context "
                                            f"{self.context} answered, but not as a Kubernetes API server") from e
            except Exception as e:
                raise from_api_exception(e, f"the API server {self.api.configuration.host} of context "
                                            f"{self.context} did not answer") from e

    def fingerprint(self) -> Fingerprint:
        """What identifies the cluster, read once per Cluster: its first call proves the API answers, the later ones
        (every run, scenario and fault session asks) return that reading. Each reading lists every node, which on
        a cluster of a thousand busy nodes took 0.3 s, eight times over in a one-scenario run."""
        cached = self.__dict__.get("_fingerprint")
        if cached is None:  # two threads may both read it once: the same answer
            cached = self.__dict__["_fingerprint"] = self._read_fingerprint()  # frozen: set beside its fields
        return cached

    def is_testbed(self) -> bool:
        """The local kind test bed, recognised by more than its name: a kind-* context whose server is on this
        machine (or on kind's docker network) and whose every node (simulated ones aside) is a kind node
        (providerID kind://). Anything else is a user's cluster (explicit allow, one faulted node at a time).
        Read once per Cluster."""
        cached = self.__dict__.get("_testbed")
        if cached is None:
            cached = self.__dict__["_testbed"] = self._read_testbed()
        return bool(cached)

    def _read_testbed(self) -> bool:
        host = urlsplit(self.api.configuration.host or "").hostname or ""
        if not self.context.startswith("kind-") or not (is_loopback(host) or on_kind_network(host)):
            return False
        try:
            nodes = light_list(self.core.list_node, _request_timeout=10).items
        except Exception as e:  # noqa: BLE001
            raise from_api_exception(e, f"reading the nodes of context {self.context}") from e
        real = [n for n in nodes if "chaos-harness.test/simulated" not in (n.metadata.labels.to_dict()
                                                                          if n.metadata.labels else {})]
        return bool(real) and all(str(getattr(n.spec, "provider_id", "") or "").startswith("kind://") for n in real)

    def _read_fingerprint(self) -> Fingerprint:
        self.probe()
        try:
            ns = self.core.read_namespace("kube-system", _request_timeout=10)
            nodes = light_list(self.core.list_node, _request_timeout=10)  # names only: no models for every node
            version = client.VersionApi(self.api).get_code(_request_timeout=10)
        except Exception as e:  # the client raises ApiException, urllib3 errors, OSError...
            raise from_api_exception(e, f"reading the fingerprint of context {self.context}") from e
        return Fingerprint(self.context, ns.metadata.uid, tuple(sorted(n.metadata.name for n in nodes.items)),
                           version.git_version)


def allowed_contexts_from_env() -> tuple[str, ...]:
    raw = os.environ.get("CHAOS_HARNESS_ALLOWED_CONTEXTS", "")
    extra = tuple(p.strip() for p in raw.split(",") if p.strip())
    return DEFAULT_ALLOWED_CONTEXTS + extra


def on_kind_network(host: str) -> bool:
    """Whether `host` is an address on kind's docker network (a harness running in a container beside the test
    bed reaches its API server there): asked of the local docker engine, if there is one; False otherwise."""
    import ipaddress
    import shutil
    import subprocess

    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if not address.is_private or shutil.which("docker") is None:
        return False
    try:
        out = subprocess.run(["docker", "network", "inspect", "kind", "--format",
                              "{{range .IPAM.Config}}{{.Subnet}} {{end}}"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    subnets = [ipaddress.ip_network(n, strict=False) for n in out.stdout.split() if out.returncode == 0]
    return any(address in n for n in subnets if n.version == address.version)


def check_context_allowed(context: str, allowed: Sequence[str], server: str | None = None) -> None:
    """The context is allowed by name (or a pattern) before any connection. One allowed only by the test bed's
    pattern (kind-*) must also have its server on this machine (`server`: its URL, when known): a production API
    behind a kind-* name is refused until it is allowed by name."""
    host = urlsplit(server or "").hostname or ""
    by_name = [p for p in allowed if p != TESTBED_PATTERN and fnmatch.fnmatchcase(context, p)]
    # A server that is no URL at all (no scheme, none given) is refused after this, saying so.
    if (host and not by_name and fnmatch.fnmatchcase(context, TESTBED_PATTERN)
            and not (is_loopback(host) or on_kind_network(host))):
        raise GuardError(
            f"refusing kube context {context!r}: named like a kind test bed, but its server {server} is not on this "
            f"machine; if it is yours to fault, allow it by name with --allow-context {context}")
    _check_allowed(context, allowed)


def _check_allowed(context: str, allowed: Sequence[str]) -> None:
    if "*" in allowed:
        print(f"warning: --allow-context '*' allows every kube context, including {context!r}: "
              f"name the contexts you mean instead", file=sys.stderr)
    if not any(fnmatch.fnmatchcase(context, pattern) for pattern in allowed):
        raise GuardError(
            f"refusing kube context {context!r}: not in the allowlist {list(allowed)}; "
            f"allow it with --allow-context {context} or CHAOS_HARNESS_ALLOWED_CONTEXTS={context}")


IN_CLUSTER = "in-cluster"  # the context name of a harness running in a pod (a scheduled run), to allow by name


def in_cluster(kubeconfig: Path | None, context: str | None) -> bool:
    """In a pod with no kubeconfig of its own (or asked for --kube-context in-cluster): its ServiceAccount."""
    if context == IN_CLUSTER:
        return True
    no_kubeconfig = not kubeconfig and not os.environ.get("KUBECONFIG") and \
        not (Path.home() / ".kube" / "config").exists()
    return no_kubeconfig and context is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _connect_in_cluster(allowed: Sequence[str], throttle: Throttle) -> "Cluster":
    check_context_allowed(IN_CLUSTER, allowed)
    try:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        configuration.retries = transport_retries()
    except ConfigException as e:
        raise ClusterError(f"cannot use the pod's ServiceAccount ({e}); outside a pod pass --kubeconfig") from e
    return Cluster(context=IN_CLUSTER, api=install(guard_answers(client.ApiClient(configuration=configuration)), throttle),
                   kubeconfig=None)


def context_server(path: str | None, name: str, contexts: Sequence[dict]) -> str:
    """The server URL a context's cluster names, read from the kubeconfig without loading it (no credential
    plugin runs, nothing connects); "" when it cannot be read."""
    from kubernetes.config.kube_config import KubeConfigMerger

    try:
        cluster_name = next(c["context"]["cluster"] for c in contexts if c["name"] == name)
        merged = KubeConfigMerger(path or os.environ.get("KUBECONFIG", os.path.expanduser("~/.kube/config"))).config
        return str(next(c["cluster"]["server"] for c in merged["clusters"] if c["name"] == cluster_name))
    except Exception:  # noqa: BLE001 - an unreadable server is refused below like any non-local one
        return ""


def connect(kubeconfig: Path | None = None, context: str | None = None,
            allowed: Sequence[str] | None = None, qps: float = DEFAULT_QPS, burst: int = DEFAULT_BURST) -> Cluster:
    """A client for `context` (default: the kubeconfig's current one), after the allowlist check (no connection is
    made before it); every request it sends passes a token bucket of `qps` and `burst` (core/throttle.py)."""
    allowed = tuple(allowed) if allowed is not None else allowed_contexts_from_env()
    path = str(kubeconfig) if kubeconfig else None
    throttle = Throttle(qps, burst)
    if in_cluster(kubeconfig, context):
        return _connect_in_cluster(allowed, throttle)
    try:
        contexts, current = config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, TypeError, ValueError, yaml.YAMLError) as e:
        where = kubeconfig or os.environ.get("KUBECONFIG", "~/.kube/config")
        raise ClusterError(f"cannot read kubeconfig {where}: {' '.join(str(e).split())}; pass --kubeconfig FILE "
                           f"(in a checkout, 'make cluster' creates the test bed's)") from e
    name = context or (current or {}).get("name")
    if not name or name not in {c["name"] for c in contexts}:
        raise ClusterError(f"kube context {name!r} not found in {path or 'the default kubeconfig'}; "
                           f"known: {sorted(c['name'] for c in contexts)}")
    check_context_allowed(name, allowed, context_server(path, name, contexts))
    try:
        # new_client_from_config, with one retry per request instead of urllib3's three: an API server that
        # accepts connections and never answers is reported in seconds, not minutes.
        configuration = client.Configuration()
        with exec_plugin_failures():
            config.load_kube_config(config_file=path, context=name, client_configuration=configuration)
        configuration.retries = transport_retries()
        with warnings.catch_warnings():  # urllib3 warns of missing PySocks, then raises: the ImportError says it
            warnings.simplefilter("ignore")
            api = install(guard_answers(client.ApiClient(configuration=configuration)), throttle)
    except (ConfigException, OSError, ValueError, yaml.YAMLError) as e:
        raise ClusterError(f"cannot build a client for context {name!r}: {one_line(e, 300)}") from e
    except ImportError as e:  # a proxy-url of socks5:// needs PySocks, which urllib3 imports only then
        raise ClusterError(f"cannot build a client for context {name!r}: its proxy-url needs PySocks ({one_line(e, 80)}); "
                           f"pip install 'urllib3[socks]'") from e
    server = urlsplit(configuration.host or "")
    if server.scheme not in ("http", "https") or not server.hostname:
        # Said before any request: urllib3 would warn (no scheme) or fail with a bare LocationValueError.
        raise ClusterError(f"context {name!r}: its cluster's server {configuration.host or ''!r} is not an https:// "
                           f"URL; fix clusters[].cluster.server in {path or 'the kubeconfig'}")
    return Cluster(context=name, api=api, kubeconfig=Path(path) if path else None)
