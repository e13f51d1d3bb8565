"""Other distributions' node layouts on a kind node, for the node agent's proof: `k3s_like(node)` runs the node's
kubelet under the unit `k3s-agent` and talks to containerd at k3s's socket (/run/k3s/containerd/containerd.sock),
the way a k3s or RKE2 agent node has them, and puts the node back as kind made it afterwards.

Running containers survive the switch (the kubelet adopts its pods again). Only the layout is k3s's: the kubelet
is still kind's, with its flags and config file (which name the socket)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

K3S_SOCKET = "/run/k3s/containerd/containerd.sock"
K3S_UNIT = "k3s-agent"
KIND_SOCKET = "/run/containerd/containerd.sock"
_REWRITTEN = "/var/lib/kubelet/config.yaml /etc/crictl.yaml"

# containerd itself keeps its address: the shims of running containers report to it, and a moved address would
# lose their exit events. k3s's socket path reaches it through a relative link (relative: the node agent opens it
# through /proc/1/root, where an absolute link would resolve in the agent's own filesystem).
_APPLY = f"""set -e
mkdir -p {K3S_SOCKET.rsplit('/', 1)[0]}
ln -sf ../../containerd/containerd.sock {K3S_SOCKET}
sed -i 's#unix://{KIND_SOCKET}#unix://{K3S_SOCKET}#' {_REWRITTEN}
systemctl stop kubelet
cp /etc/systemd/system/kubelet.service /etc/systemd/system/{K3S_UNIT}.service
cp -r /etc/systemd/system/kubelet.service.d /etc/systemd/system/{K3S_UNIT}.service.d
systemctl daemon-reload
systemctl start {K3S_UNIT}
"""

# Undoes _APPLY from any point it reached (also a layout a killed test run left).
_REVERT = f"""[ -e /etc/systemd/system/{K3S_UNIT}.service ] || [ -e {K3S_SOCKET} ] || exit 0
systemctl stop {K3S_UNIT} 2>/dev/null || true
rm -rf /etc/systemd/system/{K3S_UNIT}.service /etc/systemd/system/{K3S_UNIT}.service.d {K3S_SOCKET}
systemctl daemon-reload
sed -i 's#unix://{K3S_SOCKET}#unix://{KIND_SOCKET}#' {_REWRITTEN}
systemctl start kubelet
"""


@dataclass(frozen=True)
class Layout:
    node: str
    kubelet_unit: str
    socket: str


def _node_shell(node: str, script: str) -> None:
    result = subprocess.run(["docker", "exec", node, "sh", "-c", script], capture_output=True, text=True,
                            timeout=180)
    if result.returncode != 0:
        raise RuntimeError(f"{node}: {result.stderr.strip() or result.stdout.strip()}")


def unit_active(node: str, unit: str) -> bool:
    out = subprocess.run(["docker", "exec", node, "systemctl", "is-active", unit], capture_output=True,
                         text=True, timeout=30).stdout.strip()
    return out == "active"


def revert(node: str) -> None:
    _node_shell(node, _REVERT)


@contextmanager
def k3s_like(node: str) -> Iterator[Layout]:
    """The node laid out like a k3s agent for the block; as kind made it again afterwards."""
    revert(node)
    try:
        _node_shell(node, _APPLY)
        yield Layout(node, K3S_UNIT, K3S_SOCKET)
    finally:
        revert(node)
