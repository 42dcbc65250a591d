package secrets

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

var contexts = sync.Pool{New: func() any { return new(policy.Context) }}

// authorize is the one place every operation asks whether the caller may
// perform action: on secret r (its resource policy counts, with IAM's
// standard rules: policy.DecideService) or, when r is nil, on resource
// (identity policies alone: CreateSecret, ListSecrets, GetRandomPassword).
func (s *Service) authorize(ctx context.Context, c *auth.Caller, action string, r *record, resource string, more func(*policy.Context)) error {
	var identity []*policy.Policy
	var session *policy.Policy
	if s.ids != nil && c.Type != auth.Root {
		var err error
		if identity, session, err = s.ids.Policies(ctx, &c.Principal); err != nil {
			return internalErr(err)
		}
	}
	pc := contexts.Get().(*policy.Context)
	defer func() { pc.Reset(); contexts.Put(pc) }()
	p := policy.PrincipalOf(c)
	pc.SetCaller(c, s.clock.Keys())
	if r != nil {
		for _, t := range r.Tags {
			pc.Set("aws:ResourceTag/"+t.Key, t.Value)
			pc.Set("secretsmanager:ResourceTag/"+t.Key, t.Value)
		}
		if r.Rotation.LambdaARN != "" {
			pc.Add("secretsmanager:resource/AllowRotationLambdaArn", r.Rotation.LambdaARN)
		}
		if r.PrimaryRegion != "" {
			pc.Add("secretsmanager:SecretPrimaryRegion", r.PrimaryRegion)
		}
	}
	if more != nil {
		more(pc)
	}
	req := policy.Request{Action: action, Resource: resource, Principal: p, Context: pc}
	var d policy.Decision
	if r == nil {
		d = policy.DecideIdentity(policy.Inputs{Request: req, IdentityPolicies: identity, SessionPolicy: session})
	} else {
		rp, err := s.resourcePolicy(r)
		if err != nil {
			return err
		}
		d = policy.DecideService(policy.Inputs{Request: req, KeyPolicy: rp, IdentityPolicies: identity, SessionPolicy: session, KeyAccount: r.Account})
	}
	if d.Allowed {
		return nil
	}
	return svcerr.New(svcerr.AccessDenied, "%s", d.Message(c.ARN, action, resource))
}

// maxPolicyCache bounds the parsed resource-policy cache; under churn it
// simply starts over.
const maxPolicyCache = 4096

// resourcePolicy returns r's parsed resource policy (nil when it has none),
// from a cache keyed by the document's text. A stored policy that no longer
// parses denies everything (fail closed), and is logged.
func (s *Service) resourcePolicy(r *record) (*policy.Policy, error) {
	if r.Policy == "" {
		return nil, nil
	}
	if p, ok := s.policies.Load(r.Policy); ok {
		return p.(*policy.Policy), nil
	}
	p, err := policy.ParseWith([]byte(r.Policy), policy.Options{Kind: policy.KindResource})
	if err != nil {
		s.log.Warn("secret resource policy does not parse; access is denied until it is replaced", slog.String("secret", s.secretARN(r)), slog.Any("error", err))
		return nil, svcerr.New(svcerr.AccessDenied, "The secret's resource policy cannot be evaluated.")
	}
	n := 0
	s.policies.Range(func(_, _ any) bool { n++; return n <= maxPolicyCache })
	if n > maxPolicyCache {
		s.policies.Clear()
	}
	s.policies.Store(r.Policy, p)
	return p, nil
}

// kmsErr translates a KMS error met while encrypting (enc) or decrypting a
// secret version into what Secrets Manager answers.
func kmsErr(err error, enc bool) error {
	e := svcerr.As(err)
	if e == nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return svcerr.Wrap(svcerr.InternalServiceError, err, "The request timed out. Retry the request.")
		}
		return internalErr(err)
	}
	switch e.Code {
	case svcerr.AccessDenied:
		return svcerr.Wrap(svcerr.AccessDenied, err, "Access to KMS is not allowed")
	case svcerr.Validation, svcerr.InvalidParameter:
		return err
	case svcerr.Internal, svcerr.InternalServiceError, svcerr.DependencyTimeout:
		// KMS could not reach storage, or this node is past its staleness
		// bound: retryable, not a fault of the secret's key.
		return internalErr(err)
	}
	if enc {
		return svcerr.Wrap(svcerr.EncryptionFailure, err,
			"Secrets Manager can't encrypt the protected secret text using the provided KMS key. Check that the KMS key is available, enabled, and not in an invalid state. (%s: %s)", e.Code, e.Msg)
	}
	return svcerr.Wrap(svcerr.DecryptionFailure, err,
		"Secrets Manager can't decrypt the protected secret text using the provided KMS key. (%s: %s)", e.Code, e.Msg)
}
