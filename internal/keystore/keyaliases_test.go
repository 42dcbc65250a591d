package keystore

import (
	"slices"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/storage/memory"
)

// TestKeyAliases: a key's alias list follows CreateAlias, UpdateAlias,
// DeleteAlias and the key's destruction at once, though it is cached.
func TestKeyAliases(t *testing.T) {
	t.Parallel()
	s := New(memory.New())
	newKey(t, s, "k1")
	newKey(t, s, "k2")
	want := func(id string, names ...string) {
		t.Helper()
		got, err := s.KeyAliases(ctx, "a", "r", id)
		if err != nil || !slices.Equal(got, names) {
			t.Errorf("KeyAliases(%s) = %v %v, want %v", id, got, err, names)
		}
	}
	want("k1")
	for _, n := range []string{"alias/b", "alias/a"} {
		if err := s.CreateAlias(ctx, &Alias{Name: n, Account: "a", Region: "r", TargetKeyID: "k1"}); err != nil {
			t.Fatal(err)
		}
	}
	want("k1", "alias/a", "alias/b")
	want("k2")
	if err := s.UpdateAlias(ctx, "a", "r", "alias/b", "k2", time.Unix(5, 0)); err != nil {
		t.Fatal(err)
	}
	want("k1", "alias/a")
	want("k2", "alias/b")
	if err := s.DeleteAlias(ctx, "a", "r", "alias/a"); err != nil {
		t.Fatal(err)
	}
	want("k1")
	if err := s.DestroyInSet(ctx, "a", "r", "k2", nil); err != nil {
		t.Fatal(err)
	}
	want("k2")
}

// TestKeyAliasesNoAlloc: KeyAliases runs on every operation on a key.
// (Not parallel: AllocsPerRun forbids it.)
func TestKeyAliasesNoAlloc(t *testing.T) {
	s := New(memory.New())
	newKey(t, s, "k1")
	if err := s.CreateAlias(ctx, &Alias{Name: "alias/x", Account: "a", Region: "r", TargetKeyID: "k1"}); err != nil {
		t.Fatal(err)
	}
	s.KeyAliases(ctx, "a", "r", "k1")
	if n := testing.AllocsPerRun(100, func() {
		if v, err := s.KeyAliases(ctx, "a", "r", "k1"); err != nil || len(v) != 1 {
			t.Fatal(v, err)
		}
	}); n != 0 {
		t.Errorf("KeyAliases allocates %.0f times per call", n)
	}
}
