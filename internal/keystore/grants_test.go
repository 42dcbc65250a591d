package keystore

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/storage/memory"
)

func addGrant(t *testing.T, s *Store, keyID, id, retiring string) *Grant {
	t.Helper()
	g := &Grant{ID: id, Account: "a", Region: "r", KeyID: keyID, Grantee: "arn:aws:iam::a:user/u", Retiring: retiring,
		Operations: []string{"Decrypt", "Encrypt"}, Created: time.Unix(2, 0), Secret: []byte("s"),
		Equals: map[string]string{}}
	got, isNew, err := s.AddGrant(ctx, "a", "r", keyID, func(*Key, *GrantSet) (*Grant, bool, error) { return g, true, nil })
	if err != nil || !isNew || got != g {
		t.Fatalf("AddGrant: %v, %v", isNew, err)
	}
	return g
}

func TestGrantStorage(t *testing.T) {
	t.Parallel()
	b := memory.New()
	s := New(b)
	newKey(t, s, "k1")
	newKey(t, s, "k2")
	addGrant(t, s, "k1", "g2", "arn:aws:iam::a:user/r")
	addGrant(t, s, "k1", "g1", "")
	addGrant(t, s, "k2", "g3", "arn:aws:iam::a:user/r")

	if _, _, err := s.AddGrant(ctx, "a", "r", "missing", func(*Key, *GrantSet) (*Grant, bool, error) {
		t.Error("decide ran for a missing key")
		return nil, false, nil
	}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddGrant on a missing key: %v", err)
	}
	boom := errors.New("boom")
	if _, _, err := s.AddGrant(ctx, "a", "r", "k1", func(*Key, *GrantSet) (*Grant, bool, error) { return nil, false, boom }); !errors.Is(err, boom) {
		t.Errorf("vetoed AddGrant: %v", err)
	}

	check := func(s *Store, what string) {
		t.Helper()
		set, err := s.Grants(ctx, "a", "r", "k1")
		if err != nil || set.Len() != 2 || set.All()[0].ID != "g1" || set.All()[1].ID != "g2" {
			t.Fatalf("%s: grants of k1 = %v, %v", what, set, err)
		}
		if g := set.Get("g2"); g == nil || g.Retiring != "arn:aws:iam::a:user/r" || !g.Allows("Encrypt") || g.Allows("Sign") ||
			g.Equals == nil || g.Subset != nil {
			t.Errorf("%s: g2 = %+v", what, g)
		}
		if n := len(set.For("arn:aws:iam::a:user/u")); n != 2 {
			t.Errorf("%s: For(grantee) = %d grants", what, n)
		}
		if set.For("arn:aws:iam::a:user/other") != nil || set.Get("nope") != nil {
			t.Errorf("%s: found grants that do not exist", what)
		}
	}
	check(s, "cached")
	check(New(b), "reloaded") // an empty Equals survives the round trip

	rs, err := s.RetirableGrants(ctx, "r", "arn:aws:iam::a:user/r", "", 0)
	if err != nil || len(rs) != 2 {
		t.Fatalf("RetirableGrants = %d, %v", len(rs), err)
	}
	page, err := s.RetirableGrants(ctx, "r", "arn:aws:iam::a:user/r", RetirableMarker(rs[0]), 0)
	if err != nil || len(page) != 1 || page[0].ID != rs[1].ID {
		t.Errorf("RetirableGrants after marker = %v, %v", page, err)
	}

	if err := s.DeleteGrant(ctx, "a", "r", "k1", "nope", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteGrant(missing) = %v", err)
	}
	if err := s.DeleteGrant(ctx, "a", "r", "k1", "g2", func(*Key, *Grant) error { return boom }); !errors.Is(err, boom) {
		t.Errorf("vetoed DeleteGrant = %v", err)
	}
	if err := s.DeleteGrant(ctx, "a", "r", "k1", "g2", nil); err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]*Store{"cached": s, "reloaded": New(b)} {
		set, _ := st.Grants(ctx, "a", "r", "k1")
		if set.Len() != 1 || set.Get("g2") != nil {
			t.Errorf("%s: after delete %d grants", name, set.Len())
		}
	}
	if rs, _ := s.RetirableGrants(ctx, "r", "arn:aws:iam::a:user/r", "", 0); len(rs) != 1 || rs[0].ID != "g3" {
		t.Errorf("retiring index after delete: %v", rs)
	}
}

// TestGrantsDestroyedWithKey: Destroy removes a key's grants from storage,
// from the retiring index and from the cache, and leaves other keys' alone.
func TestGrantsDestroyedWithKey(t *testing.T) {
	t.Parallel()
	b := memory.New()
	s := New(b)
	newKey(t, s, "k1")
	newKey(t, s, "k2")
	for i := range 3 {
		addGrant(t, s, "k1", fmt.Sprint("g", i), "arn:aws:iam::a:user/r")
	}
	addGrant(t, s, "k2", "keep", "arn:aws:iam::a:user/r")
	if err := s.Destroy(ctx, "a", "r", "k1", nil); err != nil {
		t.Fatal(err)
	}
	ents, err := b.List(ctx, "kms/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Key, "/grant/k1/") {
			t.Errorf("left behind: %s", e.Key)
		}
	}
	if rs, _ := s.RetirableGrants(ctx, "r", "arn:aws:iam::a:user/r", "", 0); len(rs) != 1 || rs[0].ID != "keep" {
		t.Errorf("retiring index after destroy: %v", rs)
	}
	if set, err := s.Grants(ctx, "a", "r", "k1"); err != nil || set.Len() != 0 {
		t.Errorf("cached grants of a destroyed key: %d, %v", set.Len(), err)
	}
	if set, _ := s.Grants(ctx, "a", "r", "k2"); set.Len() != 1 {
		t.Errorf("k2 lost its grant")
	}
	// A key recreated under the same path (a replica region again) starts
	// without grants.
	newKey(t, s, "k1")
	if set, _ := s.Grants(ctx, "a", "r", "k1"); set.Len() != 0 {
		t.Errorf("recreated key inherited %d grants", set.Len())
	}
}

// TestGrantsNoAlloc: looking up a key without grants allocates nothing,
// as it runs on every cryptographic operation.
func TestGrantsNoAlloc(t *testing.T) {
	s := New(memory.New())
	newKey(t, s, "k1")
	if _, err := s.Grants(ctx, "a", "r", "k1"); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if set, err := s.Grants(ctx, "a", "r", "k1"); err != nil || set.Len() != 0 {
			t.Fatal(set, err)
		}
	}); n != 0 {
		t.Errorf("Grants allocates %.0f times per call", n)
	}
}
