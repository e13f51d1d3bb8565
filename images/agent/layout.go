package main

// How the node is laid out: which systemd unit runs its kubelet and where its container runtime listens.
// Distributions differ (kubeadm: kubelet.service and /run/containerd; k3s and RKE2: the kubelet inside
// k3s.service / k3s-agent.service / rke2-agent.service, containerd at /run/k3s/containerd; microk8s:
// snap.microk8s.daemon-kubelite and /var/snap/microk8s/common/run; OpenShift: CRI-O), so the agent asks the
// node instead of assuming: the process serving the kubelet's port, that process's systemd unit from its
// cgroup, the CRI endpoint from the kubelet's own flags or config file, else the known sockets asked for
// their CRI Version and matched against the node's nodeInfo.containerRuntimeVersion.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// The host's filesystem as the agent sees it (hostPID): sockets and config files are reached through it, so
// no hostPath mount has to guess their directory in advance.
const hostRoot = "/proc/1/root"

// Where the common distributions put their CRI socket (their docs); asked in this order.
var knownEndpoints = []string{
	"unix:///run/containerd/containerd.sock",               // kubeadm, kind, EKS, GKE, AKS
	"unix:///run/k3s/containerd/containerd.sock",           // k3s, RKE2
	"unix:///var/snap/microk8s/common/run/containerd.sock", // microk8s
	"unix:///var/run/crio/crio.sock",                       // OpenShift, CRI-O
	"unix:///run/cri-dockerd.sock",                         // cri-dockerd
}

// Process names a kubelet runs under when it is not found by its port (it is stopped, or listens elsewhere).
var kubeletNames = []string{"kubelet", "kubelite", "k3s-agent", "k3s-server", "k3s", "rke2"}

type layout struct {
	KubeletUnit     string `json:"kubelet_unit,omitempty"`
	KubeletHow      string `json:"kubelet_how"`
	RuntimeEndpoint string `json:"runtime_endpoint,omitempty"`
	RuntimeHow      string `json:"runtime_how"`
	Runtime         string `json:"runtime,omitempty"` // name://version, as the endpoint answered CRI Version
}

// detectLayout finds what it was not told. expect: the nodes' nodeInfo.containerRuntimeVersion values.
func detectLayout(unit, endpoint string, port int, expect []string) (layout, runtime.RuntimeServiceClient) {
	var l layout
	pid, how := findKubelet(port)
	switch {
	case unit != "":
		l.KubeletUnit, l.KubeletHow = unit, "given (-kubelet-unit)"
	case pid == 0:
		l.KubeletHow = "not found: no process serves port " + strconv.Itoa(port) + " and none is named " +
			strings.Join(kubeletNames, ", ")
	default:
		if u := unitOf(pid); u != "" {
			l.KubeletUnit, l.KubeletHow = u, fmt.Sprintf("the cgroup of pid %d (%s)", pid, how)
		} else {
			l.KubeletHow = fmt.Sprintf("not found: pid %d (%s) is in no systemd service's cgroup", pid, how)
		}
	}
	candidates, from := knownEndpoints, "the first known socket that answered"
	if endpoint != "" {
		candidates, from = []string{endpoint}, "given (-runtime-endpoint)"
	} else if pid != 0 {
		if e, where := endpointOfKubelet(pid); e != "" {
			candidates, from = []string{e}, "the kubelet's "+where
		}
	}
	var answered []string
	for _, e := range candidates {
		client, version, err := dialCRI(e)
		if err != nil {
			continue
		}
		answered = append(answered, e+" ("+version+")")
		if len(expect) > 0 && !matchesAny(expect, version) && endpoint == "" {
			continue // another runtime on the same host (docker's own containerd beside k3s's, say)
		}
		l.RuntimeEndpoint, l.RuntimeHow, l.Runtime = e, from, version
		if len(expect) > 0 && endpoint == "" {
			l.RuntimeHow += ", matching the node's " + version
		}
		return l, client
	}
	switch {
	case len(answered) > 0:
		l.RuntimeHow = "not found: " + strings.Join(answered, ", ") + " answered, none is the node's " +
			strings.Join(expect, " or ")
	default:
		l.RuntimeHow = "not found: no CRI answered at " + strings.Join(candidates, ", ")
	}
	return l, nil
}

// matchesAny: the runtime that answered is one the nodes report. The kubelet reports the version as it parses
// it (the leading dotted numbers: containerd's "1.6.20~ds1" is "1.6.20" in nodeInfo), so compare those.
func matchesAny(expected []string, answered string) bool {
	for _, e := range expected {
		if genericVersion(e) == genericVersion(answered) {
			return true
		}
	}
	return false
}

// genericVersion: "name://1.2.3" from "name://v1.2.3-anything".
func genericVersion(runtimeVersion string) string {
	name, version, _ := strings.Cut(runtimeVersion, "://")
	version = strings.TrimPrefix(version, "v")
	end := 0
	for end < len(version) && (version[end] == '.' || (version[end] >= '0' && version[end] <= '9')) {
		end++
	}
	return name + "://" + strings.TrimRight(version[:end], ".")
}

// findKubelet: the process listening on the kubelet's port (this pod shares the host's network and PID
// namespaces), else one of the kubelet's usual names. 0 when neither is there.
func findKubelet(port int) (int, string) {
	if inodes := listeningInodes(port); len(inodes) > 0 {
		if pid := socketOwner(inodes); pid != 0 {
			return pid, fmt.Sprintf("serving port %d", port)
		}
	}
	for _, name := range kubeletNames {
		if pid := processNamed(name); pid != 0 {
			return pid, "named " + name
		}
	}
	return 0, ""
}

// listeningInodes reads /proc/net/tcp and tcp6 for sockets in LISTEN (0A) on `port`.
func listeningInodes(port int) map[string]bool {
	inodes := map[string]bool{}
	hexPort := fmt.Sprintf(":%04X", port)
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		scanner := bufio.NewScanner(f)
		for scanner.Scan() {
			fields := strings.Fields(scanner.Text())
			if len(fields) > 9 && strings.HasSuffix(fields[1], hexPort) && fields[3] == "0A" {
				inodes[fields[9]] = true
			}
		}
		f.Close()
	}
	return inodes
}

func pids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

func socketOwner(inodes map[string]bool) int {
	for _, pid := range pids() {
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
			if err == nil && strings.HasPrefix(target, "socket:[") && inodes[strings.Trim(target[7:], "[]")] {
				return pid
			}
		}
	}
	return 0
}

// processNamed: a process whose comm or argv[0]'s base name is `name` (k3s rewrites its argv to "k3s agent").
func processNamed(name string) int {
	for _, pid := range pids() {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if strings.TrimSpace(string(comm)) == name {
			return pid
		}
		if args := cmdline(pid); len(args) > 0 {
			if first := strings.Fields(args[0]); len(first) > 0 && filepath.Base(first[0]) == name {
				return pid
			}
		}
	}
	return 0
}

func cmdline(pid int) []string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(raw) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
}

// unitOf: the innermost systemd service in the process's cgroup path (cgroup v2's "0::" line, v1's
// name=systemd hierarchy). The path may be nested (a node inside a container: /docker/<id>/system.slice/...).
func unitOf(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	return unitInCgroup(string(raw))
}

func unitInCgroup(cgroup string) string {
	var v2, v1 string
	for _, line := range strings.Split(cgroup, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2 = parts[2]
		case parts[1] == "name=systemd":
			v1 = parts[2]
		}
	}
	for _, path := range []string{v1, v2} {
		components := strings.Split(path, "/")
		for i := len(components) - 1; i >= 0; i-- {
			if strings.HasSuffix(components[i], ".service") {
				return strings.TrimSuffix(components[i], ".service")
			}
		}
	}
	return ""
}

// endpointOfKubelet: --container-runtime-endpoint from the kubelet's command line, else containerRuntimeEndpoint
// from the file its --config names.
func endpointOfKubelet(pid int) (string, string) {
	args := cmdline(pid)
	if e := flagValue(args, "--container-runtime-endpoint"); e != "" {
		return normalEndpoint(e), "--container-runtime-endpoint flag"
	}
	config := flagValue(args, "--config")
	if config == "" || !strings.HasPrefix(config, "/") {
		return "", ""
	}
	raw, err := os.ReadFile(hostRoot + config)
	if err != nil {
		return "", ""
	}
	if e := yamlScalar(string(raw), "containerRuntimeEndpoint"); e != "" {
		return normalEndpoint(e), "config file " + config
	}
	return "", ""
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if strings.HasPrefix(a, name+"=") {
			return strings.TrimPrefix(a, name+"=")
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// yamlScalar: a top-level `key: value` of a KubeletConfiguration (no YAML library for one flat key).
func yamlScalar(doc, key string) string {
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, key+":") {
			return strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, key+":")), `"'`)
		}
	}
	return ""
}

func normalEndpoint(e string) string {
	if strings.HasPrefix(e, "/") {
		return "unix://" + e
	}
	return e
}

// dialCRI connects to a unix CRI endpoint of the host and asks its Version: "name://version", as the kubelet
// reports it in nodeInfo.containerRuntimeVersion.
func dialCRI(endpoint string) (runtime.RuntimeServiceClient, string, error) {
	path := strings.TrimPrefix(endpoint, "unix://")
	if path == endpoint || !strings.HasPrefix(path, "/") {
		return nil, "", fmt.Errorf("%s: only unix:// endpoints are supported", endpoint)
	}
	if _, err := os.Stat(hostRoot + path); err != nil {
		return nil, "", err
	}
	conn, err := grpc.NewClient("unix://"+hostRoot+path, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, "", err
	}
	client := runtime.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	v, err := client.Version(ctx, &runtime.VersionRequest{})
	if err != nil {
		conn.Close()
		return nil, "", err
	}
	return client, v.RuntimeName + "://" + v.RuntimeVersion, nil
}

// kubeletServers: the API server addresses the kubelet talks to (host:port), from the `server:` entries of
// the kubeconfig its --kubeconfig names, names resolved as the host resolves them. None when the kubelet is
// not found (the harness's addresses, the `kubernetes` Service's endpoints, still are).
func (a *agent) kubeletServers() []string {
	pid, _ := findKubelet(a.kubeletPort)
	if pid == 0 {
		return nil
	}
	path := flagValue(cmdline(pid), "--kubeconfig")
	if !strings.HasPrefix(path, "/") {
		return nil
	}
	raw, err := os.ReadFile(hostRoot + path)
	if err != nil {
		return nil
	}
	var out []string
	for _, server := range kubeconfigServers(string(raw)) {
		host, port, err := net.SplitHostPort(server)
		if err != nil {
			continue
		}
		if net.ParseIP(host) != nil {
			out = append(out, server)
			continue
		}
		for _, ip := range resolveOnHost(host) {
			out = append(out, net.JoinHostPort(ip, port))
		}
	}
	return out
}

// kubeconfigServers: host:port of every `server: https://...` line (no YAML library for one key).
func kubeconfigServers(doc string) []string {
	var out []string
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "server:") {
			continue
		}
		u, err := url.Parse(strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "server:")), `"'`))
		if err != nil || u.Host == "" {
			continue
		}
		port := u.Port()
		if port == "" {
			port = "443"
		}
		out = append(out, net.JoinHostPort(u.Hostname(), port))
	}
	return out
}

// resolveOnHost: the addresses the host's own resolver gives a name (its /etc/hosts, its DNS).
func resolveOnHost(name string) []string {
	raw, err := exec.Command("nsenter", "-t", "1", "-m", "--", "getent", "ahosts", name).Output()
	if err != nil {
		return nil
	}
	seen, out := map[string]bool{}, []string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if fields := strings.Fields(line); len(fields) > 0 && net.ParseIP(fields[0]) != nil && !seen[fields[0]] {
			seen[fields[0]] = true
			out = append(out, fields[0])
		}
	}
	return out
}
