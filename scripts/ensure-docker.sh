#!/usr/bin/env bash
# Make a docker engine answer on the default socket.
#
# An engine that already answers is used untouched (never stopped or reconfigured). Otherwise Debian's
# docker.io is installed if missing and dockerd is started in the background; where the kernel's bounding
# set lacks CAP_SYS_RESOURCE, a runc wrapper that drops that capability becomes the default runtime
# (see images/engine/runc-drop-sys-resource for why).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
log=${CHAOS_HARNESS_DOCKERD_LOG:-/var/log/chaos-harness-dockerd.log}
wrapper_src="$here/../images/engine/runc-drop-sys-resource"
wrapper_dst=/usr/local/libexec/chaos-harness/runc-drop-sys-resource

fail() { echo "ensure-docker: $*" >&2; exit 1; }

if docker info >/dev/null 2>&1; then
  echo "engine: a docker engine already answers; using it as it is"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || fail "no docker engine and not root: install docker (apt-get install docker.io) or start one, then re-run"
  # Normally scripts/host-packages.sh (make host) has installed it already; the same serialized apt otherwise.
  # shellcheck source=lib/apt.sh
  . "$here/lib/apt.sh"
  apt_install docker.io || fail "apt-get install docker.io failed; install a docker engine and re-run"
fi
[ "$(id -u)" = 0 ] || fail "dockerd is installed but not running and starting it needs root: run 'sudo dockerd &' or start the docker service"

args=()
# CAP_SYS_RESOURCE is capability 24; read it from this process's bounding set.
cap_bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
if (( (16#$cap_bnd >> 24 & 1) == 0 )); then
  command -v python3 >/dev/null || fail "python3 is needed for the runc wrapper this kernel requires; install python3"
  install -D -m 0755 "$wrapper_src" "$wrapper_dst"
  args+=(--add-runtime "runc-drop-sys-resource=$wrapper_dst" --default-runtime runc-drop-sys-resource)
  echo "engine: kernel bounding set lacks CAP_SYS_RESOURCE; using the runc wrapper as default runtime"
fi

echo "engine: starting dockerd (log: $log)"
setsid nohup dockerd "${args[@]}" >"$log" 2>&1 < /dev/null &
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    echo "engine: dockerd answers"
    exit 0
  fi
  sleep 0.5
done
fail "dockerd did not answer within 60s; last log lines: $(tail -n 3 "$log" | tr '\n' ' ')"
