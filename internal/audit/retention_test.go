package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// agedLog writes 60 events, one a day, in 4 KiB segments, and returns the
// open log, its clock (at the last event's day) and directory.
func agedLog(t *testing.T) (*Log, *fakeClock, string, ed25519.PrivateKey) {
	t.Helper()
	dir, key := t.TempDir(), newKey(t)
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l, err := Open(dir, key, Options{MaxSegmentBytes: 4096, Now: clk.Now, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		if i > 0 {
			clk.Add(24 * time.Hour)
		}
		if err := l.Append(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	return l, clk, dir, key
}

func problemOf(rep *Report, k ProblemKind) *Problem {
	for i := range rep.Problems {
		if rep.Problems[i].Kind == k {
			return &rep.Problems[i]
		}
	}
	return nil
}

func TestPruneThenVerify(t *testing.T) {
	t.Parallel()
	l, clk, dir, key := agedLog(t)
	before, _ := segments(dir)
	// Keep 30 days: records of days 0..29 are older.
	a, err := Prune(dir, key, clk.Now().Add(-30*24*time.Hour), PruneOptions{Now: clk.Now})
	if err != nil || a == nil {
		t.Fatalf("Prune = %v, %v", a, err)
	}
	after, _ := segments(dir)
	if len(after) >= len(before) || a.Sequence == 0 || a.Sequence >= 30 {
		t.Fatalf("pruned %d → %d segments, anchor at %d", len(before), len(after), a.Sequence)
	}
	// Appends continue; close writes a checkpoint.
	if err := l.Append(context.Background(), event(99)); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep := verify(t, dir, key)
	p := problemOf(rep, Pruned)
	if !rep.OK() || p == nil || rep.Pruned != a.Sequence || rep.Events != 61-a.Sequence || rep.LastSeq != 61 {
		t.Fatalf("report = %+v", rep)
	}
	if !strings.Contains(p.Detail, "records 1 to") || len(rep.Problems) != 1 {
		t.Errorf("problems = %+v; want only the pruned notice", rep.Problems)
	}
	// A second prune moves the anchor forward; the log reopens after it.
	l2, err := Open(dir, key, Options{MaxSegmentBytes: 4096, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := Prune(dir, key, clk.Now().Add(-10*24*time.Hour), PruneOptions{Now: clk.Now})
	if err != nil || a2 == nil || a2.Sequence <= a.Sequence {
		t.Fatalf("second Prune = %+v, %v", a2, err)
	}
	l2.Close()
	if rep := verify(t, dir, key); !rep.OK() || rep.Pruned != a2.Sequence {
		t.Fatalf("after second prune: %+v", rep)
	}
	// Nothing old enough: no change.
	l3, _ := Open(dir, key, Options{MaxSegmentBytes: 4096, Now: clk.Now})
	defer l3.Close()
	if a3, err := Prune(dir, key, clk.Now().Add(-1000*24*time.Hour), PruneOptions{Now: clk.Now}); a3 != nil || err != nil {
		t.Fatalf("Prune of nothing = %+v, %v", a3, err)
	}
}

func TestPruneKeepsCurrentSegment(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newKey(t)
	writeLog(t, dir, key, 10, Options{})
	l, err := Open(dir, key, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if a, err := Prune(dir, key, time.Now().Add(time.Hour), PruneOptions{}); a != nil || err != nil {
		t.Fatalf("Prune of the only segment = %+v, %v", a, err)
	}
}

func TestAnchorTampering(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(a *Anchor, dir string)
		want ProblemKind
		msg  string
	}{
		{"signature flipped", func(a *Anchor, _ string) { a.Signature[3] ^= 1 }, BadAnchor, "signature is invalid"},
		{"sequence moved", func(a *Anchor, _ string) { a.Sequence++ }, BadAnchor, "signature is invalid"},
		{"hash replaced", func(a *Anchor, _ string) { a.Hash = ZeroHash }, BadAnchor, "signature is invalid"},
		{"unknown key", func(a *Anchor, _ string) { a.KeyID = "0000000000000000" }, BadAnchor, "unknown key"},
		{"anchor deleted", func(_ *Anchor, dir string) { os.Remove(filepath.Join(dir, anchorFile)) }, Deleted, "missing before record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, clk, dir, key := agedLog(t)
			a, err := Prune(dir, key, clk.Now().Add(-30*24*time.Hour), PruneOptions{Now: clk.Now})
			if err != nil || a == nil {
				t.Fatal(err)
			}
			l.Close()
			tc.edit(a, dir)
			if _, err := os.Stat(filepath.Join(dir, anchorFile)); err == nil {
				b, _ := json.Marshal(a)
				os.WriteFile(filepath.Join(dir, anchorFile), b, 0o600)
			}
			rep := verify(t, dir, key)
			p := problemOf(rep, tc.want)
			if rep.OK() || p == nil || !strings.Contains(p.Detail, tc.msg) {
				t.Fatalf("problems = %+v; want %s %q", rep.Problems, tc.want, tc.msg)
			}
			if problemOf(rep, Pruned) != nil {
				t.Errorf("a bad anchor was still reported as a prune: %+v", rep.Problems)
			}
		})
	}
}

func TestPruneCutShortAfterAnchor(t *testing.T) {
	t.Parallel()
	l, clk, dir, key := agedLog(t)
	// Save the oldest segment, prune, and put it back: as if the process
	// died after writing the anchor and before removing the files.
	first := filepath.Join(dir, segmentName(1))
	saved, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := Prune(dir, key, clk.Now().Add(-30*24*time.Hour), PruneOptions{Now: clk.Now}); err != nil || a == nil {
		t.Fatal(err)
	}
	l.Close()
	if err := os.WriteFile(first, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := verify(t, dir, key); !rep.OK() || problemOf(rep, Pruned) == nil {
		t.Fatalf("report = %+v", rep.Problems)
	}
}

func TestReadFromAndDurableHook(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newKey(t)
	var got atomic.Uint64
	var lines atomic.Int64
	l, err := Open(dir, key, Options{MaxSegmentBytes: 2048, Durable: func(b []byte, last uint64) {
		lines.Add(int64(strings.Count(string(b), "\n")))
		if last > got.Load() {
			got.Store(last)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := l.Append(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if got.Load() != 40 || lines.Load() != 40 {
		t.Fatalf("Durable saw last=%d, %d lines; want 40, 40", got.Load(), lines.Load())
	}
	for _, from := range []uint64{0, 1, 17, 40, 41} {
		var seqs []uint64
		err := ReadFrom(dir, from, func(seq uint64, line []byte) error {
			var e Event
			if err := json.Unmarshal(line, &e); err != nil || e.Sequence != seq {
				t.Fatalf("line for %d does not parse: %v", seq, err)
			}
			seqs = append(seqs, seq)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		start := max(from, 1)
		if want := 41 - int(start); len(seqs) != want || (want > 0 && seqs[0] != start) {
			t.Errorf("ReadFrom(%d) = %v", from, seqs)
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] != seqs[i-1]+1 {
				t.Fatalf("ReadFrom(%d) out of order: %v", from, seqs)
			}
		}
	}
	l.Close()
}

func TestRetentionRunWithRotatedKey(t *testing.T) {
	t.Parallel()
	l, clk, dir, key := agedLog(t)
	l.Close()
	newer := newKey(t) // the signing key rotated since the records were written
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // one prune, then return
	Retention{Dir: dir, Period: 30 * 24 * time.Hour, Now: clk.Now,
		Key: func(context.Context) (ed25519.PrivateKey, error) { return newer, nil }}.Run(ctx)
	both := []ed25519.PublicKey{key.Public().(ed25519.PublicKey), newer.Public().(ed25519.PublicKey)}
	rep, err := Verify(dir, both)
	if err != nil || !rep.OK() || rep.Pruned == 0 {
		t.Fatalf("with both keys: %+v, %v", rep, err)
	}
	rep = verify(t, dir, key)
	if p := problemOf(rep, BadAnchor); rep.OK() || p == nil || !strings.Contains(p.Detail, "unknown key") {
		t.Fatalf("without the new key: %+v", rep.Problems)
	}
	// Zero keeps everything.
	Retention{Dir: dir, Period: 0, Key: func(context.Context) (ed25519.PrivateKey, error) { t.Fatal("called"); return nil, nil }}.Run(ctx)
}

func TestLastEventTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "seg")
	var body []byte
	for i := range 2000 { // ~1 MB: longer than the tail read
		e := event(i)
		e.Sequence, e.Hash = uint64(i+1), "h"
		line, _ := json.Marshal(e)
		body = append(append(body, line...), '\n')
	}
	for _, tc := range []struct {
		name string
		data []byte
		want uint64
	}{
		{"long file", body, 2000},
		{"torn last line", append(append([]byte(nil), body...), `{"arcaSeq`...), 2000},
		{"unparsable last line", append(append([]byte(nil), body...), "junk\n"...), 2000},
		{"short file", body[:bytes.IndexByte(body, '\n')+1], 1},
		{"empty", nil, 0},
	} {
		os.WriteFile(path, tc.data, 0o600)
		ev, err := lastEventTail(path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want, _ := lastEventOf(path)
		if (ev == nil) != (tc.want == 0) || (ev != nil && (ev.Sequence != tc.want || want.Sequence != tc.want)) {
			t.Errorf("%s: got %+v", tc.name, ev)
		}
	}
}

func TestPruneHoldsForSinks(t *testing.T) {
	t.Parallel()
	l, clk, dir, key := agedLog(t)
	defer l.Close()
	before := clk.Now().Add(-30 * 24 * time.Hour)
	// A sink still has to read record 2: nothing may go.
	if a, err := Prune(dir, key, before, PruneOptions{Now: clk.Now, HoldFrom: 2}); a != nil || err != nil {
		t.Fatalf("Prune holding from 2 = %+v, %v", a, err)
	}
	// Holding from 20 lets the segments wholly before it go, no more.
	a, err := Prune(dir, key, before, PruneOptions{Now: clk.Now, HoldFrom: 20})
	if err != nil || a == nil || a.Sequence >= 20 {
		t.Fatalf("Prune holding from 20 = %+v, %v", a, err)
	}
}

// After a prune, the lookup index stops returning the removed events once
// DropMissing lets go of the files it had open.
func TestIndexAfterPrune(t *testing.T) {
	t.Parallel()
	l, clk, dir, key := agedLog(t)
	defer l.Close()
	all := func() int {
		p, err := l.Index().Lookup(Query{Max: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Events)
	}
	if n := all(); n != 60 {
		t.Fatalf("%d events before the prune", n)
	}
	a, err := Prune(dir, key, clk.Now().Add(-30*24*time.Hour), PruneOptions{Now: clk.Now})
	if err != nil || a == nil {
		t.Fatal(err)
	}
	l.Index().DropMissing()
	if n := all(); n != 60-int(a.Sequence) {
		t.Errorf("%d events after pruning %d; want %d", n, a.Sequence, 60-int(a.Sequence))
	}
}

// TestHeadAfterPrune: the head is the last record after a prune, and the
// prune anchor's sequence once no segment holds a record any more.
func TestHeadAfterPrune(t *testing.T) {
	t.Parallel()
	l, clk, dir, key := agedLog(t)
	a, err := Prune(dir, key, clk.Now().Add(-30*24*time.Hour), PruneOptions{Now: clk.Now})
	if err != nil || a == nil {
		t.Fatalf("Prune = %v, %v", a, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if h, err := Head(dir); err != nil || h != 60 {
		t.Fatalf("Head after prune = %d, %v; want 60", h, err)
	}
	segs, _ := segments(dir)
	for _, n := range segs {
		if err := os.Remove(filepath.Join(dir, segmentName(n))); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := Head(dir); err != nil || h != a.Sequence {
		t.Fatalf("Head with no segment left = %d, %v; want the anchor's %d", h, err, a.Sequence)
	}
}
