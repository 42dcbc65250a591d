package keystore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal/dev"
	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/storage/bolt"
	"github.com/arca-kms/arca/internal/storage/memory"
)

var ctx = context.Background()

func newKey(t *testing.T, s *Store, id string) (*Key, *kmscrypto.Key) {
	t.Helper()
	m, err := kmscrypto.Generate(kmscrypto.SymmetricDefault)
	if err != nil {
		t.Fatal(err)
	}
	k := &Key{ID: id, Account: "a", Region: "r", Spec: kmscrypto.SymmetricDefault, Usage: "ENCRYPT_DECRYPT", State: Enabled, Created: time.Unix(1, 0)}
	if err := s.Create(ctx, k, m); err != nil {
		t.Fatal(err)
	}
	return k, m
}

func TestCreateGetUpdate(t *testing.T) {
	t.Parallel()
	b := memory.New()
	s := New(b)
	_, m := newKey(t, s, "k1")
	if err := s.Create(ctx, &Key{ID: "k1", Account: "a", Region: "r"}, m); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate Create = %v", err)
	}
	if _, err := s.Get(ctx, "a", "r", "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(missing) = %v", err)
	}
	if _, err := s.Get(ctx, "a", "other-region", "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("key visible in another region: %v", err)
	}
	up, err := s.Update(ctx, "a", "r", "k1", func(k *Key) error { k.State = Disabled; return nil })
	if err != nil || up.State != Disabled {
		t.Fatalf("Update = %+v, %v", up, err)
	}
	boom := errors.New("boom")
	if _, err := s.Update(ctx, "a", "r", "k1", func(k *Key) error { k.State = PendingDeletion; return boom }); !errors.Is(err, boom) {
		t.Errorf("failed Update = %v", err)
	}
	// A fresh store over the same storage sees exactly what was committed.
	for _, st := range []*Store{s, New(b)} {
		k, err := st.Get(ctx, "a", "r", "k1")
		if err != nil || k.State != Disabled || k.Current != 1 || len(k.Versions) != 1 {
			t.Errorf("Get after Update = %+v, %v", k, err)
		}
		got, err := st.Material(ctx, k, 1)
		if err != nil || !got.Equal(m) {
			t.Errorf("Material = %v", err)
		}
		if _, err := st.Material(ctx, k, 2); !errors.Is(err, ErrNotFound) {
			t.Errorf("Material(v2) = %v", err)
		}
	}
	keys, err := s.List(ctx, "a", "r", "", 0)
	if err != nil || len(keys) != 1 {
		t.Errorf("List = %d keys, %v", len(keys), err)
	}
}

func TestAddVersionAndDestroy(t *testing.T) {
	t.Parallel()
	b := memory.New()
	s := New(b)
	_, m1 := newKey(t, s, "k1")
	newKey(t, s, "k2")
	m2, _ := kmscrypto.Generate(kmscrypto.SymmetricDefault)
	k, err := s.AddSharedVersion(ctx, "a", "r", "k1", m2, time.Unix(2, 0), func(_ *Key, _ []*Key, v *Version) error { v.Rotation = "ON_DEMAND"; return nil })
	if err != nil || k.Current != 2 || len(k.Versions) != 2 || k.CurrentVersion().Rotation != "ON_DEMAND" ||
		len(k.CurrentVersion().MaterialID) != 64 || k.CurrentVersion().MaterialID == k.Versions[0].MaterialID {
		t.Fatalf("AddSharedVersion = %+v, %v", k, err)
	}
	veto := errors.New("veto")
	if _, err := s.AddSharedVersion(ctx, "a", "r", "k1", m2, time.Unix(2, 0), func(*Key, []*Key, *Version) error { return veto }); !errors.Is(err, veto) {
		t.Errorf("vetoed AddSharedVersion = %v", err)
	}
	var seen []string
	s.Each(ctx, func(k *Key) error { seen = append(seen, k.ID); return nil })
	if strings.Join(seen, ",") != "k1,k2" {
		t.Errorf("Each saw %v", seen)
	}
	for v, want := range map[uint32]*kmscrypto.Key{1: m1, 2: m2} {
		if got, err := s.Material(ctx, k, v); err != nil || !got.Equal(want) {
			t.Errorf("Material(v%d) = %v", v, err)
		}
	}
	now := time.Unix(3, 0)
	for _, n := range []string{"alias/one", "alias/two"} {
		if err := s.CreateAlias(ctx, &Alias{Name: n, Account: "a", Region: "r", TargetKeyID: "k1", Created: now, Updated: now}); err != nil {
			t.Fatal(err)
		}
	}
	s.CreateAlias(ctx, &Alias{Name: "alias/keep", Account: "a", Region: "r", TargetKeyID: "k2"})
	if err := s.Destroy(ctx, "a", "r", "k1", func(*Key) bool { return false }); !errors.Is(err, ErrNotDue) {
		t.Errorf("declined Destroy = %v", err)
	}
	if err := s.Destroy(ctx, "a", "r", "k1", func(k *Key) bool { return k.State == Enabled }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a", "r", "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after Destroy = %v", err)
	}
	if _, err := s.GetAlias(ctx, "a", "r", "alias/one"); !errors.Is(err, ErrNotFound) {
		t.Errorf("alias of a destroyed key survives: %v", err)
	}
	if _, err := s.GetAlias(ctx, "a", "r", "alias/keep"); err != nil {
		t.Errorf("another key's alias was removed: %v", err)
	}
	left, _ := b.List(ctx, "kms/a/r/", "", 0)
	for _, e := range left {
		if strings.Contains(e.Key, "k1") {
			t.Errorf("storage still holds %s", e.Key)
		}
	}
	// The cached material (m1 was handed to Create and cached) is wiped too.
	if m1.Marshal() != nil || m1.Equal(m1) {
		t.Error("a destroyed key's cached material is still live")
	}
}

func TestAliases(t *testing.T) {
	t.Parallel()
	s := New(memory.New())
	a := &Alias{Name: "alias/x", Account: "a", Region: "r", TargetKeyID: "k1"}
	if err := s.CreateAlias(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAlias(ctx, a); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate alias = %v", err)
	}
	if err := s.UpdateAlias(ctx, "a", "r", "alias/x", "k2", time.Unix(5, 0)); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAlias(ctx, "a", "r", "alias/x")
	if err != nil || got.TargetKeyID != "k2" || !got.Updated.Equal(time.Unix(5, 0)) {
		t.Errorf("GetAlias after update = %+v, %v", got, err)
	}
	if err := s.UpdateAlias(ctx, "a", "r", "alias/none", "k2", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateAlias(missing) = %v", err)
	}
	if err := s.DeleteAlias(ctx, "a", "r", "alias/x"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAlias(ctx, "a", "r", "alias/x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteAlias = %v", err)
	}
}

// TestConcurrentUpdatesStayCoherent: the cache must end on the last
// committed state whatever the interleaving of writers and readers.
func TestConcurrentUpdatesStayCoherent(t *testing.T) {
	t.Parallel()
	b := memory.New()
	s := New(b)
	newKey(t, s, "k1")
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for range 20 {
				if w%2 == 0 {
					s.Forget("a", "r", "k1")
					s.Get(ctx, "a", "r", "k1")
					continue
				}
				s.Update(ctx, "a", "r", "k1", func(k *Key) error {
					k.Description += "x"
					return nil
				})
			}
		})
	}
	wg.Wait()
	cached, _ := s.Get(ctx, "a", "r", "k1")
	stored, _ := New(b).Get(ctx, "a", "r", "k1")
	if cached.Description != stored.Description || len(stored.Description) != 80 {
		t.Errorf("cache %d chars, storage %d chars, want 80", len(cached.Description), len(stored.Description))
	}
}

// TestMaterialNeverPlainOnDisk stores keys through the real barrier on a
// bbolt file and scans the raw file for every key's material.
func TestMaterialNeverPlainOnDisk(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bk, err := bolt.Open(filepath.Join(dir, "arca.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seal, _, err := dev.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	br := barrier.New(bk)
	if err := br.Initialize(ctx, seal); err != nil {
		t.Fatal(err)
	}
	s := New(br)
	var materials [][]byte
	for i := range 20 {
		_, m := newKey(t, s, "key-"+string(rune('a'+i)))
		materials = append(materials, m.Marshal())
	}
	br.Close()
	raw, err := os.ReadFile(filepath.Join(dir, "arca.db"))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range materials {
		if bytes.Contains(raw, m) || bytes.Contains(raw, []byte(hex.EncodeToString(m))) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(m))) {
			t.Errorf("material of key %d found in the database file", i)
		}
	}
}
