package barrier_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal/dev"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/bolt"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/storage/storagetest"
)

var ctx = context.Background()

func newSeal(t testing.TB) *dev.Seal {
	t.Helper()
	s, _, err := dev.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newBarrier(t testing.TB) (*barrier.Barrier, *memory.Backend, *dev.Seal) {
	t.Helper()
	m := memory.New()
	b := barrier.New(m)
	s := newSeal(t)
	if err := b.Initialize(ctx, s); err != nil {
		t.Fatal(err)
	}
	return b, m, s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, _, _ := newBarrier(t)
		return b
	})
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	m := memory.New()
	b := barrier.New(m)
	s := newSeal(t)
	if ok, err := b.Initialized(ctx); ok || err != nil {
		t.Fatalf("Initialized on empty storage = %v, %v", ok, err)
	}
	if err := b.Unseal(ctx, s); !errors.Is(err, barrier.ErrNotInitialized) {
		t.Errorf("Unseal before Initialize = %v", err)
	}
	if !b.Sealed() {
		t.Error("new barrier is unsealed")
	}
	if err := b.Initialize(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := b.Initialize(ctx, s); !errors.Is(err, barrier.ErrAlreadyInitialized) {
		t.Errorf("second Initialize = %v", err)
	}
	if err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	if _, err := b.Get(ctx, "k"); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("Get while sealed = %v", err)
	}
	if err := b.Put(ctx, "k", []byte("v")); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("Put while sealed = %v", err)
	}
	if _, err := b.List(ctx, "", "", 0); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("List while sealed = %v", err)
	}
	if err := b.Update(ctx, func(storage.Tx) error { return nil }); !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("Update while sealed = %v", err)
	}
	if err := b.Unseal(ctx, newSeal(t)); err == nil || !b.Sealed() {
		t.Errorf("Unseal with the wrong seal = %v, sealed=%v", err, b.Sealed())
	}
	if err := b.Unseal(ctx, s); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("Get after unseal = %q, %v", v, err)
	}
	if err := b.Put(ctx, "core/keyring", []byte("x")); !errors.Is(err, barrier.ErrReserved) {
		t.Errorf("Put on the keyring path = %v", err)
	}
	ents, err := b.List(ctx, "core/", "", 0)
	if err != nil || len(ents) != 0 {
		t.Errorf("List(core/) exposed %d entries, %v", len(ents), err)
	}
}

func TestTamper(t *testing.T) {
	t.Parallel()
	b, m, _ := newBarrier(t)
	if err := b.Put(ctx, "a", []byte("value-a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "b", []byte("value-b")); err != nil {
		t.Fatal(err)
	}
	raw, _ := m.Get(ctx, "a")
	if bytes.Contains(raw, []byte("value-a")) {
		t.Fatal("storage holds the plaintext")
	}
	for i := range raw {
		c := bytes.Clone(raw)
		c[i] ^= 0x01
		m.Put(ctx, "a", c)
		if _, err := b.Get(ctx, "a"); !errors.Is(err, barrier.ErrCorrupt) {
			t.Errorf("byte %d flipped: %v", i, err)
		}
	}
	m.Put(ctx, "a", raw[:len(raw)-1])
	if _, err := b.Get(ctx, "a"); !errors.Is(err, barrier.ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	rawB, _ := m.Get(ctx, "b")
	m.Put(ctx, "a", rawB)
	if _, err := b.Get(ctx, "a"); !errors.Is(err, barrier.ErrCorrupt) {
		t.Errorf("value moved from b to a: %v", err)
	}
}

func TestRotateAndRewrap(t *testing.T) {
	t.Parallel()
	b, m, s := newBarrier(t)
	if err := b.Put(ctx, "old", []byte("1")); err != nil {
		t.Fatal(err)
	}
	term, err := b.Rotate(ctx, s)
	if err != nil || term != 2 {
		t.Fatalf("Rotate = %d, %v", term, err)
	}
	if err := b.Put(ctx, "new", []byte("2")); err != nil {
		t.Fatal(err)
	}
	rawNew, _ := m.Get(ctx, "new")
	rawOld, _ := m.Get(ctx, "old")
	if rawNew[4] != 2 || rawOld[4] != 1 {
		t.Errorf("terms in headers: new %d, old %d", rawNew[4], rawOld[4])
	}
	s2 := newSeal(t)
	if err := b.Rewrap(ctx, s2); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	if err := b.Unseal(ctx, s); err == nil {
		t.Error("old seal still unwraps after Rewrap")
	}
	if err := b.Unseal(ctx, s2); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"old": "1", "new": "2"} {
		if v, err := b.Get(ctx, k); err != nil || string(v) != want {
			t.Errorf("Get(%s) after rotate+rewrap = %q, %v", k, v, err)
		}
	}
}

// TestNothingPlainOnDisk writes known secrets through a barrier on bbolt
// and scans the raw database file: neither the values nor the keyring's or
// the dev seal's key bytes may appear.
func TestNothingPlainOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bk, err := bolt.Open(filepath.Join(dir, "arca.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := dev.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := barrier.New(bk)
	if err := b.Initialize(ctx, s); err != nil {
		t.Fatal(err)
	}
	secret := []byte("TOP-SECRET-MATERIAL-0123456789abcdef")
	for i := range 50 {
		if err := b.Put(ctx, "k/"+string(rune('a'+i%26))+string(rune('a'+i/26)), secret); err != nil {
			t.Fatal(err)
		}
	}
	keyringKeys := barrier.KeyringKeysForTest(b)
	b.Close()
	raw, err := os.ReadFile(filepath.Join(dir, "arca.db"))
	if err != nil {
		t.Fatal(err)
	}
	sealKey, err := os.ReadFile(filepath.Join(dir, dev.FileName))
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{"secret value": secret, "dev seal key": sealKey}
	for i, k := range keyringKeys {
		needles["keyring key "+string(rune('0'+i))] = k
	}
	for name, n := range needles {
		if bytes.Contains(raw, n) {
			t.Errorf("%s found in the database file", name)
		}
	}
}

func FuzzOpen(f *testing.F) {
	b, m, _ := newBarrier(f)
	b.Put(ctx, "k", []byte("seed value"))
	raw, _ := m.Get(ctx, "k")
	f.Add(raw)
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, sealed []byte) {
		m.Put(ctx, "f", sealed)
		if v, err := b.Get(ctx, "f"); err == nil {
			t.Errorf("forged value opened: %q", v)
		}
	})
}

func BenchmarkPut(b *testing.B) {
	br, _, _ := newBarrier(b)
	v := make([]byte, 512)
	for b.Loop() {
		br.Put(ctx, "bench", v)
	}
}

func BenchmarkGet(b *testing.B) {
	br, _, _ := newBarrier(b)
	br.Put(ctx, "bench", make([]byte, 512))
	for b.Loop() {
		br.Get(ctx, "bench")
	}
}
