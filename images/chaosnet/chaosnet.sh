#!/bin/sh
# chaosnet: the node image's default CNI, doing what kindnetd does on a single docker network.
# Every node gets a podCIDR from kube-controller-manager. On each node this daemon
#  - writes a ptp + host-local CNI config for its own podCIDR (the node turns Ready once it exists),
#  - routes every other node's podCIDR via that node's InternalIP,
#  - masquerades pod traffic that leaves the pod network.
# It is a shell loop on purpose: small enough to read in full, built only from Debian packages and kubectl.
set -eu

: "${NODE_NAME:?NODE_NAME must be set from spec.nodeName}"
: "${POD_SUBNET:?POD_SUBNET must be set}"
CNI_CONF=/etc/cni/net.d/10-chaosnet.conflist
INTERVAL=${SYNC_INTERVAL_SECONDS:-5}

write_cni_config() {
  cidr=$1
  tmp="$CNI_CONF.tmp"
  cat > "$tmp" <<JSON
{
  "cniVersion": "0.3.1",
  "name": "chaosnet",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "mtu": 1500,
      "ipam": {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "routes": [{"dst": "0.0.0.0/0"}],
        "ranges": [[{"subnet": "$cidr"}]]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
  if ! cmp -s "$tmp" "$CNI_CONF" 2>/dev/null; then
    mv "$tmp" "$CNI_CONF"
    echo "chaosnet: wrote $CNI_CONF for $cidr"
  else
    rm -f "$tmp"
  fi
}

ensure_masquerade() {
  iptables -t nat -N CHAOSNET-MASQ 2>/dev/null || true
  iptables -t nat -C POSTROUTING -j CHAOSNET-MASQ 2>/dev/null || iptables -t nat -A POSTROUTING -j CHAOSNET-MASQ
  iptables -t nat -C CHAOSNET-MASQ -d "$POD_SUBNET" -j RETURN 2>/dev/null || iptables -t nat -A CHAOSNET-MASQ -d "$POD_SUBNET" -j RETURN
  iptables -t nat -C CHAOSNET-MASQ -s "$POD_SUBNET" -j MASQUERADE 2>/dev/null || iptables -t nat -A CHAOSNET-MASQ -s "$POD_SUBNET" -j MASQUERADE
}

# kind adds CONTROL_PLANE_ENDPOINT (host:port): talk to the API server directly, not through the Service IP
# that only works once kube-proxy runs. kubectl drops its in-cluster config when --server is given, so write
# a kubeconfig from the service account instead.
SA=/var/run/secrets/kubernetes.io/serviceaccount
if [ -n "${CONTROL_PLANE_ENDPOINT:-}" ]; then
  server="https://${CONTROL_PLANE_ENDPOINT}"
else
  server="https://${KUBERNETES_SERVICE_HOST}:${KUBERNETES_SERVICE_PORT}"
fi
cat > /tmp/kubeconfig <<YAML
apiVersion: v1
kind: Config
clusters:
- name: cluster
  cluster: {server: "$server", certificate-authority: $SA/ca.crt}
users:
- name: chaosnet
  user: {tokenFile: $SA/token}
contexts:
- name: chaosnet
  context: {cluster: cluster, user: chaosnet}
current-context: chaosnet
YAML
KUBECTL="kubectl --kubeconfig=/tmp/kubeconfig"

# Simulated nodes (benchmarks/scale.py labels kwok's) have no network to route to; listing them every few seconds
# from every node would be this CNI's load on the API server, not the harness's.
SELECTOR='!chaos-harness.test/simulated'

sync_once() {
  $KUBECTL get nodes -l "$SELECTOR" -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.spec.podCIDR}{" "}{.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' \
    > /tmp/nodes || return 1
  while read -r name cidr ip; do
    [ -n "$cidr" ] && [ -n "$ip" ] || continue
    if [ "$name" = "$NODE_NAME" ]; then
      write_cni_config "$cidr"
    else
      ip route replace "$cidr" via "$ip"
    fi
  done < /tmp/nodes
}

# As PID 1 the shell ignores SIGTERM unless told otherwise; sleep in the background so the trap runs at once.
trap 'exit 0' TERM INT
ensure_masquerade
while true; do
  sync_once || echo "chaosnet: sync failed; retrying in ${INTERVAL}s"
  sleep "$INTERVAL" &
  wait $!
done
