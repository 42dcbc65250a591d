package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// pruneMu makes prunes one at a time (they are rare; one lock for every
// log keeps Log's fields as they are).
var pruneMu sync.Mutex

// anchorFile holds the signed anchor left by the last prune.
const anchorFile = "anchor.json"

// Anchor is a signed statement that the records up to Sequence were pruned
// on purpose, and that record Sequence had hash Hash: the remaining chain
// verifies from it as from the start of a log. It is signed with the log's
// checkpoint key, the same way checkpoints are.
type Anchor struct {
	// Sequence and Hash are those of the last pruned record.
	Sequence uint64 `json:"sequence"`
	Hash     string `json:"hash"`
	// EventTime is the last pruned record's eventTime.
	EventTime string `json:"eventTime"`
	// Time is when the prune happened.
	Time      string `json:"time"`
	KeyID     string `json:"keyId"`
	Signature []byte `json:"signature"`
}

func (a *Anchor) signedBytes() []byte {
	return fmt.Appendf(nil, "arca-audit-anchor-v1\n%d\n%s\n%s\n%s\n%s\n", a.Sequence, a.Hash, a.EventTime, a.Time, a.KeyID)
}

// readAnchor returns the anchor in dir, or nil if there is none.
func readAnchor(dir string) (*Anchor, error) {
	b, err := os.ReadFile(filepath.Join(dir, anchorFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	var a Anchor
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("audit: %s does not parse: %w", anchorFile, err)
	}
	return &a, nil
}

// Prune removes the oldest segments whose every record is older than
// before, leaving first a signed anchor for the last record removed, and
// returns that anchor (nil if nothing was old enough). The segment being
// written is never removed, nor the one before it while the current one is
// still empty (Open continues the chain from it). Prune writes the anchor
// (fsynced, renamed into place) before it removes anything, so a crash in
// between leaves records the anchor already covers, which Verify skips.
func (l *Log) Prune(before time.Time) (*Anchor, error) {
	pruneMu.Lock()
	defer pruneMu.Unlock()
	segs, err := segments(l.dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	keep := 1
	if len(segs) > 0 {
		if st, err := os.Stat(filepath.Join(l.dir, segmentName(segs[len(segs)-1]))); err == nil && st.Size() == 0 {
			keep = 2
		}
	}
	var last *Event
	var remove []int
	for i := 0; i < len(segs)-keep; i++ {
		ev, err := lastEventOf(filepath.Join(l.dir, segmentName(segs[i])))
		if err != nil {
			return nil, err
		}
		if ev == nil {
			break
		}
		t, err := time.Parse(time.RFC3339, ev.EventTime)
		if err != nil || !t.Before(before) {
			break
		}
		last, remove = ev, append(remove, segs[i])
	}
	if last == nil {
		return nil, nil
	}
	if old, err := readAnchor(l.dir); err == nil && old != nil && old.Sequence > last.Sequence {
		return nil, fmt.Errorf("audit: the existing anchor (record %d) is ahead of the segments to prune (record %d)", old.Sequence, last.Sequence)
	}
	a := &Anchor{Sequence: last.Sequence, Hash: last.Hash, EventTime: last.EventTime,
		Time: l.opts.Now().UTC().Format(time.RFC3339Nano), KeyID: l.kid}
	a.Signature = ed25519.Sign(l.key, a.signedBytes())
	if err := writeFileAtomic(l.dir, anchorFile, a); err != nil {
		return nil, err
	}
	for _, n := range remove {
		if err := os.Remove(filepath.Join(l.dir, segmentName(n))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return a, fmt.Errorf("audit: prune: %w", err)
		}
	}
	if err := syncDir(l.dir); err != nil {
		return a, fmt.Errorf("audit: prune: %w", err)
	}
	l.log.Info("audit log pruned", "segments", len(remove), "through_sequence", a.Sequence, "older_than", before.UTC().Format(time.RFC3339))
	return a, nil
}

func writeFileAtomic(dir, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	_, werr := f.Write(append(b, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("audit: write %s: %w", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return syncDir(dir)
}

// RunRetention prunes records older than retention from l at start and
// then every interval until ctx ends. A retention of zero or less keeps
// everything and returns at once.
func (l *Log) RunRetention(ctx context.Context, retention, interval time.Duration) {
	if retention <= 0 {
		return
	}
	if interval <= 0 {
		interval = time.Hour
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := l.Prune(l.opts.Now().Add(-retention)); err != nil {
			l.log.Error("audit retention: prune failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
