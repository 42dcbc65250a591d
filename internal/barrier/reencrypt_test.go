package barrier_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/memory"
)

// terms returns the term of every sealed value in raw storage.
func terms(t *testing.T, m storage.Backend) map[uint32]int {
	t.Helper()
	ents, err := m.List(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]int{}
	for _, e := range ents {
		if strings.HasPrefix(e.Key, "core/keyring") || e.Key == barrier.SealConfigPath {
			continue
		}
		out[binary.BigEndian.Uint32(e.Value[1:])]++
	}
	return out
}

// TestReencryptUnderLoad: after Rotate, Reencrypt moves every value to the
// new term while writers and readers keep going, no operation fails, and
// afterwards the keyring holds only the new term and everything opens,
// also after a re-unseal from storage.
func TestReencryptUnderLoad(t *testing.T) {
	t.Parallel()
	b, m, s := newBarrier(t)
	for i := range 600 {
		mustPut(t, b, fmt.Sprintf("kms/v/%04d", i), fmt.Sprintf("value %d", i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	var writes atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("kms/v/%04d", (i*7+w*13)%600)
				if w%2 == 0 {
					if err := b.Put(ctx, fmt.Sprintf("kms/w%d/%d", w, i%50), []byte("new")); err != nil {
						failures.Add(1)
						t.Error(err)
					}
					err := b.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, k, []byte("updated")) })
					if err != nil {
						failures.Add(1)
						t.Error(err)
					}
					writes.Add(2)
				} else if _, err := b.Get(ctx, k); err != nil {
					failures.Add(1)
					t.Error(err)
				}
			}
		}()
	}
	term, err := b.Rotate(ctx, s)
	if err != nil || term != 2 {
		t.Fatalf("Rotate = %d, %v", term, err)
	}
	if _, n, _ := b.Terms(); n != 2 {
		t.Fatalf("after Rotate: %d terms, want 2", n)
	}
	n, err := b.Reencrypt(ctx)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Reencrypt: %v", err)
	}
	if n == 0 || failures.Load() != 0 {
		t.Fatalf("re-sealed %d, failures %d", n, failures.Load())
	}
	if active, count, _ := b.Terms(); active != 2 || count != 1 {
		t.Errorf("after Reencrypt: active %d, %d terms; want 2, 1", active, count)
	}
	if got := terms(t, m); len(got) != 1 || got[2] == 0 {
		t.Errorf("stored terms after Reencrypt: %v; want only term 2", got)
	}
	// A fresh barrier over the same storage opens everything with the
	// pruned keyring.
	b2 := barrier.New(m)
	if err := b2.Unseal(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, count, _ := b2.Terms(); count != 1 {
		t.Errorf("stored keyring has %d terms", count)
	}
	ents, err := b2.List(ctx, "kms/", "", 0)
	if err != nil || len(ents) < 600 {
		t.Fatalf("List after re-unseal: %d, %v", len(ents), err)
	}
}

// TestReencryptUsesLatestWrapper: a Rewrap (rekey) between Rotate and
// Reencrypt stands: the pruned keyring is wrapped by the new wrapper.
func TestReencryptUsesLatestWrapper(t *testing.T) {
	t.Parallel()
	b, m, s := newBarrier(t)
	mustPut(t, b, "kms/a", "a")
	if _, err := b.Rotate(ctx, s); err != nil {
		t.Fatal(err)
	}
	s2 := newSeal(t)
	if err := b.RewrapWithSealConfig(ctx, s2, []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Reencrypt(ctx); err != nil {
		t.Fatal(err)
	}
	b2 := barrier.New(m)
	if err := b2.Unseal(ctx, s); err == nil {
		t.Error("the old wrapper still opens the keyring after a rekey and re-encryption")
	}
	if err := b2.Unseal(ctx, s2); err != nil {
		t.Errorf("the new wrapper does not open the keyring: %v", err)
	}
	cfg, err := b2.SealConfig(ctx)
	if err != nil || string(cfg) != `{"v":2}` {
		t.Errorf("SealConfig = %q, %v", cfg, err)
	}
}

// TestSealConfigRecord: stored in the clear with the keyring, readable
// while sealed, and reserved.
func TestSealConfigRecord(t *testing.T) {
	t.Parallel()
	m := memory.New()
	b := barrier.New(m)
	if _, err := b.SealConfig(ctx); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("SealConfig before init = %v", err)
	}
	s := newSeal(t)
	if err := b.InitializeWithSealConfig(ctx, s, []byte(`{"type":"x"}`)); err != nil {
		t.Fatal(err)
	}
	raw, err := m.Get(ctx, barrier.SealConfigPath)
	if err != nil || string(raw) != `{"type":"x"}` {
		t.Fatalf("raw seal config = %q, %v", raw, err)
	}
	b.Seal()
	if got, err := b.SealConfig(ctx); err != nil || string(got) != `{"type":"x"}` {
		t.Errorf("SealConfig while sealed = %q, %v", got, err)
	}
	if err := b.Unseal(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, barrier.SealConfigPath); !errors.Is(err, barrier.ErrReserved) {
		t.Errorf("Get(seal config) through the barrier = %v, want ErrReserved", err)
	}
	if err := b.Put(ctx, barrier.SealConfigPath, []byte("x")); !errors.Is(err, barrier.ErrReserved) {
		t.Errorf("Put(seal config) through the barrier = %v, want ErrReserved", err)
	}
	if err := b.CheckWrapper(ctx, s); err != nil {
		t.Errorf("CheckWrapper(right) = %v", err)
	}
	if err := b.CheckWrapper(ctx, newSeal(t)); err == nil {
		t.Error("CheckWrapper(wrong) = nil")
	}
}
