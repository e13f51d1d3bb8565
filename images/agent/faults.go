package main

// The node faults the agent holds while the Lease asks for them (hold.go decides when). Each one is applied
// and undone here, and each gives the host's own systemd a command that undoes it without this process
// (the host timer of hold.go), so a fault outlives neither its time box nor a dead agent.
//
//   - kubelet-stop: systemctl stop of the kubelet's unit.
//   - network-partition: the node's traffic to and from the API server's addresses dropped in both
//     directions (nftables table inet chaos_harness, else iptables/ip6tables chains CHAOS-HARNESS-*), on
//     INPUT, OUTPUT and FORWARD (pods on the node are cut off too). One thing passes: this agent's own Lease
//     reads and writes, sent from sockets carrying controlMark, so the harness can still end the fault and
//     the dead man's switch still hears it. The samples are published without the mark: they wait in the
//     backlog and arrive after the heal, each with the time it was read.
//   - node-pause: the kubelet's cgroup and every pod's cgroup except this agent's frozen (the cgroup v2
//     freezer, also present on hybrid hosts as /sys/fs/cgroup/unified). Unlike kind's `docker pause`, the
//     container runtime, systemd and the kernel's network stack keep running.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// controlMark is the socket mark (SO_MARK) of the agent's control connection: the partition lets packets
// carrying it through, and their replies by conntrack's connmark. One bit that kube-proxy (0x4000 masquerade,
// 0x8000 drop), Calico (0xffff0000), Cilium (0x0f00) and Weave (0x20000, 0x40000) leave alone.
const controlMark = 0x2000

type nodeFault interface {
	apply() (evidence string, err error)
	undo() error
	hostUndo() []string // argv for the host's timer (and the host's record of the hold): never a value in a script
	whole() bool        // the node is whole again (undone from outside: the host's timer, by hand)
}

// --- kubelet stop ---------------------------------------------------------------------------------------

type kubeletStop struct{ a *agent }

func (k kubeletStop) apply() (string, error) {
	if err := k.a.systemctl("stop"); err != nil {
		return "", err
	}
	return "systemctl stop " + k.a.unit, nil
}

func (k kubeletStop) undo() error {
	if k.a.kubeletState() == "active" {
		return nil
	}
	return k.a.systemctl("start")
}

func (k kubeletStop) hostUndo() []string {
	return []string{"systemctl", "start", k.a.unit + ".service"}
}
func (k kubeletStop) whole() bool { return k.a.kubeletState() == "active" }

// --- network partition ----------------------------------------------------------------------------------

const (
	nftTable     = "chaos_harness"
	iptablesPref = "CHAOS-HARNESS-"
)

type partition struct {
	peers []string // host:port of every API server address (from the harness and the kubelet's kubeconfig)
}

// addresses: the IPs of the peers, split by family.
func (p partition) addresses() (v4, v6 []string) {
	seen := map[string]bool{}
	for _, peer := range p.peers {
		host := peer
		if h, _, err := net.SplitHostPort(peer); err == nil {
			host = h
		}
		ip := net.ParseIP(host)
		if ip == nil || ip.IsLoopback() || seen[ip.String()] {
			continue // a local proxy (k3s's, RKE2's 127.0.0.1:6444) is cut through its upstreams instead
		}
		seen[ip.String()] = true
		if ip.To4() != nil {
			v4 = append(v4, ip.String())
		} else {
			v6 = append(v6, ip.String())
		}
	}
	return v4, v6
}

func hostHas(binary string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), hostCommandTimeout)
	defer cancel()
	return exec.CommandContext(ctx, "nsenter", "-t", "1", "-m", "--", "sh", "-c", `command -v "$1"`, "sh", binary).Run() == nil
}

// nftScript: one table of our own, so the heal is one `nft delete table`.
func nftScript(v4, v6 []string) string {
	var rules []string
	for _, set := range []struct {
		family string
		ips    []string
	}{{"ip", v4}, {"ip6", v6}} {
		if len(set.ips) == 0 {
			continue
		}
		list := "{ " + strings.Join(set.ips, ", ") + " }"
		rules = append(rules, fmt.Sprintf("add rule inet %s cut_in %s saddr %s drop", nftTable, set.family, list),
			fmt.Sprintf("add rule inet %s cut_out %s daddr %s drop", nftTable, set.family, list),
			fmt.Sprintf("add rule inet %s cut_fwd %s saddr %s drop", nftTable, set.family, list),
			fmt.Sprintf("add rule inet %s cut_fwd %s daddr %s drop", nftTable, set.family, list))
	}
	// Priority 10: after conntrack (-200) and DNAT (-100), so a Service address is already its endpoint.
	return strings.Join(append([]string{
		"add table inet " + nftTable,
		fmt.Sprintf("add chain inet %s cut_in { type filter hook input priority 10 ; }", nftTable),
		fmt.Sprintf("add chain inet %s cut_out { type filter hook output priority 10 ; }", nftTable),
		fmt.Sprintf("add chain inet %s cut_fwd { type filter hook forward priority 10 ; }", nftTable),
		fmt.Sprintf("add rule inet %s cut_out meta mark and %#x == %#x ct mark set ct mark or %#x accept", nftTable, controlMark, controlMark, controlMark),
		fmt.Sprintf("add rule inet %s cut_in ct mark and %#x == %#x accept", nftTable, controlMark, controlMark),
	}, rules...), "\n") + "\n"
}

// iptablesScript: chains of our own jumped to first from INPUT, OUTPUT and FORWARD; RETURN (not ACCEPT) lets
// the control connection go on through the node's own rules.
func iptablesScript(binary string, ips []string) string {
	var lines []string
	for _, c := range []string{"INPUT", "OUTPUT", "FORWARD"} {
		lines = append(lines, fmt.Sprintf("%s -w -N %s%s", binary, iptablesPref, c))
	}
	lines = append(lines,
		fmt.Sprintf("%s -w -A %sOUTPUT -m mark --mark %#x/%#x -j CONNMARK --set-mark %#x/%#x", binary, iptablesPref, controlMark, controlMark, controlMark, controlMark),
		fmt.Sprintf("%s -w -A %sOUTPUT -m mark --mark %#x/%#x -j RETURN", binary, iptablesPref, controlMark, controlMark),
		fmt.Sprintf("%s -w -A %sINPUT -m connmark --mark %#x/%#x -j RETURN", binary, iptablesPref, controlMark, controlMark))
	for _, ip := range ips {
		lines = append(lines,
			fmt.Sprintf("%s -w -A %sINPUT -s %s -j DROP", binary, iptablesPref, ip),
			fmt.Sprintf("%s -w -A %sOUTPUT -d %s -j DROP", binary, iptablesPref, ip),
			fmt.Sprintf("%s -w -A %sFORWARD -s %s -j DROP", binary, iptablesPref, ip),
			fmt.Sprintf("%s -w -A %sFORWARD -d %s -j DROP", binary, iptablesPref, ip))
	}
	for _, c := range []string{"INPUT", "OUTPUT", "FORWARD"} {
		lines = append(lines, fmt.Sprintf("%s -w -I %s 1 -j %s%s", binary, c, iptablesPref, c))
	}
	return strings.Join(lines, " && ")
}

// partitionUndoScript removes whatever a partition of either kind left: idempotent, and the same script the
// host's timer runs. It fails only when something it found could not be removed.
func partitionUndoScript() string {
	var s []string
	s = append(s, "if command -v nft >/dev/null && nft list table inet "+nftTable+" >/dev/null 2>&1; then nft delete table inet "+nftTable+" || exit 1; fi")
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, c := range []string{"INPUT", "OUTPUT", "FORWARD"} {
			chain := iptablesPref + c
			s = append(s, fmt.Sprintf("if command -v %[1]s >/dev/null && %[1]s -w -n -L %[3]s >/dev/null 2>&1; then "+
				"while %[1]s -w -C %[2]s -j %[3]s 2>/dev/null; do %[1]s -w -D %[2]s -j %[3]s || exit 1; done; "+
				"%[1]s -w -F %[3]s && %[1]s -w -X %[3]s || exit 1; fi", bin, c, chain))
		}
	}
	return strings.Join(s, "; ")
}

func (p partition) apply() (string, error) {
	v4, v6 := p.addresses()
	if len(v4)+len(v6) == 0 {
		return "", errors.New("no API server address to cut off (only loopback ones were given)")
	}
	_ = p.undo() // a leftover of an earlier partition would double the rules
	var backend string
	switch {
	case hostHas("nft"):
		backend = "nftables (table inet " + nftTable + ")"
		ctx, cancel := context.WithTimeout(context.Background(), hostCommandTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "nsenter", "-t", "1", "-m", "--", "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(nftScript(v4, v6))
		if out, err := cmd.CombinedOutput(); err != nil {
			_ = p.undo()
			return "", fmt.Errorf("nft: %v: %s", err, strings.TrimSpace(string(out)))
		}
	case hostHas("iptables"):
		backend = "iptables (chains " + iptablesPref + "*)"
		var scripts []string
		if len(v4) > 0 {
			scripts = append(scripts, iptablesScript("iptables", v4))
		}
		if len(v6) > 0 {
			if !hostHas("ip6tables") {
				return "", errors.New("IPv6 API server addresses and no ip6tables on the node")
			}
			scripts = append(scripts, iptablesScript("ip6tables", v6))
		}
		if err := host("sh", "-c", strings.Join(scripts, " && ")); err != nil {
			_ = p.undo()
			return "", err
		}
	default:
		return "", errors.New("neither nft nor iptables on the node")
	}
	return fmt.Sprintf("%s drops the node's traffic to and from %s; %s", backend,
		strings.Join(append(v4, v6...), ", "), p.probe()), nil
}

// probe tries the first peer from an unmarked socket: it must not connect (the cut is in force).
func (p partition) probe() string {
	for _, peer := range p.peers {
		if _, port, err := net.SplitHostPort(peer); err != nil || port == "" {
			continue
		}
		conn, err := net.DialTimeout("tcp", peer, 2*time.Second)
		if err != nil {
			return fmt.Sprintf("a connection from the node to %s failed (%v)", peer, shortError(err))
		}
		conn.Close()
		return fmt.Sprintf("WARNING: a connection from the node to %s still succeeded", peer)
	}
	return "no peer with a port to probe"
}

func shortError(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Timeout() {
		return "timed out"
	}
	return err.Error()
}

func (p partition) undo() error        { return host("sh", "-c", partitionUndoScript()) }
func (p partition) hostUndo() []string { return []string{"sh", "-c", partitionUndoScript()} }
func (p partition) whole() bool {
	script := "nft list table inet " + nftTable + " >/dev/null 2>&1 && exit 1; " +
		"iptables -w -n -L " + iptablesPref + "OUTPUT >/dev/null 2>&1 && exit 1; " +
		"ip6tables -w -n -L " + iptablesPref + "OUTPUT >/dev/null 2>&1 && exit 1; exit 0"
	return host("sh", "-c", script) == nil
}

// --- node pause -----------------------------------------------------------------------------------------

// A pod's cgroup, the whole name: the systemd driver's [kubelet-]kubepods[-<qos>]-pod<uid with _>.slice, or the
// cgroupfs driver's pod<uid>. Nothing else under the hierarchy is taken for a pod's (a directory crafted to look
// like one is not frozen, and no name ever reaches a shell: hostUndo passes paths as arguments).
var podCgroup = regexp.MustCompile(`^(?:[a-z]+-)*pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$`)

// safeCgroup: a cgroup path made only of what the kubelet and systemd name cgroups with.
var safeCgroup = regexp.MustCompile(`^[A-Za-z0-9_./:@-]+$`)

type pause struct {
	a       *agent
	cgroups []string // host paths of the cgroups frozen (below v2Root), kubelet first
}

// v2Root: where the host's cgroup v2 hierarchy is mounted, through /proc/1/root: /sys/fs/cgroup (v2) or
// /sys/fs/cgroup/unified (hybrid). "" on a cgroup v1-only host.
func v2Root() string {
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if _, err := os.Stat(hostRoot + dir + "/cgroup.procs"); err == nil {
			if _, err := os.Stat(hostRoot + dir + "/cgroup.controllers"); err == nil {
				return dir
			}
		}
	}
	return ""
}

// kubeletCgroup: the kubelet's v2 cgroup as the host sees it (read in the host's cgroup namespace: this pod's
// own may be private).
func kubeletCgroup(pid int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hostCommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", "-t", "1", "-C", "--", "cat", fmt.Sprintf("/proc/%d/cgroup", pid)).Output()
	if err != nil {
		return "", fmt.Errorf("reading the kubelet's cgroup: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "0::") {
			return strings.TrimPrefix(line, "0::"), nil
		}
	}
	return "", errors.New("the kubelet is in no cgroup v2 group")
}

// podCgroups: every pod's cgroup below root except the pod with uid `skip` (this agent's), found by walking
// the hierarchy (a pod's cgroup is not descended into).
func podCgroups(root, skip string) []string {
	skip = strings.ReplaceAll(skip, "-", "_")
	var found []string
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		entries, err := os.ReadDir(root + dir)
		if err != nil || depth > 6 {
			return
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			path := dir + "/" + e.Name()
			if m := podCgroup.FindStringSubmatch(e.Name()); m != nil {
				if strings.ReplaceAll(m[1], "-", "_") != skip && safeCgroup.MatchString(path) {
					found = append(found, path)
				}
				continue
			}
			walk(path, depth+1)
		}
	}
	walk("", 0)
	return found
}

func newPause(a *agent) (*pause, error) {
	root := v2Root()
	if root == "" {
		return nil, errors.New("node pause needs the cgroup v2 freezer (a cgroup v2 or hybrid host); this node has cgroup v1 only")
	}
	pid, _ := findKubelet(a.kubeletPort)
	if pid == 0 {
		return nil, errors.New("the kubelet's process was not found: nothing to freeze")
	}
	kubelet, err := kubeletCgroup(pid)
	if err != nil {
		return nil, err
	}
	if !safeCgroup.MatchString(kubelet) {
		return nil, fmt.Errorf("the kubelet's cgroup %q is not a cgroup path this agent freezes", clip(kubelet))
	}
	p := &pause{a: a}
	for _, c := range append([]string{kubelet}, podCgroups(hostRoot+root, a.podUID)...) {
		p.cgroups = append(p.cgroups, filepath.Clean(root+c))
	}
	return p, nil
}

func (p *pause) write(value string) error {
	var failed []string
	for _, c := range p.cgroups {
		if err := os.WriteFile(hostRoot+c+"/cgroup.freeze", []byte(value), 0); err != nil && !os.IsNotExist(err) {
			failed = append(failed, fmt.Sprintf("%s: %v", c, err))
		}
	}
	if len(failed) > 0 {
		return errors.New("cgroup.freeze: " + strings.Join(failed, "; "))
	}
	return nil
}

func frozen(cgroup string) bool {
	raw, err := os.ReadFile(hostRoot + cgroup + "/cgroup.events")
	return err == nil && strings.Contains(string(raw), "frozen 1")
}

func (p *pause) apply() (string, error) {
	if err := p.write("1"); err != nil {
		_ = p.write("0")
		return "", err
	}
	// Freezing completes when every task has stopped (one in uninterruptible sleep takes longer).
	deadline := time.Now().Add(5 * time.Second)
	var pending []string
	for {
		pending = pending[:0]
		for _, c := range p.cgroups {
			if _, err := os.Stat(hostRoot + c); err == nil && !frozen(c) {
				pending = append(pending, c)
			}
		}
		if len(pending) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(pending) > 0 {
		_ = p.write("0")
		return "", fmt.Errorf("not frozen after 5s: %s", strings.Join(pending, ", "))
	}
	return fmt.Sprintf("cgroup v2 freezer: the kubelet's cgroup %s and %d pod cgroups frozen (cgroup.events "+
		"frozen 1); left running: the node agent's own pod, the container runtime, systemd", p.cgroups[0],
		len(p.cgroups)-1), nil
}

func (p *pause) undo() error { return p.write("0") }

// hostUndo thaws every cgroup it froze; the paths are the script's arguments, never part of its text.
func (p *pause) hostUndo() []string {
	script := `for c in "$@"; do [ -e "$c/cgroup.freeze" ] && echo 0 > "$c/cgroup.freeze"; done; true`
	return append([]string{"sh", "-c", script, "chaos-harness-thaw"}, p.cgroups...)
}

func (p *pause) whole() bool { return !frozen(p.cgroups[0]) }
