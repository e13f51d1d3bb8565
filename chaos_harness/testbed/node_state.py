"""A test-bed node's state read and undone from outside the harness (docker exec into the kind node): what the
tests use to see that a node fault through the node agent is in force, and that the node undid it by itself."""

from __future__ import annotations

import subprocess

# What a partition or a pause through the agent may leave: its nftables table, and any cgroup still frozen.
_HEAL_BY_HAND = ("nft delete table inet chaos_harness 2>/dev/null; "
                 "for f in $(find /sys/fs/cgroup/unified /sys/fs/cgroup -maxdepth 6 -name cgroup.freeze 2>/dev/null); "
                 "do [ \"$(cat $f)\" = 1 ] && echo 0 > $f; done; true")


def node_sh(node: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "exec", node, "sh", "-c", script], capture_output=True, text=True, timeout=30)


def heal_by_hand(node: str) -> None:
    """Undo a partition or a pause through the agent, whatever became of the agent (a test's own last resort)."""
    node_sh(node, _HEAL_BY_HAND)


def partitioned(node: str) -> bool:
    """The agent's partition table is on the node."""
    return node_sh(node, "nft list table inet chaos_harness").returncode == 0


def kubelet_frozen(node: str) -> bool:
    """The kubelet's cgroup v2 group says frozen (the unified hierarchy of a cgroup v1 host, or the v2 root)."""
    out = node_sh(node, 'c=$(sed -n "s/^0:://p" /proc/$(pgrep -xo kubelet)/cgroup); '
                        'cat /sys/fs/cgroup/unified$c/cgroup.events 2>/dev/null || cat /sys/fs/cgroup$c/cgroup.events').stdout
    return "frozen 1" in out
