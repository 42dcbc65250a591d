package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/oidc"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/sts"
)

// credentials routes every credential question by the access key's kind:
// temporary keys (ASIA…) belong to STS's sessions, every other key to the
// identity store. It is the verifier's KeyLookup and both transports'
// Principals.
type credentials struct {
	ids *iam.Store
	sts *sts.Service
}

func (c credentials) LookupSecret(ctx context.Context, id string) ([]byte, error) {
	var s []byte
	var err error
	if sts.IsTemporary(id) {
		s, err = c.sts.LookupSecret(ctx, id)
		if errors.Is(err, sts.ErrNoSession) {
			return nil, sigv4.ErrUnknownAccessKey
		}
		return s, err
	}
	s, err = c.ids.LookupSecret(ctx, id)
	if errors.Is(err, iam.ErrNotFound) {
		return nil, sigv4.ErrUnknownAccessKey
	}
	return s, err
}

func (c credentials) Principal(ctx context.Context, id, sessionToken string) (auth.Principal, error) {
	if sts.IsTemporary(id) {
		return c.sts.Principal(ctx, id, sessionToken)
	}
	return c.ids.Principal(ctx, id, sessionToken)
}

// directory is the identity store as STS sees it.
type directory struct{ ids *iam.Store }

func (d directory) Role(ctx context.Context, account, name string) (*sts.Role, error) {
	r, err := d.ids.ParsedRole(ctx, account, name)
	if errors.Is(err, iam.ErrNoSuchRole) {
		return nil, sts.ErrNoSuchRole
	}
	if err != nil {
		return nil, err
	}
	return &sts.Role{ID: r.ID, ARN: r.ARN, Name: r.Name, Account: r.Account, Trust: r.Trust,
		MaxSessionDuration: r.MaxSessionDuration, Tags: r.Tags}, nil
}

func (d directory) UserID(ctx context.Context, account, name string) (string, error) {
	id, err := d.ids.UserID(ctx, account, name)
	if errors.Is(err, iam.ErrNoSuchUser) {
		return "", sts.ErrNoSuchUser
	}
	return id, err
}

func (d directory) Policies(ctx context.Context, p *auth.Principal) ([]*policy.Policy, *policy.Policy, error) {
	return d.ids.Policies(ctx, p)
}

// webIdentity adapts the OIDC verifier to STS: its error classes become
// STS's, the issuer URL is the Provider, and the client ID that admitted the
// token is the Audience of AssumeRoleWithWebIdentity's response.
type webIdentity struct{ v *oidc.Verifier }

func (w webIdentity) Verify(ctx context.Context, token string) (*sts.WebToken, error) {
	tok, err := w.v.Verify(ctx, token)
	if err != nil {
		var kind error
		switch {
		case errors.Is(err, oidc.ErrExpiredToken):
			kind = sts.ErrWebTokenExpired
		case errors.Is(err, oidc.ErrRejectedClaim):
			kind = sts.ErrWebTokenRejected
		case errors.Is(err, oidc.ErrIDPCommunication):
			kind = sts.ErrIssuerUnreachable
		default:
			kind = sts.ErrWebTokenInvalid
		}
		return nil, &webError{kind: kind, err: err}
	}
	return &sts.WebToken{Issuer: tok.Issuer, ProviderKey: tok.ProviderKey, Subject: tok.Subject,
		Audience: []string{tok.ClientID}, ConditionKeys: tok.ConditionKeys()}, nil
}

// webError keeps the verifier's client-safe message and is one of STS's
// sentinels.
type webError struct {
	kind, err error
}

func (e *webError) Error() string { return e.err.Error() }
func (e *webError) Is(target error) bool {
	return target == e.kind
}
func (e *webError) Unwrap() error { return e.err }

// newWebIdentity builds the verifier of the configured OIDC providers; nil
// (every token refused) when there are none.
func newWebIdentity(providers []config.OIDCProvider, now func() time.Time, log *slog.Logger) (sts.WebIdentity, error) {
	if len(providers) == 0 {
		return nil, nil
	}
	issuers := make([]oidc.Issuer, len(providers))
	for i, p := range providers {
		issuers[i] = oidc.Issuer{URL: p.URL, Audiences: p.Audiences, JWKSFile: p.JWKSFile, JWKSURL: p.JWKSURL, Algorithms: p.Algorithms}
	}
	v, err := oidc.New(issuers, oidc.Options{Now: now, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("oidc_providers: %w", err)
	}
	return webIdentity{v}, nil
}
