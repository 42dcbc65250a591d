package barrier_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// newBarrier returns an unsealed barrier over fresh memory storage, the raw
// storage under it, and the seal that wraps its keyring.
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

func mustPut(t testing.TB, b storage.Writer, k, v string) {
	t.Helper()
	if err := b.Put(ctx, k, []byte(v)); err != nil {
		t.Fatalf("Put(%s): %v", k, err)
	}
}

func TestConformanceOverMemory(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, _, _ := newBarrier(t)
		return b
	})
}

func TestConformanceOverBolt(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		dir := t.TempDir()
		bk, err := bolt.Open(filepath.Join(dir, "arca.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b := barrier.New(bk)
		if err := b.Initialize(ctx, newSeal(t)); err != nil {
			t.Fatal(err)
		}
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
	if !b.Sealed() {
		t.Error("a new barrier is unsealed")
	}
	if err := b.Unseal(ctx, s); !errors.Is(err, barrier.ErrNotInitialized) {
		t.Errorf("Unseal before Initialize = %v; want ErrNotInitialized", err)
	}
	if err := b.Initialize(ctx, s); err != nil {
		t.Fatal(err)
	}
	if b.Sealed() {
		t.Error("Initialize left the barrier sealed")
	}
	if ok, err := b.Initialized(ctx); !ok || err != nil {
		t.Errorf("Initialized after Initialize = %v, %v", ok, err)
	}
	raw, _ := m.Get(ctx, "core/keyring")
	for _, other := range []*barrier.Barrier{b, barrier.New(m)} {
		if err := other.Initialize(ctx, s); !errors.Is(err, barrier.ErrAlreadyInitialized) {
			t.Errorf("second Initialize = %v; want ErrAlreadyInitialized", err)
		}
	}
	if again, _ := m.Get(ctx, "core/keyring"); !bytes.Equal(raw, again) {
		t.Error("a refused Initialize replaced the stored keyring")
	}
	mustPut(t, b, "k", "v")

	b.Seal()
	b.Seal() // idempotent
	if !b.Sealed() {
		t.Error("Seal left the barrier unsealed")
	}
	if err := b.Unseal(ctx, newSeal(t)); err == nil || !b.Sealed() {
		t.Errorf("Unseal with the wrong seal = %v, sealed=%v; want error and still sealed", err, b.Sealed())
	}
	if err := b.Unseal(ctx, s); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("Get after Unseal = %q, %v", v, err)
	}
	// A second process (another Barrier on the same storage) unseals too.
	b2 := barrier.New(m)
	if err := b2.Unseal(ctx, s); err != nil {
		t.Fatal(err)
	}
	if v, err := b2.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("Get through a second barrier = %q, %v", v, err)
	}
	// Unseal of an unsealed barrier with the wrong seal fails and keeps it working.
	if err := b2.Unseal(ctx, newSeal(t)); err == nil {
		t.Error("Unseal with the wrong seal succeeded")
	}
	if _, err := b2.Get(ctx, "k"); err != nil {
		t.Errorf("a failed re-Unseal broke the barrier: %v", err)
	}
}

// TestSealedEverywhere: while sealed (never unsealed, or sealed after use)
// every data call and every keyring change returns ErrSealed.
func TestSealedEverywhere(t *testing.T) {
	t.Parallel()
	fresh := barrier.New(memory.New())
	used, _, _ := newBarrier(t)
	mustPut(t, used, "k", "v")
	used.Seal()
	ops := []struct {
		name string
		op   func(b *barrier.Barrier) error
	}{
		{"Get", func(b *barrier.Barrier) error { _, err := b.Get(ctx, "k"); return err }},
		{"List", func(b *barrier.Barrier) error { _, err := b.List(ctx, "", "", 0); return err }},
		{"Put", func(b *barrier.Barrier) error { return b.Put(ctx, "k", []byte("x")) }},
		{"Delete", func(b *barrier.Barrier) error { return b.Delete(ctx, "k") }},
		{"Update", func(b *barrier.Barrier) error {
			return b.Update(ctx, func(storage.Tx) error { t.Error("fn ran while sealed"); return nil })
		}},
		{"Rotate", func(b *barrier.Barrier) error { _, err := b.Rotate(ctx, newSeal(t)); return err }},
		{"Rewrap", func(b *barrier.Barrier) error { return b.Rewrap(ctx, newSeal(t)) }},
	}
	for _, b := range []struct {
		name string
		b    *barrier.Barrier
	}{{"never unsealed", fresh}, {"sealed after use", used}} {
		for _, o := range ops {
			if err := o.op(b.b); !errors.Is(err, barrier.ErrSealed) {
				t.Errorf("%s: %s = %v; want ErrSealed", b.name, o.name, err)
			}
		}
	}
}

// TestSealDuringUpdate: sealing while a transaction runs makes its later
// tx calls fail and nothing it wrote is kept.
func TestSealDuringUpdate(t *testing.T) {
	t.Parallel()
	b, m, _ := newBarrier(t)
	err := b.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, "before", []byte("1")); err != nil {
			return err
		}
		b.Seal()
		return tx.Put(ctx, "after", []byte("2"))
	})
	if !errors.Is(err, barrier.ErrSealed) {
		t.Errorf("Update sealed midway = %v; want ErrSealed", err)
	}
	if ents, _ := m.List(ctx, "", "", 0); len(ents) != 2 { // only core/keyring and its terms
		t.Errorf("storage holds %d entries; want only the keyring and its terms", len(ents))
	}
}

func TestSealZeroesKeys(t *testing.T) {
	t.Parallel()
	b, _, s := newBarrier(t)
	if _, err := b.Rotate(ctx, s); err != nil {
		t.Fatal(err)
	}
	live := barrier.LiveKeysForTest(b)
	if len(live) != 2 {
		t.Fatalf("%d live keys; want 2", len(live))
	}
	b.Seal()
	for i, k := range live {
		if !bytes.Equal(k, make([]byte, len(k))) {
			t.Errorf("key %d not zeroed by Seal", i)
		}
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	b, m, s := newBarrier(t)
	live := barrier.LiveKeysForTest(b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if !b.Sealed() || !bytes.Equal(live[0], make([]byte, 32)) {
		t.Error("Close did not seal and zero the keyring")
	}
	if _, err := m.Get(ctx, "x"); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Close did not close the storage: %v", err)
	}
	if err := b.Unseal(ctx, s); !errors.Is(err, storage.ErrClosed) {
		t.Errorf("Unseal after Close = %v; want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestReservedPaths(t *testing.T) {
	t.Parallel()
	b, m, _ := newBarrier(t)
	raw, _ := m.Get(ctx, "core/keyring")
	// Other core/ paths are ordinary sealed paths.
	mustPut(t, b, "core/config", "c")
	mustPut(t, b, "core/keyringish", "k")
	for _, p := range []string{"core/keyring", "core/keyring/", "core/keyring/old", barrier.SealConfigPath} {
		ops := []struct {
			name string
			op   func(r storage.Reader, w storage.Writer) error
		}{
			{"Get", func(r storage.Reader, _ storage.Writer) error { _, err := r.Get(ctx, p); return err }},
			{"List", func(r storage.Reader, _ storage.Writer) error { _, err := r.List(ctx, p, "", 0); return err }},
			{"Put", func(_ storage.Reader, w storage.Writer) error { return w.Put(ctx, p, []byte("evil")) }},
			{"Delete", func(_ storage.Reader, w storage.Writer) error { return w.Delete(ctx, p) }},
		}
		for _, o := range ops {
			if err := o.op(b, b); !errors.Is(err, barrier.ErrReserved) {
				t.Errorf("%s(%q) = %v; want ErrReserved", o.name, p, err)
			}
			err := b.Update(ctx, func(tx storage.Tx) error { return o.op(tx, tx) })
			if !errors.Is(err, barrier.ErrReserved) {
				t.Errorf("tx.%s(%q) = %v; want ErrReserved", o.name, p, err)
			}
		}
	}
	if again, _ := m.Get(ctx, "core/keyring"); !bytes.Equal(raw, again) {
		t.Error("the stored keyring changed")
	}
	// Listing around the keyring skips it, also when it would fill a page.
	tests := []struct {
		prefix, after string
		limit         int
		want          string
	}{
		{"core/", "", 0, "core/config,core/keyringish"},
		{"core/", "", 1, "core/config"},
		{"core/", "core/config", 1, "core/keyringish"},
		{"core/k", "", 1, "core/keyringish"},
		{"", "", 0, "core/config,core/keyringish"},
		{"", "", 2, "core/config,core/keyringish"},
	}
	for _, tc := range tests {
		ents, err := b.List(ctx, tc.prefix, tc.after, tc.limit)
		var got []string
		for _, e := range ents {
			got = append(got, e.Key)
		}
		if err != nil || strings.Join(got, ",") != tc.want {
			t.Errorf("List(%q, %q, %d) = %v, %v; want %s", tc.prefix, tc.after, tc.limit, got, err, tc.want)
		}
	}
	if v, err := b.Get(ctx, "core/config"); err != nil || string(v) != "c" {
		t.Errorf("Get(core/config) = %q, %v", v, err)
	}
}

func TestValueFormat(t *testing.T) {
	t.Parallel()
	b, m, _ := newBarrier(t)
	for _, n := range []int{0, 1, 100, 4096} {
		pt := bytes.Repeat([]byte{'x'}, n)
		if err := b.Put(ctx, "a", pt); err != nil {
			t.Fatal(err)
		}
		raw1, _ := m.Get(ctx, "a")
		if err := b.Put(ctx, "a", pt); err != nil {
			t.Fatal(err)
		}
		raw2, _ := m.Get(ctx, "a")
		if len(raw1) != 1+4+12+n+16 {
			t.Errorf("%d-byte value sealed to %d bytes; want %d", n, len(raw1), 1+4+12+n+16)
		}
		if raw1[0] != 0x01 || binary.BigEndian.Uint32(raw1[1:5]) != 1 {
			t.Errorf("header % x; want version 1, term 1", raw1[:5])
		}
		if bytes.Equal(raw1[5:17], raw2[5:17]) {
			t.Error("two seals of the same value share a nonce")
		}
		// One byte turns up in random ciphertext by chance (about one run
		// in eight); a run of 16 does not.
		if n >= 16 && bytes.Contains(raw1, pt) {
			t.Error("storage holds the plaintext")
		}
	}
}

// TestTamper alters each region of a stored value; every variant must fail
// with ErrCorrupt and return no plaintext.
func TestTamper(t *testing.T) {
	t.Parallel()
	b, m, s := newBarrier(t)
	if _, err := b.Rotate(ctx, s); err != nil { // so terms 1 and 2 both exist
		t.Fatal(err)
	}
	const secret = "value-a-secret"
	mustPut(t, b, "a", secret)
	raw, _ := m.Get(ctx, "a")
	flip := func(i int) func([]byte) []byte {
		return func(v []byte) []byte { v[i] ^= 0x01; return v }
	}
	setTerm := func(term uint32) func([]byte) []byte {
		return func(v []byte) []byte { binary.BigEndian.PutUint32(v[1:5], term); return v }
	}
	tests := []struct {
		name   string
		mutate func([]byte) []byte
	}{
		{"version", flip(0)},
		{"version 2", func(v []byte) []byte { v[0] = 2; return v }},
		{"term high byte", flip(1)},
		{"term low byte", flip(4)},
		{"term of another existing key", setTerm(1)},
		{"unknown term", setTerm(99)},
		{"term 0", setTerm(0)},
		{"nonce first", flip(5)},
		{"nonce last", flip(16)},
		{"ciphertext first", flip(17)},
		{"ciphertext last", flip(17 + len(secret) - 1)},
		{"tag first", flip(len(raw) - 16)},
		{"tag last", flip(len(raw) - 1)},
		{"truncated by one", func(v []byte) []byte { return v[:len(v)-1] }},
		{"tag removed", func(v []byte) []byte { return v[:len(v)-16] }},
		{"header only", func(v []byte) []byte { return v[:5] }},
		{"empty", func([]byte) []byte { return []byte{} }},
		{"extended", func(v []byte) []byte { return append(v, 0) }},
	}
	for _, tc := range tests {
		if err := m.Put(ctx, "a", tc.mutate(bytes.Clone(raw))); err != nil {
			t.Fatal(err)
		}
		v, err := b.Get(ctx, "a")
		if !errors.Is(err, barrier.ErrCorrupt) || v != nil {
			t.Errorf("%s: Get = %q, %v; want nil, ErrCorrupt", tc.name, v, err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error reveals the plaintext", tc.name)
		}
		if _, err := b.List(ctx, "a", "", 0); !errors.Is(err, barrier.ErrCorrupt) {
			t.Errorf("%s: List = %v; want ErrCorrupt", tc.name, err)
		}
	}
	// Every single-bit flip, exhaustively.
	for i := range raw {
		for bit := range 8 {
			c := bytes.Clone(raw)
			c[i] ^= 1 << bit
			m.Put(ctx, "a", c)
			if v, err := b.Get(ctx, "a"); !errors.Is(err, barrier.ErrCorrupt) || v != nil {
				t.Errorf("byte %d bit %d flipped: %q, %v", i, bit, v, err)
			}
		}
	}
	m.Put(ctx, "a", raw)
	if v, err := b.Get(ctx, "a"); err != nil || string(v) != secret {
		t.Errorf("restored value = %q, %v", v, err)
	}
}

// TestSwapBetweenPaths: the path is authenticated, so sealed values swapped
// between keys (or copied to a new key) do not open.
func TestSwapBetweenPaths(t *testing.T) {
	t.Parallel()
	b, m, _ := newBarrier(t)
	mustPut(t, b, "acct/1/key", "alice")
	mustPut(t, b, "acct/2/key", "bob")
	r1, _ := m.Get(ctx, "acct/1/key")
	r2, _ := m.Get(ctx, "acct/2/key")
	m.Put(ctx, "acct/1/key", r2)
	m.Put(ctx, "acct/2/key", r1)
	m.Put(ctx, "acct/3/key", r1)
	for _, p := range []string{"acct/1/key", "acct/2/key", "acct/3/key"} {
		if v, err := b.Get(ctx, p); !errors.Is(err, barrier.ErrCorrupt) || v != nil {
			t.Errorf("Get(%s) after swap = %q, %v; want ErrCorrupt", p, v, err)
		}
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	b, m, s := newBarrier(t)
	termOf := func(p string) uint32 {
		raw, err := m.Get(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return binary.BigEndian.Uint32(raw[1:5])
	}
	want := map[string]string{}
	put := func(k, v string) { mustPut(t, b, k, v); want[k] = v }
	put("t1", "one")
	for next := uint32(2); next <= 4; next++ {
		term, err := b.Rotate(ctx, s)
		if err != nil || term != next {
			t.Fatalf("Rotate = %d, %v; want %d", term, err, next)
		}
		k := fmt.Sprintf("t%d", next)
		put(k, k)
		if got := termOf(k); got != next {
			t.Errorf("value written after rotation to %d sealed under term %d", next, got)
		}
	}
	if got := termOf("t1"); got != 1 {
		t.Errorf("old value's term changed to %d", got)
	}
	if n := len(barrier.KeyringKeysForTest(b)); n != 4 {
		t.Errorf("keyring holds %d terms; want 4", n)
	}
	check := func(when string) {
		for k, v := range want {
			if got, err := b.Get(ctx, k); err != nil || string(got) != v {
				t.Errorf("%s: Get(%s) = %q, %v; want %q", when, k, got, err, v)
			}
		}
	}
	check("after rotations")
	// The rotated keyring is what was stored.
	b.Seal()
	if err := b.Unseal(ctx, s); err != nil {
		t.Fatal(err)
	}
	check("after Seal and Unseal")
	put("t5", "after unseal")
	if got := termOf("t5"); got != 4 {
		t.Errorf("after Unseal new values use term %d; want 4", got)
	}
}

// TestRotateRefusesStaleKeyring: a barrier whose view of the stored keyring
// is stale (another process rotated) must not overwrite it and drop a term.
func TestRotateRefusesStaleKeyring(t *testing.T) {
	t.Parallel()
	b1, m, s := newBarrier(t)
	b2 := barrier.New(m)
	if err := b2.Unseal(ctx, s); err != nil {
		t.Fatal(err)
	}
	if term, err := b1.Rotate(ctx, s); err != nil || term != 2 {
		t.Fatalf("b1.Rotate = %d, %v", term, err)
	}
	mustPut(t, b1, "under-term-2", "v")
	if _, err := b2.Rotate(ctx, s); err == nil {
		t.Fatal("a stale barrier rotated over a newer keyring")
	}
	if err := b2.Rewrap(ctx, newSeal(t)); err == nil {
		t.Fatal("a stale barrier rewrapped over a newer keyring")
	}
	if err := b2.Unseal(ctx, s); err != nil {
		t.Fatal(err)
	}
	if term, err := b2.Rotate(ctx, s); err != nil || term != 3 {
		t.Errorf("Rotate after reloading = %d, %v; want 3", term, err)
	}
	if v, err := b2.Get(ctx, "under-term-2"); err != nil || string(v) != "v" {
		t.Errorf("value under term 2 = %q, %v", v, err)
	}
}

func TestRewrap(t *testing.T) {
	t.Parallel()
	b, _, s := newBarrier(t)
	mustPut(t, b, "old", "1")
	if _, err := b.Rotate(ctx, s); err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, "new", "2")
	s2 := newSeal(t)
	if err := b.Rewrap(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "old"); err != nil || string(v) != "1" {
		t.Errorf("Rewrap disturbed the live barrier: %q, %v", v, err)
	}
	b.Seal()
	if err := b.Unseal(ctx, s); err == nil || !b.Sealed() {
		t.Errorf("the old seal still unseals after Rewrap: %v", err)
	}
	if err := b.Unseal(ctx, s2); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"old": "1", "new": "2"} {
		if v, err := b.Get(ctx, k); err != nil || string(v) != want {
			t.Errorf("Get(%s) after Rewrap = %q, %v", k, v, err)
		}
	}
}

// brokenWrapper wraps but cannot unwrap, like a misconfigured HSM.
type brokenWrapper struct{ *dev.Seal }

func (brokenWrapper) Unwrap(context.Context, []byte) ([]byte, error) {
	return nil, errors.New("cannot unwrap")
}

// lyingWrapper unwraps to something other than what it wrapped.
type lyingWrapper struct{ *dev.Seal }

func (w lyingWrapper) Unwrap(ctx context.Context, c []byte) ([]byte, error) {
	pt, err := w.Seal.Unwrap(ctx, c)
	if err == nil {
		pt[len(pt)-1] ^= 1
	}
	return pt, err
}

// TestFaultyWrapperRefused: a wrapper that cannot round-trip its own output
// never replaces the stored keyring.
func TestFaultyWrapperRefused(t *testing.T) {
	t.Parallel()
	b, m, s := newBarrier(t)
	raw, _ := m.Get(ctx, "core/keyring")
	for _, w := range []barrier.Wrapper{brokenWrapper{newSeal(t)}, lyingWrapper{newSeal(t)}} {
		if err := b.Rewrap(ctx, w); err == nil {
			t.Errorf("Rewrap with %T succeeded", w)
		}
		if _, err := b.Rotate(ctx, w); err == nil {
			t.Errorf("Rotate with %T succeeded", w)
		}
		if err := barrier.New(memory.New()).Initialize(ctx, w); err == nil {
			t.Errorf("Initialize with %T succeeded", w)
		}
	}
	if again, _ := m.Get(ctx, "core/keyring"); !bytes.Equal(raw, again) {
		t.Error("a faulty wrapper's output replaced the keyring")
	}
	b.Seal()
	if err := b.Unseal(ctx, s); err != nil {
		t.Errorf("the original seal no longer unseals: %v", err)
	}
}

// plainWrapper does not encrypt, so tests can see and forge the keyring's
// encoding.
type plainWrapper struct{}

func (plainWrapper) Wrap(_ context.Context, p []byte) ([]byte, error)   { return bytes.Clone(p), nil }
func (plainWrapper) Unwrap(_ context.Context, c []byte) ([]byte, error) { return bytes.Clone(c), nil }

func TestKeyringEncoding(t *testing.T) {
	t.Parallel()
	m := memory.New()
	b := barrier.New(m)
	if err := b.Initialize(ctx, plainWrapper{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rotate(ctx, plainWrapper{}); err != nil {
		t.Fatal(err)
	}
	keys := barrier.KeyringKeysForTest(b)
	enc, _ := m.Get(ctx, "core/keyring")
	want := []byte{1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 1}
	want = append(want, keys[0]...)
	want = append(want, 0, 0, 0, 2)
	want = append(want, keys[1]...)
	if !bytes.Equal(enc, want) {
		t.Errorf("keyring encoding\n got % x\nwant % x", enc, want)
	}

	entry := func(term uint32, key []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, term), key...)
	}
	header := func(active, count uint32) []byte {
		return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32([]byte{1}, active), count)
	}
	k := bytes.Repeat([]byte{7}, 32)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	bad := []struct {
		name string
		enc  []byte
	}{
		{"empty", nil},
		{"short header", []byte{1, 0, 0}},
		{"version 2", append([]byte{2}, header(1, 1)[1:]...)},
		{"no terms", header(1, 0)},
		{"count too high", cat(header(1, 2), entry(1, k))},
		{"count too low", cat(header(1, 1), entry(1, k), entry(2, k))},
		{"short key", cat(header(1, 1), entry(1, k[:31]))},
		{"trailing byte", cat(header(1, 1), entry(1, k), []byte{0})},
		{"duplicate term", cat(header(1, 2), entry(1, k), entry(1, k))},
		{"active term missing", cat(header(2, 1), entry(1, k))},
		{"term zero", cat(header(1, 2), entry(0, k), entry(1, k))},
	}
	for _, tc := range bad {
		m.Put(ctx, "core/keyring", tc.enc)
		b := barrier.New(m)
		if err := b.Unseal(ctx, plainWrapper{}); err == nil || !b.Sealed() {
			t.Errorf("%s: Unseal = %v; want error and sealed", tc.name, err)
		}
	}
	m.Put(ctx, "core/keyring", cat(header(1, 1), entry(1, k)))
	if err := barrier.New(m).Unseal(ctx, plainWrapper{}); err != nil {
		t.Errorf("a well-formed hand-built keyring: %v", err)
	}
}

// TestConcurrentUse runs writers, readers, rotations and seal/unseal cycles
// together, for the race detector: data calls either work or say ErrSealed,
// and every value written stays readable.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	b, _, s := newBarrier(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	written := map[string]string{}
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				k := fmt.Sprintf("c/%d/%d", w, i)
				err := b.Put(ctx, k, []byte(k))
				if errors.Is(err, barrier.ErrSealed) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written[k] = k
				mu.Unlock()
				if _, err := b.List(ctx, "c/", "", 10); err != nil && !errors.Is(err, barrier.ErrSealed) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if _, err := b.Rotate(ctx, s); err != nil && !errors.Is(err, barrier.ErrSealed) {
				t.Error(err)
			}
			b.Seal()
			if err := b.Unseal(ctx, s); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if b.Sealed() {
		if err := b.Unseal(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range written {
		if got, err := b.Get(ctx, k); err != nil || string(got) != v {
			t.Errorf("Get(%s) = %q, %v", k, got, err)
		}
	}
}

// TestNothingPlainOnDisk writes known secrets through a barrier on bbolt,
// rotates and rewraps, then scans the raw database file: no plaintext value,
// no keyring key and no dev seal key may appear in it, raw or hex or base64
// encoded.
func TestNothingPlainOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "arca.db")
	bk, err := bolt.Open(dbPath, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s1, _, err := dev.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	dir2 := t.TempDir()
	s2, _, err := dev.Open(dir2)
	if err != nil {
		t.Fatal(err)
	}
	b := barrier.New(bk)
	if err := b.Initialize(ctx, s1); err != nil {
		t.Fatal(err)
	}
	var secrets [][]byte
	write := func(n int) {
		for range n {
			v := make([]byte, 48)
			rand.Read(v)
			v = append([]byte("TOP-SECRET-"), v...)
			k := fmt.Sprintf("kms/key/%03d", len(secrets))
			secrets = append(secrets, v)
			if len(secrets)%2 == 0 {
				err = b.Put(ctx, k, v)
			} else {
				err = b.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, k, v) })
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	write(40)
	if _, err := b.Rotate(ctx, s1); err != nil {
		t.Fatal(err)
	}
	write(40)
	if err := b.Rewrap(ctx, s2); err != nil {
		t.Fatal(err)
	}
	write(20)
	for i := 0; i < 100; i += 10 {
		b.Delete(ctx, fmt.Sprintf("kms/key/%03d", i))
	}
	keyringKeys := barrier.KeyringKeysForTest(b)
	if len(keyringKeys) != 2 {
		t.Fatalf("%d keyring keys; want 2", len(keyringKeys))
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	raw, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{"secret marker": []byte("TOP-SECRET-")}
	for i, v := range secrets {
		needles[fmt.Sprintf("secret value %d", i)] = v[len("TOP-SECRET-"):]
	}
	for i, k := range keyringKeys {
		needles[fmt.Sprintf("keyring key %d", i+1)] = k
	}
	for i, d := range []string{dir, dir2} {
		k, err := os.ReadFile(filepath.Join(d, dev.FileName))
		if err != nil {
			t.Fatal(err)
		}
		needles[fmt.Sprintf("dev seal key %d", i+1)] = k
	}
	for name, n := range needles {
		if len(n) < 16 && name != "secret marker" {
			t.Fatalf("%s: needle too short to be meaningful", name)
		}
		forms := map[string][]byte{
			"raw":    n,
			"hex":    []byte(hex.EncodeToString(n)),
			"base64": []byte(base64.StdEncoding.EncodeToString(n)),
		}
		for form, f := range forms {
			if bytes.Contains(raw, f) {
				t.Errorf("%s found (%s) in the database file", name, form)
			}
		}
	}

	// And the data is all there for the right seal.
	bk, err = bolt.Open(dbPath, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b = barrier.New(bk)
	defer b.Close()
	if err := b.Unseal(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "kms/key/001"); err != nil || !bytes.Equal(v, secrets[1]) {
		t.Errorf("after reopen Get = %q, %v", v, err)
	}
}

// FuzzOpen feeds arbitrary bytes to the value opener as if read from
// storage: it must never panic and, short of the one genuine value, never
// return plaintext.
func FuzzOpen(f *testing.F) {
	b, m, s := newBarrier(f)
	mustPut(f, b, "k", "genuine value")
	if _, err := b.Rotate(ctx, s); err != nil { // terms 1 and 2 both known
		f.Fatal(err)
	}
	genuine, _ := m.Get(ctx, "k")
	f.Add(genuine)
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 1})
	f.Add(append([]byte{1, 0, 0, 0, 2}, make([]byte, 28)...))
	f.Fuzz(func(t *testing.T, sealed []byte) {
		isGenuine := bytes.Equal(sealed, genuine)
		v, err := barrier.OpenForTest(b, "k", bytes.Clone(sealed))
		switch {
		case isGenuine && (err != nil || string(v) != "genuine value"):
			t.Errorf("genuine value: %q, %v", v, err)
		case !isGenuine && (!errors.Is(err, barrier.ErrCorrupt) || v != nil):
			t.Errorf("forged value opened: %q, %v", v, err)
		}
	})
}

func benchmarkSizes() []int { return []int{64, 1024, 16 << 10} }

func BenchmarkPut(b *testing.B) {
	for _, n := range benchmarkSizes() {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			br, _, _ := newBarrier(b)
			v := make([]byte, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if err := br.Put(ctx, "kms/bench/key", v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkGet(b *testing.B) {
	for _, n := range benchmarkSizes() {
		b.Run(fmt.Sprintf("%dB", n), func(b *testing.B) {
			br, _, _ := newBarrier(b)
			if err := br.Put(ctx, "kms/bench/key", make([]byte, n)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := br.Get(ctx, "kms/bench/key"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGetParallel measures reads from all cores, which share the
// keyring snapshot without locking.
func BenchmarkGetParallel(b *testing.B) {
	br, _, _ := newBarrier(b)
	if err := br.Put(ctx, "kms/bench/key", make([]byte, 1024)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1024)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := br.Get(ctx, "kms/bench/key"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestErrSealedIsRetryable(t *testing.T) {
	var s interface{ Sealed() bool }
	if !errors.As(fmt.Errorf("get key: %w", barrier.ErrSealed), &s) || !s.Sealed() {
		t.Fatal("ErrSealed has no Sealed() true: a request in flight at seal would answer 500")
	}
}
