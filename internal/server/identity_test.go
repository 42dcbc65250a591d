package server

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/oidc"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/sts"
	"github.com/arca-kms/arca/internal/svcerr"
)

// TestWebErrorClasses: each of the verifier's error classes becomes STS's,
// keeping the client-safe message.
func TestWebErrorClasses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ from, to error }{
		{oidc.ErrExpiredToken, sts.ErrWebTokenExpired},
		{oidc.ErrRejectedClaim, sts.ErrWebTokenRejected},
		{oidc.ErrIDPCommunication, sts.ErrIssuerUnreachable},
		{oidc.ErrInvalidToken, sts.ErrWebTokenInvalid},
	} {
		err := &webError{kind: c.to, err: fmt.Errorf("the message: %w", c.from)}
		if !errors.Is(err, c.to) || !errors.Is(err, c.from) || err.Error() != "the message: "+c.from.Error() {
			t.Errorf("%v: webError %v does not carry %v", c.from, err, c.to)
		}
	}
	if w, err := newWebIdentity(nil, nil, nil); w != nil || err != nil {
		t.Errorf("no providers: %v %v, want a nil verifier", w, err)
	}
}

// TestCredentialsRouting: ASIA keys are STS's, every other key the
// identity store's; unknown keys of either kind are the verifier's
// ErrUnknownAccessKey.
func TestCredentialsRouting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ids := iam.New(memory.New(), "aws")
	if _, _, err := ids.EnsureRootAccessKey(ctx, "111122223333", "AKIAROUTINGROUTING00", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}
	c := credentials{ids: ids, sts: sts.New(memory.New(), directory{ids}, sts.Config{})}
	if s, err := c.LookupSecret(ctx, "AKIAROUTINGROUTING00"); err != nil || string(s) != "s3cret" {
		t.Errorf("long-term key: %q %v", s, err)
	}
	for _, id := range []string{"AKIANOSUCHKEYNOSUCH0", "ASIANOSUCHKEYNOSUCH0"} {
		if _, err := c.LookupSecret(ctx, id); !errors.Is(err, sigv4.ErrUnknownAccessKey) {
			t.Errorf("LookupSecret(%s) = %v", id, err)
		}
		if _, err := c.Principal(ctx, id, "tok"); svcerr.CodeOf(err) != svcerr.UnrecognizedClient {
			t.Errorf("Principal(%s) = %v", id, err)
		}
	}
	if _, err := (directory{ids}).Role(ctx, "111122223333", "nope"); !errors.Is(err, sts.ErrNoSuchRole) {
		t.Errorf("Role(nope) = %v", err)
	}
}
