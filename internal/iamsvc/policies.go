package iamsvc

import (
	"context"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/policy"
)

// checkIdentityPolicy validates an inline policy document: the API's member
// constraints, then AWS's grammar for identity policies. The size quota is
// the aggregate over all of the owner's inline policies, which the store
// enforces.
func checkIdentityPolicy(doc string) (*policy.Policy, error) {
	if err := checkDocument("policyDocument", doc); err != nil {
		return nil, err
	}
	p, err := policy.ParseWith([]byte(doc), policy.Options{Kind: policy.KindIdentity, MaxSize: -1})
	if err != nil {
		return nil, policyErr(err)
	}
	return p, nil
}

// lintIdentityPolicy logs a warning for each risky grant (low severity and
// up) in an inline policy just stored, as PutKeyPolicy does for key
// policies: AWS accepts the policy, but an operator should know.
func (s *Service) lintIdentityPolicy(c *auth.Caller, owner, name string, p *policy.Policy) {
	s.lintPolicy(c, policy.KindIdentity, "identity policy lint", owner, name, p)
}

// lintPolicy logs p's findings of low severity and up as msg; owner is the
// user or role the policy belongs to, name the inline policy's name ("" for
// a trust policy).
func (s *Service) lintPolicy(c *auth.Caller, kind policy.Kind, msg, owner, name string, p *policy.Policy) {
	for _, f := range policy.Lint(p, kind, policy.WithAccount(c.Account)) {
		if f.Severity < policy.Low {
			continue
		}
		attrs := []any{"owner", owner}
		if name != "" {
			attrs = append(attrs, "policy", name)
		}
		attrs = append(attrs, "principal", c.ARN, "finding", f.ID, "severity", f.Severity.String(),
			"statement", f.Statement, "sid", f.Sid, "message", f.Message, "fix", f.Fix)
		s.log.Warn(msg, attrs...)
	}
}

// PutUserPolicy adds or replaces an inline policy of a user.
func (s *Service) PutUserPolicy(ctx context.Context, c *auth.Caller, in *PutUserPolicyInput) (*Empty, error) {
	if err := requireName("userName", in.UserName, maxUserName); err != nil {
		return nil, err
	}
	if err := requireName("policyName", in.PolicyName, maxPolicyName); err != nil {
		return nil, err
	}
	parsed, err := checkIdentityPolicy(in.PolicyDocument)
	if err != nil {
		return nil, err
	}
	u, err := s.loadUser(ctx, c, ActPutUserPolicy, in.UserName)
	if err != nil {
		return nil, err
	}
	o := iam.Owner{Account: c.Account, Kind: iam.UserOwner, Name: in.UserName}
	if err := s.ids.PutPolicy(ctx, o, in.PolicyName, in.PolicyDocument, policy.MaxInlineUserPolicyChars); err != nil {
		return nil, s.storeErr(err, ref{user: in.UserName, policy: in.PolicyName})
	}
	s.lintIdentityPolicy(c, u.ARN, in.PolicyName, parsed)
	return &Empty{}, nil
}

// GetUserPolicy returns a user's inline policy, its document URL-encoded.
func (s *Service) GetUserPolicy(ctx context.Context, c *auth.Caller, in *UserPolicyInput) (*GetUserPolicyOutput, error) {
	if err := requireName("userName", in.UserName, maxUserName); err != nil {
		return nil, err
	}
	if err := requireName("policyName", in.PolicyName, maxPolicyName); err != nil {
		return nil, err
	}
	u, err := s.loadUser(ctx, c, ActGetUserPolicy, in.UserName)
	if err != nil {
		return nil, err
	}
	p, err := s.ids.GetPolicy(ctx, iam.Owner{Account: c.Account, Kind: iam.UserOwner, Name: in.UserName}, in.PolicyName)
	if err != nil {
		return nil, s.storeErr(err, ref{user: in.UserName, policy: in.PolicyName})
	}
	return &GetUserPolicyOutput{UserName: u.Name, PolicyName: p.Name, PolicyDocument: encodeDocument(p.Document)}, nil
}

// DeleteUserPolicy deletes a user's inline policy.
func (s *Service) DeleteUserPolicy(ctx context.Context, c *auth.Caller, in *UserPolicyInput) (*Empty, error) {
	if err := requireName("userName", in.UserName, maxUserName); err != nil {
		return nil, err
	}
	if err := requireName("policyName", in.PolicyName, maxPolicyName); err != nil {
		return nil, err
	}
	if _, err := s.loadUser(ctx, c, ActDeleteUserPolicy, in.UserName); err != nil {
		return nil, err
	}
	if err := s.ids.DeletePolicy(ctx, iam.Owner{Account: c.Account, Kind: iam.UserOwner, Name: in.UserName}, in.PolicyName); err != nil {
		return nil, s.storeErr(err, ref{user: in.UserName, policy: in.PolicyName})
	}
	return &Empty{}, nil
}

// ListUserPolicies lists the names of a user's inline policies.
func (s *Service) ListUserPolicies(ctx context.Context, c *auth.Caller, in *ListUserPoliciesInput) (*ListPoliciesOutput, error) {
	if err := requireName("userName", in.UserName, maxUserName); err != nil {
		return nil, err
	}
	max, err := page(in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	if _, err := s.loadUser(ctx, c, ActListUserPolicies, in.UserName); err != nil {
		return nil, err
	}
	names, next, err := s.ids.ListPolicies(ctx, iam.Owner{Account: c.Account, Kind: iam.UserOwner, Name: in.UserName}, in.Marker, max)
	if err != nil {
		return nil, s.storeErr(err, ref{user: in.UserName})
	}
	return &ListPoliciesOutput{PolicyNames: append(Members[string]{}, names...), Page: pageOut(next)}, nil
}

// PutRolePolicy adds or replaces an inline policy of a role.
func (s *Service) PutRolePolicy(ctx context.Context, c *auth.Caller, in *PutRolePolicyInput) (*Empty, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	if err := requireName("policyName", in.PolicyName, maxPolicyName); err != nil {
		return nil, err
	}
	parsed, err := checkIdentityPolicy(in.PolicyDocument)
	if err != nil {
		return nil, err
	}
	r, err := s.loadRole(ctx, c, ActPutRolePolicy, in.RoleName)
	if err != nil {
		return nil, err
	}
	o := iam.Owner{Account: c.Account, Kind: iam.RoleOwner, Name: in.RoleName}
	if err := s.ids.PutPolicy(ctx, o, in.PolicyName, in.PolicyDocument, policy.MaxInlineRolePolicyChars); err != nil {
		return nil, s.storeErr(err, ref{role: in.RoleName, policy: in.PolicyName})
	}
	s.lintIdentityPolicy(c, r.ARN, in.PolicyName, parsed)
	return &Empty{}, nil
}

// GetRolePolicy returns a role's inline policy, its document URL-encoded.
func (s *Service) GetRolePolicy(ctx context.Context, c *auth.Caller, in *RolePolicyInput) (*GetRolePolicyOutput, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	if err := requireName("policyName", in.PolicyName, maxPolicyName); err != nil {
		return nil, err
	}
	r, err := s.loadRole(ctx, c, ActGetRolePolicy, in.RoleName)
	if err != nil {
		return nil, err
	}
	p, err := s.ids.GetPolicy(ctx, iam.Owner{Account: c.Account, Kind: iam.RoleOwner, Name: in.RoleName}, in.PolicyName)
	if err != nil {
		return nil, s.storeErr(err, ref{role: in.RoleName, policy: in.PolicyName})
	}
	return &GetRolePolicyOutput{RoleName: r.Name, PolicyName: p.Name, PolicyDocument: encodeDocument(p.Document)}, nil
}

// DeleteRolePolicy deletes a role's inline policy.
func (s *Service) DeleteRolePolicy(ctx context.Context, c *auth.Caller, in *RolePolicyInput) (*Empty, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	if err := requireName("policyName", in.PolicyName, maxPolicyName); err != nil {
		return nil, err
	}
	if _, err := s.loadRole(ctx, c, ActDeleteRolePolicy, in.RoleName); err != nil {
		return nil, err
	}
	if err := s.ids.DeletePolicy(ctx, iam.Owner{Account: c.Account, Kind: iam.RoleOwner, Name: in.RoleName}, in.PolicyName); err != nil {
		return nil, s.storeErr(err, ref{role: in.RoleName, policy: in.PolicyName})
	}
	return &Empty{}, nil
}

// ListRolePolicies lists the names of a role's inline policies.
func (s *Service) ListRolePolicies(ctx context.Context, c *auth.Caller, in *ListRolePoliciesInput) (*ListPoliciesOutput, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	max, err := page(in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	if _, err := s.loadRole(ctx, c, ActListRolePolicies, in.RoleName); err != nil {
		return nil, err
	}
	names, next, err := s.ids.ListPolicies(ctx, iam.Owner{Account: c.Account, Kind: iam.RoleOwner, Name: in.RoleName}, in.Marker, max)
	if err != nil {
		return nil, s.storeErr(err, ref{role: in.RoleName})
	}
	return &ListPoliciesOutput{PolicyNames: append(Members[string]{}, names...), Page: pageOut(next)}, nil
}
