package posture

import (
	"context"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// ActListFindings is the IAM action that authorizes ArcaListFindings for
// principals other than the account's root user.
const ActListFindings = "arca:ListFindings"

// Identities returns a principal's identity and session policies (the IAM
// store implements it, or STS for role sessions).
type Identities interface {
	Policies(ctx context.Context, p *auth.Principal) (identity []*policy.Policy, session *policy.Policy, err error)
}

// Config is what the Service needs.
type Config struct {
	Inventory  Inventory
	Identities Identities
	// Secrets, when Secrets Manager provides it, adds the secret rules.
	Secrets Secrets
	// Now is the clock (the server's, which dev mode can move).
	Now func() time.Time
	// AccessKeyMaxAge is the deployment's maximum access key age.
	AccessKeyMaxAge time.Duration
}

// Service answers ArcaListFindings.
type Service struct{ cfg Config }

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}
}

// ListFindingsInput is ArcaListFindings' request.
type ListFindingsInput struct {
	// MinSeverity keeps findings at or above it (default: all).
	MinSeverity string `json:"MinSeverity,omitempty"`
	// AccessKeyMaxAgeDays overrides the deployment's maximum access key
	// age for this report (1-36500).
	AccessKeyMaxAgeDays *int `json:"AccessKeyMaxAgeDays,omitempty"`
}

// ListFindingsOutput is ArcaListFindings' response.
type ListFindingsOutput struct {
	Findings []Finding `json:"Findings"`
	// GeneratedAt is the evaluation time, epoch seconds.
	GeneratedAt float64 `json:"GeneratedAt"`
	Account     string  `json:"Account"`
}

// ListFindings evaluates the caller's account. The root user may always
// call it; anyone else needs arca:ListFindings from an identity policy.
func (s *Service) ListFindings(ctx context.Context, c *auth.Caller, in *ListFindingsInput) (*ListFindingsOutput, error) {
	if err := s.authorize(ctx, c); err != nil {
		return nil, err
	}
	o := Options{Now: s.cfg.Now(), AccessKeyMaxAge: s.cfg.AccessKeyMaxAge, Secrets: s.cfg.Secrets}
	if in.AccessKeyMaxAgeDays != nil {
		d := *in.AccessKeyMaxAgeDays
		if d < 1 || d > 36500 {
			return nil, svcerr.Validationf("1 validation error detected: Value '%d' at 'accessKeyMaxAgeDays' failed to satisfy constraint: Member must have value between 1 and 36500", d)
		}
		o.AccessKeyMaxAge = time.Duration(d) * 24 * time.Hour
	}
	min := 0
	if in.MinSeverity != "" {
		if min = Severity(in.MinSeverity).Rank(); min == 0 {
			return nil, svcerr.Validationf("1 validation error detected: Value '%s' at 'minSeverity' failed to satisfy constraint: Member must satisfy enum value set: [CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL]", in.MinSeverity)
		}
	}
	all, err := Evaluate(ctx, s.cfg.Inventory, c.Account, o)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	out := &ListFindingsOutput{Findings: []Finding{}, Account: c.Account, GeneratedAt: float64(o.Now.UnixMilli()) / 1000}
	for _, f := range all {
		if f.Severity.Rank() >= min {
			out.Findings = append(out.Findings, f)
		}
	}
	return out, nil
}

func (s *Service) authorize(ctx context.Context, c *auth.Caller) error {
	if c.Type == auth.Root {
		return nil
	}
	var identity []*policy.Policy
	var session *policy.Policy
	if s.cfg.Identities != nil {
		var err error
		if identity, session, err = s.cfg.Identities.Policies(ctx, &c.Principal); err != nil {
			return svcerr.InternalError(err)
		}
	}
	d := policy.DecideCaller(c, ActListFindings, identity, session, s.cfg.Now())
	if d.Allowed {
		return nil
	}
	return svcerr.New(svcerr.AccessDenied, "%s", d.Message(c.ARN, ActListFindings, "*"))
}
