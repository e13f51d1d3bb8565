package main

// Holding a node fault (faults.go) as the Lease chaos-agent-<node> asks, and letting go of it. The Lease says
// which fault (chaos-harness.io/hold: kubelet-stop, network-partition, node-pause; none), with an id that is
// new for every injection (chaos-harness.io/hold-id) and a time box (chaos-harness.io/hold-seconds), each
// checked against the node's own limits first (bounds.go). A hold is bounded on the node three ways, none of
// which needs the harness alive:
//   - the dead man's switch: the harness stops renewing the Lease (killed, cut off) for leaseDurationSeconds;
//     renewals are the renewTime changes this agent sees through its watch of the Lease, timed on this node's
//     monotonic clock (as client-go's leader election judges a holder), so a broken watch is silence;
//   - the hold's time box, on this node's monotonic clock;
//   - the host's own systemd: a transient timer (systemd-run --on-active), named for the hold, armed before the
//     fault is applied (no timer, no fault) and re-armed while the hold lasts, which undoes it even when this
//     agent pod is gone (killed for memory, evicted, deleted).
// The switch and the time box are judged in a goroutine of their own, apart from the Lease's watch. A hold
// that ended for any reason is never taken again, by this process or a restarted one (state.go keeps the spent
// ids on the host), and an agent takes no hold before it has itself seen the Lease renewed. The agent answers on
// the Lease: chaos-harness.io/applied (the hold's id, once the fault is in force) with chaos-harness.io/evidence,
// chaos-harness.io/hold-error when it could not or would not be applied, chaos-harness.io/ended when undone.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"
)

const (
	annotationHold        = "chaos-harness.io/hold"
	annotationHoldID      = "chaos-harness.io/hold-id"
	annotationHoldSeconds = "chaos-harness.io/hold-seconds"
	annotationHoldPeers   = "chaos-harness.io/hold-peers"
	annotationApplied     = "chaos-harness.io/applied"
	annotationEvidence    = "chaos-harness.io/evidence"
	annotationHoldError   = "chaos-harness.io/hold-error"
	annotationEnded       = "chaos-harness.io/ended"
	// Which run asks, and the run Lease ("namespace/name") that run must still hold for the hold to be taken.
	annotationHoldRun     = "chaos-harness.io/hold-run"
	annotationHoldRunLock = "chaos-harness.io/hold-run-lock"
	annotationRuns        = "chaos-harness.io/runs"
	// Without a time box from the harness (an older harness), a hold lasts at most this long (or -max-hold).
	defaultHoldSeconds = 900
	// The host timer fires this long after the switch would: the agent, when alive, always acts first.
	hostTimerMargin = 5 * time.Second
	// Each watch of the Lease ends server-side after this long and is resumed from where it was.
	leaseWatchSeconds = 300
)

type leaseView struct {
	Metadata struct {
		Annotations     map[string]string `json:"annotations"`
		ResourceVersion string            `json:"resourceVersion"`
	} `json:"metadata"`
	Spec struct {
		RenewTime            string `json:"renewTime"`
		LeaseDurationSeconds int    `json:"leaseDurationSeconds"`
	} `json:"spec"`
}

func asksFor(ann map[string]string) string {
	if f := ann[annotationHold]; f != "" && f != "none" {
		return f
	}
	return ""
}

// --- the Lease, watched --------------------------------------------------------------------------------------

// followLeaseLoop keeps a watch on this node's Lease: a list (one GET) when there is nothing to resume from,
// then watches resumed from the last resourceVersion; a broken stream waits an interval and lists again.
// No polling: an idle node's agent sends no request but its watch.
func (a *agent) followLeaseLoop() {
	rv := ""
	for {
		if rv == "" {
			var lease leaseView
			status, err := a.leaseRequest("GET", "", nil, &lease)
			switch {
			case err == nil:
				a.onLease(&lease)
				rv = lease.Metadata.ResourceVersion
			case status == http.StatusNotFound:
				a.onLease(nil)
				time.Sleep(a.interval)
				continue
			default:
				log.Printf("reading the Lease: %v", err)
				time.Sleep(a.interval)
				continue
			}
		}
		next, err := a.watchLease(rv)
		if err != nil {
			log.Printf("watching the Lease: %v", err)
			time.Sleep(a.interval)
		}
		rv = next
	}
}

// watchLease streams the Lease's changes from `rv` until the stream ends; it returns where to resume ("" to
// list again: the watch expired or failed).
func (a *agent) watchLease(rv string) (string, error) {
	q := url.Values{"watch": {"true"}, "resourceVersion": {rv}, "allowWatchBookmarks": {"true"},
		"timeoutSeconds": {fmt.Sprint(leaseWatchSeconds)},
		"fieldSelector":  {"metadata.name=chaos-agent-" + a.node}}
	path := fmt.Sprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases?%s", a.namespace, q.Encode())
	ctx, cancel := context.WithTimeout(context.Background(), (leaseWatchSeconds+30)*time.Second)
	defer cancel()
	resp, err := a.stream(ctx, a.watcher, path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			return rv, nil // the server ended the stream (its timeout): resume from rv
		}
		var lease leaseView
		if err := json.Unmarshal(ev.Object, &lease); err != nil {
			return "", err
		}
		switch ev.Type {
		case "ADDED", "MODIFIED":
			a.onLease(&lease)
		case "DELETED":
			a.onLease(nil)
		case "ERROR": // 410 Gone and the like: list again
			return "", fmt.Errorf("watch error: %s", clip(string(ev.Object)))
		}
		if lease.Metadata.ResourceVersion != "" {
			rv = lease.Metadata.ResourceVersion
		}
	}
}

// onLease takes one reading of the Lease (nil: it is gone): the renewals it shows, what it asks of the samples,
// and the hold it asks for.
func (a *agent) onLease(lease *leaseView) {
	now := time.Now()
	a.holdMu.Lock()
	defer a.holdMu.Unlock()
	if lease == nil {
		a.followSamples(nil)
		if a.holding { // the harness removed its Lease: nothing asks for the fault any more
			a.endHold("the Lease was deleted", "")
		}
		a.ann = nil
		return
	}
	a.followSamples(lease.Metadata.Annotations)
	if lease.Spec.RenewTime != a.lastRenew {
		if a.lastRenew != "" {
			a.renewals++ // a renewal this process saw happen, not one it found
		}
		a.lastRenew, a.lastChange = lease.Spec.RenewTime, now
	}
	a.leaseSeconds = lease.Spec.LeaseDurationSeconds
	a.ann = lease.Metadata.Annotations
	if a.holding {
		if asksFor(a.ann) != a.holdFault || a.ann[annotationHoldID] != a.holdID {
			a.endHold("the Lease no longer asks for "+a.holdFault, "")
		}
		return
	}
	id := a.ann[annotationHoldID]
	if asksFor(a.ann) == "" || a.ended[id] || a.ann[annotationEnded] == id {
		return
	}
	if a.renewals == 0 {
		log.Printf("hold %s: waiting to see the Lease renewed before taking it", clip(id))
		return
	}
	req, err := parseHold(a.ann, a.leaseSeconds, a.limits)
	if err != nil {
		_ = a.spend(id)
		a.reportHoldError(id, err)
		return
	}
	if now.Sub(a.lastChange) > req.bound {
		return // asked, but not renewed for longer than its own switch: the harness is gone
	}
	if err := a.stillHolds(a.ann[annotationHoldRunLock], a.ann[annotationHoldRun]); err != nil {
		_ = a.spend(id)
		a.reportHoldError(id, err)
		return
	}
	a.takeHold(req, now)
}

// stillHolds: the run asking for a hold still holds its run Lease (lock: "namespace/name"): it is one of the
// runs that Lease names. A run that lost it (paused past its duration, another run took over) is refused: its
// faults end with it. No lock named (a harness that holds none): nothing to check.
func (a *agent) stillHolds(lock, run string) error {
	if lock == "" {
		return nil
	}
	ns, name, ok := strings.Cut(lock, "/")
	if !ok || ns == "" || name == "" || run == "" {
		return fmt.Errorf("the hold names run %q of run lock %q: not a run of a run lock", clip(run), clip(lock))
	}
	var lease leaseView
	path := fmt.Sprintf("/apis/coordination.k8s.io/v1/namespaces/%s/leases/%s", url.PathEscape(ns), url.PathEscape(name))
	if _, err := a.request(a.control, "GET", path, "", nil, &lease); err != nil {
		return fmt.Errorf("cannot read the run lock %s to see that run %s still holds it: %v", lock, run, err)
	}
	var runs map[string]json.RawMessage
	if json.Unmarshal([]byte(lease.Metadata.Annotations[annotationRuns]), &runs) != nil || runs[run] == nil {
		return fmt.Errorf("run %s no longer holds the run lock %s: its faults end with it", run, lock)
	}
	return nil
}

// --- the switch, on its own goroutine ------------------------------------------------------------------------

// switchLoop judges the bounds of the hold in force every interval, whatever the Lease's watch is doing.
func (a *agent) switchLoop() {
	for range time.Tick(a.interval) {
		a.checkBounds(time.Now())
	}
}

func (a *agent) checkBounds(now time.Time) {
	a.holdMu.Lock()
	defer a.holdMu.Unlock()
	if !a.holding {
		return
	}
	silent := now.Sub(a.lastChange)
	switch {
	case silent > a.holdBound:
		a.endHold(fmt.Sprintf("%s undone by the dead man's switch at %s: lease not renewed for %.0fs (bound %.0fs)",
			a.holdFault, now.UTC().Format(time.RFC3339), silent.Seconds(), a.holdBound.Seconds()), "deadman")
	case now.After(a.holdDeadline):
		a.endHold(fmt.Sprintf("%s undone at the end of the hold's time box (%s)", a.holdFault,
			now.UTC().Format(time.RFC3339)), "time-box")
	case a.fault.whole():
		a.endHold(a.holdFault+" undone outside the agent (the host's timer, or by hand)", "outside")
	case now.Sub(a.timerArmed) > a.holdBound/2:
		if err := a.armHostTimer(now); err != nil {
			log.Printf("re-arming the host's timer for %s: %v (the earlier one stays armed)", a.holdFault, err)
		}
	}
}

// --- taking and ending a hold --------------------------------------------------------------------------------

// followSamples takes what the Lease asks of the samples: the namespaces to report, and how far the harness has
// read (what it read leaves the backlog).
func (a *agent) followSamples(ann map[string]string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scope = parseScope(ann[annotationScope])
	if seq, started, ok := parseSeen(ann[annotationSeen]); ok && math.Abs(started-a.started) < 1e-3 {
		a.backlog = acknowledge(a.backlog, seq)
	}
}

// newFault builds the fault the request names.
func (a *agent) newFault(req holdRequest) (nodeFault, error) {
	switch req.kind {
	case "kubelet-stop":
		if a.unit == "" {
			return nil, errors.New("the kubelet's unit was not found: " + a.layout.KubeletHow)
		}
		return kubeletStop{a}, nil
	case "network-partition":
		known := append(a.kubeletServers(), a.serviceAddress()...)
		if err := allowedPeers(req.peers, known, a.provesAPIServer); err != nil {
			return nil, err
		}
		// The harness's (the `kubernetes` Service's endpoints) first: the one probed is where the API server is.
		return partition{peers: append(append([]string{}, req.peers...), known...)}, nil
	case "node-pause":
		return newPause(a)
	}
	return nil, fmt.Errorf("this agent does not know the fault %q", req.kind)
}

// serviceAddress: the `kubernetes` Service as this pod reaches it.
func (a *agent) serviceAddress() []string {
	if h := os.Getenv("KUBERNETES_SERVICE_HOST"); h != "" {
		return []string{joinHostPort(h, os.Getenv("KUBERNETES_SERVICE_PORT"))}
	}
	return nil
}

// spend marks `id` as taken for good, on the host too (a restarted agent must not take it again).
func (a *agent) spend(id string) error {
	a.ended[id] = true
	return a.state.spend(id)
}

// takeHold: the id spent, the undo journaled on the host, the host's timer armed, and only then the fault.
// Whatever fails before the fault is in force leaves nothing applied.
func (a *agent) takeHold(req holdRequest, now time.Time) {
	if err := a.spend(req.id); err != nil { // without the record, a restarted agent could take it again
		a.reportHoldError(req.id, fmt.Errorf("cannot record the hold on the host: %v", err))
		return
	}
	fault, err := a.newFault(req)
	if err != nil {
		a.reportHoldError(req.id, err)
		return
	}
	a.holdID, a.holdFault, a.fault, a.holdBound = req.id, req.kind, fault, req.bound
	a.mu.Lock()
	a.deadman = "" // what ended an earlier hold says nothing of this one
	a.mu.Unlock()
	a.holdDeadline = now.Add(req.box)
	record := heldRecord{ID: req.id, Fault: req.kind, Timer: a.timerName(), Undo: fault.hostUndo()}
	if err := a.state.recordHeld(record); err != nil {
		a.reportHoldError(req.id, fmt.Errorf("cannot journal the hold on the host: %v", err))
		return
	}
	// The host's timer first: from the moment the fault is in force, something outside this pod undoes it.
	if err := a.armHostTimer(now); err != nil {
		_ = a.state.clearHeld()
		a.reportHoldError(req.id, fmt.Errorf("the host's timer could not be armed, so nothing was applied: %v", err))
		return
	}
	evidence, err := fault.apply()
	if err != nil {
		_ = fault.undo()
		a.disarmHostTimer()
		_ = a.state.clearHeld()
		a.reportHoldError(req.id, err)
		return
	}
	log.Printf("%s applied as the Lease asks (hold %s, time box %.0fs, switch %.0fs): %s", req.kind, req.id,
		req.box.Seconds(), req.bound.Seconds(), evidence)
	a.setHolding(true)
	a.annotate(map[string]any{annotationApplied: req.id, annotationEvidence: evidence})
}

func (a *agent) reportHoldError(id string, err error) {
	log.Printf("hold %s: %v", id, err)
	a.annotate(map[string]any{annotationHoldError: id + ": " + err.Error(), annotationEnded: id})
}

// endHold undoes the fault, ends the hold for good and, when `by` names a bound, says so in the samples and
// on the Lease.
func (a *agent) endHold(why, by string) {
	if err := a.fault.undo(); err != nil {
		log.Printf("undoing %s (%s): %v", a.holdFault, why, err)
		return // still holding: the next round tries again, and the host's timer stays armed
	}
	log.Printf("%s undone: %s", a.holdFault, why)
	a.disarmHostTimer()
	if err := a.state.clearHeld(); err != nil {
		log.Printf("clearing the hold's record on the host: %v", err)
	}
	a.setHolding(false)
	ann := map[string]any{annotationEnded: a.holdID}
	if by != "" {
		a.mu.Lock()
		a.deadman = why
		a.mu.Unlock()
		ann[annotationHold], ann[annotationHeal] = "none", by
	}
	a.annotate(ann)
}

// setHolding is the one write of `holding` (under holdMu, for the samples under mu too).
func (a *agent) setHolding(held bool) {
	a.mu.Lock()
	a.holding = held
	a.heldFault = ""
	if held {
		a.heldFault = a.holdFault
	}
	a.mu.Unlock()
}

// annotate tells the harness (and `chaos-harness cleanup`) what became of a hold; best effort.
func (a *agent) annotate(ann map[string]any) {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if _, err := a.leaseRequest("PATCH", "application/merge-patch+json", patch, nil); err != nil {
		log.Printf("annotating the Lease: %v", err)
	}
}

// --- the host's timer ----------------------------------------------------------------------------------------

var unitUnsafe = regexp.MustCompile(`[^a-zA-Z0-9-]`)

// timerName: one unit per hold (its id), so two agents on one node never disarm each other's timer.
func (a *agent) timerName() string {
	return "chaos-harness-heal-" + unitUnsafe.ReplaceAllString(a.holdID, "-")
}

// armHostTimer (re)arms the host's timer to undo the fault a little after this agent's own switch would,
// and never later than the hold's time box.
func (a *agent) armHostTimer(now time.Time) error {
	after := a.holdBound + hostTimerMargin
	if left := a.holdDeadline.Sub(now) + hostTimerMargin; left < after {
		after = left
	}
	a.disarmHostTimer()
	args := append([]string{"systemd-run", "--unit=" + a.timerName(),
		fmt.Sprintf("--on-active=%ds", int(after.Seconds()+0.999)), "--timer-property=AccuracySec=1s",
		"--description=chaos-harness: undo " + a.holdFault + " if the node agent cannot"}, a.fault.hostUndo()...)
	if err := host(args...); err != nil {
		return err
	}
	a.timerArmed = now
	return nil
}

func (a *agent) disarmHostTimer() {
	_ = host("systemctl", "stop", a.timerName()+".timer")
	_ = host("systemctl", "reset-failed", a.timerName()+".service")
}

// --- what a predecessor left ---------------------------------------------------------------------------------

// endInheritedHold: a hold belongs to the agent process that took it. One this process finds on the host (its
// predecessor died holding it) is undone with the argv it journaled, without the API; one the Lease still asks
// for is never taken again (its id is spent on the host).
func (a *agent) endInheritedHold() {
	for id := range a.state.spent() {
		a.ended[id] = true
	}
	record, ok, err := a.state.held()
	if err != nil {
		log.Printf("the host's hold record: %v", err)
		return
	}
	if !ok {
		return
	}
	a.ended[record.ID] = true
	if err := host(record.Undo...); err != nil {
		log.Printf("undoing %s that the previous agent held: %v (its host timer stays armed)", record.Fault, err)
		return
	}
	_ = host("systemctl", "stop", record.Timer+".timer")
	_ = host("systemctl", "reset-failed", record.Timer+".service")
	_ = a.state.clearHeld()
	log.Printf("%s undone: the agent that held it is gone (this one started after it)", record.Fault)
	a.mu.Lock()
	a.deadman = record.Fault + " undone: the agent that held it is gone (this one started after it)"
	a.mu.Unlock()
	a.annotate(map[string]any{annotationEnded: record.ID, annotationHold: "none", annotationHeal: "agent-restart"})
}

// inheritLayout: the kubelet's unit as the previous agent on this node published it (a kubelet that is
// stopped serves no port and may run under no known name).
func (a *agent) inheritLayout() {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	path := fmt.Sprintf("/api/v1/namespaces/%s/configmaps/chaos-agent-%s", a.namespace, a.node)
	if _, err := a.request(a.http, "GET", path, "", nil, &cm); err != nil {
		return
	}
	var before layout
	if json.Unmarshal([]byte(cm.Data["layout"]), &before) == nil && before.KubeletUnit != "" {
		a.layout.KubeletUnit = before.KubeletUnit
		a.layout.KubeletHow = "as the previous agent on this node found it: " + before.KubeletHow
	}
}

// stream opens a long-running GET (a watch) with the service account's current token.
func (a *agent) stream(ctx context.Context, c *http.Client, path string) (*http.Response, error) {
	token, err := os.ReadFile(saDir + "/token")
	if err != nil {
		return nil, fmt.Errorf("service account token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, "GET", a.api+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return resp, nil
}
