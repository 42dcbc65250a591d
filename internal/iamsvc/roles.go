package iamsvc

import (
	"context"
	"errors"
	"github.com/arca-kms/arca/internal/svcerr"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/policy"
)

func roleOut(r *iam.Role, withTags bool) Role {
	out := Role{Path: r.Path, RoleName: r.Name, RoleID: r.ID, Arn: r.ARN, CreateDate: r.Created,
		AssumeRolePolicyDocument: encodeDocument(r.TrustPolicy), Description: r.Description,
		MaxSessionDuration: r.MaxSessionDuration}
	if withTags {
		out.Tags = convTags(r.Tags)
	}
	return out
}

// loadRole is loadUser for roles.
func (s *Service) loadRole(ctx context.Context, c *auth.Caller, action, name string) (*iam.Role, error) {
	r, err := s.ids.GetRole(ctx, c.Account, name)
	if errors.Is(err, iam.ErrNoSuchRole) {
		if err := s.authorize(ctx, c, action, s.roleARN(c.Account, "/", name), nil); err != nil {
			return nil, err
		}
		return nil, s.storeErr(err, ref{role: name})
	}
	if err != nil {
		return nil, s.internal(err)
	}
	if err := s.authorize(ctx, c, action, r.ARN, resourceTags(r.Tags)); err != nil {
		return nil, err
	}
	return r, nil
}

// checkTrustPolicy validates a role trust policy document: the API's member
// constraints, then AWS's grammar and size quota for trust policies.
func checkTrustPolicy(field, doc string) (*policy.Policy, error) {
	if err := checkDocument(field, doc); err != nil {
		return nil, err
	}
	p, err := policy.ParseWith([]byte(doc), policy.Options{Kind: policy.KindTrust})
	if err != nil {
		return nil, policyErr(err)
	}
	return p, nil
}

// CreateRole creates a role.
func (s *Service) CreateRole(ctx context.Context, c *auth.Caller, in *CreateRoleInput) (*RoleOutput, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	path, err := checkPath(in.Path)
	if err != nil {
		return nil, err
	}
	if err := checkString("description", in.Description, 0, maxDescription, reDesc, patDesc); err != nil {
		return nil, err
	}
	duration := int32(defaultSessionSeconds)
	if in.MaxSessionDuration != nil {
		if err := svcerr.CheckRange("maxSessionDuration", *in.MaxSessionDuration, minSessionDuration, maxSessionDuration); err != nil {
			return nil, err
		}
		duration = *in.MaxSessionDuration
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	trustPolicy, err := checkTrustPolicy("assumeRolePolicyDocument", in.AssumeRolePolicyDocument)
	if err != nil {
		return nil, err
	}
	if in.PermissionsBoundary != "" {
		return nil, unsupported("PermissionsBoundary")
	}
	r := &iam.Role{Account: c.Account, Name: in.RoleName, Path: path, ARN: s.roleARN(c.Account, path, in.RoleName),
		Created: s.nowSec(), TrustPolicy: in.AssumeRolePolicyDocument, Description: in.Description,
		MaxSessionDuration: duration, Tags: toStoreTags(in.Tags)}
	if err := s.authorize(ctx, c, ActCreateRole, r.ARN, requestTags(in.Tags)); err != nil {
		return nil, err
	}
	if r.ID, err = iam.NewID("AROA"); err != nil {
		return nil, s.internal(err)
	}
	if err := s.ids.CreateRole(ctx, r); err != nil {
		return nil, s.storeErr(err, ref{role: in.RoleName, account: c.Account})
	}
	s.lintPolicy(c, policy.KindTrust, "trust policy lint", r.ARN, "", trustPolicy)
	out := roleOut(r, true)
	return &RoleOutput{Role: &out}, nil
}

// GetRole describes a role.
func (s *Service) GetRole(ctx context.Context, c *auth.Caller, in *RoleNameInput) (*RoleOutput, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	r, err := s.loadRole(ctx, c, ActGetRole, in.RoleName)
	if err != nil {
		return nil, err
	}
	out := roleOut(r, true)
	return &RoleOutput{Role: &out}, nil
}

// ListRoles lists the account's roles whose path starts with PathPrefix.
func (s *Service) ListRoles(ctx context.Context, c *auth.Caller, in *ListRolesInput) (*ListRolesOutput, error) {
	prefix, err := checkPathPrefix(in.PathPrefix)
	if err != nil {
		return nil, err
	}
	max, err := page(in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, ActListRoles, s.roleARN(c.Account, prefix, ""), nil); err != nil {
		return nil, err
	}
	rs, next, err := s.ids.ListRoles(ctx, c.Account, prefix, in.Marker, max)
	if err != nil {
		return nil, s.internal(err)
	}
	out := &ListRolesOutput{Roles: make(Members[Role], len(rs)), Page: pageOut(next)}
	for i := range rs {
		out.Roles[i] = roleOut(&rs[i], false)
	}
	return out, nil
}

// DeleteRole deletes a role that has no inline policies.
func (s *Service) DeleteRole(ctx context.Context, c *auth.Caller, in *RoleNameInput) (*Empty, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	if _, err := s.loadRole(ctx, c, ActDeleteRole, in.RoleName); err != nil {
		return nil, err
	}
	if err := s.ids.DeleteRole(ctx, c.Account, in.RoleName); err != nil {
		return nil, s.storeErr(err, ref{role: in.RoleName})
	}
	return &Empty{}, nil
}

// UpdateAssumeRolePolicy replaces a role's trust policy.
func (s *Service) UpdateAssumeRolePolicy(ctx context.Context, c *auth.Caller, in *UpdateAssumeRolePolicyInput) (*Empty, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	trustPolicy, err := checkTrustPolicy("policyDocument", in.PolicyDocument)
	if err != nil {
		return nil, err
	}
	r, err := s.loadRole(ctx, c, ActUpdateAssumeRolePolicy, in.RoleName)
	if err != nil {
		return nil, err
	}
	if _, err := s.ids.UpdateRole(ctx, c.Account, in.RoleName, func(r *iam.Role) error {
		r.TrustPolicy = in.PolicyDocument
		return nil
	}); err != nil {
		return nil, s.storeErr(err, ref{role: in.RoleName})
	}
	s.lintPolicy(c, policy.KindTrust, "trust policy lint", r.ARN, "", trustPolicy)
	return &Empty{}, nil
}

// roleARNFor is the ARN (and the tags) authorization sees for a role that
// may not exist.
func (s *Service) roleARNFor(ctx context.Context, c *auth.Caller, name string) (string, []iam.Tag, error) {
	r, err := s.ids.GetRole(ctx, c.Account, name)
	if errors.Is(err, iam.ErrNoSuchRole) {
		return s.roleARN(c.Account, "/", name), nil, nil
	}
	if err != nil {
		return "", nil, s.internal(err)
	}
	return r.ARN, r.Tags, nil
}

// TagRole adds tags to a role, replacing the values of keys it has.
func (s *Service) TagRole(ctx context.Context, c *auth.Caller, in *TagRoleInput) (*Empty, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, svcerr.Missing("tags")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	arn, cur, err := s.roleARNFor(ctx, c, in.RoleName)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, ActTagRole, arn, both(resourceTags(cur), requestTags(in.Tags))); err != nil {
		return nil, err
	}
	if _, err := s.ids.UpdateRole(ctx, c.Account, in.RoleName, func(r *iam.Role) error {
		tags, err := mergeTags(r.Tags, in.Tags, "TagsPerRole")
		r.Tags = tags
		return err
	}); err != nil {
		return nil, s.storeErr(err, ref{role: in.RoleName})
	}
	return &Empty{}, nil
}

// UntagRole removes tags from a role; keys it does not have are ignored.
func (s *Service) UntagRole(ctx context.Context, c *auth.Caller, in *UntagRoleInput) (*Empty, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	if err := checkTagKeys(in.TagKeys); err != nil {
		return nil, err
	}
	arn, cur, err := s.roleARNFor(ctx, c, in.RoleName)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, ActUntagRole, arn, both(resourceTags(cur), tagKeys(in.TagKeys))); err != nil {
		return nil, err
	}
	if _, err := s.ids.UpdateRole(ctx, c.Account, in.RoleName, func(r *iam.Role) error {
		r.Tags = removeTags(r.Tags, in.TagKeys)
		return nil
	}); err != nil {
		return nil, s.storeErr(err, ref{role: in.RoleName})
	}
	return &Empty{}, nil
}

// ListRoleTags lists a role's tags in key order.
func (s *Service) ListRoleTags(ctx context.Context, c *auth.Caller, in *ListRoleTagsInput) (*ListTagsOutput, error) {
	if err := requireName("roleName", in.RoleName, maxRoleName); err != nil {
		return nil, err
	}
	max, err := page(in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	r, err := s.loadRole(ctx, c, ActListRoleTags, in.RoleName)
	if err != nil {
		return nil, err
	}
	tags, next := pageTags(r.Tags, in.Marker, max)
	return &ListTagsOutput{Tags: tags, Page: pageOut(next)}, nil
}
