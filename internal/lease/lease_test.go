package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/memory"
)

func TestAcquire(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(memory.New())
	t0 := time.Unix(1000, 0)
	steps := []struct {
		holder string
		at     time.Duration
		want   bool
		epoch  uint64
	}{
		{"a", 0, true, 1},               // free
		{"b", time.Second, false, 1},    // held by a
		{"a", 5 * time.Second, true, 1}, // renewal until 15s: same epoch
		{"b", 14 * time.Second, false, 1},
		{"b", 16 * time.Second, true, 2}, // a's lease expired: a new epoch
		{"a", 17 * time.Second, false, 2},
		{"b", 30 * time.Second, true, 3}, // b's own lease had expired: a new epoch too
	}
	for i, st := range steps {
		epoch, got, err := s.Acquire(ctx, "scheduler", st.holder, t0.Add(st.at), 10*time.Second)
		if err != nil || got != st.want || epoch != st.epoch {
			t.Errorf("step %d: %s at %v = %v epoch %d, %v; want %v epoch %d", i, st.holder, st.at, got, epoch, err, st.want, st.epoch)
		}
	}
	if _, ok, _ := s.Acquire(ctx, "other", "a", t0, time.Second); !ok {
		t.Error("leases with different names interfere")
	}
	// Released by a non-holder: nothing happens. By the holder: free at once.
	if err := s.Release(ctx, "scheduler", "a"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Acquire(ctx, "scheduler", "a", t0.Add(31*time.Second), 10*time.Second); ok {
		t.Error("a non-holder's Release freed the lease")
	}
	if err := s.Release(ctx, "scheduler", "b"); err != nil {
		t.Fatal(err)
	}
	if epoch, ok, _ := s.Acquire(ctx, "scheduler", "a", t0.Add(32*time.Second), 10*time.Second); !ok || epoch != 4 {
		t.Errorf("after the holder's Release: %v epoch %d; want held, epoch 4", ok, epoch)
	}
}

// TestFenced: a paused former holder's writes are refused once another
// holder took the lease, and the current holder's pass.
func TestFenced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memory.New()
	s := New(st)
	fb := Fenced{B: st}
	t0 := time.Unix(1000, 0)
	ea, _, _ := s.Acquire(ctx, "scheduler", "a", t0, 10*time.Second)
	actA := s.Fence(ctx, "scheduler", "a", ea)
	if err := fb.Put(actA, "work/1", []byte("a")); err != nil {
		t.Fatalf("the holder's fenced write: %v", err)
	}
	// a pauses; b takes over after expiry.
	eb, ok, _ := s.Acquire(ctx, "scheduler", "b", t0.Add(11*time.Second), 10*time.Second)
	if !ok || eb != ea+1 {
		t.Fatalf("takeover = %v epoch %d", ok, eb)
	}
	writes := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"Put", func(ctx context.Context) error { return fb.Put(ctx, "work/2", []byte("a")) }},
		{"Delete", func(ctx context.Context) error { return fb.Delete(ctx, "work/1") }},
		{"Update", func(ctx context.Context) error {
			return fb.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, "work/3", []byte("a")) })
		}},
	}
	for _, w := range writes {
		if err := w.op(actA); !errors.Is(err, ErrFenced) {
			t.Errorf("paused holder's %s = %v; want ErrFenced", w.name, err)
		}
	}
	for _, k := range []string{"work/2", "work/3"} {
		if _, err := st.Get(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("a fenced write of %s landed: %v", k, err)
		}
	}
	if _, err := st.Get(ctx, "work/1"); err != nil {
		t.Errorf("a fenced Delete landed: %v", err)
	}
	if err := fb.Put(s.Fence(ctx, "scheduler", "b", eb), "work/2", []byte("b")); err != nil {
		t.Errorf("the new holder's fenced write: %v", err)
	}
	if err := fb.Put(ctx, "unfenced", []byte("x")); err != nil {
		t.Errorf("an unfenced write: %v", err)
	}
}
