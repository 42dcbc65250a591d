// Package trail is Arca's CloudTrail service: LookupEvents over the audit
// log's index, authorized by policy (cloudtrail:LookupEvents; an account
// sees only its own events), and Arca's audit-key extensions.
package trail

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Actions.
const (
	ActLookupEvents = "cloudtrail:LookupEvents"
	// ActGetAuditPublicKeys and ActRotateAuditSigningKey are Arca's.
	ActGetAuditPublicKeys    = "cloudtrail:ArcaGetAuditPublicKeys"
	ActRotateAuditSigningKey = "cloudtrail:ArcaRotateAuditSigningKey"
)

// Identities returns a caller's identity and session policies (the IAM
// store implements it).
type Identities interface {
	Policies(ctx context.Context, p *auth.Principal) (identity []*policy.Policy, session *policy.Policy, err error)
}

// Index finds events; *audit.Index implements it.
type Index interface {
	Lookup(q audit.Query) (audit.Page, error)
}

// Config is what the service needs.
type Config struct {
	Index      Index
	Identities Identities
	// Operator is the account whose root may rotate the signing key.
	Operator string
	// PublicKeys returns the audit signing keys' public halves as PEM.
	PublicKeys func(ctx context.Context) ([]byte, error)
	// Rotate makes a new signing key current.
	Rotate func(ctx context.Context) error
	// Export reads every node's chain for ArcaExportAuditLog (export.go).
	Export Exporter
	Now    func() time.Time
	Logger *slog.Logger
}

// Service serves CloudTrail operations.
type Service struct{ cfg Config }

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg}
}

// LookupAttribute is one attribute to look events up by.
type LookupAttribute struct {
	AttributeKey   string `json:"AttributeKey"`
	AttributeValue string `json:"AttributeValue"`
}

// LookupEventsInput is the LookupEvents request.
type LookupEventsInput struct {
	LookupAttributes []LookupAttribute `json:"LookupAttributes"`
	StartTime        *epoch.Time       `json:"StartTime"`
	EndTime          *epoch.Time       `json:"EndTime"`
	EventCategory    string            `json:"EventCategory"`
	MaxResults       *int              `json:"MaxResults"`
	NextToken        string            `json:"NextToken"`
}

// Resource is a resource an event refers to.
type Resource struct {
	ResourceType string `json:"ResourceType,omitempty"`
	ResourceName string `json:"ResourceName,omitempty"`
}

// Event is one event of a LookupEvents answer.
type Event struct {
	EventID         string      `json:"EventId"`
	EventName       string      `json:"EventName"`
	ReadOnly        string      `json:"ReadOnly"`
	AccessKeyID     string      `json:"AccessKeyId,omitempty"`
	EventTime       *epoch.Time `json:"EventTime"`
	EventSource     string      `json:"EventSource"`
	Username        string      `json:"Username,omitempty"`
	Resources       []Resource  `json:"Resources"`
	CloudTrailEvent string      `json:"CloudTrailEvent"`
}

// LookupEventsOutput is the LookupEvents response.
type LookupEventsOutput struct {
	Events    []Event `json:"Events"`
	NextToken string  `json:"NextToken,omitempty"`
}

var attrs = map[string]string{}

func init() {
	for _, a := range []string{audit.AttrEventID, audit.AttrEventName, audit.AttrReadOnly, audit.AttrUsername,
		audit.AttrResourceType, audit.AttrResourceName, audit.AttrEventSource, audit.AttrAccessKeyID} {
		attrs[a] = a
	}
}

// LookupEvents returns the caller's account's events, newest first.
func (s *Service) LookupEvents(ctx context.Context, c *auth.Caller, in *LookupEventsInput) (*LookupEventsOutput, error) {
	if err := s.authorize(ctx, c, ActLookupEvents); err != nil {
		return nil, err
	}
	q := audit.Query{Account: c.Account, Max: 50}
	if len(in.LookupAttributes) > 1 {
		return nil, svcerr.New(svcerr.InvalidLookupAttributes, "You can only specify one lookup attribute.")
	}
	if len(in.LookupAttributes) == 1 {
		a := in.LookupAttributes[0]
		key, ok := attrs[a.AttributeKey]
		if !ok {
			return nil, svcerr.New(svcerr.InvalidLookupAttributes, "Invalid attribute key: %.64q. Valid keys are EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId.", a.AttributeKey)
		}
		if a.AttributeValue == "" || len(a.AttributeValue) > 2000 {
			return nil, svcerr.New(svcerr.InvalidLookupAttributes, "The attribute value must be between 1 and 2000 characters.")
		}
		q.Attr, q.Value = key, a.AttributeValue
		if key == audit.AttrReadOnly {
			v := strings.ToLower(a.AttributeValue)
			if v != "true" && v != "false" {
				return nil, svcerr.New(svcerr.InvalidLookupAttributes, "The ReadOnly attribute value must be true or false.")
			}
			q.Value = v
		}
	}
	if in.EventCategory != "" && in.EventCategory != "insight" {
		return nil, svcerr.New(svcerr.InvalidEventCategory, "Invalid event category: %.64q.", in.EventCategory)
	}
	if in.EventCategory == "insight" {
		// Arca has no Insights events.
		return &LookupEventsOutput{Events: []Event{}}, nil
	}
	if in.StartTime != nil {
		q.Start = in.StartTime.Time
	}
	if in.EndTime != nil {
		q.End = in.EndTime.Time
	}
	if in.StartTime != nil && in.EndTime != nil && q.Start.After(q.End) {
		return nil, svcerr.New(svcerr.InvalidTimeRange, "Start time must be before end time.")
	}
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 50 {
			return nil, svcerr.New(svcerr.InvalidMaxResults, "MaxResults must be between 1 and 50.")
		}
		q.Max = *in.MaxResults
	}
	qh := queryHash(c.Account, in)
	if in.NextToken != "" {
		cur, ok := parseToken(in.NextToken, qh)
		if !ok {
			return nil, errBadToken()
		}
		q.Cursor = cur
	}
	if s.cfg.Index == nil {
		return &LookupEventsOutput{Events: []Event{}}, nil
	}
	page, err := s.cfg.Index.Lookup(q)
	if errors.Is(err, audit.ErrBadCursor) {
		return nil, errBadToken()
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	out := &LookupEventsOutput{Events: make([]Event, 0, len(page.Events))}
	for _, raw := range page.Events {
		var e audit.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, svcerr.InternalError(err)
		}
		t, _ := time.Parse(time.RFC3339, e.EventTime)
		ev := Event{EventID: e.EventID, EventName: e.EventName, ReadOnly: strconv.FormatBool(e.ReadOnly),
			AccessKeyID: e.UserIdentity.AccessKeyID, EventTime: epoch.New(t), EventSource: e.EventSource,
			Username: e.Username(), Resources: []Resource{}, CloudTrailEvent: string(raw)}
		for _, r := range e.Resources {
			ev.Resources = append(ev.Resources, Resource{ResourceType: r.Type, ResourceName: r.ARN})
		}
		out.Events = append(out.Events, ev)
	}
	if page.Cursor != nil {
		out.NextToken = makeToken(page.Cursor, qh)
	}
	return out, nil
}

// queryHash ties a NextToken to the request it continues (CloudTrail
// requires the same parameters with a token).
func queryHash(account string, in *LookupEventsInput) [8]byte {
	h := sha256.New()
	h.Write([]byte(account))
	for _, a := range in.LookupAttributes {
		h.Write([]byte("\x00" + a.AttributeKey + "\x00" + a.AttributeValue))
	}
	for _, t := range []*epoch.Time{in.StartTime, in.EndTime} {
		if t != nil {
			h.Write([]byte("\x00" + strconv.FormatInt(t.UnixNano(), 10)))
		} else {
			h.Write([]byte("\x00-"))
		}
	}
	var out [8]byte
	copy(out[:], h.Sum(nil))
	return out
}

func errBadToken() error {
	return svcerr.New(svcerr.InvalidNextToken, "Invalid NextToken. The token is either malformed or was issued for different request parameters.")
}

// makeToken is the index's cursor followed by the request's hash.
func makeToken(cursor []byte, qh [8]byte) string {
	return base64.RawURLEncoding.EncodeToString(append(slices.Clip(cursor), qh[:]...))
}

func parseToken(tok string, qh [8]byte) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) <= 8 || len(b) > 4096 || [8]byte(b[len(b)-8:]) != qh {
		return nil, false
	}
	return b[:len(b)-8], true
}

// ArcaGetAuditPublicKeysInput is Arca's request for the audit signing keys.
type ArcaGetAuditPublicKeysInput struct{}

// ArcaGetAuditPublicKeysOutput carries them as PEM, oldest first.
type ArcaGetAuditPublicKeysOutput struct {
	PublicKeysPem string `json:"PublicKeysPem"`
}

// ArcaGetAuditPublicKeys returns the audit log's checkpoint verification
// keys. They are public, but who asks is still recorded and authorized.
func (s *Service) ArcaGetAuditPublicKeys(ctx context.Context, c *auth.Caller, _ *ArcaGetAuditPublicKeysInput) (*ArcaGetAuditPublicKeysOutput, error) {
	if err := s.authorize(ctx, c, ActGetAuditPublicKeys); err != nil {
		return nil, err
	}
	if s.cfg.PublicKeys == nil {
		return nil, svcerr.New(svcerr.UnsupportedOperation, "The audit log is switched off.")
	}
	pem, err := s.cfg.PublicKeys(ctx)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	return &ArcaGetAuditPublicKeysOutput{PublicKeysPem: string(pem)}, nil
}

// ArcaRotateAuditSigningKeyInput is Arca's request to rotate the key.
type ArcaRotateAuditSigningKeyInput struct{}

// ArcaRotateAuditSigningKeyOutput carries the new public keys.
type ArcaRotateAuditSigningKeyOutput struct {
	PublicKeysPem string `json:"PublicKeysPem"`
}

// ArcaRotateAuditSigningKey makes a new checkpoint signing key current
// (the operator's root only); the old public keys stay valid for the
// checkpoints they signed.
func (s *Service) ArcaRotateAuditSigningKey(ctx context.Context, c *auth.Caller, _ *ArcaRotateAuditSigningKeyInput) (*ArcaRotateAuditSigningKeyOutput, error) {
	if c.Type != auth.Root || c.Account != s.cfg.Operator {
		return nil, svcerr.New(svcerr.AccessDenied, "User: %s is not authorized to perform: %s: only the operator account's root user may rotate the audit signing key", c.ARN, ActRotateAuditSigningKey)
	}
	if s.cfg.Rotate == nil {
		return nil, svcerr.New(svcerr.UnsupportedOperation, "The audit log is switched off.")
	}
	if err := s.cfg.Rotate(ctx); err != nil {
		return nil, svcerr.InternalError(err)
	}
	pem, err := s.cfg.PublicKeys(ctx)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	return &ArcaRotateAuditSigningKeyOutput{PublicKeysPem: string(pem)}, nil
}

// authorize allows the account's root, and anyone else whose identity
// policies allow action (explicit deny wins; a session policy must also
// allow).
func (s *Service) authorize(ctx context.Context, c *auth.Caller, action string) error {
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
	d := policy.DecideCaller(c, action, identity, session, s.cfg.Now())
	if d.Allowed {
		return nil
	}
	return svcerr.New(svcerr.AccessDenied, "%s", d.Message(c.ARN, action, "*"))
}
