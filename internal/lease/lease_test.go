package lease

import (
	"context"
	"testing"
	"time"

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
	}{
		{"a", 0, true},               // free
		{"b", time.Second, false},    // held by a
		{"a", 5 * time.Second, true}, // renewal until 15s
		{"b", 14 * time.Second, false},
		{"b", 16 * time.Second, true}, // a's lease expired
		{"a", 17 * time.Second, false},
	}
	for i, st := range steps {
		got, err := s.Acquire(ctx, "scheduler", st.holder, t0.Add(st.at), 10*time.Second)
		if err != nil || got != st.want {
			t.Errorf("step %d: %s at %v = %v, %v; want %v", i, st.holder, st.at, got, err, st.want)
		}
	}
	if ok, _ := s.Acquire(ctx, "other", "a", t0, time.Second); !ok {
		t.Error("leases with different names interfere")
	}
}
