// Package sts issues short-lived credentials, as AWS STS does: GetSessionToken,
// AssumeRole and AssumeRoleWithWebIdentity, and GetCallerIdentity. It keeps
// the sessions it issued (under the barrier) and answers, for the SigV4
// layer, who a temporary access key belongs to and whether it still works.
//
// Roles and identity policies come from the identity directory (internal/iam)
// through the small Directory interface; OpenID Connect tokens are verified
// by the WebIdentity interface (internal/oidc). The package knows nothing of
// HTTP or the Query protocol.
package sts

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
)

// ErrNoSuchRole is returned by Directory.Role for an unknown role.
var ErrNoSuchRole = errors.New("sts: no such role")

// ErrNoSuchUser is returned by Directory.UserID for an unknown user.
var ErrNoSuchUser = errors.New("sts: no such user")

// Role is what STS needs to know of an IAM role.
type Role struct {
	// ID is the role's unique ID (AROA...), ARN its ARN (with path), Name
	// its name and Account its account.
	ID, ARN, Name, Account string
	// Trust is the role's trust policy, parsed.
	Trust *policy.Policy
	// MaxSessionDuration bounds DurationSeconds (3600 to 43200 seconds).
	MaxSessionDuration time.Duration
	// Tags are the role's tags; session tags override them by key.
	Tags map[string]string
}

// Directory is the identity store as STS uses it.
type Directory interface {
	// Role returns the role called name in account, or ErrNoSuchRole.
	Role(ctx context.Context, account, name string) (*Role, error)
	// UserID returns the unique ID of the IAM user called name in account,
	// or ErrNoSuchUser.
	UserID(ctx context.Context, account, name string) (string, error)
	// Policies returns the identity-based policies of p (for a role
	// session, the role's; the session policy is STS's own business).
	Policies(ctx context.Context, p *auth.Principal) (identity []*policy.Policy, session *policy.Policy, err error)
}

// Config holds the service's settings.
type Config struct {
	// Partition is the ARN partition, "aws" by default.
	Partition string
	// Now is the clock; tests move it instead of sleeping.
	Now func() time.Time
	// Logger receives operational logs. Never credentials.
	Logger *slog.Logger
	// WebIdentity verifies AssumeRoleWithWebIdentity tokens; nil refuses
	// every token (no issuer is trusted).
	WebIdentity WebIdentity
}

// Service is the STS service. It is safe for concurrent use.
type Service struct {
	dir       Directory
	sessions  *store
	partition string
	now       func() time.Time
	log       *slog.Logger
	web       WebIdentity
}

// New returns a Service keeping its sessions in b.
func New(b Backend, dir Directory, cfg Config) *Service {
	s := &Service{dir: dir, sessions: &store{b: b}, partition: cfg.Partition, now: cfg.Now, log: cfg.Logger, web: cfg.WebIdentity}
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

// SetGate installs fn, asked before every session lookup; when it returns
// an error the lookup fails with it. Sessions never change once written,
// but one swept (expired) or issued elsewhere is known only through
// storage: the server passes storage.Fresh when several nodes share it.
func (s *Service) SetGate(fn func() error) { s.sessions.gate.Set(fn) }

// Actions, as IAM spells them.
const (
	ActGetCallerIdentity         = "sts:GetCallerIdentity"
	ActGetSessionToken           = "sts:GetSessionToken"
	ActAssumeRole                = "sts:AssumeRole"
	ActAssumeRoleWithWebIdentity = "sts:AssumeRoleWithWebIdentity"
	ActTagSession                = "sts:TagSession"
	ActSetSourceIdentity         = "sts:SetSourceIdentity"
)

// AWS limits, each defined once.
const (
	minDuration             = 900
	maxRoleDuration         = 43200
	defaultRoleDuration     = 3600
	maxChainedDuration      = 3600
	maxSessionTokenDuration = 129600
	maxRootSessionToken     = 3600
	defaultSessionToken     = 43200
	maxSessionTags          = 50
	maxSessionTagKey        = 128
	maxSessionTagValue      = 256
	maxWebIdentityToken     = 20000
	// maxPackedPolicy is the packed size AWS allows for a session policy
	// plus session tags; PackedPolicySize reports the share used.
	maxPackedPolicy = 2048
)
