package keystore

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/storage/memory"
)

func TestImportParams(t *testing.T) {
	t.Parallel()
	b := memory.New()
	s := New(b)
	newKey(t, s, "k1")
	t0 := time.Unix(1000, 0)
	put := func(token string, created time.Time) {
		t.Helper()
		p := &ImportParams{Token: token, Algorithm: "RSAES_OAEP_SHA_256", WrappingSpec: "RSA_2048",
			Created: created, ValidTo: created.Add(24 * time.Hour), Private: []byte("wrapping-private-" + token)}
		if err := s.PutImportParams(ctx, "a", "r", "k1", p, created, 3); err != nil {
			t.Fatal(err)
		}
	}
	put("t1", t0)
	put("t2", t0.Add(time.Minute))
	put("t3", t0.Add(2*time.Minute))
	put("t4", t0.Add(3*time.Minute)) // keep 3: t1, the oldest, goes
	if _, err := s.GetImportParams(ctx, "a", "r", "k1", "t1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("oldest set kept beyond the bound: %v", err)
	}
	p, err := s.GetImportParams(ctx, "a", "r", "k1", "t4")
	if err != nil || p.Algorithm != "RSAES_OAEP_SHA_256" || string(p.Private) != "wrapping-private-t4" {
		t.Fatalf("GetImportParams = %+v, %v", p, err)
	}
	// A day later every earlier set has expired and is dropped.
	put("t5", t0.Add(25*time.Hour))
	for _, tok := range []string{"t2", "t3", "t4"} {
		if _, err := s.GetImportParams(ctx, "a", "r", "k1", tok); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired set %s kept: %v", tok, err)
		}
	}
	if err := s.PutImportParams(ctx, "a", "r", "nokey", &ImportParams{Token: "x"}, t0, 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("import parameters for a missing key: %v", err)
	}
	// Destroying the key removes its wrapping keys too.
	if err := s.Destroy(ctx, "a", "r", "k1", nil); err != nil {
		t.Fatal(err)
	}
	left, _ := b.List(ctx, "kms/", "", 0)
	for _, e := range left {
		if strings.Contains(e.Key, "/import/k1/") {
			t.Errorf("storage still holds %s", e.Key)
		}
	}
}
