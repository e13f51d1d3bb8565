package main

// What the agent publishes, and when. The node is sampled every interval, but a sample goes to the API server
// only when what it observed changed (the containers of the namespaces the Lease names, whether the runtime
// answered, the kubelet, the fault held, the dead man's switch) or when a heartbeat is due. Each published
// sample says which earlier sample was the last change (After) and which was published before it (Prev), and
// the longest step between local samples since then (Gap): from those the harness knows that every sample it
// was not sent looked like the last change, and how finely the node was watched meanwhile. A heartbeat that
// finds the previous heartbeat still queued takes its place (keeping its Prev), so an idle backlog stays at
// one entry.

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

const (
	annotationScope = "chaos-harness.io/namespaces" // on the Lease: the namespaces to report, comma-separated ("*": all)
	annotationSeen  = "chaos-harness.io/seen"       // on the Lease: "<seq>@<started>", the newest sample the harness read
)

type publisher struct {
	key        string    // the observation of the last change
	lastChange int64     // its seq
	lastSeq    int64     // the last published sample's seq
	lastBeat   bool      // ... and whether it was a heartbeat
	lastAt     time.Time // when it was sampled
	prevAt     time.Time // when the previous local sample was taken
	stepMax    float64   // the longest step between local samples since the last published one
}

// observation: what a sample saw, without when and in which order it was taken.
func observation(s *sample) string {
	b, _ := json.Marshal([]any{s.OK, s.Error, s.Containers, s.Namespaces, s.Kubelet, s.Holding, s.Hold, s.Deadman})
	return string(b)
}

// offer decides whether `s` is published (appended to the backlog, or replacing a queued heartbeat) and fills in
// its chain fields. It returns whether the backlog changed.
func (p *publisher) offer(s *sample, now time.Time, heartbeat time.Duration, backlog *[]sample) bool {
	if !p.prevAt.IsZero() {
		if step := now.Sub(p.prevAt).Seconds(); step > p.stepMax {
			p.stepMax = step
		}
	}
	p.prevAt = now
	key := observation(s)
	changed := p.lastSeq == 0 || key != p.key
	if !changed && now.Sub(p.lastAt) < heartbeat {
		return false
	}
	s.After, s.Prev, s.Gap = p.lastChange, p.lastSeq, p.stepMax
	b := *backlog
	if changed {
		s.Kind, s.After = "change", p.lastChange
		p.key, p.lastChange = key, s.Seq
		*backlog = append(b, *s)
	} else {
		s.Kind = "heartbeat"
		if n := len(b); n > 0 && p.lastBeat && b[n-1].Seq == p.lastSeq {
			// The queued heartbeat is superseded: this one spans from where that one started.
			if b[n-1].Gap > s.Gap {
				s.Gap = b[n-1].Gap
			}
			s.Prev = b[n-1].Prev
			b[n-1] = *s
		} else {
			*backlog = append(b, *s)
		}
	}
	p.lastSeq, p.lastBeat, p.lastAt, p.stepMax = s.Seq, !changed, now, 0
	return true
}

// inScope keeps the containers of the namespaces in scope (nil: none; "*": all).
func inScope(cs []container, scope []string) []container {
	out := make([]container, 0, len(cs))
	for _, c := range cs {
		for _, ns := range scope {
			if ns == "*" || ns == c.Namespace {
				out = append(out, c)
				break
			}
		}
	}
	return out
}

// parseScope reads the Lease's namespaces annotation (sorted, no blanks).
func parseScope(v string) []string {
	var out []string
	for _, ns := range strings.Split(v, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// parseSeen reads "<seq>@<started>".
func parseSeen(v string) (int64, float64, bool) {
	seqText, startedText, ok := strings.Cut(v, "@")
	if !ok {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseInt(seqText, 10, 64)
	started, err2 := strconv.ParseFloat(startedText, 64)
	return seq, started, err1 == nil && err2 == nil
}

// acknowledge drops from the backlog what the harness has read (samples of this process up to seq), keeping
// the newest entry: the ConfigMap always carries the latest sample.
func acknowledge(backlog []sample, seq int64) []sample {
	for len(backlog) > 1 && backlog[0].Seq <= seq {
		backlog = backlog[1:]
	}
	return backlog
}
