#!/usr/bin/env bash
# Build the Kubernetes binaries a kind node needs from the Go module proxy.
#
# k8s.io/kubernetes replaces every k8s.io/<staging> module with a ./staging path that is not in its module
# zip, so we build from a throwaway module that requires k8s.io/kubernetes and points each staging module
# at its published v0.Y.Z instead.
#
# usage: images/kubernetes/build.sh vX.Y.Z OUTDIR
set -euo pipefail

version=${1:?usage: build.sh vX.Y.Z OUTDIR}
out=${2:?usage: build.sh vX.Y.Z OUTDIR}
minor_version=${version#v1.}             # 34.0
staging_version="v0.${minor_version}"    # v0.34.0
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

go mod download -json "k8s.io/kubernetes@${version}" > kubernetes.json
k8s_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' kubernetes.json)
commit=$(sed -n 's/^[[:space:]]*"Hash": "\(.*\)",$/\1/p' kubernetes.json | head -n1)
[ -d "$k8s_dir" ] || { echo "build.sh: k8s.io/kubernetes@${version} not found in the module cache" >&2; exit 1; }

{
  echo "module chaos-harness.local/k8s-build"
  echo
  grep -E '^go [0-9]' "$k8s_dir/go.mod"
  grep -E '^godebug ' "$k8s_dir/go.mod" || true
  echo
  echo "require k8s.io/kubernetes ${version}"
  echo
  echo "replace ("
  # Each "k8s.io/x => ./staging/src/k8s.io/x" becomes "k8s.io/x => k8s.io/x v0.Y.Z".
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#\t\1 => \1 '"${staging_version}"'#p' "$k8s_dir/go.mod"
  echo ")"
} > go.mod

echo 'package main' > empty.go

build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
major=1
minor=${minor_version%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X ${pkg}.gitVersion=${version} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor}"
  ldflags+=" -X ${pkg}.gitCommit=${commit} -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${build_date}"
done

export CGO_ENABLED=0 GOFLAGS=-mod=mod
go build -trimpath -ldflags "$ldflags" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kube-proxy \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kubeadm \
  k8s.io/kubernetes/cmd/kubectl

# pause is C; the release image builds it statically the same way.
gcc -Os -static -o "$out/pause" -DVERSION="${version}" "$k8s_dir/build/pause/linux/pause.c"
strip "$out/pause"
"$out/kubeadm" version -o short
