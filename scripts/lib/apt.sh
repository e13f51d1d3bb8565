# Serialized apt for every script of the project (source this file).
#
# apt takes one lock and fails at once when another apt holds it ("Could not get lock"), it does not wait.
# Every install the project makes goes through apt_install, which holds one lock file of ours for the whole
# update + install and also tells apt to wait for a lock someone else holds (unattended upgrades, a user's
# apt in another terminal). Only missing packages are installed; nothing is upgraded.
#
# Overridable for tests (a fake apt): CHAOS_HARNESS_APT_GET, CHAOS_HARNESS_DPKG_QUERY, CHAOS_HARNESS_APT_LOCK.

apt_get=${CHAOS_HARNESS_APT_GET:-apt-get}
dpkg_query=${CHAOS_HARNESS_DPKG_QUERY:-dpkg-query}
apt_lock=${CHAOS_HARNESS_APT_LOCK:-/var/lock/chaos-harness-apt.lock}
apt_log=${CHAOS_HARNESS_APT_LOG:-/tmp/chaos-harness-apt.log}

apt_missing() {  # prints the packages of "$@" that dpkg does not have installed
  local pkg
  for pkg in "$@"; do
    "$dpkg_query" -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || echo "$pkg"
  done
}

apt_install() {  # apt_install PKG...: install the missing ones, serialized; returns non-zero on failure
  local missing
  missing=$(apt_missing "$@")
  [ -n "$missing" ] || return 0
  if [ "$(id -u)" != 0 ] && [ -z "${CHAOS_HARNESS_APT_GET:-}" ]; then
    echo "host: missing Debian packages: $(echo $missing): install them as root (apt-get install $(echo $missing)) and re-run" >&2
    return 1
  fi
  mkdir -p "$(dirname "$apt_lock")"
  (
    flock -w 1800 9 || { echo "host: waited 30 min for $apt_lock; another install is stuck" >&2; exit 1; }
    # Re-check under the lock: a concurrent caller may have installed them meanwhile.
    missing=$(apt_missing "$@")
    [ -n "$missing" ] || exit 0
    echo "host: installing Debian packages: $(echo $missing) (log: $apt_log)"
    {
      "$apt_get" -o DPkg::Lock::Timeout=600 update -qq &&
      DEBIAN_FRONTEND=noninteractive "$apt_get" -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
    } >>"$apt_log" 2>&1 || {
      echo "host: apt-get install $(echo $missing) failed; last lines of $apt_log:" >&2
      tail -n 5 "$apt_log" >&2
      exit 1
    }
  ) 9>"$apt_lock"
}
