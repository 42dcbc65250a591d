package posture

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

const acct = "111122223333"

var now = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

type inv struct {
	keys    []Key
	aliases []Alias
	aks     []AccessKey
	err     error
}

func (i *inv) Keys(context.Context, string) ([]Key, error)             { return i.keys, i.err }
func (i *inv) Aliases(context.Context, string) ([]Alias, error)        { return i.aliases, nil }
func (i *inv) AccessKeys(context.Context, string) ([]AccessKey, error) { return i.aks, nil }

type secrets []Secret

func (s secrets) Secrets(context.Context, string) ([]Secret, error) { return s, nil }

const goodPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
const publicPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}`

// key returns a healthy customer key (rotation on, enabled, good policy).
func key(id string) Key {
	return Key{ARN: "arn:aws:kms:us-east-1:" + acct + ":key/" + id, ID: id, Account: acct, Region: "us-east-1",
		Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS", State: "Enabled",
		RotationEnabled: true, Policy: goodPolicy}
}

func userKey(id string, created, used time.Time) AccessKey {
	return AccessKey{ID: id, Account: acct, ARN: "arn:aws:iam::" + acct + ":user/alice", UserName: "alice", Active: true,
		Created: created, LastUsed: used}
}

func TestRules(t *testing.T) {
	t.Parallel()
	with := func(k Key, f func(*Key)) Key { f(&k); return k }
	cases := []struct {
		name    string
		inv     inv
		opts    Options
		want    []string // rule IDs, in output order
		detail  string   // in the first finding's Detail
		noFinds bool
	}{
		{"healthy key", inv{keys: []Key{key("k1")}}, Options{}, nil, "", true},
		{"rotation off", inv{keys: []Key{with(key("k1"), func(k *Key) { k.RotationEnabled = false })}}, Options{},
			[]string{RuleKeyRotation}, "rotation is disabled", false},
		{"rotation off on a disabled key still counts", inv{keys: []Key{with(key("k1"), func(k *Key) { k.RotationEnabled = false; k.State = "Disabled" })}}, Options{},
			[]string{RuleKeyRotation}, "", false},
		{"rotation does not apply: asymmetric, HMAC, imported, replica, AWS managed", inv{keys: []Key{
			with(key("a"), func(k *Key) { k.RotationEnabled = false; k.Spec, k.Usage = "RSA_2048", "SIGN_VERIFY" }),
			with(key("b"), func(k *Key) { k.RotationEnabled = false; k.Spec, k.Usage = "HMAC_256", "GENERATE_VERIFY_MAC" }),
			with(key("c"), func(k *Key) { k.RotationEnabled = false; k.Origin = "EXTERNAL" }),
			with(key("d"), func(k *Key) { k.RotationEnabled = false; k.MultiRegionType = "MultiRegionReplica" }),
			with(key("e"), func(k *Key) { k.RotationEnabled = false; k.Manager = "AWS" }),
		}}, Options{}, nil, "", true},
		{"SM4 rotates like AES", inv{keys: []Key{with(key("k1"), func(k *Key) { k.RotationEnabled = false; k.Spec = "SM4" })}}, Options{},
			[]string{RuleKeyRotation}, "", false},
		{"pending deletion with the date, and nothing else about it", inv{keys: []Key{with(key("k1"), func(k *Key) {
			k.State, k.DeletionDate, k.RotationEnabled, k.Policy = "PendingDeletion", time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC), false, publicPolicy
		})}}, Options{}, []string{RuleKeyPendingDelete}, "2026-12-10T00:00:00Z", false},
		{"disabled key named by aliases", inv{keys: []Key{with(key("k1"), func(k *Key) { k.State = "Disabled" })},
			aliases: []Alias{{Name: "alias/b", Region: "us-east-1", TargetKeyID: "k1"}, {Name: "alias/a", Region: "us-east-1", TargetKeyID: "k1"},
				{Name: "alias/other-region", Region: "eu-west-1", TargetKeyID: "k1"}}},
			Options{}, []string{RuleDisabledWithAlias}, "alias/a, alias/b still", false},
		{"enabled key with aliases is fine", inv{keys: []Key{key("k1")}, aliases: []Alias{{Name: "alias/a", Region: "us-east-1", TargetKeyID: "k1"}}},
			Options{}, nil, "", true},
		{"disabled key without aliases is fine", inv{keys: []Key{with(key("k1"), func(k *Key) { k.State = "Disabled" })}}, Options{}, nil, "", true},
		{"imported material expiring in 10 days", inv{keys: []Key{with(key("k1"), func(k *Key) { k.Origin, k.ValidTo = "EXTERNAL", now.Add(days(10)) })}},
			Options{}, []string{RuleImportExpiring}, "(in 10 days)", false},
		{"imported material expiring in 31 days is not yet", inv{keys: []Key{with(key("k1"), func(k *Key) { k.Origin, k.ValidTo = "EXTERNAL", now.Add(days(31)) })}},
			Options{}, nil, "", true},
		{"imported material at exactly 30 days", inv{keys: []Key{with(key("k1"), func(k *Key) { k.Origin, k.ValidTo = "EXTERNAL", now.Add(days(30)) })}},
			Options{}, []string{RuleImportExpiring}, "", false},
		{"public key policy", inv{keys: []Key{with(key("k1"), func(k *Key) { k.Policy = publicPolicy })}}, Options{},
			[]string{policy.LintPublicPrincipal, policy.LintCrossAccountAll}, `statement 0 (Sid "Everyone")`, false},
		{"unparsable key policy", inv{keys: []Key{with(key("k1"), func(k *Key) { k.Policy = "{" })}}, Options{},
			[]string{"ARCA-POL-000"}, "", false},
		{"access key unused 90 days", inv{aks: []AccessKey{userKey("AKIA1", now.Add(-days(100)), now.Add(-days(90)))}},
			Options{AccessKeyMaxAge: days(365)}, []string{RuleAccessKeyUnused}, "last used 2026-09-04", false},
		{"access key used 89 days ago", inv{aks: []AccessKey{userKey("AKIA1", now.Add(-days(100)), now.Add(-days(89)))}},
			Options{AccessKeyMaxAge: days(365)}, nil, "", true},
		{"access key never used, created 95 days ago", inv{aks: []AccessKey{userKey("AKIA1", now.Add(-days(95)), time.Time{})}},
			Options{AccessKeyMaxAge: days(365)}, []string{RuleAccessKeyUnused}, "never used", false},
		{"new unused key is fine", inv{aks: []AccessKey{userKey("AKIA1", now.Add(-days(5)), time.Time{})}}, Options{}, nil, "", true},
		{"access key older than the default 90 days", inv{aks: []AccessKey{userKey("AKIA1", now.Add(-days(91)), now)}},
			Options{}, []string{RuleAccessKeyOld}, "91 days ago (maximum 90 days)", false},
		{"access key older than a configured 30 days", inv{aks: []AccessKey{userKey("AKIA1", now.Add(-days(31)), now)}},
			Options{AccessKeyMaxAge: days(30)}, []string{RuleAccessKeyOld}, "(maximum 30 days)", false},
		{"inactive keys are not reported", inv{aks: []AccessKey{func() AccessKey { a := userKey("AKIA1", now.Add(-days(400)), time.Time{}); a.Active = false; return a }()}},
			Options{}, nil, "", true},
		{"root used for kms", inv{aks: []AccessKey{{ID: "AKIAROOT", Account: acct, ARN: "arn:aws:iam::" + acct + ":root", Root: true, Active: true,
			Created: now.Add(-days(1)), LastUsed: now, RoutineUsed: now.Add(-time.Hour), RoutineService: "kms"}}},
			Options{}, []string{RuleRootRoutineUse}, "signed kms calls", false},
		{"root used only for iam, or long ago", inv{aks: []AccessKey{{ID: "AKIAROOT", Account: acct, ARN: "arn:aws:iam::" + acct + ":root", Root: true, Active: true,
			Created: now.Add(-days(1)), LastUsed: now}, {ID: "AKIAROOT2", Account: acct, Root: true, Active: true, Created: now.Add(-days(1)), LastUsed: now,
			RoutineUsed: now.Add(-days(91)), RoutineService: "kms"}}},
			Options{}, nil, "", true},
		{"secrets: no rotation, failed rotation", inv{}, Options{Secrets: secrets{{ARN: "arn:s1", Name: "db"}, {ARN: "arn:s2", Name: "api", RotationEnabled: true, LastRotationFailed: true, Reason: "connection refused"}}},
			[]string{RuleSecretRotationBad, RuleSecretNoRotation}, "connection refused", false},
		{"sorted by severity", inv{keys: []Key{with(key("k1"), func(k *Key) { k.RotationEnabled = false }),
			with(key("k2"), func(k *Key) { k.State, k.DeletionDate = "PendingDeletion", now.Add(days(7)) })}},
			Options{}, []string{RuleKeyPendingDelete, RuleKeyRotation}, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.Now = now
			got, err := Evaluate(context.Background(), &tc.inv, acct, o)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, f := range got {
				ids = append(ids, f.ID)
				if f.Severity.Rank() == 0 || f.ResourceArn == "" || f.Remedy == "" || f.Title == "" || f.ResourceType == "" {
					t.Errorf("incomplete finding %+v", f)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("findings = %v, want %v (%+v)", ids, tc.want, got)
			}
			if tc.detail != "" && !strings.Contains(got[0].Detail, tc.detail) {
				t.Errorf("detail = %q, want it to contain %q", got[0].Detail, tc.detail)
			}
		})
	}
}

func TestEvaluateError(t *testing.T) {
	t.Parallel()
	if _, err := Evaluate(context.Background(), &inv{err: errors.New("disk")}, acct, Options{Now: now}); err == nil {
		t.Fatal("error swallowed")
	}
}

type ids struct{ pols []*policy.Policy }

func (i ids) Policies(context.Context, *auth.Principal) ([]*policy.Policy, *policy.Policy, error) {
	return i.pols, nil, nil
}

func TestListFindingsAuthorization(t *testing.T) {
	t.Parallel()
	allow, err := policy.ParseWith([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"arca:ListFindings","Resource":"*"}]}`), policy.Options{Kind: policy.KindIdentity})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := policy.ParseWith([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`), policy.Options{Kind: policy.KindIdentity})
	data := &inv{keys: []Key{func() Key { k := key("k1"); k.RotationEnabled = false; return k }()}}
	root := &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: acct, ARN: "arn:aws:iam::" + acct + ":root"}}
	user := &auth.Caller{Principal: auth.Principal{Type: auth.IAMUser, Account: acct, ARN: "arn:aws:iam::" + acct + ":user/bob", UserName: "bob", UserID: "AIDA1"}}
	for _, tc := range []struct {
		name   string
		caller *auth.Caller
		pols   []*policy.Policy
		in     ListFindingsInput
		code   svcerr.Code
		n      int
	}{
		{"root", root, nil, ListFindingsInput{}, "", 1},
		{"user allowed by policy", user, []*policy.Policy{allow}, ListFindingsInput{}, "", 1},
		{"user without the action", user, []*policy.Policy{other}, ListFindingsInput{}, svcerr.AccessDenied, 0},
		{"user without policies", user, nil, ListFindingsInput{}, svcerr.AccessDenied, 0},
		{"min severity filters", root, nil, ListFindingsInput{MinSeverity: "HIGH"}, "", 0},
		{"bad severity", root, nil, ListFindingsInput{MinSeverity: "URGENT"}, svcerr.Validation, 0},
		{"bad max age", root, nil, ListFindingsInput{AccessKeyMaxAgeDays: new(int)}, svcerr.Validation, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewService(Config{Inventory: data, Identities: ids{tc.pols}, Now: func() time.Time { return now }})
			out, err := s.ListFindings(context.Background(), tc.caller, &tc.in)
			if svcerr.CodeOf(err) != tc.code {
				t.Fatalf("err = %v, want %q", err, tc.code)
			}
			if err == nil && (len(out.Findings) != tc.n || out.Account != acct) {
				t.Errorf("out = %+v", out)
			}
			if tc.code == svcerr.AccessDenied && !strings.Contains(err.Error(), "arca:ListFindings") {
				t.Errorf("message = %v", err)
			}
		})
	}
}
