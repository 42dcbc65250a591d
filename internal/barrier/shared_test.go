package barrier_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/memory"
)

// sharedMemory is memory storage that declares itself shared
// (storage.Watcher), as PostgreSQL does, so two barriers over it behave as
// two nodes. It delivers no changes: the barriers must stay correct on
// their own, with the change feed only making them learn sooner.
type sharedMemory struct{ *memory.Backend }

func (sharedMemory) Watch(func(storage.Change)) {}
func (sharedMemory) Synced() time.Time          { return time.Now() }

// twoNodes returns two unsealed barriers over one shared store and the
// raw store.
func twoNodes(t *testing.T) (a, b *barrier.Barrier, m sharedMemory, w barrier.Wrapper) {
	t.Helper()
	m = sharedMemory{memory.New()}
	w = newSeal(t)
	a, b = barrier.New(m), barrier.New(m)
	if err := a.Initialize(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := b.Unseal(ctx, w); err != nil {
		t.Fatal(err)
	}
	return a, b, m, w
}

func rawTerm(t *testing.T, m storage.Backend, key string) uint32 {
	t.Helper()
	v, err := m.Get(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return binary.BigEndian.Uint32(v[1:])
}

func mustGet(t *testing.T, b storage.Reader, key, want string) {
	t.Helper()
	v, err := b.Get(ctx, key)
	if err != nil || string(v) != want {
		t.Fatalf("Get(%s) = %q, %v; want %q", key, v, err, want)
	}
}

// TestSharedFollowsRotation: node B learns node A's rotation from storage
// alone: its next write seals under the new term, it reads values A sealed
// under it, and after A's re-encryption drops the old term B's writes still
// open on A.
func TestSharedFollowsRotation(t *testing.T) {
	t.Parallel()
	a, b, m, w := twoNodes(t)
	mustPut(t, b, "old", "from B, term 1")
	if term, err := a.Rotate(ctx, w); err != nil || term != 2 {
		t.Fatalf("Rotate = %d, %v", term, err)
	}
	mustPut(t, a, "a2", "from A, term 2")
	mustGet(t, b, "a2", "from A, term 2") // a read of a newer term reloads
	mustPut(t, b, "b2", "from B after rotation")
	if got := rawTerm(t, m, "b2"); got != 2 {
		t.Fatalf("B sealed under term %d after A's rotation; want 2", got)
	}
	if _, err := a.Reencrypt(ctx); err != nil {
		t.Fatal(err)
	}
	// A keeps only term 2; B still holds 1 and 2 until it next writes.
	mustPut(t, b, "b3", "from B after prune")
	if active, n, _ := b.Terms(); active != 2 || n != 1 {
		t.Fatalf("B's keyring after A's prune: active %d, %d terms; want 2, 1", active, n)
	}
	// Following rotations keeps no pile of replaced keyrings.
	for range 5 {
		if _, err := a.Rotate(ctx, w); err != nil {
			t.Fatal(err)
		}
		if err := b.Refresh(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := barrier.RetiredForTest(b); n > 1 {
		t.Errorf("B keeps %d replaced keyrings after following 5 rotations; want at most 1", n)
	}
	if _, err := a.Reencrypt(ctx); err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, "b4", "after more rotations")
	for _, k := range []string{"old", "a2", "b2", "b3", "b4"} {
		if got := rawTerm(t, m, k); got != 7 {
			t.Errorf("%s sealed under term %d; want 7", k, got)
		}
		if _, err := a.Get(ctx, k); err != nil {
			t.Errorf("A Get(%s): %v", k, err)
		}
		if _, err := b.Get(ctx, k); err != nil {
			t.Errorf("B Get(%s): %v", k, err)
		}
	}
}

// TestSharedWritesDuringRotation: B writes as fast as it can while A
// rotates and re-encrypts twice; afterwards every value B acknowledged opens
// with A's keyring alone, which holds only the last term. Without the terms
// check, B's writes under a pruned term would be unreadable.
func TestSharedWritesDuringRotation(t *testing.T) {
	t.Parallel()
	a, b, m, w := twoNodes(t)
	var acked sync.Map
	var stop atomic.Bool
	var wg sync.WaitGroup
	halt := func() { stop.Store(true); wg.Wait() }
	defer halt() // also when a check below fails
	for g := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				k := fmt.Sprintf("g%d/%06d", g, i)
				var err error
				if i%2 == 0 {
					err = b.Put(ctx, k, []byte(k))
				} else {
					err = b.Update(ctx, func(tx storage.Tx) error {
						if _, err := tx.Get(ctx, fmt.Sprintf("g%d/%06d", g, i-1)); err != nil {
							return err
						}
						return tx.Put(ctx, k, []byte(k))
					})
				}
				if err != nil {
					t.Errorf("B write %s: %v", k, err)
					return
				}
				acked.Store(k, true)
				// Paced, so that Reencrypt's scan is not chasing new
				// keys at the end of the keyspace.
				time.Sleep(100 * time.Microsecond)
			}
		})
	}
	for range 2 {
		time.Sleep(20 * time.Millisecond)
		if _, err := a.Rotate(ctx, w); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		// Bounded: a Reencrypt that must chase writes B keeps sealing
		// under the old term never ends.
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := a.Reencrypt(rctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	halt()
	if _, err := a.Reencrypt(ctx); err != nil { // B's last writes may predate its reload
		t.Fatal(err)
	}
	if active, n, _ := a.Terms(); active != 3 || n != 1 {
		t.Fatalf("A's keyring: active %d, %d terms; want 3, 1", active, n)
	}
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		mustGet(t, a, k.(string), k.(string))
		return true
	})
	// A fresh node sees the same.
	c := barrier.New(m)
	if err := c.Unseal(ctx, w); err != nil {
		t.Fatal(err)
	}
	acked.Range(func(k, _ any) bool { mustGet(t, c, k.(string), k.(string)); return true })
	t.Logf("%d writes by B across two rotations by A", n)
	if n < 100 {
		t.Errorf("only %d writes", n)
	}
}

// TestSharedRekeyElsewhere: a rekey on A (same terms, new wrapping) does
// not disturb B; a rotation after it, which B's seal cannot open, makes B's
// refresh fail with ErrKeyringUnreadable and B writes nothing.
func TestSharedRekeyElsewhere(t *testing.T) {
	t.Parallel()
	a, b, m, _ := twoNodes(t)
	w2 := newSeal(t)
	if err := a.Rewrap(ctx, w2); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatalf("B Refresh after A's rekey: %v", err)
	}
	mustPut(t, b, "after-rekey", "x")
	mustGet(t, a, "after-rekey", "x")
	if _, err := a.Rotate(ctx, w2); err != nil {
		t.Fatal(err)
	}
	err := b.Put(ctx, "after-rotate", []byte("y"))
	if !errors.Is(err, barrier.ErrKeyringUnreadable) {
		t.Fatalf("B Put after A's rekey and rotation = %v; want ErrKeyringUnreadable", err)
	}
	// Services answer it as a retryable "sealed" (svcerr.InternalError).
	var sealed interface{ Sealed() bool }
	if !errors.As(err, &sealed) || !sealed.Sealed() {
		t.Errorf("%v does not report Sealed()", err)
	}
	if _, err := m.Get(ctx, "after-rotate"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("B's refused write is in storage: %v", err)
	}
	// Unsealed again with the current seal, B follows.
	b.Seal()
	if err := b.Unseal(ctx, w2); err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, "after-unseal", "z")
	mustGet(t, a, "after-unseal", "z")
}

// TestSharedTermsRecordBackfilled: a keyring stored without its terms
// record (before the record existed) gets one at Unseal, and writes work.
func TestSharedTermsRecordBackfilled(t *testing.T) {
	t.Parallel()
	a, _, m, w := twoNodes(t)
	mustPut(t, a, "k", "v")
	a.Seal()
	if err := m.Delete(ctx, "core/keyring/terms"); err != nil {
		t.Fatal(err)
	}
	b := barrier.New(m)
	if err := b.Unseal(ctx, w); err != nil {
		t.Fatal(err)
	}
	rec, err := m.Get(ctx, "core/keyring/terms")
	if err != nil {
		t.Fatalf("terms record after Unseal: %v", err)
	}
	if want := []byte{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}; !bytes.Equal(rec, want) {
		t.Fatalf("terms record %x; want %x", rec, want)
	}
	mustPut(t, b, "k2", "v2")
	mustGet(t, b, "k", "v")
}
