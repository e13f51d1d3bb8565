"""In-cluster DNS of a StatefulSet's pods, asked from inside one of its pods (only in-cluster clients use the
cluster's DNS): `<pod>.<service>.<namespace>.svc.cluster.local` should name the pod's current IP."""

from __future__ import annotations

import ipaddress
import time
from typing import Any

from chaos_harness.core.api_errors import api_errors
from chaos_harness.core.kube import Cluster
from chaos_harness.core.waits import poll_until


def dns_name(pod: str, service: str, namespace: str) -> str:
    return f"{pod}.{service}.{namespace}.svc.cluster.local"


def parse_resolved(out: str) -> list[str]:
    """IPv4 addresses from `getent hosts` (address first) or `nslookup` (answers after "Name:"; the lines
    before it name the DNS server)."""
    if "Name:" in out:
        out = out.split("Name:", 1)[1]
    found = set()
    for word in out.replace("#", " ").split():
        try:
            if isinstance(ipaddress.ip_address(word), ipaddress.IPv4Address):
                found.add(word)
        except ValueError:
            continue
    return sorted(found)


def resolve(cluster: Cluster, namespace: str, from_pod: str, hostname: str) -> list[str]:
    """What `hostname` resolves to inside `from_pod` (getent, else nslookup). No answer yet is an empty list:
    the caller asks again."""
    out = cluster.exec(namespace, from_pod,
                       ["sh", "-c", f"getent hosts {hostname} 2>/dev/null || nslookup {hostname} 2>/dev/null"]).stdout
    return parse_resolved(out)


def lookup_pod(cluster: Cluster, namespace: str, pod: str, service: str, from_pod: str,
               deadline_seconds: float = 30) -> dict[str, Any]:
    """Resolve `pod`'s DNS name from inside `from_pod` until it names the pod's current IP (DNS follows the
    endpoints a moment after Ready) or the deadline passes. Returns the lookup's record (a `dns` event's
    fields); past the deadline the last answer is the record, for the checker to judge."""
    name = dns_name(pod, service, namespace)
    started = time.monotonic()
    last: dict[str, Any] = {"name": name, "ips": [], "attempts": 0}

    def current() -> dict[str, Any] | None:
        ips = resolve(cluster, namespace, from_pod, name)
        with api_errors(f"reading pod {namespace}/{pod}"):
            pod_ip = cluster.core.read_namespaced_pod(pod, namespace, _request_timeout=10).status.pod_ip
        last.update(ips=ips, attempts=last["attempts"] + 1, seconds=round(time.monotonic() - started, 2))
        return last if ips == [pod_ip] else None

    return poll_until(current, deadline_seconds, f"{name} resolves", 1, on_timeout=lambda: last)[0]
