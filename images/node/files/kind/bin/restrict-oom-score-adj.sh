#!/bin/sh
# chaos-harness: where the kernel withholds CAP_SYS_RESOURCE from the bounding set (see
# images/engine/runc-drop-sys-resource), no process in the node may lower an oom_score_adj, and runc fails
# every pod sandbox with "failed to update /proc/self/oom_score_adj: Permission denied" (kubelet asks -998).
# containerd's restrict_oom_score_adj clamps requested scores to its own, which is what kind already does
# for rootless nodes. On hosts that have the capability this changes nothing.
set -eu
cap_bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)
if [ $(( (0x$cap_bnd >> 24) & 1 )) -eq 0 ]; then
  sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' /etc/containerd/config.toml
fi
