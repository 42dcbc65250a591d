package sts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

const (
	acct  = "111122223333"
	other = "444455556666"
)

type fakeDir struct {
	mu    sync.Mutex
	roles map[string]*Role // account/name
	// deletedUsers are users (account/name) UserID no longer finds; the
	// others exist with the IDs userCaller gives them.
	deletedUsers map[string]bool
	identity     map[string][]*policy.Policy
}

func (d *fakeDir) Role(_ context.Context, account, name string) (*Role, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.roles[account+"/"+name]
	if !ok {
		return nil, ErrNoSuchRole
	}
	return r, nil
}

func (d *fakeDir) UserID(_ context.Context, account, name string) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.deletedUsers[account+"/"+name] {
		return "", ErrNoSuchUser
	}
	return "AIDA" + strings.ToUpper(name), nil
}

func (d *fakeDir) Policies(_ context.Context, p *auth.Principal) ([]*policy.Policy, *policy.Policy, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	key := p.ARN
	if p.Type == auth.AssumedRole {
		key = p.SourceARN
	}
	return d.identity[key], nil, nil
}

type fakeWeb struct {
	tok *WebToken
	err error
}

func (w *fakeWeb) Verify(context.Context, string) (*WebToken, error) { return w.tok, w.err }

func mustParse(t *testing.T, kind policy.Kind, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.ParseWith([]byte(doc), policy.Options{Kind: kind})
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	return p
}

type fixture struct {
	s   *Service
	dir *fakeDir
	web *fakeWeb
	now time.Time
	ctx context.Context
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{dir: &fakeDir{roles: map[string]*Role{}, identity: map[string][]*policy.Policy{}}, web: &fakeWeb{},
		now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), ctx: context.Background()}
	f.s = New(memory.New(), f.dir, Config{Now: func() time.Time { return f.now },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WebIdentity: f.web})
	return f
}

func (f *fixture) addRole(t *testing.T, account, name, trust string) *Role {
	r := &Role{ID: "AROA" + strings.ToUpper(name) + "0000000000", ARN: "arn:aws:iam::" + account + ":role/team/" + name, Name: name,
		Account: account, Trust: mustParse(t, policy.KindTrust, trust), MaxSessionDuration: time.Hour, Tags: map[string]string{"team": "blue"}}
	f.dir.roles[account+"/"+name] = r
	return r
}

func userCaller(account, name string) *auth.Caller {
	return &auth.Caller{Principal: auth.Principal{Type: auth.IAMUser, Account: account, ARN: "arn:aws:iam::" + account + ":user/" + name,
		UserID: "AIDA" + strings.ToUpper(name), UserName: name, AccessKeyID: "AKIA" + strings.ToUpper(name)}}
}

func rootCaller(account string) *auth.Caller {
	return &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: account, ARN: "arn:aws:iam::" + account + ":root", UserID: account}}
}

// callerFor authenticates issued credentials the way the SigV4 layer does.
func (f *fixture) callerFor(t *testing.T, c Credentials) *auth.Caller {
	t.Helper()
	p, err := f.s.Principal(f.ctx, c.AccessKeyID, c.SessionToken)
	if err != nil {
		t.Fatalf("Principal: %v", err)
	}
	return &auth.Caller{Principal: p}
}

func trustPrincipal(arn string, action string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":%q}]}`, arn, action)
}

func wantCode(t *testing.T, err error, code svcerr.Code) {
	t.Helper()
	if got := svcerr.CodeOf(err); got != code {
		t.Fatalf("err = %v (code %q), want %q", err, got, code)
	}
}

func TestAssumeRole(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	direct := f.addRole(t, acct, "direct", trustPrincipal("arn:aws:iam::"+acct+":user/alice", "sts:AssumeRole"))
	f.addRole(t, acct, "delegated", trustPrincipal(acct, "sts:AssumeRole"))
	f.addRole(t, other, "cross", trustPrincipal(acct, "sts:AssumeRole"))
	f.addRole(t, acct, "tagging", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/alice"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`)
	f.addRole(t, acct, "external", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/alice"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x-123"}}}]}`)
	f.dir.identity["arn:aws:iam::"+acct+":user/bob"] = []*policy.Policy{mustParse(t, policy.KindIdentity,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)}

	alice, bob, carol := userCaller(acct, "alice"), userCaller(acct, "bob"), userCaller(acct, "carol")
	roleARN := func(account, name string) string { return "arn:aws:iam::" + account + ":role/team/" + name }
	cases := []struct {
		name   string
		caller *auth.Caller
		in     AssumeRoleInput
		want   svcerr.Code
	}{
		{"trust names the user", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s1"}, ""},
		{"trust names another user", bob, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s1"}, svcerr.AccessDenied},
		{"delegated, identity policy allows", bob, AssumeRoleInput{RoleARN: roleARN(acct, "delegated"), RoleSessionName: "s1"}, ""},
		{"delegated, no identity policy", carol, AssumeRoleInput{RoleARN: roleARN(acct, "delegated"), RoleSessionName: "s1"}, svcerr.AccessDenied},
		{"cross account, identity policy allows", bob, AssumeRoleInput{RoleARN: roleARN(other, "cross"), RoleSessionName: "s1"}, ""},
		{"cross account, no identity policy", carol, AssumeRoleInput{RoleARN: roleARN(other, "cross"), RoleSessionName: "s1"}, svcerr.AccessDenied},
		{"root may not assume roles", rootCaller(acct), AssumeRoleInput{RoleARN: roleARN(acct, "delegated"), RoleSessionName: "s1"}, svcerr.AccessDenied},
		{"unknown role looks like a denial", alice, AssumeRoleInput{RoleARN: roleARN(acct, "nope"), RoleSessionName: "s1"}, svcerr.AccessDenied},
		{"duration over the role's maximum", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s1", DurationSeconds: i32(3601)}, svcerr.Validation},
		{"duration under 900", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s1", DurationSeconds: i32(899)}, svcerr.Validation},
		{"duration over 43200", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s1", DurationSeconds: i32(43201)}, svcerr.Validation},
		{"session name too short", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s"}, svcerr.Validation},
		{"session name bad characters", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "a b"}, svcerr.Validation},
		{"no session name", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct")}, svcerr.Validation},
		{"bad role ARN", alice, AssumeRoleInput{RoleARN: "arn:aws:iam::" + acct + ":user/alice", RoleSessionName: "s1"}, svcerr.Validation},
		{"malformed session policy", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s1", Policy: "{"}, svcerr.MalformedPolicyDocument},
		{"oversized session policy", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s1",
			Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:*:*:key/` + strings.Repeat("k", 2100) + `"}]}`}, svcerr.PackedPolicyTooLarge},
		{"managed session policies unsupported", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s1", PolicyArns: []PolicyDescriptor{{ARN: "arn:aws:iam::aws:policy/ReadOnlyAccess"}}}, svcerr.Validation},
		{"tags need sts:TagSession", alice, AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "s1", Tags: []Tag{{"k", "v"}}}, svcerr.AccessDenied},
		{"tags with sts:TagSession", alice, AssumeRoleInput{RoleARN: roleARN(acct, "tagging"), RoleSessionName: "s1", Tags: []Tag{{"k", "v"}}}, ""},
		{"duplicate tag keys", alice, AssumeRoleInput{RoleARN: roleARN(acct, "tagging"), RoleSessionName: "s1", Tags: []Tag{{"k", "v"}, {"K", "w"}}}, svcerr.Validation},
		{"transitive key not a tag", alice, AssumeRoleInput{RoleARN: roleARN(acct, "tagging"), RoleSessionName: "s1", Tags: []Tag{{"k", "v"}}, TransitiveTagKeys: []string{"x"}}, svcerr.Validation},
		{"external ID condition met", alice, AssumeRoleInput{RoleARN: roleARN(acct, "external"), RoleSessionName: "s1", ExternalID: "x-123"}, ""},
		{"external ID condition not met", alice, AssumeRoleInput{RoleARN: roleARN(acct, "external"), RoleSessionName: "s1", ExternalID: "x-999"}, svcerr.AccessDenied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := f.s.AssumeRole(f.ctx, tc.caller, &tc.in)
			wantCode(t, err, tc.want)
			if err != nil {
				return
			}
			c := f.callerFor(t, out.Credentials)
			if c.Type != auth.AssumedRole || c.ARN != out.AssumedRoleUser.ARN || !strings.HasPrefix(c.AccessKeyID, "ASIA") || !c.Temporary {
				t.Errorf("session principal = %+v, AssumedRoleUser %+v", c.Principal, out.AssumedRoleUser)
			}
			if !strings.HasSuffix(c.ARN, ":assumed-role/"+strings.TrimPrefix(tc.in.RoleARN[strings.LastIndex(tc.in.RoleARN, "/"):], "/")+"/s1") {
				t.Errorf("session ARN %s", c.ARN)
			}
			if want := f.now.Add(time.Hour); !out.Credentials.Expiration.Equal(want) {
				t.Errorf("Expiration = %v, want %v", out.Credentials.Expiration, want)
			}
		})
	}

	// The session's tags: the role's, overridden by the request's.
	out, err := f.s.AssumeRole(f.ctx, alice, &AssumeRoleInput{RoleARN: roleARN(acct, "tagging"), RoleSessionName: "tags",
		Tags: []Tag{{"team", "red"}, {"env", "prod"}}, TransitiveTagKeys: []string{"env"}})
	if err != nil {
		t.Fatal(err)
	}
	c := f.callerFor(t, out.Credentials)
	if c.Tags["team"] != "red" || c.Tags["env"] != "prod" || out.PackedPolicySize == nil {
		t.Errorf("tags = %v, packed %v", c.Tags, out.PackedPolicySize)
	}
	// Chaining: at most an hour, and transitive tags carry over.
	f.addRole(t, acct, "next", trustPrincipal(roleARN(acct, "tagging"), "sts:AssumeRole"))
	_, err = f.s.AssumeRole(f.ctx, c, &AssumeRoleInput{RoleARN: roleARN(acct, "next"), RoleSessionName: "chain", DurationSeconds: i32(7200)})
	wantCode(t, err, svcerr.Validation)
	chained, err := f.s.AssumeRole(f.ctx, c, &AssumeRoleInput{RoleARN: roleARN(acct, "next"), RoleSessionName: "chain"})
	if err != nil {
		t.Fatalf("chained AssumeRole: %v", err)
	}
	if cc := f.callerFor(t, chained.Credentials); cc.Tags["env"] != "prod" || cc.Tags["team"] != "blue" {
		t.Errorf("chained session tags = %v, want env=prod carried over and the role's team=blue", cc.Tags)
	}

	// The role's ID ends sessions when the role is deleted or recreated.
	first, err := f.s.AssumeRole(f.ctx, alice, &AssumeRoleInput{RoleARN: roleARN(acct, "direct"), RoleSessionName: "life"})
	if err != nil {
		t.Fatal(err)
	}
	recreated := *direct
	recreated.ID = "AROARECREATED0000000"
	f.dir.roles[acct+"/direct"] = &recreated
	_, err = f.s.Principal(f.ctx, first.Credentials.AccessKeyID, first.Credentials.SessionToken)
	wantCode(t, err, svcerr.UnrecognizedClient)
	delete(f.dir.roles, acct+"/direct")
	_, err = f.s.Principal(f.ctx, first.Credentials.AccessKeyID, first.Credentials.SessionToken)
	wantCode(t, err, svcerr.UnrecognizedClient)
}

func i32(v int32) *int32 { return &v }

func TestSessionCredentials(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addRole(t, acct, "r", trustPrincipal("arn:aws:iam::"+acct+":user/alice", "sts:AssumeRole"))
	out, err := f.s.AssumeRole(f.ctx, userCaller(acct, "alice"), &AssumeRoleInput{RoleARN: "arn:aws:iam::" + acct + ":role/team/r", RoleSessionName: "s1", DurationSeconds: i32(900)})
	if err != nil {
		t.Fatal(err)
	}
	cr := out.Credentials
	secret, err := f.s.LookupSecret(f.ctx, cr.AccessKeyID)
	if err != nil || string(secret) != cr.SecretAccessKey {
		t.Fatalf("LookupSecret = %q, %v", secret, err)
	}
	for _, tc := range []struct {
		name, akid, token string
		want              svcerr.Code
	}{
		{"no token", cr.AccessKeyID, "", svcerr.UnrecognizedClient},
		{"wrong token", cr.AccessKeyID, cr.SessionToken + "x", svcerr.UnrecognizedClient},
		{"unknown key", "ASIAAAAAAAAAAAAAAAAA", cr.SessionToken, svcerr.UnrecognizedClient},
		{"good", cr.AccessKeyID, cr.SessionToken, ""},
	} {
		_, err := f.s.Principal(f.ctx, tc.akid, tc.token)
		if svcerr.CodeOf(err) != tc.want {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	f.now = f.now.Add(899 * time.Second)
	if _, err := f.s.Principal(f.ctx, cr.AccessKeyID, cr.SessionToken); err != nil {
		t.Fatalf("a second before expiry: %v", err)
	}
	f.now = f.now.Add(time.Second)
	_, err = f.s.Principal(f.ctx, cr.AccessKeyID, cr.SessionToken)
	wantCode(t, err, svcerr.ExpiredToken)

	// The sweep keeps an expired session for an hour, then removes it.
	if n, err := f.s.Sweep(f.ctx); err != nil || n != 0 {
		t.Fatalf("early sweep removed %d (%v)", n, err)
	}
	f.now = f.now.Add(time.Hour + time.Second)
	if n, err := f.s.Sweep(f.ctx); err != nil || n != 1 {
		t.Fatalf("sweep removed %d (%v), want 1", n, err)
	}
	_, err = f.s.Principal(f.ctx, cr.AccessKeyID, cr.SessionToken)
	wantCode(t, err, svcerr.UnrecognizedClient)
}

func TestSessionPolicyNarrows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.addRole(t, acct, "r", trustPrincipal("arn:aws:iam::"+acct+":user/alice", "sts:AssumeRole"))
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`
	out, err := f.s.AssumeRole(f.ctx, userCaller(acct, "alice"), &AssumeRoleInput{RoleARN: "arn:aws:iam::" + acct + ":role/team/r", RoleSessionName: "s1", Policy: doc})
	if err != nil {
		t.Fatal(err)
	}
	c := f.callerFor(t, out.Credentials)
	_, sess, err := f.s.Policies(f.ctx, &c.Principal)
	if err != nil || sess == nil {
		t.Fatalf("Policies: session policy %v, %v", sess, err)
	}
	req := policy.Request{Action: "kms:Encrypt", Resource: "*", Principal: policy.PrincipalOf(c)}
	if r := sess.Evaluate(&req); r.Effect == policy.Allow {
		t.Errorf("the session policy allows kms:Encrypt")
	}
	if out.PackedPolicySize == nil || *out.PackedPolicySize <= 0 || *out.PackedPolicySize > 100 {
		t.Errorf("PackedPolicySize = %v", out.PackedPolicySize)
	}
}

func TestGetSessionToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.dir.identity["arn:aws:iam::"+acct+":user/alice"] = []*policy.Policy{mustParse(t, policy.KindIdentity,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetSessionToken","Resource":"*"}]}`)}
	out, err := f.s.GetSessionToken(f.ctx, userCaller(acct, "alice"), &GetSessionTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Add(12 * time.Hour); !out.Credentials.Expiration.Equal(want) {
		t.Errorf("default expiry %v, want %v", out.Credentials.Expiration, want)
	}
	c := f.callerFor(t, out.Credentials)
	if c.Type != auth.IAMUser || c.ARN != "arn:aws:iam::"+acct+":user/alice" || c.UserName != "alice" || !c.Temporary {
		t.Errorf("session principal = %+v", c.Principal)
	}
	_, err = f.s.GetSessionToken(f.ctx, c, &GetSessionTokenInput{})
	wantCode(t, err, svcerr.AccessDenied)
	// The session ends with its user.
	f.dir.mu.Lock()
	f.dir.deletedUsers = map[string]bool{acct + "/alice": true}
	f.dir.mu.Unlock()
	_, err = f.s.Principal(f.ctx, out.Credentials.AccessKeyID, out.Credentials.SessionToken)
	wantCode(t, err, svcerr.UnrecognizedClient)
	// No policy controls GetSessionToken (AWS: "No permissions are
	// required for a user to get a session token").
	if _, err = f.s.GetSessionToken(f.ctx, userCaller(acct, "bob"), &GetSessionTokenInput{}); err != nil {
		t.Errorf("GetSessionToken by a user without policies: %v", err)
	}
	root, err := f.s.GetSessionToken(f.ctx, rootCaller(acct), &GetSessionTokenInput{DurationSeconds: i32(7200)})
	if err != nil {
		t.Fatal(err)
	}
	if want := f.now.Add(time.Hour); !root.Credentials.Expiration.Equal(want) {
		t.Errorf("root session expiry %v, want an hour", root.Credentials.Expiration)
	}
	_, err = f.s.GetSessionToken(f.ctx, rootCaller(acct), &GetSessionTokenInput{DurationSeconds: i32(129601)})
	wantCode(t, err, svcerr.Validation)
}

func TestAssumeRoleWithWebIdentity(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	provider := "arn:aws:iam::" + acct + ":oidc-provider/issuer.example.com"
	f.addRole(t, acct, "ci", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"`+provider+`"},
		"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"issuer.example.com:aud":"arca"},"StringLike":{"issuer.example.com:sub":"repo:acme/*"}}}]}`)
	tok := func(sub string) *WebToken {
		return &WebToken{Issuer: "https://issuer.example.com", ProviderKey: "issuer.example.com", Subject: sub, Audience: []string{"arca"},
			ConditionKeys: map[string][]string{"issuer.example.com:sub": {sub}, "issuer.example.com:aud": {"arca"}}}
	}
	in := func() *AssumeRoleWithWebIdentityInput {
		return &AssumeRoleWithWebIdentityInput{RoleARN: "arn:aws:iam::" + acct + ":role/team/ci", RoleSessionName: "build-1", WebIdentityToken: "eyJ.x.y", DurationSeconds: i32(900)}
	}
	f.web.tok = tok("repo:acme/app")
	out, err := f.s.AssumeRoleWithWebIdentity(f.ctx, nil, in())
	if err != nil {
		t.Fatal(err)
	}
	if out.SubjectFromWebIdentityToken != "repo:acme/app" || out.Provider != "https://issuer.example.com" || out.Audience != "arca" {
		t.Errorf("output = %+v", out)
	}
	c := f.callerFor(t, out.Credentials)
	if c.Type != auth.AssumedRole || c.ARN != "arn:aws:sts::"+acct+":assumed-role/ci/build-1" {
		t.Errorf("principal = %+v", c.Principal)
	}

	f.web.tok = tok("repo:evil/app")
	_, err = f.s.AssumeRoleWithWebIdentity(f.ctx, nil, in())
	wantCode(t, err, svcerr.AccessDenied)

	for _, tc := range []struct {
		err  error
		want svcerr.Code
	}{
		{fmt.Errorf("%w: bad signature", ErrWebTokenInvalid), svcerr.InvalidIdentityToken},
		{fmt.Errorf("%w: exp in the past", ErrWebTokenExpired), svcerr.ExpiredToken},
		{fmt.Errorf("%w: nbf", ErrWebTokenRejected), svcerr.IDPRejectedClaim},
		{fmt.Errorf("%w: jwks down", ErrIssuerUnreachable), svcerr.IDPCommunicationError},
	} {
		f.web.tok, f.web.err = nil, tc.err
		_, err = f.s.AssumeRoleWithWebIdentity(f.ctx, nil, in())
		wantCode(t, err, tc.want)
	}
	f.web.err = nil
	noToken := in()
	noToken.WebIdentityToken = ""
	_, err = f.s.AssumeRoleWithWebIdentity(f.ctx, nil, noToken)
	wantCode(t, err, svcerr.Validation)

	unconfigured := New(memory.New(), f.dir, Config{})
	_, err = unconfigured.AssumeRoleWithWebIdentity(f.ctx, nil, in())
	wantCode(t, err, svcerr.InvalidIdentityToken)
}

func TestSessionRecordsHoldNoToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mem := memory.New()
	f.s = New(mem, f.dir, Config{Now: func() time.Time { return f.now }})
	out, err := f.s.GetSessionToken(f.ctx, rootCaller(acct), &GetSessionTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	entries, err := mem.List(f.ctx, sessionPrefix, "", 0)
	if err != nil || len(entries) != 1 {
		t.Fatalf("List = %d entries, %v", len(entries), err)
	}
	if strings.Contains(string(entries[0].Value), out.Credentials.SessionToken) {
		t.Errorf("the session record contains the session token")
	}
}

// TestGate: a cached session is refused while the gate refuses, with the
// retryable DependencyTimeoutException, and served again once it admits.
func TestGate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.dir.identity["arn:aws:iam::"+acct+":user/alice"] = []*policy.Policy{mustParse(t, policy.KindIdentity,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:GetSessionToken","Resource":"*"}]}`)}
	out, err := f.s.GetSessionToken(f.ctx, userCaller(acct, "alice"), &GetSessionTokenInput{})
	if err != nil {
		t.Fatal(err)
	}
	f.callerFor(t, out.Credentials) // cached from here on
	refuse := true
	f.s.SetGate(func() error {
		if refuse {
			return storage.ErrStale
		}
		return nil
	})
	if _, err := f.s.LookupSecret(f.ctx, out.Credentials.AccessKeyID); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("LookupSecret past the gate = %v; want ErrUnavailable", err)
	}
	_, err = f.s.Principal(f.ctx, out.Credentials.AccessKeyID, out.Credentials.SessionToken)
	wantCode(t, err, svcerr.DependencyTimeout)
	refuse = false
	f.callerFor(t, out.Credentials)
}
