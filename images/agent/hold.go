package main

// Holding a node fault (faults.go) as the Lease chaos-agent-<node> asks, and letting go of it. The Lease says
// which fault (chaos-harness.io/hold: kubelet-stop, network-partition, node-pause; none), with an id that is
// new for every injection (chaos-harness.io/hold-id) and a time box (chaos-harness.io/hold-seconds). A hold is
// bounded on the node three ways, none of which needs the harness alive:
//   - the dead man's switch: the harness stops renewing the Lease (killed, cut off) for leaseDurationSeconds;
//   - the hold's time box, on this node's monotonic clock;
//   - the host's own systemd: a transient timer (systemd-run --on-active) armed before the fault is applied
//     and re-armed while the hold lasts, which undoes it even when this agent pod is gone (killed for memory,
//     evicted, deleted).
// A hold that ended for any reason is never taken again: a Lease that still asks after the switch fired
// (reporting it failed) or after its time box does not fault the node a second time. The agent answers on the
// Lease: chaos-harness.io/applied (the hold's id, once the fault is in force) with chaos-harness.io/evidence,
// chaos-harness.io/hold-error when it could not be applied, chaos-harness.io/ended when it was undone.

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math"
	"net/http"
	"os"
	"strconv"
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
	// Without a time box from the harness (an older harness), a hold lasts at most this long.
	defaultHoldSeconds = 900
	// The host timer fires this long after the switch would: the agent, when alive, always acts first.
	hostTimerMargin = 5 * time.Second
)

type leaseView struct {
	Metadata struct {
		Annotations map[string]string `json:"annotations"`
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

// followLease reads the Lease and holds or releases the fault as it asks, within the hold's bounds.
func (a *agent) followLease() {
	var lease leaseView
	status, err := a.leaseRequest("GET", "", nil, &lease)
	now := time.Now()
	switch {
	case err == nil:
		a.lastLeaseOK = now
		a.followSamples(lease.Metadata.Annotations)
		if lease.Spec.RenewTime != a.lastRenew {
			a.lastRenew, a.lastChange = lease.Spec.RenewTime, now
		}
		if lease.Spec.LeaseDurationSeconds > 0 {
			a.bound = time.Duration(lease.Spec.LeaseDurationSeconds) * time.Second
		}
	case status == http.StatusNotFound:
		a.lastLeaseOK = now
		a.followSamples(nil)
		if a.holding { // the harness removed its Lease: nothing asks for the fault any more
			a.endHold("the Lease was deleted", "")
		}
		return
	default:
		// The API is unreachable (the harness's cluster down, a partition the control mark does not pass):
		// the bounds below still run.
		log.Printf("reading the Lease: %v", err)
	}
	bound := a.bound
	if bound <= 0 {
		bound = 30 * time.Second
	}
	silent := now.Sub(a.lastChange)
	if err != nil && now.Sub(a.lastLeaseOK) > silent {
		silent = now.Sub(a.lastLeaseOK)
	}
	ann := lease.Metadata.Annotations
	if a.holding {
		switch {
		case silent > bound:
			why := fmt.Sprintf("%s undone by the dead man's switch at %s: lease not renewed for %.0fs (bound %.0fs)",
				a.holdFault, now.UTC().Format(time.RFC3339), silent.Seconds(), bound.Seconds())
			a.endHold(why, "deadman")
		case now.After(a.holdDeadline):
			a.endHold(fmt.Sprintf("%s undone at the end of the hold's time box (%s)", a.holdFault,
				now.UTC().Format(time.RFC3339)), "time-box")
		case err != nil:
			// Cut off: keep holding until the switch or the time box says otherwise.
		case asksFor(ann) != a.holdFault || ann[annotationHoldID] != a.holdID:
			a.endHold("the Lease no longer asks for "+a.holdFault, "")
		case a.fault.whole():
			a.endHold(a.holdFault+" undone outside the agent (the host's timer, or by hand)", "outside")
		case now.Sub(a.timerArmed) > bound/2:
			a.armHostTimer(now, bound)
		}
		return
	}
	id, want := ann[annotationHoldID], asksFor(ann)
	if err != nil || want == "" || a.ended[id] || ann[annotationEnded] == id || silent > bound {
		return
	}
	a.takeHold(want, id, ann, now, bound)
}

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

// newFault builds the fault the Lease names.
func (a *agent) newFault(kind string, ann map[string]string) (nodeFault, error) {
	switch kind {
	case "kubelet-stop":
		if a.unit == "" {
			return nil, errors.New("the kubelet's unit was not found: " + a.layout.KubeletHow)
		}
		return kubeletStop{a}, nil
	case "network-partition":
		// The harness's (the `kubernetes` Service's endpoints) first: the one probed is where the API server is.
		var peers []string
		for _, p := range strings.Split(ann[annotationHoldPeers], ",") {
			if p = strings.TrimSpace(p); p != "" {
				peers = append(peers, p)
			}
		}
		peers = append(peers, a.kubeletServers()...)
		if h := os.Getenv("KUBERNETES_SERVICE_HOST"); h != "" { // the `kubernetes` Service, as this pod reaches it
			peers = append(peers, joinHostPort(h, os.Getenv("KUBERNETES_SERVICE_PORT")))
		}
		return partition{peers: peers}, nil
	case "node-pause":
		return newPause(a)
	}
	return nil, fmt.Errorf("this agent does not know the fault %q (an older agent image?)", kind)
}

func (a *agent) takeHold(kind, id string, ann map[string]string, now time.Time, bound time.Duration) {
	a.ended[id] = true // from here on this id is spent, whatever happens
	box, err := strconv.ParseFloat(ann[annotationHoldSeconds], 64)
	if err != nil || box <= 0 {
		box = defaultHoldSeconds
	}
	fault, err := a.newFault(kind, ann)
	if err != nil {
		a.reportHoldError(id, err)
		return
	}
	a.holdID, a.holdFault, a.fault = id, kind, fault
	a.mu.Lock()
	a.deadman = "" // what ended an earlier hold says nothing of this one
	a.mu.Unlock()
	a.holdDeadline = now.Add(time.Duration(box * float64(time.Second)))
	// The host's timer first: from the moment the fault is in force, something outside this pod undoes it.
	a.armHostTimer(now, bound)
	evidence, err := fault.apply()
	if err != nil {
		a.disarmHostTimer()
		a.reportHoldError(id, err)
		return
	}
	log.Printf("%s applied as the Lease asks (hold %s, time box %.0fs): %s", kind, id, box, evidence)
	a.setHolding(true)
	a.annotate(map[string]any{annotationApplied: id, annotationEvidence: evidence})
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

// setHolding is the one write of `holding` (by the Lease loop, which alone reads it unlocked).
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

// armHostTimer (re)arms the host's timer to undo the fault a little after this agent's own switch would,
// and never later than the hold's time box.
func (a *agent) armHostTimer(now time.Time, bound time.Duration) {
	after := bound + hostTimerMargin
	if left := a.holdDeadline.Sub(now) + hostTimerMargin; left < after {
		after = left
	}
	a.disarmHostTimer()
	args := append([]string{"systemd-run", "--unit=" + a.fault.timerName(),
		fmt.Sprintf("--on-active=%ds", int(after.Seconds()+0.999)), "--timer-property=AccuracySec=1s",
		"--description=chaos-harness: undo " + a.holdFault + " if the node agent cannot"}, a.fault.hostUndo()...)
	if err := host(args...); err != nil {
		log.Printf("arming the host's timer for %s: %v", a.holdFault, err)
		return
	}
	a.timerArmed = now
}

func (a *agent) disarmHostTimer() {
	_ = host("systemctl", "stop", a.fault.timerName()+".timer")
	_ = host("systemctl", "reset-failed", a.fault.timerName()+".service")
}

// endInheritedHold: a hold belongs to the agent process that took it. One this process finds (its
// predecessor died holding) is undone and never taken again.
func (a *agent) endInheritedHold() {
	var lease leaseView
	if _, err := a.leaseRequest("GET", "", nil, &lease); err != nil {
		return
	}
	ann := lease.Metadata.Annotations
	kind, id := asksFor(ann), ann[annotationHoldID]
	if kind == "" || ann[annotationEnded] == id {
		return
	}
	a.ended[id] = true
	var fault nodeFault
	switch kind {
	case "kubelet-stop":
		fault = kubeletStop{a}
	case "network-partition":
		fault = partition{}
	case "node-pause":
		p, err := newPause(a) // what its predecessor froze, found afresh: thawing the unfrozen changes nothing
		if err != nil {
			log.Printf("thawing what the previous agent froze: %v", err)
			return
		}
		fault = p
	default:
		return
	}
	a.holdID, a.holdFault, a.fault = id, kind, fault
	a.endHold("the agent that held it is gone (this one started after it)", "agent-restart")
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
