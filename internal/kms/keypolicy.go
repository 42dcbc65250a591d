package kms

import (
	"context"
	"errors"
	"regexp"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// defaultPolicyName is the name of a key's policy; AWS keys have exactly one.
const defaultPolicyName = "default"

var errPolicyChanged = errors.New("kms: key policy changed concurrently")

var policyNamePattern = regexp.MustCompile(`^[\w]+$`)

// checkPolicyName validates an optional PolicyName member and returns it
// with the default applied.
func checkPolicyName(name string) (string, error) {
	if name == "" {
		return defaultPolicyName, nil
	}
	if err := svcerr.CheckLen("policyName", len(name), 1, 128); err != nil {
		return "", err
	}
	if !policyNamePattern.MatchString(name) {
		return "", svcerr.Validationf("1 validation error detected: Value '%s' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+", name)
	}
	return name, nil
}

// PutKeyPolicy replaces a key's policy. Unless the caller bypasses the
// lockout safety check, the new policy must let the caller change it again.
func (s *Service) PutKeyPolicy(ctx context.Context, c *auth.Caller, in *PutKeyPolicyInput) (*Empty, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	name, err := checkPolicyName(in.PolicyName)
	if err != nil {
		return nil, err
	}
	if in.Policy == "" {
		return nil, svcerr.Missing("policy")
	}
	p, err := checkPolicy(in.Policy)
	if err != nil {
		return nil, err
	}
	// Authorization reads the policy outside the write transaction; if a
	// concurrent PutKeyPolicy replaced it meanwhile, decide again under the
	// new one rather than let a caller who just lost access overwrite it.
	var k *keystore.Key
	for attempt := 0; ; attempt++ {
		if k, err = s.authorizedKey(ctx, c, in.KeyID, ActPutKeyPolicy, false); err != nil {
			return nil, err
		}
		if name != defaultPolicyName {
			return nil, svcerr.New(svcerr.NotFound, "No such policy exists: %s", name)
		}
		if err := s.checkLockout(ctx, c, k, p, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
		seen := k.Policy
		_, err = s.update(ctx, c, s.keyARN(k), ActPutKeyPolicy, nil, func(k *keystore.Key) error {
			if k.Policy != seen {
				return errPolicyChanged
			}
			k.Policy = in.Policy
			return nil
		})
		if !errors.Is(err, errPolicyChanged) || attempt == 2 {
			break
		}
	}
	if errors.Is(err, errPolicyChanged) {
		return nil, svcerr.New(svcerr.ConflictException, "The key policy was changed by another request. Retry the request.")
	}
	if err != nil {
		return nil, err
	}
	s.log.Info("key policy replaced", "key", s.keyARN(k), "principal", c.ARN,
		"bypassLockoutCheck", in.BypassPolicyLockoutSafetyCheck)
	s.lintKeyPolicy(k, p)
	return &Empty{}, nil
}

// lintKeyPolicy logs a warning for each risky grant (low severity and up)
// in a key policy just accepted: the policy is valid and AWS would accept it,
// but an operator should know. Informational findings, such as the default
// policy's kms:* for the account root, are not logged.
func (s *Service) lintKeyPolicy(k *keystore.Key, p *policy.Policy) {
	for _, f := range policy.Lint(p, policy.KindResource, policy.WithAccount(k.Account)) {
		if f.Severity < policy.Low {
			continue
		}
		s.log.Warn("key policy lint", "key", s.keyARN(k), "finding", f.ID, "severity", f.Severity.String(),
			"statement", f.Statement, "sid", f.Sid, "message", f.Message, "fix", f.Fix)
	}
}

// ListKeyPolicies lists the names of a key's policies: always "default".
func (s *Service) ListKeyPolicies(ctx context.Context, c *auth.Caller, in *ListKeyPoliciesInput) (*ListKeyPoliciesOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if _, err := checkLimit(in.Limit, defaultListKeys, maxListKeys); err != nil {
		return nil, err
	}
	if err := svcerr.CheckLen("marker", len(in.Marker), 0, 1024); err != nil {
		return nil, err
	}
	if _, err := s.keyFor(ctx, c, in.KeyID, ActListKeyPolicies, false); err != nil {
		return nil, err
	}
	if in.Marker != "" {
		// The one page never has a next one, so no marker is ever valid.
		return nil, svcerr.New(svcerr.InvalidMarker, "Invalid marker: %s", in.Marker)
	}
	return &ListKeyPoliciesOutput{PolicyNames: []string{defaultPolicyName}}, nil
}
