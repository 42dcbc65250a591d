package server

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/memory"
)

// gcmWrapper is a test seal: AES-256-GCM under a random key.
type gcmWrapper struct {
	aead cipher.AEAD
	// brokenUnwrap makes Unwrap fail, like a seal that cannot read back
	// what it wrote (a misconfigured HSM mechanism).
	brokenUnwrap bool
}

func newGCMWrapper(t *testing.T) *gcmWrapper {
	k := make([]byte, 32)
	rand.Read(k)
	blk, _ := aes.NewCipher(k)
	a, _ := cipher.NewGCM(blk)
	return &gcmWrapper{aead: a}
}

func (w *gcmWrapper) Wrap(_ context.Context, pt []byte) ([]byte, error) {
	n := make([]byte, 12, 12+len(pt)+16)
	rand.Read(n)
	return w.aead.Seal(n, n, pt, nil), nil
}

func (w *gcmWrapper) Unwrap(_ context.Context, ct []byte) ([]byte, error) {
	if w.brokenUnwrap || len(ct) < 28 {
		return nil, errors.New("cannot unwrap")
	}
	return w.aead.Open(nil, ct[:12], ct[12:], nil)
}

// testCore is a core over memory storage, initialized with old as a
// "pkcs11" seal, holding one value.
func testCore(t *testing.T, old barrier.Wrapper) (*core, *memory.Backend) {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	b := barrier.New(store)
	enc, _ := seal.Config{Version: 1, Type: seal.TypePKCS11, Params: map[string]string{"key_label": "old"}}.Encode()
	if err := b.InitializeWithSealConfig(ctx, old, enc); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "kms/x", []byte("value")); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	c := &core{b: b, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	c.build = func(context.Context) (*services, error) {
		return &services{api: http.NotFoundHandler(), stop: func() {}}, nil
	}
	return c, store
}

// snapshot copies everything stored.
func snapshot(t *testing.T, s storage.Backend) map[string][]byte {
	ents, err := s.List(context.Background(), "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range ents {
		out[e.Key] = bytes.Clone(e.Value)
	}
	return out
}

// TestMigrationCommitsOnce: a migration whose new seal fails its round trip
// changes nothing in storage (the old seal still opens it, the record still
// names it); one that succeeds replaces keyring and record together, and
// only the new seal opens the data afterwards.
func TestMigrationCommitsOnce(t *testing.T) {
	ctx := context.Background()
	old := newGCMWrapper(t)
	c, store := testCore(t, old)
	before := snapshot(t, store)

	bad := newGCMWrapper(t)
	bad.brokenUnwrap = true
	c.mu.Lock()
	if err := c.b.Unseal(ctx, old); err != nil {
		t.Fatal(err)
	}
	c.migrate = &migration{to: bad, config: seal.Config{Version: 1, Type: seal.TypeAWSKMS}, from: seal.TypePKCS11}
	_, err := c.finishMigration(ctx)
	c.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "nothing was changed") {
		t.Fatalf("migration to a broken seal: %v", err)
	}
	after := snapshot(t, store)
	if len(after) != len(before) {
		t.Fatalf("storage changed: %d → %d entries", len(before), len(after))
	}
	for k, v := range before {
		if !bytes.Equal(after[k], v) {
			t.Fatalf("%s changed by a failed migration", k)
		}
	}

	good := newGCMWrapper(t)
	c.mu.Lock()
	c.migrate = &migration{to: good, config: seal.Config{Version: 1, Type: seal.TypeAWSKMS, Params: map[string]string{"key_arn": "arn"}}, from: seal.TypePKCS11}
	w, err := c.finishMigration(ctx)
	c.mu.Unlock()
	if err != nil || w != good || c.autoType != seal.TypeAWSKMS || c.migrate != nil {
		t.Fatalf("migration: %v (type %s)", err, c.autoType)
	}
	cfg, err := seal.Load(ctx, c.b)
	if err != nil || cfg.Type != seal.TypeAWSKMS || cfg.Params["key_arn"] != "arn" {
		t.Fatalf("seal config after migration: %+v %v", cfg, err)
	}
	// A "restart": a new barrier over the same storage.
	b2 := barrier.New(store)
	if err := b2.Unseal(ctx, old); err == nil {
		t.Fatal("the old seal still opens the migrated keyring")
	}
	if err := b2.Unseal(ctx, good); err != nil {
		t.Fatal(err)
	}
	if v, err := b2.Get(ctx, "kms/x"); err != nil || string(v) != "value" {
		t.Fatalf("value after migration: %q %v", v, err)
	}
}

// TestMigrationFromShamirRunsOnUnseal: an armed migration runs inside
// unsealWith, before the services are published, and the services keep the
// new wrapper.
func TestMigrationFromShamirRunsOnUnseal(t *testing.T) {
	ctx := context.Background()
	old := newGCMWrapper(t)
	c, store := testCore(t, old)
	to := newGCMWrapper(t)
	c.migrate = &migration{to: to, config: seal.Config{Version: 1, Type: seal.TypePKCS11, Params: map[string]string{"key_label": "new"}}, from: seal.TypeShamir}
	c.mu.Lock()
	err := c.unsealWith(ctx, old)
	c.mu.Unlock()
	if err != nil || c.sealed() || c.wrapper != to {
		t.Fatalf("unseal with migration: %v sealed=%v", err, c.sealed())
	}
	if err := barrier.New(store).Unseal(ctx, to); err != nil {
		t.Fatal(err)
	}
}

func TestKeyChanged(t *testing.T) {
	for _, tc := range []struct {
		typ         string
		stored, now map[string]string
		want        bool
	}{
		{seal.TypePKCS11, map[string]string{"key_label": "a", "mechanism": "CKM_AES_GCM"}, map[string]string{"key_label": "a", "mechanism": "CKM_AES_GCM"}, false},
		{seal.TypePKCS11, map[string]string{"key_label": "a"}, map[string]string{"key_label": "b"}, true},
		{seal.TypePKCS11, map[string]string{"key_label": "a", "mechanism": "CKM_AES_GCM"}, map[string]string{"key_label": "a", "mechanism": "CKM_AES_KEY_WRAP_PAD"}, true},
		{seal.TypePKCS11, nil, map[string]string{"key_label": "b"}, false}, // an older record
		{seal.TypeAWSKMS, map[string]string{"key_arn": "x"}, nil, false},   // not known before Open
		{seal.TypeAWSKMS, map[string]string{"key_arn": "x"}, map[string]string{"key_arn": "y"}, true},
		{seal.TypeShamir, map[string]string{"key_label": "a"}, map[string]string{"key_label": "b"}, false},
	} {
		if got := keyChanged(tc.typ, tc.stored, tc.now); got != tc.want {
			t.Errorf("keyChanged(%s, %v, %v) = %v", tc.typ, tc.stored, tc.now, got)
		}
	}
}
