package sts

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Credentials are temporary security credentials.
type Credentials struct {
	AccessKeyID     string    `xml:"AccessKeyId"`
	SecretAccessKey string    `xml:"SecretAccessKey"`
	SessionToken    string    `xml:"SessionToken"`
	Expiration      time.Time `xml:"Expiration"`
}

// AssumedRoleUser names a role session.
type AssumedRoleUser struct {
	AssumedRoleID string `xml:"AssumedRoleId"`
	ARN           string `xml:"Arn"`
}

// Tag is a session tag.
type Tag struct {
	Key   string
	Value string
}

// PolicyDescriptor names a managed policy (PolicyArns).
type PolicyDescriptor struct {
	ARN string `query:"arn"`
}

// GetCallerIdentityInput is the GetCallerIdentity request (no members).
type GetCallerIdentityInput struct{}

// GetCallerIdentityOutput is the GetCallerIdentity response.
type GetCallerIdentityOutput struct {
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
	ARN     string `xml:"Arn"`
}

// GetSessionTokenInput is the GetSessionToken request.
type GetSessionTokenInput struct {
	DurationSeconds *int32
	SerialNumber    string
	TokenCode       string
}

// GetSessionTokenOutput is the GetSessionToken response.
type GetSessionTokenOutput struct {
	Credentials Credentials `xml:"Credentials"`
}

// AssumeRoleInput is the AssumeRole request.
type AssumeRoleInput struct {
	RoleARN           string `query:"RoleArn"`
	RoleSessionName   string
	PolicyArns        []PolicyDescriptor
	Policy            string
	DurationSeconds   *int32
	Tags              []Tag
	TransitiveTagKeys []string
	ExternalID        string `query:"ExternalId"`
	SerialNumber      string
	TokenCode         string
	SourceIdentity    string
}

// AssumeRoleOutput is the AssumeRole response.
type AssumeRoleOutput struct {
	Credentials      Credentials     `xml:"Credentials"`
	AssumedRoleUser  AssumedRoleUser `xml:"AssumedRoleUser"`
	PackedPolicySize *int32          `xml:"PackedPolicySize,omitempty"`
	SourceIdentity   string          `xml:"SourceIdentity,omitempty"`
}

// AssumeRoleWithWebIdentityInput is the AssumeRoleWithWebIdentity request.
type AssumeRoleWithWebIdentityInput struct {
	RoleARN          string `query:"RoleArn"`
	RoleSessionName  string
	WebIdentityToken string
	ProviderID       string `query:"ProviderId"`
	PolicyArns       []PolicyDescriptor
	Policy           string
	DurationSeconds  *int32
}

// AssumeRoleWithWebIdentityOutput is the AssumeRoleWithWebIdentity response.
type AssumeRoleWithWebIdentityOutput struct {
	Credentials                 Credentials     `xml:"Credentials"`
	SubjectFromWebIdentityToken string          `xml:"SubjectFromWebIdentityToken"`
	AssumedRoleUser             AssumedRoleUser `xml:"AssumedRoleUser"`
	PackedPolicySize            *int32          `xml:"PackedPolicySize,omitempty"`
	Provider                    string          `xml:"Provider"`
	Audience                    string          `xml:"Audience"`
	SourceIdentity              string          `xml:"SourceIdentity,omitempty"`
}

// GetCallerIdentity returns who signed the request. AWS allows it to every
// principal; no policy can deny it.
func (s *Service) GetCallerIdentity(_ context.Context, c *auth.Caller, _ *GetCallerIdentityInput) (*GetCallerIdentityOutput, error) {
	return &GetCallerIdentityOutput{UserID: c.UserID, Account: c.Account, ARN: c.ARN}, nil
}

// Validation messages follow AWS's fixed form.

func validation(format string, args ...any) error {
	return svcerr.New(svcerr.Validation, format, args...)
}

func checkLen(field, v string, lo, hi int) error {
	if len(v) < lo {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", v, field, lo)
	}
	if len(v) > hi {
		return validation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, hi)
	}
	return nil
}

func checkPattern(field, v string, re *regexp.Regexp, src string) error {
	if !re.MatchString(v) {
		return validation("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", v, field, src)
	}
	return nil
}

var (
	sessionNameRe = regexp.MustCompile(`^[\w+=,.@-]*$`)
	externalIDRe  = regexp.MustCompile(`^[\w+=,.@:/-]*$`)
	tagKeyRe      = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	tagValueRe    = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
)

// duration validates DurationSeconds against [minDuration, hi] and returns
// it with the default applied.
func duration(d *int32, def, hi int) (time.Duration, error) {
	v := def
	if d != nil {
		v = int(*d)
		if v < minDuration {
			return 0, validation("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to %d", v, minDuration)
		}
		if v > hi {
			return 0, validation("1 validation error detected: Value '%d' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to %d", v, hi)
		}
	}
	return time.Duration(v) * time.Second, nil
}

// GetSessionToken issues temporary credentials with the caller's own
// permissions. Root may ask for at most an hour, as in AWS; sessions cannot
// be made from sessions.
func (s *Service) GetSessionToken(ctx context.Context, c *auth.Caller, in *GetSessionTokenInput) (*GetSessionTokenOutput, error) {
	hi := maxSessionTokenDuration
	if c.Type == auth.Root {
		hi = maxRootSessionToken
	}
	d, err := duration(in.DurationSeconds, defaultSessionToken, maxSessionTokenDuration)
	if err != nil {
		return nil, err
	}
	if d > time.Duration(hi)*time.Second {
		d = time.Duration(hi) * time.Second
	}
	if in.SerialNumber != "" || in.TokenCode != "" {
		return nil, validation("MFA devices are not supported by Arca: omit SerialNumber and TokenCode.")
	}
	if c.Temporary {
		return nil, svcerr.New(svcerr.AccessDenied, "Cannot call GetSessionToken with session credentials")
	}
	// AWS: "No permissions are required for a user to get a session
	// token"; policies cannot control it.
	sess := &session{Type: c.Type, Account: c.Account, ARN: c.ARN, UserID: c.UserID, UserName: c.UserName,
		SourceARN: c.ARN, Tags: c.Tags, FromGetSessionToken: true}
	creds, err := s.issue(ctx, sess, d)
	if err != nil {
		return nil, err
	}
	return &GetSessionTokenOutput{Credentials: *creds}, nil
}

// issue stores a new session of d and returns its credentials.
func (s *Service) issue(ctx context.Context, sess *session, d time.Duration) (*Credentials, error) {
	akid, secret, token, err := newCredentials()
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	now := s.now().UTC()
	sess.AccessKeyID, sess.Secret, sess.TokenHash = akid, secret, tokenHash(token)
	sess.Issued, sess.Expiration = now, now.Add(d).Truncate(time.Second)
	if err := s.sessions.put(ctx, sess); err != nil {
		return nil, svcerr.InternalError(err)
	}
	return &Credentials{AccessKeyID: akid, SecretAccessKey: string(secret), SessionToken: token, Expiration: sess.Expiration}, nil
}

// roleRequest is what AssumeRole and AssumeRoleWithWebIdentity share.
type roleRequest struct {
	roleARN, sessionName, policyDoc string
	policyArns                      []PolicyDescriptor
	duration                        *int32
}

// parsedRoleRequest is a validated roleRequest.
type parsedRoleRequest struct {
	account, roleName string
	session           *policy.Policy
}

func (s *Service) checkRoleRequest(r roleRequest) (*parsedRoleRequest, error) {
	if r.roleARN == "" {
		return nil, svcerr.Missing("roleArn")
	}
	if err := checkLen("roleArn", r.roleARN, 20, 2048); err != nil {
		return nil, err
	}
	if r.sessionName == "" {
		return nil, svcerr.Missing("roleSessionName")
	}
	if err := checkLen("roleSessionName", r.sessionName, 2, 64); err != nil {
		return nil, err
	}
	if err := checkPattern("roleSessionName", r.sessionName, sessionNameRe, `[\w+=,.@-]*`); err != nil {
		return nil, err
	}
	if len(r.policyArns) > 0 {
		// Arca has no managed policies yet; naming one cannot be honoured.
		return nil, validation("Managed session policies (PolicyArns) are not supported by Arca; pass an inline Policy instead.")
	}
	out := &parsedRoleRequest{}
	var ok bool
	out.account, out.roleName, ok = s.parseRoleARN(r.roleARN)
	if !ok {
		return nil, validation("%s is invalid", r.roleARN)
	}
	if r.policyDoc != "" {
		p, err := policy.ParseWith([]byte(r.policyDoc), policy.Options{Kind: policy.KindSession})
		var me *policy.MalformedError
		switch {
		case errors.As(err, &me) && me.TooLarge:
			return nil, svcerr.Wrap(svcerr.PackedPolicyTooLarge, err, "Packed policy consumes more than 100%% of allotted space, please use smaller policy.")
		case errors.As(err, &me):
			return nil, svcerr.Wrap(svcerr.MalformedPolicyDocument, err, "%s", me.Reason)
		case err != nil:
			return nil, svcerr.Wrap(svcerr.MalformedPolicyDocument, err, "%s", policy.ReasonSyntax)
		}
		out.session = p
	}
	return out, nil
}

// parseRoleARN splits arn:PARTITION:iam::ACCOUNT:role/PATH/NAME.
func (s *Service) parseRoleARN(a string) (account, name string, ok bool) {
	parts := strings.SplitN(a, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != s.partition || parts[2] != "iam" || parts[3] != "" {
		return "", "", false
	}
	if len(parts[4]) != 12 || strings.Trim(parts[4], "0123456789") != "" {
		return "", "", false
	}
	res, ok := strings.CutPrefix(parts[5], "role/")
	if !ok || res == "" || strings.HasSuffix(res, "/") {
		return "", "", false
	}
	return parts[4], res[strings.LastIndexByte(res, '/')+1:], true
}

// packedSize returns PackedPolicySize: the share, in percent, of AWS's
// packed allowance a session policy and session tags use. AWS compresses
// before measuring; Arca counts the policy's characters outside whitespace
// and the tags' characters, which is never smaller.
func packedSize(doc string, tags map[string]string) (int32, error) {
	n := 0
	if doc != "" {
		n = policy.IAMSize([]byte(doc))
	}
	for k, v := range tags {
		n += len(k) + len(v)
	}
	pct := int32((n*100 + maxPackedPolicy - 1) / maxPackedPolicy)
	if pct > 100 {
		return 0, svcerr.New(svcerr.PackedPolicyTooLarge, "Packed policy consumes %d%% of allotted space, please use smaller policy.", pct)
	}
	return pct, nil
}

// AssumeRole issues credentials for a role the caller may assume: the role's
// trust policy must allow the caller (and, when it names the caller's
// account, so must the caller's identity-based policies; across accounts
// both always must), as policy.Decide decides.
func (s *Service) AssumeRole(ctx context.Context, c *auth.Caller, in *AssumeRoleInput) (*AssumeRoleOutput, error) {
	r, err := s.checkRoleRequest(roleRequest{in.RoleARN, in.RoleSessionName, in.Policy, in.PolicyArns, in.DurationSeconds})
	if err != nil {
		return nil, err
	}
	d, err := duration(in.DurationSeconds, defaultRoleDuration, maxRoleDuration)
	if err != nil {
		return nil, err
	}
	if in.ExternalID != "" {
		if err := checkLen("externalId", in.ExternalID, 2, 1224); err != nil {
			return nil, err
		}
		if err := checkPattern("externalId", in.ExternalID, externalIDRe, `[\w+=,.@:\/-]*`); err != nil {
			return nil, err
		}
	}
	if in.SourceIdentity != "" {
		if err := checkLen("sourceIdentity", in.SourceIdentity, 2, 64); err != nil {
			return nil, err
		}
		if err := checkPattern("sourceIdentity", in.SourceIdentity, sessionNameRe, `[\w+=,.@-]*`); err != nil {
			return nil, err
		}
		if c.SourceIdentity != "" && c.SourceIdentity != in.SourceIdentity {
			return nil, svcerr.New(svcerr.AccessDenied, "The source identity of a chained role session cannot be changed.")
		}
	}
	if in.SerialNumber != "" || in.TokenCode != "" {
		return nil, validation("MFA devices are not supported by Arca: omit SerialNumber and TokenCode.")
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	for _, k := range in.TransitiveTagKeys {
		if _, ok := tags[strings.ToLower(k)]; !ok {
			return nil, validation("TransitiveTagKeys must be a subset of the session tags; %q is not a session tag.", k)
		}
	}
	if c.Type == auth.Root {
		return nil, svcerr.New(svcerr.AccessDenied, "Roles may not be assumed by root accounts.")
	}
	if c.Temporary && d > maxChainedDuration*time.Second {
		// Role chaining: AWS limits a session made from a session to an hour.
		return nil, validation("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}

	role, err := s.dir.Role(ctx, r.account, r.roleName)
	denied := func(action string) error {
		return svcerr.New(svcerr.AccessDenied, "User: %s is not authorized to perform: %s on resource: %s", c.ARN, action, in.RoleARN)
	}
	if errors.Is(err, ErrNoSuchRole) {
		// AWS does not tell a caller whether a role it may not assume exists.
		return nil, denied(ActAssumeRole)
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	if d > role.MaxSessionDuration {
		return nil, validation("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	identity, callerSession, err := s.Policies(ctx, &c.Principal)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	var pc policy.Context
	pc.SetCaller(c, policy.TimeKeysAt(s.now()))
	pc.Set("sts:RoleSessionName", in.RoleSessionName)
	if in.ExternalID != "" {
		pc.Set("sts:ExternalId", in.ExternalID)
	}
	if in.SourceIdentity != "" {
		pc.Set("sts:SourceIdentity", in.SourceIdentity)
	}
	setRequestTags(&pc, in.Tags)
	if len(in.TransitiveTagKeys) > 0 {
		pc.SetMulti("sts:TransitiveTagKeys", in.TransitiveTagKeys)
	}
	decide := func(action string) error {
		req := policy.Request{Action: action, Resource: role.ARN, Principal: policy.PrincipalOf(c), Context: &pc}
		dec := policy.Decide(policy.Inputs{Request: req, KeyPolicy: role.Trust, IdentityPolicies: identity,
			SessionPolicy: callerSession, KeyAccount: role.Account})
		if !dec.Allowed {
			return svcerr.New(svcerr.AccessDenied, "%s", dec.Message(c.ARN, action, role.ARN))
		}
		return nil
	}
	if err := decide(ActAssumeRole); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		if err := decide(ActTagSession); err != nil {
			return nil, err
		}
	}
	if in.SourceIdentity != "" {
		if err := decide(ActSetSourceIdentity); err != nil {
			return nil, err
		}
	}

	// Session tags: the role's, then tags passed on from a chained session,
	// then the request's, later ones winning by (case-insensitive) key.
	all := map[string]string{}
	maps.Copy(all, role.Tags)
	var transitive []string
	if c.Temporary && c.SourceARN != "" {
		if prev, err := s.sessions.get(ctx, c.AccessKeyID); err == nil {
			for _, k := range prev.TransitiveTagKeys {
				if v, ok := prev.Tags[k]; ok {
					all[k] = v
					transitive = append(transitive, k)
				}
			}
		}
	}
	for _, t := range in.Tags {
		all[t.Key] = t.Value
	}
	transitive = append(transitive, in.TransitiveTagKeys...)
	sourceIdentity := in.SourceIdentity
	if sourceIdentity == "" {
		sourceIdentity = c.SourceIdentity
	}
	size, err := packedSize(in.Policy, tagMap(in.Tags))
	if err != nil {
		return nil, err
	}
	out, err := s.issueRole(ctx, role, in.RoleSessionName, in.Policy, all, slices.Compact(slices.Sorted(slices.Values(transitive))), sourceIdentity, d)
	if err != nil {
		return nil, err
	}
	res := &AssumeRoleOutput{Credentials: out.creds, AssumedRoleUser: out.user, SourceIdentity: sourceIdentity}
	if in.Policy != "" || len(in.Tags) > 0 {
		res.PackedPolicySize = &size
	}
	return res, nil
}

type issued struct {
	creds Credentials
	user  AssumedRoleUser
}

func (s *Service) issueRole(ctx context.Context, role *Role, sessionName, policyDoc string, tags map[string]string, transitive []string, sourceIdentity string, d time.Duration) (*issued, error) {
	sessARN := "arn:" + s.partition + ":sts::" + role.Account + ":assumed-role/" + role.Name + "/" + sessionName
	userID := role.ID + ":" + sessionName
	sess := &session{Type: auth.AssumedRole, Account: role.Account, ARN: sessARN, UserID: userID,
		SourceARN: role.ARN, RoleID: role.ID, RoleName: role.Name, SessionName: sessionName,
		SourceIdentity: sourceIdentity, Tags: tags, TransitiveTagKeys: transitive, Policy: policyDoc}
	if len(sess.Tags) == 0 {
		sess.Tags = nil
	}
	creds, err := s.issue(ctx, sess, d)
	if err != nil {
		return nil, err
	}
	return &issued{creds: *creds, user: AssumedRoleUser{AssumedRoleID: userID, ARN: sessARN}}, nil
}

func tagMap(tags []Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// checkTags validates session tags and returns them keyed by lower-cased
// key (AWS treats session tag keys case-insensitively: two that differ only
// in case are a duplicate).
func checkTags(tags []Tag) (map[string]string, error) {
	if len(tags) > maxSessionTags {
		return nil, validation("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", maxSessionTags)
	}
	out := make(map[string]string, len(tags))
	for _, t := range tags {
		if err := checkLen("tags.member.key", t.Key, 1, maxSessionTagKey); err != nil {
			return nil, err
		}
		if err := checkPattern("tags.member.key", t.Key, tagKeyRe, `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`); err != nil {
			return nil, err
		}
		if err := checkLen("tags.member.value", t.Value, 0, maxSessionTagValue); err != nil {
			return nil, err
		}
		if err := checkPattern("tags.member.value", t.Value, tagValueRe, `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`); err != nil {
			return nil, err
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return nil, validation("Tag keys cannot start with the reserved prefix aws:.")
		}
		lk := strings.ToLower(t.Key)
		if _, dup := out[lk]; dup {
			return nil, validation("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		out[lk] = t.Value
	}
	return out, nil
}

func setRequestTags(pc *policy.Context, tags []Tag) {
	if len(tags) == 0 {
		return
	}
	keys := make([]string, len(tags))
	for i, t := range tags {
		pc.Set("aws:RequestTag/"+t.Key, t.Value)
		keys[i] = t.Key
	}
	pc.SetMulti("aws:TagKeys", keys)
}
