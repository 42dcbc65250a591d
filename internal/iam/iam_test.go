package iam

import (
	"context"
	"errors"
	"regexp"
	"testing"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

func TestRootAccessKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memory.New()
	s := New(b, "aws")
	id, secret, err := s.EnsureRootAccessKey(ctx, "111122223333", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(id) || len(secret) != 40 {
		t.Errorf("generated key %q / %d-byte secret", id, len(secret))
	}
	id2, secret2, err := New(b, "aws").EnsureRootAccessKey(ctx, "111122223333", "", nil)
	if err != nil || id2 != id || string(secret2) != string(secret) {
		t.Errorf("second start generated new credentials: %v", err)
	}
	p, err := s.Principal(ctx, id, "")
	if err != nil || p.Type != auth.Root || p.Account != "111122223333" || p.ARN != "arn:aws:iam::111122223333:root" {
		t.Errorf("Principal = %+v, %v", p, err)
	}
	// Choosing credentials replaces the generated ones.
	if _, _, err := s.EnsureRootAccessKey(ctx, "111122223333", "AKIACHOSENCHOSEN0000", []byte("chosen-secret")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupSecret(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("replaced key still valid: %v", err)
	}
	if sec, err := s.LookupSecret(ctx, "AKIACHOSENCHOSEN0000"); err != nil || string(sec) != "chosen-secret" {
		t.Errorf("chosen key: %v", err)
	}
	if _, err := s.Principal(ctx, "AKIANOPE", ""); svcerr.CodeOf(err) != svcerr.UnrecognizedClient {
		t.Errorf("Principal(unknown) = %v", err)
	}
	if _, err := s.Principal(ctx, "AKIACHOSENCHOSEN0000", "a-session-token"); svcerr.CodeOf(err) != svcerr.UnrecognizedClient {
		t.Errorf("long-term key with a session token = %v", err)
	}
}
