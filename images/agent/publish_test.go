package main

import (
	"testing"
	"time"
)

func offerAt(p *publisher, backlog *[]sample, seq int64, at time.Time, containers ...string) (sample, bool) {
	s := sample{Seq: seq, OK: true, Kubelet: "active"}
	for _, id := range containers {
		s.Containers = append(s.Containers, container{ID: id, Namespace: "ns"})
	}
	queued := p.offer(&s, at, 10*time.Second, backlog)
	return s, queued
}

func TestIdleNodePublishesOnlyHeartbeats(t *testing.T) {
	var p publisher
	var backlog []sample
	t0 := time.Unix(1000, 0)
	if _, q := offerAt(&p, &backlog, 1, t0, "a"); !q {
		t.Fatal("the first sample must be published")
	}
	published := 1
	for i := int64(2); i <= 60; i++ {
		if _, q := offerAt(&p, &backlog, i, t0.Add(time.Duration(i-1)*time.Second), "a"); q {
			published++
		}
	}
	if published != 1+5 { // heartbeats at 11, 21, 31, 41, 51
		t.Fatalf("published %d samples in a minute of nothing changing, want 6", published)
	}
	if len(backlog) != 2 || backlog[1].Kind != "heartbeat" || backlog[1].Prev != 1 || backlog[1].After != 1 {
		t.Fatalf("backlog %+v: want the change and one heartbeat that spans from it", backlog)
	}
}

func TestChangeNamesTheLastChangeAndThePreviousSample(t *testing.T) {
	var p publisher
	var backlog []sample
	t0 := time.Unix(1000, 0)
	offerAt(&p, &backlog, 1, t0, "a")
	offerAt(&p, &backlog, 2, t0.Add(time.Second), "a")
	offerAt(&p, &backlog, 3, t0.Add(11*time.Second), "a") // heartbeat
	offerAt(&p, &backlog, 4, t0.Add(14*time.Second), "a") // a 3 s stall, unchanged
	s, q := offerAt(&p, &backlog, 5, t0.Add(15*time.Second), "a", "b")
	if !q || s.Kind != "change" || s.After != 1 || s.Prev != 3 || s.Gap != 3 {
		t.Fatalf("change %+v: want after 1, prev 3, gap 3", s)
	}
	if got := acknowledge(backlog, 3); len(got) != 1 || got[0].Seq != 5 {
		t.Fatalf("acknowledged up to 3: %+v", got)
	}
	if got := acknowledge(backlog, 9); len(got) != 1 {
		t.Fatal("the newest sample always stays")
	}
}

func TestScope(t *testing.T) {
	cs := []container{{ID: "1", Namespace: "a"}, {ID: "2", Namespace: "b"}}
	if n := len(inScope(cs, nil)); n != 0 {
		t.Fatalf("no scope reports %d containers", n)
	}
	if n := len(inScope(cs, []string{"b"})); n != 1 {
		t.Fatalf("scope b reports %d containers", n)
	}
	if n := len(inScope(cs, []string{"*"})); n != 2 {
		t.Fatalf("scope * reports %d containers", n)
	}
	if seq, started, ok := parseSeen("12@1764932000.123456"); !ok || seq != 12 || started != 1764932000.123456 {
		t.Fatal("parseSeen")
	}
}
