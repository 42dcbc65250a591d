package auditkey

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/storage/memory"
)

func TestCurrentRotatePublic(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New())
	k1, err := s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.Current(ctx)
	if !k1.Equal(again) {
		t.Fatal("Current made a second key")
	}
	k2, err := s.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(ctx); !cur.Equal(k2) || k1.Equal(k2) {
		t.Fatal("Rotate did not make a new current key")
	}
	pub, err := s.Public(ctx)
	if err != nil || len(pub) != 2 {
		t.Fatalf("Public: %v, %v", pub, err)
	}
	if !pub[0].Public.Equal(k1.Public()) || pub[0].Current || !pub[1].Public.Equal(k2.Public()) || !pub[1].Current ||
		pub[1].ID != audit.KeyID(k2.Public().(ed25519.PublicKey)) {
		t.Errorf("Public = %+v", pub)
	}
	parsed, err := ParsePEM(PEM(pub))
	if err != nil || len(parsed) != 2 || !parsed[0].Equal(k1.Public()) || !parsed[1].Equal(k2.Public()) {
		t.Errorf("PEM round trip: %v, %v", parsed, err)
	}
	if _, err := ParsePEM([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")); err == nil {
		t.Error("a malformed key was accepted")
	}
	if _, err := ParsePEM(nil); err == nil {
		t.Error("no key was accepted")
	}
}
