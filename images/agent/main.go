// Command chaos-agent runs on every node a chaos-harness run may look at or fault (a privileged DaemonSet pod
// with hostPID). It does two things that must keep working while the node's kubelet is stopped, so neither
// goes through the kubelet (no exec, logs or port-forward):
//
//  1. It samples the node's container runtime over CRI every -interval and publishes into the ConfigMap
//     chaos-agent-<node> (data.sample, JSON) through the API server only what matters (publish.go): a sample
//     whose observation changed (the containers of the namespaces the Lease names, the kubelet, the fault
//     held), and a heartbeat every -heartbeat that proves the agent alive. Each published sample names the
//     previous one and the last change, so the harness knows the samples it was not sent were unchanged. The
//     harness's recorder watches those ConfigMaps, so a node whose kubelet is down stays visible. Sampling,
//     publishing and following the Lease run in loops of their own: a slow API server (a busy control plane)
//     delays the samples but does not thin them. Published samples stay in data.recent until the harness
//     acknowledges them on the Lease (bounded), so a re-list after a lost watch still finds them.
//  2. It holds the node faults the Lease chaos-agent-<node> asks for (hold.go: the kubelet stopped, the node
//     cut off from the API server, the node frozen; faults.go) and holds a dead man's switch: while a fault
//     is held, the harness renews the Lease; if the renewTime stops changing for leaseDurationSeconds (timed
//     on this node's own monotonic clock, so clock skew between harness and node does not matter), or the
//     Lease cannot be read for that long, the agent undoes the fault itself and says so in its sample.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Where the service account's token and CA are (a variable: the tests point it at their own).
var saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

const (
	annotationHeal = "chaos-harness.io/healed-by"
	sampleLabel    = "chaos-harness.io/agent-sample"
	// The samples not yet acknowledged that one ConfigMap update may carry (changes, and heartbeats between
	// them): well under the 1 MiB object limit, oldest dropped first (the harness sees the break in the chain).
	maxBacklogBytes = 256 << 10
	maxBacklog      = 120
)

type container struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	PodUID    string `json:"pod_uid"`
	State     string `json:"state"`
	CreatedNs int64  `json:"created_ns"`
}

type sample struct {
	Node       string      `json:"node"`
	Seq        int64       `json:"seq"`
	Kind       string      `json:"kind"`       // "change" or "heartbeat" (publish.go)
	After      int64       `json:"after"`      // the last change before this sample: none in between
	Prev       int64       `json:"prev"`       // the previous published sample
	Gap        float64     `json:"gap"`        // the longest step between local samples since Prev (seconds)
	Heartbeat  float64     `json:"heartbeat"`  // seconds between heartbeats: how long an unchanged view is silent
	Namespaces []string    `json:"namespaces"` // the namespaces whose containers are reported ("*": all)
	Started    float64     `json:"started"`    // when this agent process started: seq counts from 1 again after a restart
	SampledAt  float64     `json:"sampled_at"`
	OK         bool        `json:"ok"`
	Error      string      `json:"error,omitempty"`
	Containers []container `json:"containers"`
	Kubelet    string      `json:"kubelet"`
	Holding    bool        `json:"holding"`
	Hold       string      `json:"hold,omitempty"` // the fault held while this sample was read
	Deadman    string      `json:"deadman,omitempty"`
}

type agent struct {
	node, namespace, unit string
	api                   string
	http                  *http.Client // samples: cut off like everything else during a partition
	control               *http.Client // the Lease: its sockets carry controlMark, which a partition lets pass
	kubeletPort           int
	podUID                string // this agent's own pod: a pause leaves it running
	cri                   runtime.RuntimeServiceClient
	interval              time.Duration
	heartbeat             time.Duration
	seq                   int64
	started               float64
	pub                   publisher // what was published last (publish.go); used by the sampling loop only
	// mu guards what every sample reports (the kubelet, the hold, the switch), the scope and the backlog.
	mu      sync.Mutex
	backlog []sample      // sampled, not yet published
	wake    chan struct{} // a new sample is waiting (capacity 1: one wake-up covers any number)
	// holdMu guards the hold and the Lease as last seen: the Lease's watch and the switch both act on them.
	holdMu sync.Mutex
	// The dead man's switch: the last renewTime seen, when (monotonic) it last changed, and how many changes this
	// process has seen (a hold is taken only after one: a Lease found unchanged may be a dead harness's).
	lastRenew    string
	lastChange   time.Time
	renewals     int
	leaseSeconds int               // the Lease's leaseDurationSeconds, as last seen
	ann          map[string]string // the Lease's annotations, as last seen
	holdBound    time.Duration     // the switch of the hold in force
	kubelet      string            // systemctl is-active, as last seen (written under mu)
	holding      bool              // a fault is held because the Lease asks for it (written under mu)
	heldFault    string            // which one (written under mu)
	deadman      string            // what the switch did, reported in every later sample (written under mu)
	layout       layout            // how this node is laid out (layout.go), published beside the samples
	limits       limits            // what any hold may ask for at most (bounds.go): the agent's flags
	state        hostState         // what the holds leave on the host (state.go)
	watcher      *http.Client      // the Lease's watch: the control connection's mark, no overall timeout
	// provesAPIServer checks that an address a partition would cut is an API server of this cluster.
	provesAPIServer func(string) error
	// The hold this process took (the Lease's hold id and fault), when its time box ends on this node's
	// monotonic clock, when the host's own timer was last armed, and the holds taken: a hold is never taken
	// again, even when the Lease still asks for it after it ended.
	holdID    string
	holdFault string
	// What the Lease asks of the samples: the namespaces to report (nil: none) and the newest sample the harness
	// has read (its seq, and the agent process it was read from).
	scope        []string
	ackSeq       int64
	ackStarted   float64
	fault        nodeFault
	holdDeadline time.Time
	timerArmed   time.Time
	ended        map[string]bool
}

func main() {
	interval := flag.Duration("interval", time.Second, "how often to sample the runtime and read the Lease")
	heartbeat := flag.Duration("heartbeat", 10*time.Second, "how often to publish an unchanged sample")
	endpoint := flag.String("runtime-endpoint", "", "CRI endpoint (default: found on the node)")
	unit := flag.String("kubelet-unit", "", "the kubelet's systemd unit (default: found on the node)")
	port := flag.Int("kubelet-port", 10250, "the port the kubelet serves, to find its process")
	expect := flag.String("expect-runtime", "", "the nodes' nodeInfo.containerRuntimeVersion values, comma-separated")
	maxHold := flag.Duration("max-hold", defaultLimits.maxHold, "the longest time box any hold may ask for")
	maxSwitch := flag.Duration("max-switch", defaultLimits.maxSwitch,
		"the longest dead man's switch (the Lease's leaseDurationSeconds) any hold may run under")
	stateDir := flag.String("state-dir", "/run/chaos-harness/agent",
		"where on the host (a tmpfs) the holds' ids and the hold in force are kept, per agent namespace")
	flag.Parse()
	node, namespace := os.Getenv("NODE_NAME"), os.Getenv("POD_NAMESPACE")
	if node == "" || namespace == "" {
		log.Fatal("NODE_NAME and POD_NAMESPACE must be set (downward API)")
	}
	if *maxHold <= 0 || *maxSwitch <= 0 {
		log.Fatal("-max-hold and -max-switch must be positive")
	}
	ca, err := clusterCA()
	if err != nil {
		log.Fatal(err)
	}
	httpClient := inClusterHTTP(ca, 0, 5*time.Second)
	controlClient := inClusterHTTP(ca, controlMark, 5*time.Second)
	a := &agent{
		node: node, namespace: namespace, interval: *interval, heartbeat: *heartbeat, http: httpClient, control: controlClient,
		watcher: inClusterHTTP(ca, controlMark, 0), kubeletPort: *port, podUID: os.Getenv("POD_UID"),
		api:        "https://" + joinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")),
		lastChange: time.Now(), started: float64(time.Now().UnixNano()) / 1e9, ended: map[string]bool{},
		limits:          limits{maxHold: *maxHold, maxSwitch: *maxSwitch, maxPeers: defaultLimits.maxPeers},
		state:           hostState{dir: hostRoot + *stateDir + "/" + namespace},
		provesAPIServer: apiServerProof(ca),
	}
	var expected []string
	if *expect != "" {
		expected = strings.Split(*expect, ",")
	}
	a.layout, a.cri = detectLayout(*unit, *endpoint, *port, expected)
	if a.layout.KubeletUnit == "" {
		a.inheritLayout() // a kubelet stopped when this agent started: the previous agent may have found it
	}
	a.unit = a.layout.KubeletUnit
	log.Printf("chaos-agent on %s: kubelet unit %q (%s), runtime %s (%s); sampling every %s, publishing changes "+
		"and a heartbeat every %s to %s/chaos-agent-%s", node, a.layout.KubeletUnit, a.layout.KubeletHow,
		a.layout.RuntimeEndpoint, a.layout.RuntimeHow, *interval, *heartbeat, namespace, node)
	a.wake = make(chan struct{}, 1)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	a.endInheritedHold() // before anything else: what a dead predecessor held, from the host's own record
	a.observeKubelet()   // the first sample already says what the kubelet does
	go every(*interval, a.sample)
	go every(*interval, a.observeKubelet)
	go a.followLeaseLoop()
	go a.switchLoop()
	go a.publishLoop()
	<-stop
	// Leaving while holding a fault would strand the node: undo it on the way out.
	a.holdMu.Lock()
	defer a.holdMu.Unlock()
	if a.holding {
		log.Printf("exiting while holding %s: undoing it", a.holdFault)
		if err := a.fault.undo(); err != nil {
			log.Printf("undoing %s: %v (the host's timer stays armed)", a.holdFault, err)
			return
		}
		a.disarmHostTimer()
		_ = a.state.clearHeld()
	}
}

// every runs f now and then once per period; a run that overruns skips the ticks it missed.
func every(period time.Duration, f func()) {
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		f()
		<-ticker.C
	}
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + port
}

func clusterCA() (*x509.CertPool, error) {
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return nil, fmt.Errorf("service account CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, errors.New("service account CA: no certificate")
	}
	return pool, nil
}

// inClusterHTTP: a client of the API server with the cluster's CA; `mark` (SO_MARK) on its sockets when not 0;
// `timeout` on each whole request (0: none, for a watch, which bounds itself).
func inClusterHTTP(pool *x509.CertPool, mark int, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	if mark != 0 {
		dialer.Control = func(_, _ string, c syscall.RawConn) error {
			var markErr error
			if err := c.Control(func(fd uintptr) {
				markErr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, mark)
			}); err != nil {
				return err
			}
			return markErr
		}
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: dialer.DialContext,
		TLSClientConfig: &tls.Config{RootCAs: pool}, Proxy: http.ProxyFromEnvironment}}
}

// sample reads the runtime (the containers of the namespaces the Lease names), stamps the kubelet state the
// Lease loop last saw, and queues it for publishing when it changed or a heartbeat is due (publish.go).
func (a *agent) sample() {
	a.seq++
	now := time.Now()
	s := sample{Node: a.node, Seq: a.seq, Started: a.started, SampledAt: float64(now.UnixNano()) / 1e9, OK: true,
		Heartbeat: a.heartbeat.Seconds()}
	a.mu.Lock()
	scope := a.scope
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), a.interval*3)
	defer cancel()
	var cs []container
	var err error
	if a.cri == nil {
		cs, err = []container{}, errors.New("no container runtime: "+a.layout.RuntimeHow)
	} else {
		cs, err = a.containers(ctx)
	}
	if err != nil {
		s.OK, s.Error = false, err.Error()
	}
	s.Containers, s.Namespaces = inScope(cs, scope), append([]string{}, scope...)
	a.mu.Lock()
	s.Kubelet, s.Holding, s.Hold, s.Deadman = a.kubelet, a.holding, a.heldFault, a.deadman
	queued := a.pub.offer(&s, now, a.heartbeat, &a.backlog)
	if len(a.backlog) > maxBacklog {
		a.backlog = a.backlog[len(a.backlog)-maxBacklog:]
	}
	a.mu.Unlock()
	if !queued {
		return
	}
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// publishLoop publishes whatever was sampled since the last successful update, as one update.
func (a *agent) publishLoop() {
	for range a.wake {
		a.mu.Lock()
		pending := append([]sample(nil), a.backlog...)
		a.mu.Unlock()
		if len(pending) == 0 {
			continue
		}
		_, err := a.publish(pending)
		if err != nil {
			log.Printf("publishing samples %d-%d: %v", pending[0].Seq, pending[len(pending)-1].Seq, err)
			time.Sleep(a.interval) // the next queued sample wakes this loop again; do not spin on a failing API
			a.mu.Lock()
			retry := len(a.backlog) > 0
			a.mu.Unlock()
			if retry { // nothing new may be queued for a heartbeat's time: try again now
				select {
				case a.wake <- struct{}{}:
				default:
				}
			}
			continue
		}
		// Published samples stay in the backlog until the harness says it read them (followSamples trims it).
	}
}

func (a *agent) containers(ctx context.Context) ([]container, error) {
	r, err := a.cri.ListContainers(ctx, &runtime.ListContainersRequest{Filter: &runtime.ContainerFilter{
		State: &runtime.ContainerStateValue{State: runtime.ContainerState_CONTAINER_RUNNING}}})
	if err != nil {
		return []container{}, fmt.Errorf("CRI ListContainers: %w", err)
	}
	sort.Slice(r.Containers, func(i, j int) bool { return r.Containers[i].Id < r.Containers[j].Id })
	out := make([]container, 0, len(r.Containers))
	for _, c := range r.Containers {
		out = append(out, container{
			ID: c.Id, Name: c.GetMetadata().GetName(), Pod: c.Labels["io.kubernetes.pod.name"],
			Namespace: c.Labels["io.kubernetes.pod.namespace"], PodUID: c.Labels["io.kubernetes.pod.uid"],
			State: c.State.String(), CreatedNs: c.CreatedAt,
		})
	}
	return out, nil
}

func (a *agent) leasePath() string {
	return fmt.Sprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases/chaos-agent-%s", a.namespace, a.node)
}

// observeKubelet records the kubelet's state for the samples. It runs in the Lease loop, not the sampling
// one: systemctl is a fork, an exec and a D-Bus round trip, which on a busy node can take seconds, and the
// runtime must still be read every interval.
func (a *agent) observeKubelet() {
	state := a.kubeletState()
	a.mu.Lock()
	a.kubelet = state
	a.mu.Unlock()
}

func (a *agent) kubeletState() string {
	if a.unit == "" {
		return "unknown"
	}
	ctx, cancel := context.WithTimeout(context.Background(), hostCommandTimeout)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "nsenter", "-t", "1", "-m", "--", "systemctl", "is-active", a.unit).Output()
	return strings.TrimSpace(string(out))
}

// Every command on the host ends within this: a hung D-Bus or systemd must not hold the switch.
const hostCommandTimeout = 20 * time.Second

// host runs a command in the host's mount namespace (its systemctl, systemd-run), within hostCommandTimeout. A
// variable: the tests stand in for the host.
var host = runOnHost

func runOnHost(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), hostCommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"-t", "1", "-m", "--"}, args...)...).CombinedOutput()
	if ctx.Err() != nil {
		return fmt.Errorf("%s: no answer within %s", strings.Join(args, " "), hostCommandTimeout)
	}
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func (a *agent) systemctl(verb string) error {
	if a.unit == "" {
		return errors.New("the kubelet's unit was not found: " + a.layout.KubeletHow)
	}
	return host("systemctl", verb, a.unit)
}

// publish writes the newest of `pending` as data.sample and all of them (the newest that fit the size
// bound) as data.recent; it returns the sequence number of the newest sample written.
func (a *agent) publish(pending []sample) (int64, error) {
	latest := pending[len(pending)-1]
	body, err := json.Marshal(latest)
	if err != nil {
		return 0, err
	}
	recent, err := json.Marshal(pending)
	for err == nil && len(recent) > maxBacklogBytes && len(pending) > 1 {
		pending = pending[len(pending)/2:]
		recent, err = json.Marshal(pending)
	}
	if err != nil {
		return 0, err
	}
	layout, _ := json.Marshal(a.layout)
	data := map[string]string{"sample": string(body), "recent": string(recent), "layout": string(layout)}
	path := fmt.Sprintf("/api/v1/namespaces/%s/configmaps/chaos-agent-%s", a.namespace, a.node)
	patch, _ := json.Marshal(map[string]any{"data": data})
	status, err := a.request(a.http, "PATCH", path, "application/merge-patch+json", patch, nil)
	if status != http.StatusNotFound {
		return latest.Seq, err
	}
	cm, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "chaos-agent-" + a.node,
			"labels": map[string]string{sampleLabel: "true", "chaos-harness.io/node": a.node}},
		"data": data,
	})
	_, err = a.request(a.http, "POST", fmt.Sprintf("/api/v1/namespaces/%s/configmaps", a.namespace), "application/json", cm, nil)
	return latest.Seq, err
}

// leaseRequest: a request on this node's Lease, through the control connection.
func (a *agent) leaseRequest(method, contentType string, body []byte, into any) (int, error) {
	return a.request(a.control, method, a.leasePath(), contentType, body, into)
}

// request sends one API request with the service account's current token (re-read: it is rotated).
func (a *agent) request(c *http.Client, method, path, contentType string, body []byte, into any) (int, error) {
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		return 0, fmt.Errorf("service account token: %w", err)
	}
	req, err := http.NewRequest(method, a.api+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(data))
	}
	if into != nil {
		return resp.StatusCode, json.Unmarshal(data, into)
	}
	return resp.StatusCode, nil
}
