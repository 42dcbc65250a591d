package sts

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// WebToken is a verified OpenID Connect token.
type WebToken struct {
	// Issuer is the configured issuer URL; ProviderKey is it without the
	// scheme ("token.actions.githubusercontent.com"), the prefix of its
	// condition keys.
	Issuer, ProviderKey string
	Subject             string
	Audience            []string
	// ConditionKeys are the policy condition keys AWS sets for the token
	// ("PROVIDER:sub", "PROVIDER:aud", ...).
	ConditionKeys map[string][]string
}

// Web identity failures, as WebIdentity.Verify reports them.
var (
	// ErrWebTokenInvalid: malformed, unsigned by a trusted issuer, or not
	// meant for this deployment.
	ErrWebTokenInvalid = errors.New("sts: invalid web identity token")
	// ErrWebTokenExpired: expired or not yet valid.
	ErrWebTokenExpired = errors.New("sts: web identity token expired")
	// ErrWebTokenRejected: a claim is not accepted.
	ErrWebTokenRejected = errors.New("sts: web identity token claim rejected")
	// ErrIssuerUnreachable: the issuer's keys could not be fetched.
	ErrIssuerUnreachable = errors.New("sts: identity provider unreachable")
)

// WebIdentity verifies OpenID Connect tokens from the issuers the operator
// trusts. Its errors wrap one of the Err* sentinels above; their messages
// are safe to send to the client.
type WebIdentity interface {
	Verify(ctx context.Context, token string) (*WebToken, error)
}

// webIdentityError maps a verification failure to STS's error.
func webIdentityError(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, ErrWebTokenExpired):
		return svcerr.Wrap(svcerr.ExpiredToken, err, "Token expired: %s", msg)
	case errors.Is(err, ErrWebTokenRejected):
		return svcerr.Wrap(svcerr.IDPRejectedClaim, err, "%s", msg)
	case errors.Is(err, ErrIssuerUnreachable):
		return svcerr.Wrap(svcerr.IDPCommunicationError, err, "%s", msg)
	case errors.Is(err, ErrWebTokenInvalid):
		return svcerr.Wrap(svcerr.InvalidIdentityToken, err, "%s", msg)
	}
	return svcerr.InternalError(err)
}

// AssumeRoleWithWebIdentity exchanges an OpenID Connect token from a
// trusted issuer for role credentials. The request is not signed: the token
// is the credential. The role's trust policy must allow
// sts:AssumeRoleWithWebIdentity to the federated principal
// arn:PARTITION:iam::ACCOUNT:oidc-provider/PROVIDER, and may condition on the
// token's claims (PROVIDER:sub, PROVIDER:aud, ...).
func (s *Service) AssumeRoleWithWebIdentity(ctx context.Context, c *auth.Caller, in *AssumeRoleWithWebIdentityInput) (*AssumeRoleWithWebIdentityOutput, error) {
	r, err := s.checkRoleRequest(roleRequest{in.RoleARN, in.RoleSessionName, in.Policy, in.PolicyArns, in.DurationSeconds})
	if err != nil {
		return nil, err
	}
	d, err := duration(in.DurationSeconds, defaultRoleDuration, maxRoleDuration)
	if err != nil {
		return nil, err
	}
	if in.WebIdentityToken == "" {
		return nil, svcerr.Missing("webIdentityToken")
	}
	if err := checkLen("webIdentityToken", in.WebIdentityToken, 4, maxWebIdentityToken); err != nil {
		return nil, err
	}
	if in.ProviderID != "" {
		// OAuth 2.0 providers (Amazon, Facebook) are not OIDC issuers.
		return nil, svcerr.New(svcerr.InvalidIdentityToken, "ProviderId is only for OAuth 2.0 access tokens, which Arca does not accept; pass an OpenID Connect ID token without ProviderId.")
	}
	if s.web == nil {
		return nil, svcerr.New(svcerr.InvalidIdentityToken, "No OpenIDConnect provider found in your account for the token's issuer.")
	}
	tok, err := s.web.Verify(ctx, in.WebIdentityToken)
	if err != nil {
		return nil, webIdentityError(err)
	}
	provider := "arn:" + s.partition + ":iam::" + r.account + ":oidc-provider/" + tok.ProviderKey
	denied := svcerr.New(svcerr.AccessDenied, "Not authorized to perform sts:AssumeRoleWithWebIdentity")
	role, err := s.dir.Role(ctx, r.account, r.roleName)
	if errors.Is(err, ErrNoSuchRole) {
		return nil, denied
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	if d > role.MaxSessionDuration {
		return nil, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	var pc policy.Context
	now := s.now().UTC()
	pc.Set("aws:PrincipalType", "WebIdentityUser")
	pc.Set("aws:FederatedProvider", provider)
	pc.Set("aws:CurrentTime", now.Format(time.RFC3339))
	pc.Set("sts:RoleSessionName", in.RoleSessionName)
	if c != nil && c.SourceIP != "" {
		pc.Set("aws:SourceIp", c.SourceIP)
	}
	for k, v := range tok.ConditionKeys {
		pc.SetMulti(k, v)
	}
	req := policy.Request{Action: ActAssumeRoleWithWebIdentity, Resource: role.ARN,
		Principal: policy.Principal{Type: policy.TypeAnonymous, FederatedProvider: provider}, Context: &pc}
	if dec := policy.Decide(policy.Inputs{Request: req, KeyPolicy: role.Trust, KeyAccount: role.Account}); !dec.Allowed {
		return nil, denied
	}
	size, err := packedSize(in.Policy, nil)
	if err != nil {
		return nil, err
	}
	out, err := s.issueRole(ctx, role, in.RoleSessionName, in.Policy, cloneTags(role.Tags), nil, "", d)
	if err != nil {
		return nil, err
	}
	res := &AssumeRoleWithWebIdentityOutput{Credentials: out.creds, AssumedRoleUser: out.user,
		SubjectFromWebIdentityToken: tok.Subject, Provider: tok.Issuer, Audience: strings.Join(tok.Audience, ",")}
	if in.Policy != "" {
		res.PackedPolicySize = &size
	}
	s.log.Info("web identity session issued", "role", role.ARN, "provider", tok.ProviderKey, "subject", tok.Subject,
		"session", out.user.ARN, "expires", out.creds.Expiration)
	return res, nil
}

func cloneTags(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
