// Package iamsvc implements the IAM operations Arca supports (users, access
// keys, roles, inline policies, tags), STS GetCallerIdentity, and Arca's own
// account administration, with AWS's validation rules, limits, error codes
// and messages, and IAM authorization of every call.
//
// Operations take (ctx, caller, input) and return (output, error), where
// every error a client may see is a *svcerr.Error. The package knows nothing
// of HTTP or the Query encoding; it imports auth, iam (the identity store),
// policy and svcerr, never a transport or server package.
package iamsvc

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Config holds the service's settings.
type Config struct {
	// Partition is the ARN partition, "aws" by default.
	Partition string
	// Operator is the deployment's default account: its root user, and
	// only it, may create, list and delete accounts.
	Operator string
	// Now is the clock; tests move it instead of sleeping.
	Now func() time.Time
	// Logger receives operational logs. Never secrets.
	Logger *slog.Logger
	// Identities, when set, supplies callers' identity and session
	// policies instead of the store (STS composes the two, so that a role
	// session's policy narrows its IAM calls too).
	Identities Identities
}

// Identities returns a caller's identity-based policies and, for a role
// session, its session policy.
type Identities interface {
	Policies(ctx context.Context, p *auth.Principal) (identity []*policy.Policy, session *policy.Policy, err error)
}

// Service is the IAM (and STS GetCallerIdentity) service. It is safe for
// concurrent use.
type Service struct {
	ids       *iam.Store
	pols      Identities
	partition string
	operator  string
	now       func() time.Time
	log       *slog.Logger
}

// New returns a Service over the identity store ids.
func New(ids *iam.Store, cfg Config) *Service {
	s := &Service{ids: ids, pols: cfg.Identities, partition: cfg.Partition, operator: cfg.Operator, now: cfg.Now, log: cfg.Logger}
	if s.pols == nil {
		s.pols = ids
	}
	if s.partition == "" {
		s.partition = "aws"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

// Actions, as IAM spells them; authorization keys on these.
const (
	ActCreateUser             = "iam:CreateUser"
	ActGetUser                = "iam:GetUser"
	ActListUsers              = "iam:ListUsers"
	ActDeleteUser             = "iam:DeleteUser"
	ActCreateAccessKey        = "iam:CreateAccessKey"
	ActListAccessKeys         = "iam:ListAccessKeys"
	ActUpdateAccessKey        = "iam:UpdateAccessKey"
	ActDeleteAccessKey        = "iam:DeleteAccessKey"
	ActPutUserPolicy          = "iam:PutUserPolicy"
	ActGetUserPolicy          = "iam:GetUserPolicy"
	ActDeleteUserPolicy       = "iam:DeleteUserPolicy"
	ActListUserPolicies       = "iam:ListUserPolicies"
	ActCreateRole             = "iam:CreateRole"
	ActGetRole                = "iam:GetRole"
	ActListRoles              = "iam:ListRoles"
	ActDeleteRole             = "iam:DeleteRole"
	ActUpdateAssumeRolePolicy = "iam:UpdateAssumeRolePolicy"
	ActPutRolePolicy          = "iam:PutRolePolicy"
	ActGetRolePolicy          = "iam:GetRolePolicy"
	ActDeleteRolePolicy       = "iam:DeleteRolePolicy"
	ActListRolePolicies       = "iam:ListRolePolicies"
	ActTagUser                = "iam:TagUser"
	ActUntagUser              = "iam:UntagUser"
	ActListUserTags           = "iam:ListUserTags"
	ActTagRole                = "iam:TagRole"
	ActUntagRole              = "iam:UntagRole"
	ActListRoleTags           = "iam:ListRoleTags"

	// Arca's account administration; no AWS action exists for them, and no
	// policy grants them: only the operator may.
	ActCreateAccount              = "arca:CreateAccount"
	ActListAccounts               = "arca:ListAccounts"
	ActDeleteAccount              = "arca:DeleteAccount"
	ActCreateAccountRootAccessKey = "arca:CreateAccountRootAccessKey"
)

func (s *Service) userARN(account, path, name string) string {
	return "arn:" + s.partition + ":iam::" + account + ":user" + path + name
}

func (s *Service) roleARN(account, path, name string) string {
	return "arn:" + s.partition + ":iam::" + account + ":role" + path + name
}

// authorize is the one place every IAM operation asks whether the caller
// may perform action on resource (a user or role ARN of the caller's own
// account: operations never reach another account). The account's root
// user may do everything; any other identity what its identity-based
// policies allow (an explicit Deny wins, and nothing is allowed by
// default), narrowed by its session policy when it has one. req adds
// request condition keys (aws:RequestTag/…, aws:TagKeys) and may be nil.
func (s *Service) authorize(ctx context.Context, c *auth.Caller, action, resource string, req func(*policy.Context)) error {
	if c.Temporary && c.Type != auth.AssumedRole {
		// GetSessionToken credentials: AWS lets them call IAM only when
		// the session was made with MFA, which Arca does not support.
		return svcerr.New(svcerr.InvalidClientTokenID, "The security token included in the request is invalid.")
	}
	if c.Type == auth.Root {
		return nil
	}
	identity, session, err := s.pols.Policies(ctx, &c.Principal)
	if err != nil {
		return s.internal(err)
	}
	var pc policy.Context
	pc.SetCaller(c, policy.TimeKeysAt(s.now()))
	if req != nil {
		req(&pc)
	}
	r := policy.Request{Action: action, Resource: resource, Context: &pc,
		Principal: policy.PrincipalOf(c)}
	d := policy.Decision{Policy: policy.IdentityPolicy, Statement: -1}
	allowed := false
	for _, p := range identity {
		switch res := p.Evaluate(&r); res.Effect {
		case policy.Deny:
			d.ExplicitDeny = true
			return svcerr.New(svcerr.AccessDenied, "%s", d.Message(c.ARN, action, resource))
		case policy.Allow:
			allowed = true
		}
	}
	if session != nil {
		switch session.Evaluate(&r).Effect {
		case policy.Deny:
			d = policy.Decision{Policy: policy.SessionPolicyType, ExplicitDeny: true}
			return svcerr.New(svcerr.AccessDenied, "%s", d.Message(c.ARN, action, resource))
		case policy.NotApplicable:
			if allowed {
				d = policy.Decision{Policy: policy.SessionPolicyType}
				return svcerr.New(svcerr.AccessDenied, "%s", d.Message(c.ARN, action, resource))
			}
		}
	}
	if !allowed {
		return svcerr.New(svcerr.AccessDenied, "%s", d.Message(c.ARN, action, resource))
	}
	return nil
}

// resourceTags returns a context filler setting aws:ResourceTag/KEY for
// each tag of the user or role an operation acts on (nil when it has none).
func resourceTags(tags []iam.Tag) func(*policy.Context) {
	if len(tags) == 0 {
		return nil
	}
	return func(pc *policy.Context) {
		for _, t := range tags {
			pc.Set("aws:ResourceTag/"+t.Key, t.Value)
		}
	}
}

// both returns a context filler running f and g (either may be nil).
func both(f, g func(*policy.Context)) func(*policy.Context) {
	return func(pc *policy.Context) {
		if f != nil {
			f(pc)
		}
		if g != nil {
			g(pc)
		}
	}
}

// requestTags returns a context filler for an operation that sets tags.
func requestTags(tags []Tag) func(*policy.Context) {
	return func(pc *policy.Context) {
		keys := make([]string, len(tags))
		for i, t := range tags {
			pc.Set("aws:RequestTag/"+t.Key, t.Value)
			keys[i] = t.Key
		}
		pc.SetMulti("aws:TagKeys", keys)
	}
}

// tagKeys returns a context filler for an operation that removes tags.
func tagKeys(keys []string) func(*policy.Context) {
	return func(pc *policy.Context) { pc.SetMulti("aws:TagKeys", keys) }
}

// ref names what an operation was about, for the messages of store errors.
type ref struct {
	user, role, policy, key, account string
}

// storeErr is the one translation of identity-store errors into AWS's codes
// and messages.
func (s *Service) storeErr(err error, r ref) error {
	switch {
	case err == nil:
		return nil
	case svcerr.As(err) != nil:
		return err
	case errors.Is(err, iam.ErrNoSuchUser):
		return svcerr.New(svcerr.NotFound, "The user with name %s cannot be found.", r.user)
	case errors.Is(err, iam.ErrNoSuchRole):
		return svcerr.New(svcerr.NotFound, "The role with name %s cannot be found.", r.role)
	case errors.Is(err, iam.ErrNoSuchPolicy) && r.role != "":
		return svcerr.New(svcerr.NotFound, "The role policy with name %s cannot be found.", r.policy)
	case errors.Is(err, iam.ErrNoSuchPolicy):
		return svcerr.New(svcerr.NotFound, "The user policy with name %s cannot be found.", r.policy)
	case errors.Is(err, iam.ErrNoSuchAccessKey):
		return svcerr.New(svcerr.NotFound, "The Access Key with id %s cannot be found.", r.key)
	case errors.Is(err, iam.ErrNoSuchAccount):
		return svcerr.New(svcerr.NotFound, "The account with id %s cannot be found.", r.account)
	case errors.Is(err, iam.ErrExists) && r.user != "":
		return svcerr.New(svcerr.AlreadyExists, "User with name %s already exists.", r.user)
	case errors.Is(err, iam.ErrExists) && r.role != "":
		return svcerr.New(svcerr.AlreadyExists, "Role with name %s already exists.", r.role)
	case errors.Is(err, iam.ErrExists):
		return svcerr.New(svcerr.AlreadyExists, "Account with id %s already exists.", r.account)
	case errors.Is(err, iam.ErrHasAccessKeys):
		return svcerr.New(svcerr.DeleteConflict, "Cannot delete entity, must delete access keys first.")
	case errors.Is(err, iam.ErrHasPolicies):
		return svcerr.New(svcerr.DeleteConflict, "Cannot delete entity, must delete policies first.")
	case errors.Is(err, iam.ErrAccountNotEmpty):
		return svcerr.New(svcerr.DeleteConflict, "Cannot delete entity, must delete users and roles first.")
	case errors.Is(err, iam.ErrUserLimit):
		return svcerr.New(svcerr.LimitExceeded, "Cannot exceed quota for UsersPerAccount: %d", iam.MaxUsersPerAccount)
	case errors.Is(err, iam.ErrRoleLimit):
		return svcerr.New(svcerr.LimitExceeded, "Cannot exceed quota for RolesPerAccount: %d", iam.MaxRolesPerAccount)
	case errors.Is(err, iam.ErrAccessKeyLimit):
		return svcerr.New(svcerr.LimitExceeded, "Cannot exceed quota for AccessKeysPerUser: %d", iam.MaxAccessKeysPerUser)
	case errors.Is(err, iam.ErrPolicySizeLimit) && r.role != "":
		return svcerr.New(svcerr.LimitExceeded, "Maximum policy size of %d bytes exceeded for role %s", policy.MaxInlineRolePolicyChars, r.role)
	case errors.Is(err, iam.ErrPolicySizeLimit):
		return svcerr.New(svcerr.LimitExceeded, "Maximum policy size of %d bytes exceeded for user %s", policy.MaxInlineUserPolicyChars, r.user)
	}
	return s.internal(err)
}

func (s *Service) internal(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return svcerr.Wrap(svcerr.ServiceUnavailable, err, "The request timed out. Retry the request.")
	}
	return svcerr.InternalError(err)
}

// policyErr converts a policy parse error: a size quota is LimitExceeded,
// anything else MalformedPolicyDocument, each with AWS's reason.
func policyErr(err error) error {
	var me *policy.MalformedError
	if errors.As(err, &me) {
		if me.TooLarge {
			return svcerr.New(svcerr.LimitExceeded, "%s", me.Reason)
		}
		return svcerr.New(svcerr.MalformedPolicyDocument, "%s", me.Reason)
	}
	return svcerr.New(svcerr.MalformedPolicyDocument, "%s", policy.ReasonSyntax)
}

// encodeDocument URL-encodes a policy document the way IAM returns every
// policy document (RFC 3986 percent-encoding, space as %20).
func encodeDocument(doc string) string {
	return strings.ReplaceAll(url.QueryEscape(doc), "+", "%20")
}

// now is the service clock truncated to whole seconds, as IAM's dates are.
func (s *Service) nowSec() time.Time { return s.now().UTC().Truncate(time.Second) }

// page validates Marker and MaxItems and returns the page size.
func page(marker string, maxItems *int32) (int, error) {
	if marker != "" {
		if err := checkString("marker", marker, 1, 320, reMarker, patMarker); err != nil {
			return 0, err
		}
	}
	if maxItems == nil {
		return 100, nil
	}
	if err := svcerr.CheckRange("maxItems", *maxItems, 1, 1000); err != nil {
		return 0, err
	}
	return int(*maxItems), nil
}

func pageOut(next string) Page { return Page{IsTruncated: next != "", Marker: next} }

func convTags(ts []iam.Tag) Members[Tag] {
	if len(ts) == 0 {
		return nil
	}
	out := make(Members[Tag], len(ts))
	for i, t := range ts {
		out[i] = Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

func statusOf(active bool) string {
	if active {
		return "Active"
	}
	return "Inactive"
}

// nonUser is AWS's answer when an operation that defaults to the calling
// user is called by an identity that is not an IAM user.
func nonUser() error {
	return svcerr.Validationf("Must specify userName when calling with non-User credentials")
}

// unsupported refuses a parameter Arca does not implement.
func unsupported(param string) error {
	return svcerr.New(svcerr.InvalidInput, "%s is not supported by Arca.", param)
}
