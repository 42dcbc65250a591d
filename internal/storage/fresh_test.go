package storage_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/storage"
)

type fakeWatcher struct{ synced atomic.Int64 }

func (w *fakeWatcher) Watch(func(storage.Change)) {}
func (w *fakeWatcher) Synced() time.Time          { return time.Unix(0, w.synced.Load()) }

func TestFresh(t *testing.T) {
	t.Parallel()
	w := &fakeWatcher{}
	check := storage.Fresh(w, 3*time.Second)
	for _, tc := range []struct {
		name  string
		age   time.Duration
		stale bool
	}{
		{"just synced", 0, false},
		{"within the bound", 2900 * time.Millisecond, false},
		{"past the bound", 3100 * time.Millisecond, true},
		{"never synced", time.Duration(time.Now().UnixNano()), true},
	} {
		w.synced.Store(time.Now().Add(-tc.age).UnixNano())
		err := check()
		if (err != nil) != tc.stale {
			t.Errorf("%s: check = %v; want stale %v", tc.name, err, tc.stale)
		}
		// Services answer it with their retryable 5xx, as for an
		// unreachable store.
		if tc.stale && (!errors.Is(err, storage.ErrStale) || !errors.Is(err, storage.ErrUnavailable)) {
			t.Errorf("%s: %v is not ErrStale and ErrUnavailable", tc.name, err)
		}
		var u interface{ Unavailable() bool }
		if tc.stale && (!errors.As(err, &u) || !u.Unavailable()) {
			t.Errorf("%s: %v does not report Unavailable() to svcerr", tc.name, err)
		}
	}
}

func TestGate(t *testing.T) {
	t.Parallel()
	var g storage.Gate
	if err := g.Check(); err != nil {
		t.Fatalf("zero Gate: %v", err)
	}
	refuse := errors.New("refused")
	g.Set(func() error { return refuse })
	if err := g.Check(); err != refuse {
		t.Fatalf("Gate with a refusing check: %v", err)
	}
	g.Set(nil)
	if err := g.Check(); err != nil {
		t.Fatalf("Gate reset: %v", err)
	}
}

// BenchmarkFresh is the cost every cache hit pays on a node sharing its
// store: one atomic load and one clock read.
func BenchmarkFresh(b *testing.B) {
	w := &fakeWatcher{}
	w.synced.Store(time.Now().Add(time.Hour).UnixNano())
	var g storage.Gate
	g.Set(storage.Fresh(w, time.Second))
	for b.Loop() {
		if err := g.Check(); err != nil {
			b.Fatal(err)
		}
	}
}
