package kms

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

const otherAcct = "444455556666"

// fakeIdentities maps a principal ARN to its identity policies and session
// policy, as the IAM store would.
type fakeIdentities struct {
	mu       sync.Mutex
	identity map[string][]*policy.Policy
	session  map[string]*policy.Policy
	calls    int
}

func (f *fakeIdentities) Policies(_ context.Context, p *auth.Principal) ([]*policy.Policy, *policy.Policy, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return f.identity[p.ARN], f.session[p.ARN], nil
}

func mustPolicy(t *testing.T, kind policy.Kind, doc string) *policy.Policy {
	t.Helper()
	p, err := policy.ParseWith([]byte(doc), policy.Options{Kind: kind})
	if err != nil {
		t.Fatalf("parse %s: %v", doc, err)
	}
	return p
}

func user(account, name string) *auth.Caller {
	return &auth.Caller{Principal: auth.Principal{Type: auth.IAMUser, Account: account,
		ARN: "arn:aws:iam::" + account + ":user/" + name, UserID: "AIDA" + strings.ToUpper(name), UserName: name},
		Region: "us-east-1"}
}

func roleSession(account, role, session string) *auth.Caller {
	return &auth.Caller{Principal: auth.Principal{Type: auth.AssumedRole, Account: account,
		ARN:       "arn:aws:sts::" + account + ":assumed-role/" + role + "/" + session,
		SourceARN: "arn:aws:iam::" + account + ":role/" + role, UserID: "AROA" + strings.ToUpper(role) + ":" + session,
		SessionName: session, Temporary: true}, Region: "us-east-1"}
}

func newAuthzFixture(t *testing.T) (*fixture, *fakeIdentities) {
	t.Helper()
	ids := &fakeIdentities{identity: map[string][]*policy.Policy{}, session: map[string]*policy.Policy{}}
	f := &fixture{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), c: root("us-east-1"), ctx: context.Background()}
	f.s = New(keystore.New(memory.New()), Config{
		Now:        func() time.Time { return f.now },
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Regions:    []string{"us-east-1", "eu-west-1"},
		Identities: ids,
	})
	return f, ids
}

const (
	idAllowEncrypt = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:*:*:key/*"}]}`
	idAllowAll     = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`
	idBlueOnly     = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",
		"Condition":{"StringEquals":{"kms:EncryptionContext:team":"blue"}}}]}`
	idAliasOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
		"Condition":{"StringEquals":{"kms:RequestAlias":"alias/app"}}}]}`
	idCreateTagged = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*",
		"Condition":{"StringEquals":{"aws:RequestTag/team":"${aws:username}"}}}]}`
	sessDecryptOnly = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}`
)

// keyPolicyFor returns a key policy keeping the account root's full access
// and adding stmts.
func keyPolicyFor(account string, stmts ...string) string {
	all := append([]string{`{"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account + `:root"},"Action":"kms:*","Resource":"*"}`}, stmts...)
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(all, ",") + `]}`
}

func TestAuthorizeMatrix(t *testing.T) {
	t.Parallel()
	f, ids := newAuthzFixture(t)
	plain := f.createKey(t)
	// A key whose policy names alice directly and denies Decrypt to everyone
	// from outside 10.0.0.0/8, and lets the other account encrypt.
	direct, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{Policy: keyPolicyFor(acct,
		`{"Sid":"Alice","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/alice"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}`,
		`{"Sid":"Other","Effect":"Allow","Principal":{"AWS":"`+otherAcct+`"},"Action":"kms:Encrypt","Resource":"*"}`,
		`{"Sid":"NetDeny","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*","Condition":{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`,
	)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CreateAlias(f.ctx, f.c, &AliasInput{AliasName: "alias/app", TargetKeyID: plain.KeyID}); err != nil {
		t.Fatal(err)
	}
	ids.identity["arn:aws:iam::"+acct+":user/bob"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, idAllowEncrypt)}
	ids.identity["arn:aws:iam::"+acct+":user/carol"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, idBlueOnly)}
	ids.identity["arn:aws:iam::"+acct+":user/dave"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, idAliasOnly)}
	ids.identity["arn:aws:iam::"+otherAcct+":user/erin"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, idAllowAll)}
	sess := roleSession(acct, "app", "s1")
	ids.identity[sess.ARN] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, idAllowAll)}
	ids.session[sess.ARN] = mustPolicy(t, policy.KindSession, sessDecryptOnly)

	plainARN := "arn:aws:kms:us-east-1:" + acct + ":key/" + plain.KeyID
	directARN := "arn:aws:kms:us-east-1:" + acct + ":key/" + direct.KeyMetadata.KeyID
	withIP := func(c *auth.Caller, ip string) *auth.Caller { c.SourceIP = ip; return c }
	otherRoot := &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: otherAcct, ARN: "arn:aws:iam::" + otherAcct + ":root", UserID: otherAcct}, Region: "us-east-1"}

	encrypt := func(key string, ec map[string]string) func(*auth.Caller) error {
		return func(c *auth.Caller) error {
			_, err := f.s.Encrypt(f.ctx, c, &EncryptInput{KeyID: key, Plaintext: []byte("x"), EncryptionContext: ec})
			return err
		}
	}
	blob := func(key string, ec map[string]string) []byte {
		out, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: key, Plaintext: []byte("x"), EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		return out.CiphertextBlob
	}
	decrypt := func(key string, ec map[string]string) func(*auth.Caller) error {
		b := blob(key, ec)
		return func(c *auth.Caller) error {
			_, err := f.s.Decrypt(f.ctx, c, &DecryptInput{CiphertextBlob: b, EncryptionContext: ec})
			return err
		}
	}
	createKey := func(tags ...Tag) func(*auth.Caller) error {
		return func(c *auth.Caller) error {
			_, err := f.s.CreateKey(f.ctx, c, &CreateKeyInput{Tags: tags})
			return err
		}
	}
	blue, red := map[string]string{"team": "blue"}, map[string]string{"team": "red"}

	cases := []struct {
		name   string
		caller *auth.Caller
		op     func(*auth.Caller) error
		want   svcerr.Code
		msg    string
	}{
		{"root, default policy", f.c, encrypt(plain.KeyID, nil), "", ""},
		{"user without policies", user(acct, "alice"), encrypt(plain.KeyID, nil), svcerr.AccessDenied,
			"User: arn:aws:iam::" + acct + ":user/alice is not authorized to perform: kms:Encrypt on resource: " + plainARN + " because no identity-based policy allows the kms:Encrypt action"},
		{"identity policy allows encrypt", user(acct, "bob"), encrypt(plain.KeyID, nil), "", ""},
		{"identity policy does not allow decrypt", user(acct, "bob"), decrypt(plain.KeyID, nil), svcerr.AccessDenied, ""},
		{"identity policy cannot create keys", user(acct, "bob"), createKey(), svcerr.AccessDenied,
			"User: arn:aws:iam::" + acct + ":user/bob is not authorized to perform: kms:CreateKey on resource: * because no identity-based policy allows the kms:CreateKey action"},
		{"encryption context condition met", user(acct, "carol"), encrypt(plain.KeyID, blue), "", ""},
		{"encryption context condition met on decrypt", user(acct, "carol"), decrypt(plain.KeyID, blue), "", ""},
		{"encryption context condition not met", user(acct, "carol"), encrypt(plain.KeyID, red), svcerr.AccessDenied, ""},
		{"encryption context absent", user(acct, "carol"), encrypt(plain.KeyID, nil), svcerr.AccessDenied, ""},
		{"request alias condition met", user(acct, "dave"), encrypt("alias/app", nil), "", ""},
		{"request alias condition: key ID instead", user(acct, "dave"), encrypt(plain.KeyID, nil), svcerr.AccessDenied, ""},
		{"request alias condition: alias ARN", user(acct, "dave"), encrypt("arn:aws:kms:us-east-1:"+acct+":alias/app", nil), "", ""},
		{"key policy names the user", user(acct, "alice"), encrypt(direct.KeyMetadata.KeyID, nil), "", ""},
		{"key policy deny by source IP", withIP(user(acct, "alice"), "192.0.2.1"), decrypt(direct.KeyMetadata.KeyID, nil), svcerr.AccessDenied,
			"User: arn:aws:iam::" + acct + ":user/alice is not authorized to perform: kms:Decrypt on resource: " + directARN + " with an explicit deny in a resource-based policy"},
		{"key policy deny does not apply inside the network", withIP(user(acct, "alice"), "10.1.2.3"), decrypt(direct.KeyMetadata.KeyID, nil), "", ""},
		{"key policy deny binds root too", withIP(root("us-east-1"), "192.0.2.1"), decrypt(direct.KeyMetadata.KeyID, nil), svcerr.AccessDenied, ""},
		{"other account root, key policy silent", otherRoot, encrypt(plainARN, nil), svcerr.AccessDenied,
			"User: arn:aws:iam::" + otherAcct + ":root is not authorized to perform: kms:Encrypt on resource: " + plainARN + " because no resource-based policy allows the kms:Encrypt action"},
		{"other account root, key policy allows the account", otherRoot, encrypt(directARN, nil), "", ""},
		{"other account user, both sides allow", user(otherAcct, "erin"), encrypt(directARN, nil), "", ""},
		{"other account user, no identity policy", user(otherAcct, "frank"), encrypt(directARN, nil), svcerr.AccessDenied, ""},
		{"other account user, key policy does not allow decrypt", user(otherAcct, "erin"), decrypt(direct.KeyMetadata.KeyID, nil), svcerr.AccessDenied, ""},
		{"role session: session policy allows decrypt", sess, decrypt(plain.KeyID, nil), "", ""},
		{"role session: session policy narrows encrypt", sess, encrypt(plain.KeyID, nil), svcerr.AccessDenied,
			"User: " + sess.ARN + " is not authorized to perform: kms:Encrypt on resource: " + plainARN + " because no session policy allows the kms:Encrypt action"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op(tc.caller)
			if got := svcerr.CodeOf(err); got != tc.want {
				t.Fatalf("err = %v, want code %q", err, tc.want)
			}
			if tc.msg != "" && svcerr.As(err).Msg != tc.msg {
				t.Errorf("message =\n %s\nwant\n %s", svcerr.As(err).Msg, tc.msg)
			}
		})
	}
}

func TestAuthorizeRequestTags(t *testing.T) {
	t.Parallel()
	f, ids := newAuthzFixture(t)
	ids.identity["arn:aws:iam::"+acct+":user/alice"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, idCreateTagged)}
	alice := user(acct, "alice")
	_, err := f.s.CreateKey(f.ctx, alice, &CreateKeyInput{Tags: []Tag{{TagKey: "team", TagValue: "alice"}}})
	if err != nil {
		t.Fatalf("CreateKey tagged with the caller's name: %v", err)
	}
	_, err = f.s.CreateKey(f.ctx, alice, &CreateKeyInput{Tags: []Tag{{TagKey: "team", TagValue: "bob"}}})
	wantCode(t, err, svcerr.AccessDenied)
	_, err = f.s.CreateKey(f.ctx, alice, &CreateKeyInput{})
	wantCode(t, err, svcerr.AccessDenied)
}

func TestAuthorizeRootSkipsIdentityLookup(t *testing.T) {
	t.Parallel()
	f, ids := newAuthzFixture(t)
	m := f.createKey(t)
	if _, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if ids.calls != 0 {
		t.Errorf("root requests looked up identity policies %d times; root has none", ids.calls)
	}
	if _, err := f.s.Encrypt(f.ctx, user(acct, "bob"), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")}); svcerr.CodeOf(err) != svcerr.AccessDenied {
		t.Fatalf("user without policy: %v", err)
	}
	if ids.calls != 1 {
		t.Errorf("identity lookups = %d, want 1", ids.calls)
	}
}

func TestPutKeyPolicy(t *testing.T) {
	t.Parallel()
	f, ids := newAuthzFixture(t)
	m := f.createKey(t)
	ids.identity["arn:aws:iam::"+acct+":user/admin"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, idAllowAll)}
	alice := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/alice"},"Action":"kms:Encrypt","Resource":"*"}]}`

	cases := []struct {
		name string
		in   PutKeyPolicyInput
		want svcerr.Code
		msg  string
	}{
		{"no key", PutKeyPolicyInput{Policy: keyPolicyFor(acct)}, svcerr.Validation, ""},
		{"no policy", PutKeyPolicyInput{KeyID: m.KeyID}, svcerr.Validation, ""},
		{"bad policy name", PutKeyPolicyInput{KeyID: m.KeyID, Policy: keyPolicyFor(acct), PolicyName: "a-b"}, svcerr.Validation, ""},
		{"other policy name", PutKeyPolicyInput{KeyID: m.KeyID, Policy: keyPolicyFor(acct), PolicyName: "other"}, svcerr.NotFound, ""},
		{"not JSON", PutKeyPolicyInput{KeyID: m.KeyID, Policy: "{"}, svcerr.MalformedPolicyDocument, policy.ReasonSyntax},
		{"no principal", PutKeyPolicyInput{KeyID: m.KeyID, Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`},
			svcerr.MalformedPolicyDocument, policy.ReasonNoPrincipal},
		{"too long", PutKeyPolicyInput{KeyID: m.KeyID, Policy: keyPolicyFor(acct) + strings.Repeat(" ", maxPolicy)}, svcerr.Validation, ""},
		{"lockout", PutKeyPolicyInput{KeyID: m.KeyID, Policy: alice}, svcerr.MalformedPolicyDocument,
			"The new key policy will not allow you to update the key policy in the future."},
		{"unknown key", PutKeyPolicyInput{KeyID: "11111111-2222-3333-4444-555555555555", Policy: keyPolicyFor(acct)}, svcerr.NotFound, ""},
		{"keeps root", PutKeyPolicyInput{KeyID: m.KeyID, Policy: keyPolicyFor(acct)}, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := f.s.GetKeyPolicy(f.ctx, f.c, &GetKeyPolicyInput{KeyID: m.KeyID})
			_, err := f.s.PutKeyPolicy(f.ctx, f.c, &tc.in)
			if got := svcerr.CodeOf(err); got != tc.want {
				t.Fatalf("err = %v, want code %q", err, tc.want)
			}
			if tc.msg != "" && svcerr.As(err).Msg != tc.msg {
				t.Errorf("message = %q, want %q", svcerr.As(err).Msg, tc.msg)
			}
			after, _ := f.s.GetKeyPolicy(f.ctx, f.c, &GetKeyPolicyInput{KeyID: m.KeyID})
			if tc.want != "" && after.Policy != before.Policy {
				t.Errorf("a refused PutKeyPolicy changed the policy")
			}
			if tc.want == "" && after.Policy != tc.in.Policy {
				t.Errorf("GetKeyPolicy = %s, want the new policy", after.Policy)
			}
		})
	}

	// A user whose identity policy allows everything may replace the policy
	// only while the key policy delegates to the account.
	admin := user(acct, "admin")
	if _, err := f.s.PutKeyPolicy(f.ctx, admin, &PutKeyPolicyInput{KeyID: m.KeyID, Policy: keyPolicyFor(acct)}); err != nil {
		t.Fatalf("admin PutKeyPolicy: %v", err)
	}
	// Bypassing the check locks everyone but alice out, root included.
	if _, err := f.s.PutKeyPolicy(f.ctx, f.c, &PutKeyPolicyInput{KeyID: m.KeyID, Policy: alice, BypassPolicyLockoutSafetyCheck: true}); err != nil {
		t.Fatalf("bypass: %v", err)
	}
	_, err := f.s.PutKeyPolicy(f.ctx, f.c, &PutKeyPolicyInput{KeyID: m.KeyID, Policy: keyPolicyFor(acct)})
	wantCode(t, err, svcerr.AccessDenied)
	_, err = f.s.Encrypt(f.ctx, admin, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})
	wantCode(t, err, svcerr.AccessDenied)
	if _, err := f.s.Encrypt(f.ctx, user(acct, "alice"), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("alice, named by the policy: %v", err)
	}
}

func TestCreateKeyPolicy(t *testing.T) {
	t.Parallel()
	f, _ := newAuthzFixture(t)
	alice := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/alice"},"Action":"kms:*","Resource":"*"}]}`
	before, err := f.s.ListKeys(f.ctx, f.c, &ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{Policy: alice})
	wantCode(t, err, svcerr.MalformedPolicyDocument)
	after, _ := f.s.ListKeys(f.ctx, f.c, &ListKeysInput{})
	if len(after.Keys) != len(before.Keys) {
		t.Fatalf("a refused CreateKey created a key")
	}
	out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{Policy: alice, BypassPolicyLockoutSafetyCheck: true})
	if err != nil {
		t.Fatalf("bypass: %v", err)
	}
	_, err = f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: out.KeyMetadata.KeyID})
	wantCode(t, err, svcerr.AccessDenied)
	if _, err := f.s.DescribeKey(f.ctx, user(acct, "alice"), &DescribeKeyInput{KeyID: out.KeyMetadata.KeyID}); err != nil {
		t.Fatalf("alice: %v", err)
	}
}

func TestListKeyPolicies(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	out, err := f.s.ListKeyPolicies(f.ctx, f.c, &ListKeyPoliciesInput{KeyID: m.KeyID})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.PolicyNames) != 1 || out.PolicyNames[0] != "default" || out.Truncated {
		t.Errorf("ListKeyPolicies = %+v", out)
	}
	_, err = f.s.ListKeyPolicies(f.ctx, f.c, &ListKeyPoliciesInput{KeyID: m.KeyID, Marker: "x"})
	wantCode(t, err, svcerr.InvalidMarker)
	_, err = f.s.ListKeyPolicies(f.ctx, f.c, &ListKeyPoliciesInput{KeyID: m.KeyID, Limit: i32(0)})
	wantCode(t, err, svcerr.Validation)
	_, err = f.s.ListKeyPolicies(f.ctx, user(acct, "x"), &ListKeyPoliciesInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.AccessDenied)
}

func TestStoredPolicyThatNoLongerParsesFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	if _, err := f.s.ks.Update(f.ctx, acct, "us-east-1", m.KeyID, func(k *keystore.Key) error {
		k.Policy = `{"Statement":"not a statement"}`
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})
	wantCode(t, err, svcerr.AccessDenied)
}

func TestKeyPolicyLintLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var logs bytes.Buffer
	f.s.log = slog.New(slog.NewTextHandler(&logs, nil))
	m := f.createKey(t)
	public := `{"Version":"2012-10-17","Statement":[{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`
	if _, err := f.s.PutKeyPolicy(f.ctx, f.c, &PutKeyPolicyInput{KeyID: m.KeyID, Policy: public}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "finding=ARCA-POL-001") || !strings.Contains(logs.String(), "sid=Everyone") {
		t.Errorf("PutKeyPolicy of a public policy logged no lint warning:\n%s", logs.String())
	}
	logs.Reset()
	if _, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{Policy: keyPolicyFor(acct)}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "key policy lint") {
		t.Errorf("the default-shaped policy logged a lint warning:\n%s", logs.String())
	}
	if _, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{Policy: public}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "finding=ARCA-POL-001") {
		t.Errorf("CreateKey of a public policy logged no lint warning:\n%s", logs.String())
	}
}

func TestAuthorizeTimeConditions(t *testing.T) {
	t.Parallel()
	f, ids := newAuthzFixture(t)
	m := f.createKey(t)
	ids.identity["arn:aws:iam::"+acct+":user/later"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*",
		  "Condition":{"DateGreaterThan":{"aws:CurrentTime":"2026-06-01T00:00:00Z"},"NumericLessThan":{"aws:EpochTime":"1800000000"}}}]}`)}
	later := user(acct, "later")
	enc := func() error {
		_, err := f.s.Encrypt(f.ctx, later, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})
		return err
	}
	wantCode(t, enc(), svcerr.AccessDenied)
	f.now = time.Date(2026, 6, 1, 0, 0, 1, 0, time.UTC)
	if err := enc(); err != nil {
		t.Fatalf("after the date: %v", err)
	}
	f.now = time.Unix(1800000000, 0)
	wantCode(t, enc(), svcerr.AccessDenied)
}

func TestAuthorizeGrants(t *testing.T) {
	t.Parallel()
	f, ids := newAuthzFixture(t)
	m := f.createKey(t)
	denyDecrypt, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{Policy: keyPolicyFor(acct,
		`{"Sid":"NoDecrypt","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}`)})
	if err != nil {
		t.Fatal(err)
	}
	grant := func(keyID, grantee string, ops []string, c *GrantConstraints) *CreateGrantOutput {
		out, err := f.s.CreateGrant(f.ctx, f.c, &CreateGrantInput{KeyID: keyID, GranteePrincipal: grantee, Operations: ops, Constraints: c})
		if err != nil {
			t.Fatalf("CreateGrant: %v", err)
		}
		return out
	}
	blue := map[string]string{"team": "blue"}
	grant(m.KeyID, "arn:aws:iam::"+acct+":user/alice", []string{"Encrypt", "Decrypt"}, &GrantConstraints{EncryptionContextSubset: blue})
	grant(m.KeyID, "arn:aws:iam::"+acct+":root", []string{"Encrypt"}, nil)
	grant(denyDecrypt.KeyMetadata.KeyID, "arn:aws:iam::"+acct+":user/alice", []string{"Encrypt", "Decrypt"}, nil)
	ids.identity["arn:aws:iam::"+acct+":user/bob"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, idAllowEncrypt)}

	alice, bob, carol := user(acct, "alice"), user(acct, "bob"), user(acct, "carol")
	enc := func(c *auth.Caller, keyID string, ec map[string]string, tokens ...string) error {
		_, err := f.s.Encrypt(f.ctx, c, &EncryptInput{KeyID: keyID, Plaintext: []byte("x"), EncryptionContext: ec, GrantTokens: tokens})
		return err
	}
	if err := enc(alice, m.KeyID, blue); err != nil {
		t.Errorf("grantee within the constraint: %v", err)
	}
	wantCode(t, enc(alice, m.KeyID, map[string]string{"team": "red"}), svcerr.AccessDenied)
	wantCode(t, enc(alice, m.KeyID, nil), svcerr.AccessDenied)
	// A grant to the account delegates to IAM: bob's identity policy allows
	// Encrypt, carol has none. (The default key policy would allow bob
	// anyway; carol shows the grant alone is not enough.)
	if err := enc(bob, m.KeyID, nil); err != nil {
		t.Errorf("bob: %v", err)
	}
	wantCode(t, enc(carol, m.KeyID, nil), svcerr.AccessDenied)
	// An explicit deny in the key policy beats a grant.
	out, err := f.s.Encrypt(f.ctx, alice, &EncryptInput{KeyID: denyDecrypt.KeyMetadata.KeyID, Plaintext: []byte("x")})
	if err != nil {
		t.Fatalf("Encrypt by grant: %v", err)
	}
	_, err = f.s.Decrypt(f.ctx, alice, &DecryptInput{CiphertextBlob: out.CiphertextBlob})
	wantCode(t, err, svcerr.AccessDenied)
	// A forged grant token is refused as such, not as a denial.
	wantCode(t, enc(carol, m.KeyID, nil, "not-a-grant-token"), svcerr.InvalidGrantToken)
}

// TestResourceAliasesAndViaService: kms:ResourceAliases is the key's alias
// names however the request names the key, and follows alias changes at
// once; kms:ViaService is set only when a service calls on the caller's
// behalf.
func TestResourceAliasesAndViaService(t *testing.T) {
	t.Parallel()
	f, ids := newAuthzFixture(t)
	k := f.createKey(t)
	ids.identity["arn:aws:iam::"+acct+":user/alice"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/finance"}}}]}`)}
	ids.identity["arn:aws:iam::"+acct+":user/bob"] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, `{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"secretsmanager.us-east-1.amazonaws.com"}}}]}`)}
	encrypt := func(c *auth.Caller) error {
		_, err := f.s.Encrypt(f.ctx, c, &EncryptInput{KeyID: k.KeyID, Plaintext: []byte("x")})
		return err
	}
	alice := user(acct, "alice")
	wantCode(t, encrypt(alice), svcerr.AccessDenied)
	if _, err := f.s.CreateAlias(f.ctx, f.c, &AliasInput{AliasName: "alias/finance", TargetKeyID: k.KeyID}); err != nil {
		t.Fatal(err)
	}
	if err := encrypt(alice); err != nil {
		t.Errorf("Encrypt by key ID of a key aliased alias/finance: %v", err)
	}
	if _, err := f.s.DeleteAlias(f.ctx, f.c, &DeleteAliasInput{AliasName: "alias/finance"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, encrypt(alice), svcerr.AccessDenied)

	bob := user(acct, "bob")
	wantCode(t, encrypt(bob), svcerr.AccessDenied)
	via := user(acct, "bob")
	via.ViaService = "secretsmanager.us-east-1.amazonaws.com"
	if err := encrypt(via); err != nil {
		t.Errorf("Encrypt via Secrets Manager: %v", err)
	}
}
