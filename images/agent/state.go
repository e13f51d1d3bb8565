package main

// What a hold leaves on the host, under /run (a tmpfs: gone at a reboot, as is every fault it could hold), one
// directory per agent namespace (one run's agents; another run's agent on the same node keeps its own):
//   - spent: every hold id this namespace's agents on this node have taken. A hold is never taken twice, even by a
//     restarted agent that cannot reach the API (the Lease may still ask for a hold that already ended).
//   - held.json: the hold in force, with the argv that undoes it, written before the fault is applied. An agent
//     that starts and finds it undoes it at once, without the API: its predecessor died holding it.

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

type hostState struct{ dir string }

type heldRecord struct {
	ID    string   `json:"id"`
	Fault string   `json:"fault"`
	Timer string   `json:"timer"`
	Undo  []string `json:"undo"`
}

func (s hostState) spent() map[string]bool {
	out := map[string]bool{}
	raw, err := os.ReadFile(filepath.Join(s.dir, "spent"))
	if err != nil {
		return out
	}
	for _, id := range strings.Split(string(raw), "\n") {
		if id = strings.TrimSpace(id); id != "" {
			out[id] = true
		}
	}
	return out
}

// spend records `id` as taken, durably, before anything is done under it.
func (s hostState) spend(id string) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, "spent"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(id + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// recordHeld writes the hold in force (a temporary file renamed over the record: never half written).
func (s hostState) recordHeld(r heldRecord) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return err
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.dir, ".held.json.tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, "held.json"))
}

// held: the hold the record says is in force. A record that cannot be read is an error, never "nothing held".
func (s hostState) held() (heldRecord, bool, error) {
	var r heldRecord
	raw, err := os.ReadFile(filepath.Join(s.dir, "held.json"))
	if errors.Is(err, os.ErrNotExist) {
		return r, false, nil
	}
	if err != nil {
		return r, false, err
	}
	if err := json.Unmarshal(raw, &r); err != nil || len(r.Undo) == 0 {
		return r, false, errors.New("held.json is unreadable: " + string(raw))
	}
	return r, true, nil
}

func (s hostState) clearHeld() error {
	err := os.Remove(filepath.Join(s.dir, "held.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
