package main

// The bounds a node puts on every hold, whatever its Lease asks. They are the agent's flags, set where it is
// installed (the DaemonSet, by whoever installs it), never read from the request: a Lease that asks for a longer
// time box or dead man's switch than the node allows, for a number that is not a positive finite one, or to cut
// the node off from an address that is not an API server of this cluster, gets a hold-error and nothing is
// applied. Gremlin's and Steadybit's agents work the same way: the limits are agent configuration, and a request
// beyond them is refused by the agent itself.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type limits struct {
	maxHold   time.Duration // the longest time box a hold may ask for
	maxSwitch time.Duration // the longest dead man's switch (the Lease's leaseDurationSeconds) a hold may run under
	maxPeers  int           // the most API server addresses a partition may name
}

var defaultLimits = limits{maxHold: 20 * time.Minute, maxSwitch: 2 * time.Minute, maxPeers: 16}

// holdRequest is what a Lease asks for, once it is known to be within the node's limits.
type holdRequest struct {
	kind, id string
	box      time.Duration // the time box, on this node's monotonic clock
	bound    time.Duration // the dead man's switch
	peers    []string      // host:port (IP literals) to cut off, for a partition
}

// A hold id names files and systemd units on the host: short, and nothing a shell or systemd would read as
// anything but a name.
var holdIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

var knownFaults = map[string]bool{"kubelet-stop": true, "network-partition": true, "node-pause": true}

// parseHold checks what the Lease asks against the node's limits.
func parseHold(ann map[string]string, leaseDurationSeconds int, lim limits) (holdRequest, error) {
	r := holdRequest{kind: asksFor(ann), id: ann[annotationHoldID]}
	if !holdIDPattern.MatchString(r.id) {
		return r, fmt.Errorf("hold id %q: not a hold id (lowercase letters, digits, '-'; at most 32)", clip(r.id))
	}
	if !knownFaults[r.kind] {
		return r, fmt.Errorf("this agent does not know the fault %q (an older agent image?)", clip(r.kind))
	}
	raw := strings.TrimSpace(ann[annotationHoldSeconds])
	if raw == "" {
		r.box = minDuration(defaultHoldSeconds*time.Second, lim.maxHold)
	} else {
		seconds, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(seconds) || math.IsInf(seconds, 0) || seconds <= 0 {
			return r, fmt.Errorf("hold-seconds %q: not a positive finite number of seconds", clip(raw))
		}
		if seconds > lim.maxHold.Seconds() {
			return r, fmt.Errorf("hold-seconds %g: beyond this node's limit of %.0fs (the agent's -max-hold)",
				seconds, lim.maxHold.Seconds())
		}
		r.box = time.Duration(seconds * float64(time.Second))
	}
	if leaseDurationSeconds <= 0 {
		return r, errors.New("the Lease sets no leaseDurationSeconds: a hold needs a dead man's switch")
	}
	r.bound = time.Duration(leaseDurationSeconds) * time.Second
	if r.bound > lim.maxSwitch {
		return r, fmt.Errorf("leaseDurationSeconds %d: a dead man's switch beyond this node's limit of %.0fs (the "+
			"agent's -max-switch)", leaseDurationSeconds, lim.maxSwitch.Seconds())
	}
	if r.kind == "network-partition" {
		for _, p := range strings.Split(ann[annotationHoldPeers], ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			host, port, err := net.SplitHostPort(p)
			n, perr := strconv.Atoi(port)
			if err != nil || net.ParseIP(host) == nil || perr != nil || n < 1 || n > 65535 {
				return r, fmt.Errorf("peer %q: not an IP address and port", clip(p))
			}
			r.peers = append(r.peers, net.JoinHostPort(net.ParseIP(host).String(), port))
		}
		if len(r.peers) > lim.maxPeers {
			return r, fmt.Errorf("%d peers: more than this node's limit of %d", len(r.peers), lim.maxPeers)
		}
	}
	return r, nil
}

// allowedPeers: the peers a partition may cut, each an API server of this cluster: one this node knows itself
// (its kubelet's kubeconfig, the `kubernetes` Service as this pod reaches it), or one that proves it (a TLS
// server certificate for kubernetes.default.svc signed by this cluster's CA). Anything else (a metadata service,
// the cluster DNS, a storage portal) is refused with the first such address.
func allowedPeers(peers, known []string, proves func(string) error) error {
	mine := map[string]bool{}
	for _, k := range known {
		mine[k] = true
	}
	for _, p := range peers {
		if mine[p] {
			continue
		}
		if err := proves(p); err != nil {
			return fmt.Errorf("peer %s is not an API server of this cluster (%v): a partition cuts the node off "+
				"from its API servers only", p, err)
		}
	}
	return nil
}

// apiServerProof dials `peer` and checks that it serves a certificate for kubernetes.default.svc signed by the
// cluster's CA (the service account's ca.crt).
func apiServerProof(ca *x509.CertPool) func(string) error {
	return func(peer string) error {
		if ca == nil {
			return errors.New("no cluster CA to check it against")
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", peer,
			&tls.Config{RootCAs: ca, ServerName: "kubernetes.default.svc", MinVersion: tls.VersionTLS12})
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// clip: a value from the Lease, shortened for a message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
