#!/usr/bin/env bash
# Install every host package the project needs, once, up front, before any parallel build stage starts.
#
# usage: scripts/host-packages.sh [venv] [build] [browser]
#   venv     python3-venv where python3 lacks ensurepip (Debian's python3 splits it out)
#   build    what the test bed's build needs: a docker engine (Debian's docker.io, unless an engine already
#            answers or dockerd is installed), debootstrap (root filesystems)
#   browser  Debian's chromium (the test that opens the HTML report in a real browser)
#
# Assumed, not installed (checked here with a line naming the fix): Debian or a derivative with apt, root
# (debootstrap, dockerd and apt need it), Go >= 1.24 on PATH (Debian's golang is older), bash, tar, flock.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/apt.sh
. "$here/lib/apt.sh"

fail() { echo "host: $*" >&2; exit 1; }

needs=("$@")
[ ${#needs[@]} -gt 0 ] || needs=(venv build)
packages=()
for need in "${needs[@]}"; do
  case "$need" in
    build)
      command -v go >/dev/null || fail "Go >= 1.24 is needed on PATH (the Kubernetes build); install it from go.dev/dl or your distribution and re-run"
      go_minor=$(go env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
      [ "${go_minor:-0}" -ge 24 ] || [ "${go_minor:-0}" -ge 21 -a "$(go env GOTOOLCHAIN)" != local ] \
        || fail "Go $(go env GOVERSION) is too old: the build needs Go >= 1.24 on PATH"
      docker info >/dev/null 2>&1 || command -v dockerd >/dev/null || packages+=(docker.io)
      command -v debootstrap >/dev/null || packages+=(debootstrap)
      ;;
    venv)
      python3 -c 'import ensurepip' 2>/dev/null || packages+=(python3-venv)
      ;;
    browser)
      command -v chromium >/dev/null || command -v chromium-browser >/dev/null || packages+=(chromium)
      ;;
    *) fail "unknown need '$need' (use: venv, build, browser)" ;;
  esac
done

if [ ${#packages[@]} -gt 0 ] && [ -z "${CHAOS_HARNESS_APT_GET:-}" ]; then
  command -v apt-get >/dev/null || fail "no apt-get: this is not a Debian-like system; install ${packages[*]} yourself and re-run"
fi
started=$SECONDS
apt_install "${packages[@]}" || exit 1
echo "host: packages ready (${needs[*]}) in $((SECONDS - started))s"
