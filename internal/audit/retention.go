package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
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

// PruneOptions are Prune's optional inputs.
type PruneOptions struct {
	// Now is the clock for the anchor's time (time.Now by default).
	Now func() time.Time
	// Logger receives a line per prune (slog.Default by default).
	Logger *slog.Logger
	// HoldFrom, when not 0, keeps every record from this sequence on,
	// whatever its age: the sinks pass the record after the last one their
	// slowest sink delivered, so retention never removes what a sink has
	// yet to read back from the log.
	HoldFrom uint64
}

// Prune removes from the log in dir the oldest segments whose every record
// is older than before, leaving first an anchor for the last record
// removed, signed with key (the log's current checkpoint key), and returns
// that anchor (nil if nothing was old enough). The segment being written
// is never removed, nor the one before it while the current one is still
// empty (Open continues the chain from it). Prune writes the anchor
// (fsynced, renamed into place) before it removes anything, so a crash in
// between leaves records the anchor already covers, which Verify skips.
//
// It works on the files alone, beside a running Log (which only ever
// writes the last segment), and takes the key as an argument so that it
// never reads a Log's state from outside its writer goroutine.
func Prune(dir string, key ed25519.PrivateKey, before time.Time, o PruneOptions) (*Anchor, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	pruneMu.Lock()
	defer pruneMu.Unlock()
	segs, err := segments(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	keep := 1
	if len(segs) > 0 {
		if st, err := os.Stat(filepath.Join(dir, segmentName(segs[len(segs)-1]))); err == nil && st.Size() == 0 {
			keep = 2
		}
	}
	var last *Event
	var remove []int
	for i := 0; i < len(segs)-keep; i++ {
		ev, err := lastEventTail(filepath.Join(dir, segmentName(segs[i])))
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
		if o.HoldFrom != 0 && ev.Sequence >= o.HoldFrom {
			o.Logger.Warn("audit retention held back: a sink has not delivered these records yet",
				"segment", segmentName(segs[i]), "hold_from_sequence", o.HoldFrom)
			break
		}
		last, remove = ev, append(remove, segs[i])
	}
	if last == nil {
		return nil, nil
	}
	if old, err := readAnchor(dir); err == nil && old != nil && old.Sequence > last.Sequence {
		return nil, fmt.Errorf("audit: the existing anchor (record %d) is ahead of the segments to prune (record %d)", old.Sequence, last.Sequence)
	}
	a := &Anchor{Sequence: last.Sequence, Hash: last.Hash, EventTime: last.EventTime,
		Time: o.Now().UTC().Format(time.RFC3339Nano), KeyID: KeyID(key.Public().(ed25519.PublicKey))}
	a.Signature = ed25519.Sign(key, a.signedBytes())
	if err := writeFileAtomic(dir, anchorFile, a); err != nil {
		return nil, err
	}
	for _, n := range remove {
		if err := os.Remove(filepath.Join(dir, segmentName(n))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return a, fmt.Errorf("audit: prune: %w", err)
		}
		if err := removeSidecar(dir, n); err != nil {
			return a, fmt.Errorf("audit: prune: %w", err)
		}
	}
	if err := syncDir(dir); err != nil {
		return a, fmt.Errorf("audit: prune: %w", err)
	}
	o.Logger.Info("audit log pruned", "segments", len(remove), "through_sequence", a.Sequence, "older_than", before.UTC().Format(time.RFC3339))
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

// Retention prunes a log directory on a schedule.
type Retention struct {
	// Dir is the log's directory.
	Dir string
	// Key returns the current checkpoint signing key (it may rotate).
	Key func(ctx context.Context) (ed25519.PrivateKey, error)
	// Period keeps records younger than this; zero or less keeps all.
	Period time.Duration
	// Interval is how often to prune (default 1h).
	Interval time.Duration
	// Now and Logger as in PruneOptions.
	Now    func() time.Time
	Logger *slog.Logger
}

// Run prunes at start and then every Interval until ctx ends. It returns at
// once if Period keeps everything.
func (r Retention) Run(ctx context.Context) {
	if r.Period <= 0 {
		return
	}
	if r.Interval <= 0 {
		r.Interval = time.Hour
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		key, err := r.Key(ctx)
		if err == nil {
			_, err = Prune(r.Dir, key, r.Now().Add(-r.Period), PruneOptions{Now: r.Now, Logger: r.Logger})
		}
		if err != nil {
			r.Logger.Error("audit retention: prune failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// lastEventTail is lastEventOf reading only the end of the file, so that a
// retention check every minute costs a small read per segment, not a scan
// of 64 MiB. It falls back to the full scan when the tail holds no whole
// record.
func lastEventTail(path string) (*Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	const tail = 256 << 10
	off := max(st.Size()-tail, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	// Complete lines only: drop a last line without its newline, and the
	// first, possibly partial, line of the tail.
	buf = buf[:bytes.LastIndexByte(buf, '\n')+1]
	if off > 0 {
		buf = buf[bytes.IndexByte(buf, '\n')+1:]
	}
	for len(buf) > 0 {
		i := bytes.LastIndexByte(buf[:len(buf)-1], '\n') + 1
		var e Event
		if json.Unmarshal(buf[i:len(buf)-1], &e) == nil && e.Hash != "" {
			return &e, nil
		}
		buf = buf[:i]
	}
	return lastEventOf(path)
}
