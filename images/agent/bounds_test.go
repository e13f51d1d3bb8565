package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func hold(kind, id, seconds string) map[string]string {
	ann := map[string]string{annotationHold: kind, annotationHoldID: id}
	if seconds != "" {
		ann[annotationHoldSeconds] = seconds
	}
	return ann
}

var testLimits = limits{maxHold: 20 * time.Minute, maxSwitch: 2 * time.Minute, maxPeers: 4}

// Every bound a Lease could push: the time box, the switch, the id, the fault, the peers.
func TestAHoldBeyondTheNodesLimitsIsRefused(t *testing.T) {
	cases := []struct {
		name     string
		ann      map[string]string
		duration int
		refused  string // "" when allowed
	}{
		{"within every limit", hold("kubelet-stop", "abc123", "392"), 30, ""},
		{"no time box: the default, within the limit", hold("kubelet-stop", "abc123", ""), 30, ""},
		{"the longest time box allowed", hold("kubelet-stop", "abc123", "1200"), 120, ""},
		{"a time box of 31.7 years", hold("kubelet-stop", "abc123", "1e9"), 30, "beyond this node's limit"},
		{"1e10", hold("kubelet-stop", "abc123", "1e10"), 30, "beyond this node's limit"},
		{"just past the limit", hold("kubelet-stop", "abc123", "1200.5"), 30, "beyond this node's limit"},
		{"infinite", hold("kubelet-stop", "abc123", "Inf"), 30, "not a positive finite"},
		{"-Inf", hold("kubelet-stop", "abc123", "-Inf"), 30, "not a positive finite"},
		{"not a number", hold("kubelet-stop", "abc123", "NaN"), 30, "not a positive finite"},
		{"negative", hold("kubelet-stop", "abc123", "-5"), 30, "not a positive finite"},
		{"zero", hold("kubelet-stop", "abc123", "0"), 30, "not a positive finite"},
		{"words", hold("kubelet-stop", "abc123", "forever"), 30, "not a positive finite"},
		{"a switch of 68 years", hold("kubelet-stop", "abc123", "60"), 2147483647, "beyond this node's limit"},
		{"just past the switch's limit", hold("kubelet-stop", "abc123", "60"), 121, "beyond this node's limit"},
		{"no switch", hold("kubelet-stop", "abc123", "60"), 0, "no leaseDurationSeconds"},
		{"a negative switch", hold("kubelet-stop", "abc123", "60"), -1, "no leaseDurationSeconds"},
		{"an unknown fault", hold("reboot", "abc123", "60"), 30, "does not know the fault"},
		{"an id a shell would read", hold("kubelet-stop", "x; reboot", "60"), 30, "not a hold id"},
		{"an id systemd would read", hold("kubelet-stop", "../../etc", "60"), 30, "not a hold id"},
		{"an empty id", hold("kubelet-stop", "", "60"), 30, "not a hold id"},
		{"a long id", hold("kubelet-stop", strings.Repeat("a", 33), "60"), 30, "not a hold id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := parseHold(c.ann, c.duration, testLimits)
			if c.refused == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if r.box <= 0 || r.box > testLimits.maxHold || r.bound <= 0 || r.bound > testLimits.maxSwitch {
					t.Fatalf("bounds out of the limits: %+v", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.refused) {
				t.Fatalf("want refused with %q, got %v (%+v)", c.refused, err, r)
			}
		})
	}
}

func TestAPartitionCutsOnlyAPIServers(t *testing.T) {
	ann := func(peers string) map[string]string {
		a := hold("network-partition", "abc123", "60")
		a[annotationHoldPeers] = peers
		return a
	}
	for _, bad := range []string{"169.254.169.254", "api.example.com:443", "10.0.0.1:0", "10.0.0.1:70000", "x:1"} {
		if _, err := parseHold(ann(bad), 30, testLimits); err == nil {
			t.Errorf("peer %q accepted", bad)
		}
	}
	if _, err := parseHold(ann("1.1.1.1:1,1.1.1.2:1,1.1.1.3:1,1.1.1.4:1,1.1.1.5:1"), 30, testLimits); err == nil {
		t.Error("more peers than the limit accepted")
	}
	r, err := parseHold(ann("172.18.0.2:6443, 169.254.169.254:80"), 30, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	proved := func(peer string) error {
		if peer == "172.18.0.9:6443" {
			return nil // serves a certificate for kubernetes.default.svc from the cluster's CA
		}
		return errors.New("x509: certificate signed by unknown authority")
	}
	known := []string{"172.18.0.2:6443", "10.96.0.1:443"}
	err = allowedPeers(r.peers, known, proved)
	if err == nil || !strings.Contains(err.Error(), "169.254.169.254:80 is not an API server") {
		t.Fatalf("the metadata service was not refused: %v", err)
	}
	if err := allowedPeers([]string{"172.18.0.2:6443", "172.18.0.9:6443"}, known, proved); err != nil {
		t.Fatalf("an API server the node knows, and one that proves it, refused: %v", err)
	}
}

func TestSpentIdsAndTheHeldRecordOutliveTheProcess(t *testing.T) {
	s := hostState{dir: filepath.Join(t.TempDir(), "run", "chaos-agent-x")}
	if len(s.spent()) != 0 {
		t.Fatal("a new node has spent nothing")
	}
	for _, id := range []string{"a1", "b2"} {
		if err := s.spend(id); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.spent(); !got["a1"] || !got["b2"] || len(got) != 2 {
		t.Fatalf("spent = %v", got)
	}
	if _, ok, err := s.held(); ok || err != nil {
		t.Fatalf("nothing held yet: %v %v", ok, err)
	}
	want := heldRecord{ID: "b2", Fault: "node-pause", Timer: "chaos-harness-heal-b2",
		Undo: []string{"sh", "-c", "x", "chaos-harness-thaw", "/a'b"}}
	if err := s.recordHeld(want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.held()
	if err != nil || !ok || !equal(got.Undo, want.Undo) || got.ID != "b2" {
		t.Fatalf("held = %+v %v %v", got, ok, err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "held.json"), []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.held(); err == nil {
		t.Fatal("a record that cannot be read must be an error, never 'nothing held'")
	}
	if err := s.clearHeld(); err != nil || s.clearHeld() != nil {
		t.Fatal("clearing twice is fine")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestACgroupNameNeverReachesTheTimersShell(t *testing.T) {
	crafted := `/kubepods/pod01234567-89ab-cdef-0123-456789abcdef'; echo INJECTED; '`
	p := &pause{cgroups: []string{"/kubelet.slice/kubelet.service", crafted}}
	argv := p.hostUndo()
	if strings.Contains(argv[2], "kubepods") || strings.Contains(argv[2], "INJECTED") {
		t.Fatalf("a cgroup path is in the script's text: %q", argv[2])
	}
	if argv[len(argv)-1] != crafted {
		t.Fatalf("the paths are the script's arguments: %q", argv)
	}
	for _, name := range []string{"evil'pod01234567-89ab-cdef-0123-456789abcdef", "pod01234567-89ab-cdef-0123-456789abcdef.slice;x",
		"xpod01234567-89ab-cdef-0123-456789abcdef", "Kubepods-pod01234567-89ab-cdef-0123-456789abcdef.slice"} {
		if podCgroup.MatchString(name) {
			t.Errorf("%q taken for a pod's cgroup", name)
		}
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "kubepods", "besteffort", "pod01234567-89ab-cdef-0123-456789abcdef"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "kubepods", "x'y", "pod11111111-89ab-cdef-0123-456789abcdef"), 0o755); err != nil {
		t.Fatal(err)
	}
	got := podCgroups(root, "")
	if len(got) != 1 || !strings.HasSuffix(got[0], "besteffort/pod01234567-89ab-cdef-0123-456789abcdef") {
		t.Fatalf("podCgroups = %v (a path with a quote must not be frozen)", got)
	}
}

// fakeHost stands in for the host's commands; fail names the first word of the argv that fails.
type fakeHost struct {
	mu   sync.Mutex
	ran  [][]string
	fail string
}

func (f *fakeHost) run(args ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ran = append(f.ran, args)
	if f.fail != "" && args[0] == f.fail {
		return errors.New(f.fail + " failed")
	}
	return nil
}

func (f *fakeHost) saw(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.ran {
		if strings.HasPrefix(strings.Join(r, " "), prefix) {
			n++
		}
	}
	return n
}

// testAgent: an agent whose API server and host are the test's; what it says on its Lease is collected.
func testAgent(t *testing.T, h *fakeHost) (*agent, *[]map[string]any) {
	var mu sync.Mutex
	said := []map[string]any{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var patch struct {
			Metadata struct {
				Annotations map[string]any `json:"annotations"`
			} `json:"metadata"`
		}
		if json.Unmarshal(body, &patch) == nil && patch.Metadata.Annotations != nil {
			mu.Lock()
			said = append(said, patch.Metadata.Annotations)
			mu.Unlock()
		}
		if strings.HasSuffix(r.URL.Path, "/leases/held-run-lock") { // a run Lease that run-a holds
			w.Write([]byte(`{"metadata":{"annotations":{"chaos-harness.io/runs":"{\"run-a\":{\"pid\":1}}"}}}`))
			return
		}
		w.Write([]byte("{}"))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("t"), 0o600); err != nil {
		t.Fatal(err)
	}
	saDir = dir
	old := host
	host = h.run
	t.Cleanup(func() { host = old })
	a := &agent{node: "n1", namespace: "chaos-agent-x", unit: "kubelet", api: srv.URL, control: srv.Client(),
		http: srv.Client(), interval: time.Second, ended: map[string]bool{}, limits: testLimits,
		state: hostState{dir: filepath.Join(dir, "state")}, lastChange: time.Now()}
	return a, &said
}

func lease(renew string, duration int, ann map[string]string) *leaseView {
	var l leaseView
	l.Spec.RenewTime, l.Spec.LeaseDurationSeconds, l.Metadata.Annotations = renew, duration, ann
	return &l
}

func TestNoHostTimerNoFault(t *testing.T) {
	h := &fakeHost{fail: "systemd-run"}
	a, said := testAgent(t, h)
	a.onLease(lease("t0", 30, nil))
	a.onLease(lease("t1", 30, hold("kubelet-stop", "h1", "60")))
	if h.saw("systemctl stop kubelet") != 0 || a.holding {
		t.Fatalf("the kubelet was stopped without the host's timer: %v", h.ran)
	}
	if !saidSomething(*said, "could not be armed") {
		t.Fatalf("no hold-error said: %v", *said)
	}
	if _, ok, _ := a.state.held(); ok {
		t.Fatal("a hold that was never applied left its record")
	}
}

func saidSomething(said []map[string]any, text string) bool {
	raw, _ := json.Marshal(said)
	return strings.Contains(string(raw), text)
}

func TestAHoldIsTakenOnlyOnceItsLeaseWasSeenRenewed(t *testing.T) {
	h := &fakeHost{}
	a, _ := testAgent(t, h)
	// A Lease that already asks when this agent first sees it may be a dead harness's: wait for a renewal.
	a.onLease(lease("t0", 30, hold("kubelet-stop", "h1", "60")))
	if h.saw("systemctl stop") != 0 {
		t.Fatal("a hold taken from a Lease never seen renewed")
	}
	a.onLease(lease("t1", 30, hold("kubelet-stop", "h1", "60")))
	if h.saw("systemctl stop kubelet") != 1 || !a.holding {
		t.Fatalf("the hold was not taken after a renewal: %v", h.ran)
	}
	// The host's timer, named for this hold, was armed before the kubelet was stopped.
	first := -1
	for i, r := range h.ran {
		if strings.HasPrefix(strings.Join(r, " "), "systemd-run --unit=chaos-harness-heal-h1 ") && first < 0 {
			first = i
		}
		if strings.Join(r, " ") == "systemctl stop kubelet" && (first < 0 || first > i) {
			t.Fatalf("the fault came before the host's timer: %v", h.ran)
		}
	}
}

func TestTheSwitchEndsAHoldWithoutTheLeaseAndAnEndedHoldIsNeverTakenAgain(t *testing.T) {
	h := &fakeHost{}
	a, said := testAgent(t, h)
	a.onLease(lease("t0", 30, nil))
	a.onLease(lease("t1", 30, hold("kubelet-stop", "h1", "600")))
	if !a.holding {
		t.Fatal("not held")
	}
	a.checkBounds(time.Now().Add(31 * time.Second)) // no renewal seen for longer than the switch
	if a.holding || h.saw("systemctl start kubelet") != 1 || !saidSomething(*said, "deadman") {
		t.Fatalf("the switch did not end the hold: %v %v", h.ran, *said)
	}
	a.onLease(lease("t2", 30, hold("kubelet-stop", "h1", "600"))) // the Lease still asks, renewed
	if h.saw("systemctl stop kubelet") != 1 {
		t.Fatal("an ended hold was taken again")
	}
	// A new agent process on the node (same host state) never takes it either, API or not.
	b, _ := testAgent(t, h)
	b.state = a.state
	b.endInheritedHold()
	b.onLease(lease("t3", 30, hold("kubelet-stop", "h1", "600")))
	b.onLease(lease("t4", 30, hold("kubelet-stop", "h1", "600")))
	if h.saw("systemctl stop kubelet") != 1 {
		t.Fatal("a restarted agent took an ended hold again")
	}
}

func TestTheTimeBoxEndsAHold(t *testing.T) {
	h := &fakeHost{}
	a, said := testAgent(t, h)
	a.onLease(lease("t0", 30, nil))
	a.onLease(lease("t1", 30, hold("kubelet-stop", "h1", "5")))
	now := time.Now().Add(6 * time.Second)
	a.lastChange = now // renewed all along
	a.checkBounds(now)
	if a.holding || !saidSomething(*said, "time-box") {
		t.Fatalf("the time box did not end the hold: %v", *said)
	}
}

func TestAnAgentThatDiedHoldingIsUndoneByTheNextWithoutTheAPI(t *testing.T) {
	h := &fakeHost{}
	a, _ := testAgent(t, h)
	a.onLease(lease("t0", 30, nil))
	a.onLease(lease("t1", 30, hold("kubelet-stop", "h1", "600")))
	if !a.holding {
		t.Fatal("not held")
	}
	// The process dies here. Its successor cannot reach the API server.
	b, _ := testAgent(t, h)
	b.state, b.api = a.state, "https://127.0.0.1:1"
	b.endInheritedHold()
	if h.saw("systemctl start kubelet.service") != 1 {
		t.Fatalf("the kubelet a dead agent stopped was not started: %v", h.ran)
	}
	if _, ok, _ := b.state.held(); ok {
		t.Fatal("the record of an undone hold was kept")
	}
	if !b.ended["h1"] {
		t.Fatal("the dead agent's hold is not spent for its successor")
	}
}

func TestABoundBeyondTheLimitIsAHoldErrorAndNothingIsApplied(t *testing.T) {
	h := &fakeHost{}
	a, said := testAgent(t, h)
	a.onLease(lease("t0", 30, nil))
	a.onLease(lease("t1", 2147483647, hold("kubelet-stop", "h1", "1e9")))
	if len(h.ran) != 0 || a.holding || !saidSomething(*said, "h1: hold-seconds 1e+09: beyond this node's limit") {
		t.Fatalf("ran %v, said %v", h.ran, *said)
	}
}

func TestAHoldOfARunThatLostItsRunLeaseIsRefused(t *testing.T) {
	h := &fakeHost{}
	a, said := testAgent(t, h)
	// The test's API server answers every GET with "{}": a run Lease that names no run.
	ask := hold("kubelet-stop", "h1", "60")
	ask[annotationHoldRun], ask[annotationHoldRunLock] = "run-a", "chaos-harness/chaos-harness-run"
	a.onLease(lease("t0", 30, nil))
	a.onLease(lease("t1", 30, ask))
	if len(h.ran) != 0 || a.holding || !saidSomething(*said, "run run-a no longer holds the run lock") {
		t.Fatalf("a run that lost its run Lease got its fault: ran %v, said %v", h.ran, *said)
	}
}

func TestAHoldOfARunThatStillHoldsItsRunLeaseIsTaken(t *testing.T) {
	h := &fakeHost{}
	a, _ := testAgent(t, h)
	ask := hold("kubelet-stop", "h1", "60")
	ask[annotationHoldRun], ask[annotationHoldRunLock] = "run-a", "chaos-harness/held-run-lock"
	a.onLease(lease("t0", 30, nil))
	a.onLease(lease("t1", 30, ask))
	if !a.holding || h.saw("systemctl stop kubelet") != 1 {
		t.Fatalf("the hold of a run that holds its run Lease was refused: %v", h.ran)
	}
}
