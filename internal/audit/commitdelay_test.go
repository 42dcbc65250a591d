package audit

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestDelayAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
		n    int
		want time.Duration
	}{
		{name: "off", opts: Options{}, n: 64, want: 0},
		{name: "alone", opts: Options{CommitDelay: time.Millisecond}, n: 1, want: 0},
		{name: "below default siblings", opts: Options{CommitDelay: time.Millisecond}, n: 7, want: 0},
		{name: "at default siblings", opts: Options{CommitDelay: time.Millisecond}, n: 8, want: time.Millisecond},
		{name: "busy", opts: Options{CommitDelay: 500 * time.Microsecond}, n: 64, want: 500 * time.Microsecond},
		{name: "own siblings", opts: Options{CommitDelay: time.Millisecond, CommitSiblings: 2}, n: 2, want: time.Millisecond},
		{name: "below own siblings", opts: Options{CommitDelay: time.Millisecond, CommitSiblings: 3}, n: 2, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := Open(t.TempDir(), newKey(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if got := l.delayAfter(tc.n); got != tc.want {
				t.Errorf("delayAfter(%d) = %v; want %v", tc.n, got, tc.want)
			}
		})
	}
}

// A request that arrives on its own is never held back by the commit
// delay: ten appends one after another take ten syncs, not ten delays.
func TestCommitDelaySparesLoneRequests(t *testing.T) {
	t.Parallel()
	const delay = 400 * time.Millisecond
	l, err := Open(t.TempDir(), newKey(t), Options{CommitDelay: delay})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	for i := range 10 {
		if err := l.Append(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took >= delay {
		t.Errorf("10 lone appends took %v; a commit delay (%v) was applied", took, delay)
	}
}

// Under a commit delay concurrent appends still form one valid chain, and
// they share syncs: fewer batches than events.
func TestCommitDelayChain(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newKey(t)
	var batches atomic.Int64
	writeLog(t, dir, key, 400, Options{CommitDelay: 2 * time.Millisecond, CommitSiblings: 2,
		Durable: func([]byte, uint64) { batches.Add(1) }})
	rep := verify(t, dir, key)
	if !rep.OK() || rep.Events != 400 {
		t.Fatalf("report = %+v", rep)
	}
	if n := batches.Load(); n >= 400 || n == 0 {
		t.Errorf("%d batches for 400 events from 8 writers", n)
	}
}
