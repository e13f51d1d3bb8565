#!/usr/bin/env bash
# Build a Debian root filesystem with debootstrap and import it as a docker image.
# usage: images/rootfs/build.sh IMAGE_TAG SUITE PACKAGE[,PACKAGE...]
# The image is tagged only when debootstrap and the import both succeeded.
set -euo pipefail
tag=${1:?usage: build.sh IMAGE_TAG SUITE PACKAGES}
suite=${2:?usage: build.sh IMAGE_TAG SUITE PACKAGES}
packages=${3:?usage: build.sh IMAGE_TAG SUITE PACKAGES}
mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}
mirror=${mirror:-http://deb.debian.org/debian}

# Installed up front by scripts/host-packages.sh (make host): never here, where parallel stages would race apt.
command -v debootstrap >/dev/null || { echo "rootfs: debootstrap is missing: run 'make host' (or apt-get install debootstrap)" >&2; exit 1; }

dir=$(mktemp -d /var/tmp/chaos-harness-rootfs.XXXXXX)
trap 'rm -rf "$dir"' EXIT
debootstrap --variant=minbase --include="$packages" "$suite" "$dir" "$mirror" >"$dir.log" 2>&1 \
  || { tail -n 20 "$dir.log" >&2; rm -f "$dir.log"; exit 1; }
rm -f "$dir.log"
# Keep the image small and reproducible enough: no apt lists, caches or logs.
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb "$dir"/var/log/*.log
tar --numeric-owner -C "$dir" -c . | docker import - "$tag" >/dev/null
echo "$tag"
