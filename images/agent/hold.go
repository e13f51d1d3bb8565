package main

// Holding the kubelet stopped as the Lease chaos-agent-<node> asks, and letting go of it. A hold is time-boxed
// on the node three ways, none of which needs the harness alive:
//   - the dead man's switch: the harness stops renewing the Lease (killed, cut off) for leaseDurationSeconds;
//   - the hold's time box: chaos-harness.io/hold-seconds after the hold began, on this node's monotonic clock;
//   - the host's own systemd: a transient timer (systemd-run --on-active) armed when the kubelet is stopped
//     and re-armed while the hold lasts, which starts the kubelet even when this agent pod is gone (killed
//     for memory, evicted, deleted).
// A hold has an id (chaos-harness.io/hold-id, new for every stop the harness asks for). A hold that ended
// for any reason is never taken again: a Lease that still says "stopped" after the switch fired (reporting
// it failed) or after its time box does not stop the kubelet a second time.

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	annotationHoldID      = "chaos-harness.io/hold-id"
	annotationHoldSeconds = "chaos-harness.io/hold-seconds"
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

// followLease reads the Lease and holds or releases the kubelet as it asks, within the hold's bounds.
func (a *agent) followLease() {
	var lease leaseView
	status, err := a.request("GET", a.leasePath(), "", nil, &lease)
	now := time.Now()
	switch {
	case err == nil:
		a.lastLeaseOK = now
		if lease.Spec.RenewTime != a.lastRenew {
			a.lastRenew, a.lastChange = lease.Spec.RenewTime, now
		}
		if lease.Spec.LeaseDurationSeconds > 0 {
			a.bound = time.Duration(lease.Spec.LeaseDurationSeconds) * time.Second
		}
	case status == http.StatusNotFound:
		a.lastLeaseOK = now
		if a.holding { // the harness removed its Lease: nothing asks for the kubelet to stay down
			a.endHold("the Lease was deleted", "")
		}
		return
	default:
		// The API is unreachable (a partition, the harness's cluster down): the bounds below still run.
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
			why := fmt.Sprintf("kubelet started by the dead man's switch at %s: lease not renewed for %.0fs (bound %.0fs)",
				now.UTC().Format(time.RFC3339), silent.Seconds(), bound.Seconds())
			a.endHold(why, "deadman")
		case now.After(a.holdDeadline):
			a.endHold(fmt.Sprintf("kubelet started at the end of the hold's time box (%s)",
				now.UTC().Format(time.RFC3339)), "time-box")
		case err != nil:
			// Cut off: keep holding until the switch or the time box says otherwise.
		case ann[annotationState] != "stopped" || ann[annotationHoldID] != a.holdID:
			a.endHold("the Lease no longer asks for it to be stopped", "")
		case a.kubeletState() == "active":
			a.endHold("the kubelet was started outside the agent (the host's timer, or by hand)", "outside")
		case now.Sub(a.timerArmed) > bound/2:
			a.armHostTimer(now, bound)
		}
		return
	}
	id := ann[annotationHoldID]
	if err != nil || ann[annotationState] != "stopped" || a.ended[id] || silent > bound {
		return
	}
	a.takeHold(id, ann[annotationHoldSeconds], now, bound)
}

func (a *agent) takeHold(id, seconds string, now time.Time, bound time.Duration) {
	box, err := strconv.ParseFloat(seconds, 64)
	if err != nil || box <= 0 {
		box = defaultHoldSeconds
	}
	a.holdID, a.holdDeadline = id, now.Add(time.Duration(box*float64(time.Second)))
	// The host's timer first: from the moment the kubelet is down, something outside this pod brings it back.
	a.armHostTimer(now, bound)
	if err := a.systemctl("stop"); err != nil {
		log.Printf("stopping %s: %v", a.unit, err)
		a.disarmHostTimer()
		return
	}
	log.Printf("%s stopped as the Lease asks (hold %s, time box %.0fs)", a.unit, id, box)
	a.setHolding(true)
}

// endHold starts the kubelet, ends the hold for good and, when `by` names a bound, says so in the samples and
// on the Lease.
func (a *agent) endHold(why, by string) {
	a.ended[a.holdID] = true
	if a.kubeletState() != "active" {
		if err := a.systemctl("start"); err != nil {
			log.Printf("starting %s (%s): %v", a.unit, why, err)
			return // still holding: the next round tries again, and the host's timer stays armed
		}
	}
	log.Printf("%s started: %s", a.unit, why)
	a.disarmHostTimer()
	a.setHolding(false)
	if by != "" {
		a.mu.Lock()
		a.deadman = why
		a.mu.Unlock()
		a.markHealed(by)
	}
}

// setHolding is the one write of `holding` (by the Lease loop, which alone reads it unlocked).
func (a *agent) setHolding(held bool) {
	a.mu.Lock()
	a.holding = held
	a.mu.Unlock()
}

// markHealed tells the harness (and `chaos-harness cleanup`) what ended the hold; best effort.
func (a *agent) markHealed(by string) {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"running",%q:%q}}}`, annotationState, annotationHeal, by)
	if _, err := a.request("PATCH", a.leasePath(), "application/merge-patch+json", []byte(patch), nil); err != nil {
		log.Printf("marking the Lease healed: %v", err)
	}
}

// hostTimer: the transient systemd units (NAME.timer, NAME.service) that start the kubelet from the host.
func (a *agent) hostTimer() string {
	return "chaos-harness-heal-" + strings.ReplaceAll(a.unit, "@", "-")
}

// armHostTimer (re)arms the host's timer to start the kubelet a little after this agent's own switch would,
// and never later than the hold's time box.
func (a *agent) armHostTimer(now time.Time, bound time.Duration) {
	after := bound + hostTimerMargin
	if left := a.holdDeadline.Sub(now) + hostTimerMargin; left < after {
		after = left
	}
	a.disarmHostTimer()
	err := host("systemd-run", "--unit="+a.hostTimer(), fmt.Sprintf("--on-active=%ds", int(after.Seconds()+0.999)),
		"--timer-property=AccuracySec=1s", "--description=chaos-harness: start "+a.unit+" if the node agent cannot",
		"systemctl", "start", a.unit+".service")
	if err != nil {
		log.Printf("arming the host's timer for %s: %v", a.unit, err)
		return
	}
	a.timerArmed = now
}

func (a *agent) disarmHostTimer() {
	_ = host("systemctl", "stop", a.hostTimer()+".timer")
	_ = host("systemctl", "reset-failed", a.hostTimer()+".service")
}

// endInheritedHold: a hold belongs to the agent process that took it. One this process finds (its
// predecessor died holding) is ended: the kubelet is started and the hold is never taken again.
func (a *agent) endInheritedHold() {
	var lease leaseView
	if _, err := a.request("GET", a.leasePath(), "", nil, &lease); err != nil {
		return
	}
	ann := lease.Metadata.Annotations
	if ann[annotationState] != "stopped" {
		return
	}
	a.holdID = ann[annotationHoldID]
	a.endHold("the agent that held it is gone (this one started after it)", "agent-restart")
}

// inheritLayout: the kubelet's unit as the previous agent on this node published it (a kubelet that is
// stopped serves no port and may run under no known name).
func (a *agent) inheritLayout() {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	path := fmt.Sprintf("/api/v1/namespaces/%s/configmaps/chaos-agent-%s", a.namespace, a.node)
	if _, err := a.request("GET", path, "", nil, &cm); err != nil {
		return
	}
	var before layout
	if json.Unmarshal([]byte(cm.Data["layout"]), &before) == nil && before.KubeletUnit != "" {
		a.layout.KubeletUnit = before.KubeletUnit
		a.layout.KubeletHow = "as the previous agent on this node found it: " + before.KubeletHow
	}
}
