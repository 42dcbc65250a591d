package iamsvc

import (
	"context"
	"errors"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/svcerr"
)

func userOut(u *iam.User, withTags bool) User {
	out := User{Path: u.Path, UserName: u.Name, UserID: u.ID, Arn: u.ARN, CreateDate: u.Created}
	if withTags {
		out.Tags = convTags(u.Tags)
	}
	return out
}

// loadUser finds the caller's account's user name and authorizes action on
// it. A missing user is only reported to a caller allowed to act on the
// ARN it would have (with the default path), so existence does not leak.
func (s *Service) loadUser(ctx context.Context, c *auth.Caller, action, name string) (*iam.User, error) {
	u, err := s.ids.GetUser(ctx, c.Account, name)
	if errors.Is(err, iam.ErrNoSuchUser) {
		if err := s.authorize(ctx, c, action, s.userARN(c.Account, "/", name), nil); err != nil {
			return nil, err
		}
		return nil, s.storeErr(err, ref{user: name})
	}
	if err != nil {
		return nil, s.internal(err)
	}
	if err := s.authorize(ctx, c, action, u.ARN, resourceTags(u.Tags)); err != nil {
		return nil, err
	}
	return u, nil
}

// userARNFor is the ARN (and the tags) authorization sees for a user that
// may not exist.
func (s *Service) userARNFor(ctx context.Context, c *auth.Caller, name string) (string, []iam.Tag, error) {
	u, err := s.ids.GetUser(ctx, c.Account, name)
	if errors.Is(err, iam.ErrNoSuchUser) {
		return s.userARN(c.Account, "/", name), nil, nil
	}
	if err != nil {
		return "", nil, s.internal(err)
	}
	return u.ARN, u.Tags, nil
}

// targetUser resolves an optional UserName: omitted, it is the calling IAM
// user; any other caller must name one.
func targetUser(c *auth.Caller, name string) (string, error) {
	if err := optionalUserName(name); err != nil {
		return "", err
	}
	if name != "" {
		return name, nil
	}
	if c.Type != auth.IAMUser {
		return "", nonUser()
	}
	return c.UserName, nil
}

// CreateUser creates an IAM user.
func (s *Service) CreateUser(ctx context.Context, c *auth.Caller, in *CreateUserInput) (*CreateUserOutput, error) {
	if err := requireName("userName", in.UserName, maxUserName); err != nil {
		return nil, err
	}
	path, err := checkPath(in.Path)
	if err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	if in.PermissionsBoundary != "" {
		return nil, unsupported("PermissionsBoundary")
	}
	u := &iam.User{Account: c.Account, Name: in.UserName, Path: path,
		ARN: s.userARN(c.Account, path, in.UserName), Created: s.nowSec(), Tags: toStoreTags(in.Tags)}
	if err := s.authorize(ctx, c, ActCreateUser, u.ARN, requestTags(in.Tags)); err != nil {
		return nil, err
	}
	if u.ID, err = iam.NewID("AIDA"); err != nil {
		return nil, s.internal(err)
	}
	if err := s.ids.CreateUser(ctx, u); err != nil {
		return nil, s.storeErr(err, ref{user: in.UserName, account: c.Account})
	}
	out := userOut(u, true)
	return &CreateUserOutput{User: &out}, nil
}

// GetUser describes a user; without UserName, the caller (the root user
// too, as AWS answers it: its account ID as UserId and its root ARN).
func (s *Service) GetUser(ctx context.Context, c *auth.Caller, in *GetUserInput) (*GetUserOutput, error) {
	if err := optionalUserName(in.UserName); err != nil {
		return nil, err
	}
	name := in.UserName
	if name == "" {
		switch c.Type {
		case auth.IAMUser:
			name = c.UserName
		case auth.Root:
			a, err := s.ids.GetAccount(ctx, c.Account)
			if err != nil {
				return nil, s.storeErr(err, ref{account: c.Account})
			}
			return &GetUserOutput{User: &User{UserID: c.Account, Arn: c.ARN, CreateDate: a.Created}}, nil
		default:
			return nil, nonUser()
		}
	}
	u, err := s.loadUser(ctx, c, ActGetUser, name)
	if err != nil {
		return nil, err
	}
	out := userOut(u, true)
	return &GetUserOutput{User: &out}, nil
}

// ListUsers lists the account's users whose path starts with PathPrefix.
func (s *Service) ListUsers(ctx context.Context, c *auth.Caller, in *ListUsersInput) (*ListUsersOutput, error) {
	prefix, err := checkPathPrefix(in.PathPrefix)
	if err != nil {
		return nil, err
	}
	max, err := page(in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, ActListUsers, s.userARN(c.Account, prefix, ""), nil); err != nil {
		return nil, err
	}
	us, next, err := s.ids.ListUsers(ctx, c.Account, prefix, in.Marker, max)
	if err != nil {
		return nil, s.internal(err)
	}
	out := &ListUsersOutput{Users: make(Members[User], len(us)), Page: pageOut(next)}
	for i := range us {
		out.Users[i] = userOut(&us[i], false)
	}
	return out, nil
}

// DeleteUser deletes a user that has no access keys and no inline policies.
func (s *Service) DeleteUser(ctx context.Context, c *auth.Caller, in *UserNameInput) (*Empty, error) {
	if err := requireName("userName", in.UserName, maxUserName); err != nil {
		return nil, err
	}
	if _, err := s.loadUser(ctx, c, ActDeleteUser, in.UserName); err != nil {
		return nil, err
	}
	if err := s.ids.DeleteUser(ctx, c.Account, in.UserName); err != nil {
		return nil, s.storeErr(err, ref{user: in.UserName})
	}
	return &Empty{}, nil
}

// CreateAccessKey makes a new access key for a user (the calling user when
// UserName is omitted); the response is the only place its secret appears.
func (s *Service) CreateAccessKey(ctx context.Context, c *auth.Caller, in *CreateAccessKeyInput) (*CreateAccessKeyOutput, error) {
	name, err := targetUser(c, in.UserName)
	if err != nil {
		return nil, err
	}
	if _, err := s.loadUser(ctx, c, ActCreateAccessKey, name); err != nil {
		return nil, err
	}
	// Stored to the nanosecond so that listings keep creation order.
	ak, err := s.ids.CreateAccessKey(ctx, c.Account, name, s.now())
	if err != nil {
		return nil, s.storeErr(err, ref{user: name})
	}
	return &CreateAccessKeyOutput{AccessKey: AccessKey{UserName: ak.UserName, AccessKeyID: ak.ID,
		Status: statusOf(ak.Active), SecretAccessKey: string(ak.Secret), CreateDate: ak.Created.Truncate(time.Second)}}, nil
}

// ListAccessKeys lists a user's access keys (the caller's when UserName is
// omitted; for the root user, its root access key).
func (s *Service) ListAccessKeys(ctx context.Context, c *auth.Caller, in *ListAccessKeysInput) (*ListAccessKeysOutput, error) {
	if err := optionalUserName(in.UserName); err != nil {
		return nil, err
	}
	if _, err := page(in.Marker, in.MaxItems); err != nil {
		return nil, err
	}
	if in.UserName == "" && c.Type == auth.Root {
		ak, err := s.ids.RootAccessKey(ctx, c.Account)
		if err != nil {
			return nil, s.internal(err)
		}
		return &ListAccessKeysOutput{AccessKeyMetadata: Members[AccessKeyMetadata]{
			{AccessKeyID: ak.ID, Status: statusOf(ak.Active), CreateDate: ak.Created.Truncate(time.Second)}}}, nil
	}
	name, err := targetUser(c, in.UserName)
	if err != nil {
		return nil, err
	}
	if _, err := s.loadUser(ctx, c, ActListAccessKeys, name); err != nil {
		return nil, err
	}
	aks, err := s.ids.ListAccessKeys(ctx, c.Account, name)
	if err != nil {
		return nil, s.storeErr(err, ref{user: name})
	}
	out := &ListAccessKeysOutput{AccessKeyMetadata: make(Members[AccessKeyMetadata], len(aks))}
	for i, ak := range aks {
		out.AccessKeyMetadata[i] = AccessKeyMetadata{UserName: ak.UserName, AccessKeyID: ak.ID,
			Status: statusOf(ak.Active), CreateDate: ak.Created.Truncate(time.Second)}
	}
	return out, nil
}

// UpdateAccessKey sets a user's access key Active or Inactive; an inactive
// key stops authenticating at once.
func (s *Service) UpdateAccessKey(ctx context.Context, c *auth.Caller, in *UpdateAccessKeyInput) (*Empty, error) {
	if err := checkKeyID(in.AccessKeyID); err != nil {
		return nil, err
	}
	var active bool
	switch in.Status {
	case "":
		return nil, svcerr.Missing("status")
	case "Active":
		active = true
	case "Inactive":
	default:
		return nil, svcerr.Validationf("1 validation error detected: Value '%s' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive, Expired]", clip(in.Status))
	}
	name, err := targetUser(c, in.UserName)
	if err != nil {
		return nil, err
	}
	if _, err := s.loadUser(ctx, c, ActUpdateAccessKey, name); err != nil {
		return nil, err
	}
	if err := s.ids.UpdateAccessKey(ctx, c.Account, name, in.AccessKeyID, active); err != nil {
		return nil, s.storeErr(err, ref{user: name, key: in.AccessKeyID})
	}
	return &Empty{}, nil
}

// DeleteAccessKey deletes a user's access key.
func (s *Service) DeleteAccessKey(ctx context.Context, c *auth.Caller, in *DeleteAccessKeyInput) (*Empty, error) {
	if err := checkKeyID(in.AccessKeyID); err != nil {
		return nil, err
	}
	name, err := targetUser(c, in.UserName)
	if err != nil {
		return nil, err
	}
	if _, err := s.loadUser(ctx, c, ActDeleteAccessKey, name); err != nil {
		return nil, err
	}
	if err := s.ids.DeleteAccessKey(ctx, c.Account, name, in.AccessKeyID); err != nil {
		return nil, s.storeErr(err, ref{user: name, key: in.AccessKeyID})
	}
	return &Empty{}, nil
}

// TagUser adds tags to a user, replacing the values of keys it has.
func (s *Service) TagUser(ctx context.Context, c *auth.Caller, in *TagUserInput) (*Empty, error) {
	if err := requireName("userName", in.UserName, maxUserName); err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, svcerr.Missing("tags")
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	arn, cur, err := s.userARNFor(ctx, c, in.UserName)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, ActTagUser, arn, both(resourceTags(cur), requestTags(in.Tags))); err != nil {
		return nil, err
	}
	if _, err := s.ids.UpdateUser(ctx, c.Account, in.UserName, func(u *iam.User) error {
		tags, err := mergeTags(u.Tags, in.Tags, "TagsPerUser")
		u.Tags = tags
		return err
	}); err != nil {
		return nil, s.storeErr(err, ref{user: in.UserName})
	}
	return &Empty{}, nil
}

// UntagUser removes tags from a user; keys it does not have are ignored.
func (s *Service) UntagUser(ctx context.Context, c *auth.Caller, in *UntagUserInput) (*Empty, error) {
	if err := requireName("userName", in.UserName, maxUserName); err != nil {
		return nil, err
	}
	if err := checkTagKeys(in.TagKeys); err != nil {
		return nil, err
	}
	arn, cur, err := s.userARNFor(ctx, c, in.UserName)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, ActUntagUser, arn, both(resourceTags(cur), tagKeys(in.TagKeys))); err != nil {
		return nil, err
	}
	if _, err := s.ids.UpdateUser(ctx, c.Account, in.UserName, func(u *iam.User) error {
		u.Tags = removeTags(u.Tags, in.TagKeys)
		return nil
	}); err != nil {
		return nil, s.storeErr(err, ref{user: in.UserName})
	}
	return &Empty{}, nil
}

// ListUserTags lists a user's tags in key order.
func (s *Service) ListUserTags(ctx context.Context, c *auth.Caller, in *ListUserTagsInput) (*ListTagsOutput, error) {
	if err := requireName("userName", in.UserName, maxUserName); err != nil {
		return nil, err
	}
	max, err := page(in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	u, err := s.loadUser(ctx, c, ActListUserTags, in.UserName)
	if err != nil {
		return nil, err
	}
	tags, next := pageTags(u.Tags, in.Marker, max)
	return &ListTagsOutput{Tags: tags, Page: pageOut(next)}, nil
}
