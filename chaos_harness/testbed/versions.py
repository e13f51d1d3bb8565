"""Pinned versions of the test bed. kind v0.30.0 is the newest kind that runs on a cgroup v1 host unpatched."""

KIND = "v0.30.0"
KUBERNETES = "v1.34.0"
# kind v0.30.0's default node image (sigs.k8s.io/kind pkg/apis/config/defaults/image.go).
STOCK_NODE_IMAGE = "kindest/node:v1.34.0@sha256:7416a61b42b1662ca6ca89f02028ac133a309a2a30ba309614e8ec94d976dc5a"
DEBIAN_SUITE = "bookworm"
# Module versions of what kubeadm v1.34 lists (etcd 3.6.4-0, coredns v1.12.1) and of kind's storage provisioner.
ETCD_MODULE = "v3.6.4"
COREDNS = "v1.12.1"
LOCAL_PATH_PROVISIONER = "v0.0.30"
