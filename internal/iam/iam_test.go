package iam

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

func TestRootAccessKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memory.New()
	s := New(b, "aws")
	id, secret, err := s.EnsureRootAccessKey(ctx, "111122223333", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`).MatchString(id) || len(secret) != 40 {
		t.Errorf("generated key %q / %d-byte secret", id, len(secret))
	}
	id2, secret2, err := New(b, "aws").EnsureRootAccessKey(ctx, "111122223333", "", nil)
	if err != nil || id2 != id || string(secret2) != string(secret) {
		t.Errorf("second start generated new credentials: %v", err)
	}
	p, err := s.Principal(ctx, id, "")
	if err != nil || p.Type != auth.Root || p.Account != "111122223333" || p.ARN != "arn:aws:iam::111122223333:root" {
		t.Errorf("Principal = %+v, %v", p, err)
	}
	// Choosing credentials replaces the generated ones.
	if _, _, err := s.EnsureRootAccessKey(ctx, "111122223333", "AKIACHOSENCHOSEN0000", []byte("chosen-secret")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupSecret(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("replaced key still valid: %v", err)
	}
	if sec, err := s.LookupSecret(ctx, "AKIACHOSENCHOSEN0000"); err != nil || string(sec) != "chosen-secret" {
		t.Errorf("chosen key: %v", err)
	}
	if _, err := s.Principal(ctx, "AKIANOPE", ""); svcerr.CodeOf(err) != svcerr.UnrecognizedClient {
		t.Errorf("Principal(unknown) = %v", err)
	}
	if _, err := s.Principal(ctx, "AKIACHOSENCHOSEN0000", "a-session-token"); svcerr.CodeOf(err) != svcerr.UnrecognizedClient {
		t.Errorf("long-term key with a session token = %v", err)
	}
}

func newStore(t *testing.T) (*Store, context.Context) {
	t.Helper()
	ctx := context.Background()
	s := New(memory.New(), "aws")
	if _, _, err := s.EnsureRootAccessKey(ctx, "111122223333", "", nil); err != nil {
		t.Fatal(err)
	}
	return s, ctx
}

func mkUser(t *testing.T, s *Store, account, name, path string) *User {
	t.Helper()
	id, err := NewID("AIDA")
	if err != nil {
		t.Fatal(err)
	}
	u := &User{Account: account, Name: name, ID: id, Path: path, ARN: "arn:aws:iam::" + account + ":user" + path + name, Created: time.Now()}
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatalf("CreateUser %s: %v", name, err)
	}
	return u
}

func TestUsers(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	const a = "111122223333"
	mkUser(t, s, a, "Alice", "/eng/")
	for _, c := range []struct {
		name string
		u    User
		want error
	}{
		{"same name other case", User{Account: a, Name: "alice", ID: "AIDA1"}, ErrExists},
		{"unknown account", User{Account: "999999999999", Name: "x", ID: "AIDA2"}, ErrNoSuchAccount},
	} {
		if err := s.CreateUser(ctx, &c.u); !errors.Is(err, c.want) {
			t.Errorf("%s: CreateUser = %v, want %v", c.name, err, c.want)
		}
	}
	if u, err := s.GetUser(ctx, a, "ALICE"); err != nil || u.Name != "Alice" || u.Path != "/eng/" {
		t.Errorf("GetUser ALICE = %+v, %v", u, err)
	}
	if _, err := s.GetUser(ctx, a, "bob"); !errors.Is(err, ErrNoSuchUser) || !errors.Is(err, ErrNotFound) {
		t.Errorf("GetUser bob = %v", err)
	}
	for _, n := range []string{"b", "c", "d", "e"} {
		mkUser(t, s, a, n, "/")
	}
	var got []string
	marker := ""
	pages := 0
	for {
		us, next, err := s.ListUsers(ctx, a, "/", marker, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range us {
			got = append(got, u.Name)
		}
		if next == "" {
			break
		}
		marker = next
	}
	if strings.Join(got, ",") != "Alice,b,c,d,e" || pages != 3 {
		t.Errorf("ListUsers pages %d: %v", pages, got)
	}
	if us, next, err := s.ListUsers(ctx, a, "/eng/", "", 1); err != nil || len(us) != 1 || next != "" {
		t.Errorf("ListUsers /eng/ = %v %q %v", us, next, err)
	}
	// Exactly max users and no more: not truncated.
	if us, next, err := s.ListUsers(ctx, a, "/", "c", 2); err != nil || len(us) != 2 || next != "" {
		t.Errorf("ListUsers after c = %v %q %v", us, next, err)
	}
	// Another account sees none of them.
	if _, _, err := s.EnsureRootAccessKey(ctx, "444455556666", "", nil); err != nil {
		t.Fatal(err)
	}
	if us, _, err := s.ListUsers(ctx, "444455556666", "/", "", 100); err != nil || len(us) != 0 {
		t.Errorf("other account ListUsers = %v %v", us, err)
	}
	if _, err := s.GetUser(ctx, "444455556666", "alice"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("other account GetUser = %v", err)
	}
}

func TestAccessKeysAndPrincipal(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	const a = "111122223333"
	u := mkUser(t, s, a, "alice", "/")
	if _, err := s.UpdateUser(ctx, a, "alice", func(u *User) error { u.Tags = []Tag{{"team", "eng"}}; return nil }); err != nil {
		t.Fatal(err)
	}
	k1, err := s.CreateAccessKey(ctx, a, "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccessKey(ctx, a, "alice", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccessKey(ctx, a, "alice", time.Now()); !errors.Is(err, ErrAccessKeyLimit) {
		t.Errorf("third key = %v, want ErrAccessKeyLimit", err)
	}
	if _, err := s.CreateAccessKey(ctx, a, "bob", time.Now()); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("key for missing user = %v", err)
	}
	p, err := s.Principal(ctx, k1.ID, "")
	want := auth.Principal{Type: auth.IAMUser, Account: a, ARN: u.ARN, UserID: u.ID, AccessKeyID: k1.ID, UserName: "alice", Tags: map[string]string{"team": "eng"}}
	if err != nil || !reflect.DeepEqual(p, want) {
		t.Errorf("Principal = %+v, %v\nwant %+v", p, err, want)
	}
	// Tag changes reach the cached principal at once.
	if _, err := s.UpdateUser(ctx, a, "alice", func(u *User) error { u.Tags = []Tag{{"team", "ops"}}; return nil }); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Principal(ctx, k1.ID, ""); p.Tags["team"] != "ops" {
		t.Errorf("Principal tags after UpdateUser = %v", p.Tags)
	}
	if err := s.UpdateAccessKey(ctx, a, "alice", k1.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Principal(ctx, k1.ID, ""); svcerr.CodeOf(err) != svcerr.UnrecognizedClient {
		t.Errorf("Principal of an inactive key = %v", err)
	}
	if _, err := s.LookupSecret(ctx, k1.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("LookupSecret of an inactive key = %v", err)
	}
	aks, err := s.ListAccessKeys(ctx, a, "alice")
	if err != nil || len(aks) != 2 || aks[0].ID != k1.ID || aks[0].Active {
		t.Errorf("ListAccessKeys = %+v, %v", aks, err)
	}
	if err := s.UpdateAccessKey(ctx, a, "alice", k1.ID, true); err != nil {
		t.Fatal(err)
	}
	if sec, err := s.LookupSecret(ctx, k1.ID); err != nil || string(sec) != string(k1.Secret) {
		t.Errorf("LookupSecret after reactivation = %v", err)
	}
	for _, c := range []struct {
		name       string
		user, akid string
		want       error
	}{
		{"unknown key", "alice", "AKIAUNKNOWNUNKNOWN00", ErrNoSuchAccessKey},
		{"unknown user", "bob", k1.ID, ErrNoSuchUser},
	} {
		if err := s.UpdateAccessKey(ctx, a, c.user, c.akid, true); !errors.Is(err, c.want) {
			t.Errorf("%s: UpdateAccessKey = %v", c.name, err)
		}
		if err := s.DeleteAccessKey(ctx, a, c.user, c.akid); !errors.Is(err, c.want) {
			t.Errorf("%s: DeleteAccessKey = %v", c.name, err)
		}
	}
	// A key of another user of the account cannot be reached through this one.
	mkUser(t, s, a, "carol", "/")
	if err := s.DeleteAccessKey(ctx, a, "carol", k1.ID); !errors.Is(err, ErrNoSuchAccessKey) {
		t.Errorf("DeleteAccessKey through another user = %v", err)
	}
	if err := s.DeleteUser(ctx, a, "alice"); !errors.Is(err, ErrHasAccessKeys) {
		t.Errorf("DeleteUser with keys = %v", err)
	}
	for _, ak := range aks {
		if err := s.DeleteAccessKey(ctx, a, "alice", ak.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Principal(ctx, k1.ID, ""); svcerr.CodeOf(err) != svcerr.UnrecognizedClient {
		t.Errorf("Principal of a deleted key = %v", err)
	}
	o := Owner{Account: a, Kind: UserOwner, Name: "alice"}
	if err := s.PutPolicy(ctx, o, "p", `{}`, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, a, "alice"); !errors.Is(err, ErrHasPolicies) {
		t.Errorf("DeleteUser with policies = %v", err)
	}
	if err := s.DeletePolicy(ctx, o, "p"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, a, "alice"); err != nil {
		t.Errorf("DeleteUser = %v", err)
	}
	if err := s.DeleteUser(ctx, a, "alice"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("DeleteUser twice = %v", err)
	}
}

const allowGetUser = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}`

func TestPolicies(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	const a = "111122223333"
	u := mkUser(t, s, a, "alice", "/")
	k, err := s.CreateAccessKey(ctx, a, "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Principal(ctx, k.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if id, sess, err := s.Policies(ctx, &p); err != nil || len(id) != 0 || sess != nil {
		t.Errorf("Policies of a user without policies = %v %v %v", id, sess, err)
	}
	o := Owner{Account: a, Kind: UserOwner, Name: "alice"}
	if err := s.PutPolicy(ctx, o, "get", allowGetUser, policy.MaxInlineUserPolicyChars); err != nil {
		t.Fatal(err)
	}
	id, _, err := s.Policies(ctx, &p)
	if err != nil || len(id) != 1 {
		t.Fatalf("Policies after PutPolicy = %v %v", id, err)
	}
	if r := id[0].Evaluate(&policy.Request{Action: "iam:GetUser", Resource: u.ARN}); r.Effect != policy.Allow {
		t.Errorf("parsed policy evaluates to %v", r.Effect)
	}
	// The aggregate quota counts the other policies, not the replaced one.
	big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::111122223333:user/` + strings.Repeat("x", 1900) + `"}]}`
	if err := s.PutPolicy(ctx, o, "big", big, policy.MaxInlineUserPolicyChars); !errors.Is(err, ErrPolicySizeLimit) {
		t.Errorf("PutPolicy over the aggregate = %v", err)
	}
	if err := s.PutPolicy(ctx, o, "get", big, policy.MaxInlineUserPolicyChars); err != nil {
		t.Errorf("replacing within the quota = %v", err)
	}
	if err := s.PutPolicy(ctx, Owner{Account: a, Kind: UserOwner, Name: "bob"}, "p", allowGetUser, 2048); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("PutPolicy on a missing user = %v", err)
	}
	if err := s.PutPolicy(ctx, Owner{Account: a, Kind: RoleOwner, Name: "r"}, "p", allowGetUser, 2048); !errors.Is(err, ErrNoSuchRole) {
		t.Errorf("PutPolicy on a missing role = %v", err)
	}
	if err := s.PutPolicy(ctx, o, "second", allowGetUser, 1<<20); err != nil {
		t.Fatal(err)
	}
	names, next, err := s.ListPolicies(ctx, o, "", 1)
	if err != nil || len(names) != 1 || names[0] != "get" || next != "get" {
		t.Errorf("ListPolicies page 1 = %v %q %v", names, next, err)
	}
	names, next, err = s.ListPolicies(ctx, o, next, 1)
	if err != nil || len(names) != 1 || names[0] != "second" || next != "" {
		t.Errorf("ListPolicies page 2 = %v %q %v", names, next, err)
	}
	if id, _, _ := s.Policies(ctx, &p); len(id) != 2 {
		t.Errorf("Policies after a second PutPolicy = %d", len(id))
	}
	if err := s.DeletePolicy(ctx, o, "get"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePolicy(ctx, o, "get"); !errors.Is(err, ErrNoSuchPolicy) {
		t.Errorf("DeletePolicy twice = %v", err)
	}
	if _, err := s.GetPolicy(ctx, o, "get"); !errors.Is(err, ErrNoSuchPolicy) {
		t.Errorf("GetPolicy deleted = %v", err)
	}
	if id, _, _ := s.Policies(ctx, &p); len(id) != 1 {
		t.Errorf("Policies after DeletePolicy = %d", len(id))
	}
	// A principal whose user ID no longer matches the user of that name
	// (deleted and re-created) gets no policies.
	stale := p
	stale.UserID = "AIDASTALESTALESTALE0"
	if id, _, err := s.Policies(ctx, &stale); err != nil || len(id) != 0 {
		t.Errorf("Policies of a stale principal = %v %v", id, err)
	}
	root, err := s.Principal(ctx, rootKey(t, s, a), "")
	if err != nil {
		t.Fatal(err)
	}
	if id, sess, err := s.Policies(ctx, &root); id != nil || sess != nil || err != nil {
		t.Errorf("Policies of root = %v %v %v", id, sess, err)
	}
	if _, _, err := s.Policies(ctx, &auth.Principal{Type: auth.AssumedRole}); err == nil {
		t.Errorf("Policies of a role session without a role succeeded")
	}
}

// TestRoleSessions: a role session has its role's inline policies, found by
// the role's ID; ParsedRole caches the role until a write to it.
func TestRoleSessions(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	const a = "111122223333"
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`
	r := &Role{Account: a, Name: "App", ID: "AROAAPPAPPAPPAPPAPP0", Path: "/svc/", ARN: "arn:aws:iam::111122223333:role/svc/App",
		TrustPolicy: trust, MaxSessionDuration: 7200, Tags: []Tag{{Key: "team", Value: "blue"}}}
	if _, err := s.ParsedRole(ctx, a, "app"); !errors.Is(err, ErrNoSuchRole) {
		t.Fatalf("ParsedRole before CreateRole = %v", err)
	}
	if err := s.CreateRole(ctx, r); err != nil {
		t.Fatal(err)
	}
	pr, err := s.ParsedRole(ctx, a, "APP")
	if err != nil || pr.ID != r.ID || pr.ARN != r.ARN || pr.Name != "App" || pr.Trust == nil ||
		pr.MaxSessionDuration != 2*time.Hour || pr.Tags["team"] != "blue" {
		t.Fatalf("ParsedRole = %+v %v", pr, err)
	}
	if again, _ := s.ParsedRole(ctx, a, "app"); again != pr {
		t.Errorf("second ParsedRole was not a cache hit")
	}
	if _, err := s.UpdateRole(ctx, a, "app", func(r *Role) error { r.MaxSessionDuration = 3600; return nil }); err != nil {
		t.Fatal(err)
	}
	if pr, _ = s.ParsedRole(ctx, a, "app"); pr.MaxSessionDuration != time.Hour {
		t.Errorf("ParsedRole after UpdateRole = %v", pr.MaxSessionDuration)
	}

	sess := auth.Principal{Type: auth.AssumedRole, Account: a, ARN: "arn:aws:sts::111122223333:assumed-role/App/s1",
		UserID: r.ID + ":s1", SourceARN: r.ARN, Temporary: true}
	if id, _, err := s.Policies(ctx, &sess); err != nil || len(id) != 0 {
		t.Fatalf("Policies of a role without policies = %v %v", id, err)
	}
	o := Owner{Account: a, Kind: RoleOwner, Name: "app"}
	if err := s.PutPolicy(ctx, o, "p", allowGetUser, policy.MaxInlineRolePolicyChars); err != nil {
		t.Fatal(err)
	}
	if id, _, err := s.Policies(ctx, &sess); err != nil || len(id) != 1 {
		t.Fatalf("Policies after PutRolePolicy = %v %v", id, err)
	}
	if err := s.DeletePolicy(ctx, o, "p"); err != nil {
		t.Fatal(err)
	}
	if id, _, _ := s.Policies(ctx, &sess); len(id) != 0 {
		t.Errorf("Policies after DeleteRolePolicy = %v", id)
	}
	if err := s.PutPolicy(ctx, o, "p", allowGetUser, policy.MaxInlineRolePolicyChars); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePolicy(ctx, o, "p"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRole(ctx, a, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ParsedRole(ctx, a, "app"); !errors.Is(err, ErrNoSuchRole) {
		t.Errorf("ParsedRole after DeleteRole = %v", err)
	}
	// A new role of the same name is another identity: the old session's
	// ID does not lend it the new role's policies.
	r2 := *r
	r2.ID = "AROANEWNEWNEWNEWNEW0"
	if err := s.CreateRole(ctx, &r2); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPolicy(ctx, o, "p", allowGetUser, policy.MaxInlineRolePolicyChars); err != nil {
		t.Fatal(err)
	}
	if id, _, _ := s.Policies(ctx, &sess); len(id) != 0 {
		t.Errorf("an old session got the re-created role's policies: %v", id)
	}
	if pr, _ := s.ParsedRole(ctx, a, "app"); pr == nil || pr.ID != r2.ID {
		t.Errorf("ParsedRole after re-creation = %+v", pr)
	}
}

func rootKey(t *testing.T, s *Store, account string) string {
	t.Helper()
	ak, err := s.RootAccessKey(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return ak.ID
}

func TestRoles(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	const a = "111122223333"
	r := &Role{Account: a, Name: "App", ID: "AROAAAAAAAAAAAAAAAAA", Path: "/", TrustPolicy: "{}", MaxSessionDuration: 3600}
	if err := s.CreateRole(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRole(ctx, &Role{Account: a, Name: "app"}); !errors.Is(err, ErrExists) {
		t.Errorf("CreateRole app = %v", err)
	}
	if got, err := s.GetRole(ctx, a, "APP"); err != nil || got.Name != "App" {
		t.Errorf("GetRole APP = %+v %v", got, err)
	}
	if _, err := s.UpdateRole(ctx, a, "app", func(r *Role) error { r.Description = "d"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRole(ctx, a, "app"); got.Description != "d" {
		t.Errorf("UpdateRole did not stick: %+v", got)
	}
	sentinel := errors.New("refused")
	if _, err := s.UpdateRole(ctx, a, "app", func(r *Role) error { r.Description = "x"; return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("UpdateRole error = %v", err)
	}
	if got, _ := s.GetRole(ctx, a, "app"); got.Description != "d" {
		t.Errorf("a refused UpdateRole changed the role: %+v", got)
	}
	o := Owner{Account: a, Kind: RoleOwner, Name: "app"}
	if err := s.PutPolicy(ctx, o, "p", allowGetUser, policy.MaxInlineRolePolicyChars); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRole(ctx, a, "app"); !errors.Is(err, ErrHasPolicies) {
		t.Errorf("DeleteRole with policies = %v", err)
	}
	if err := s.DeletePolicy(ctx, o, "p"); err != nil {
		t.Fatal(err)
	}
	if rs, _, err := s.ListRoles(ctx, a, "/", "", 10); err != nil || len(rs) != 1 {
		t.Errorf("ListRoles = %v %v", rs, err)
	}
	if err := s.DeleteRole(ctx, a, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRole(ctx, a, "app"); !errors.Is(err, ErrNoSuchRole) {
		t.Errorf("GetRole after DeleteRole = %v", err)
	}
}

func TestAccounts(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	acct, ak, err := s.CreateAccount(ctx, "222233334444", time.Now())
	if err != nil || acct.ID != "222233334444" || len(ak.Secret) != 40 {
		t.Fatalf("CreateAccount = %+v %v", acct, err)
	}
	if _, _, err := s.CreateAccount(ctx, "222233334444", time.Now()); !errors.Is(err, ErrExists) {
		t.Errorf("CreateAccount twice = %v", err)
	}
	p, err := s.Principal(ctx, ak.ID, "")
	if err != nil || p.Type != auth.Root || p.Account != "222233334444" || p.ARN != "arn:aws:iam::222233334444:root" {
		t.Errorf("new root Principal = %+v %v", p, err)
	}
	as, next, err := s.ListAccounts(ctx, "", 1)
	if err != nil || len(as) != 1 || as[0].ID != "111122223333" || next == "" {
		t.Errorf("ListAccounts page 1 = %v %q %v", as, next, err)
	}
	as, next, err = s.ListAccounts(ctx, next, 1)
	if err != nil || len(as) != 1 || as[0].ID != "222233334444" || next != "" {
		t.Errorf("ListAccounts page 2 = %v %q %v", as, next, err)
	}
	ak2, err := s.IssueRootAccessKey(ctx, "222233334444")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupSecret(ctx, ak.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("old root key after IssueRootAccessKey = %v", err)
	}
	if _, err := s.IssueRootAccessKey(ctx, "999999999999"); !errors.Is(err, ErrNoSuchAccount) {
		t.Errorf("IssueRootAccessKey unknown = %v", err)
	}
	mkUser(t, s, "222233334444", "u", "/")
	if err := s.DeleteAccount(ctx, "222233334444"); !errors.Is(err, ErrAccountNotEmpty) {
		t.Errorf("DeleteAccount with a user = %v", err)
	}
	if err := s.DeleteUser(ctx, "222233334444", "u"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRole(ctx, &Role{Account: "222233334444", Name: "r"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, "222233334444"); !errors.Is(err, ErrAccountNotEmpty) {
		t.Errorf("DeleteAccount with a role = %v", err)
	}
	if err := s.DeleteRole(ctx, "222233334444", "r"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, "222233334444"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Principal(ctx, ak2.ID, ""); svcerr.CodeOf(err) != svcerr.UnrecognizedClient {
		t.Errorf("root key of a deleted account = %v", err)
	}
	if err := s.DeleteAccount(ctx, "222233334444"); !errors.Is(err, ErrNoSuchAccount) {
		t.Errorf("DeleteAccount twice = %v", err)
	}
	if err := s.CreateUser(ctx, &User{Account: "222233334444", Name: "late"}); !errors.Is(err, ErrNoSuchAccount) {
		t.Errorf("CreateUser in a deleted account = %v", err)
	}
}

// TestCacheNeverServesStale races readers of a credential against writers
// that deactivate it: once a write has returned, no read may see the key
// active.
func TestCacheNeverServesStale(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	const a = "111122223333"
	mkUser(t, s, a, "alice", "/")
	k, err := s.CreateAccessKey(ctx, a, "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for round := range 50 {
		if err := s.UpdateAccessKey(ctx, a, "alice", k.ID, true); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					s.LookupSecret(ctx, k.ID)
				}
			}()
		}
		if err := s.UpdateAccessKey(ctx, a, "alice", k.ID, false); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if _, err := s.LookupSecret(ctx, k.ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("round %d: a deactivated key still authenticates", round)
		}
	}
}

func TestCacheFillRespectsInvalidation(t *testing.T) {
	t.Parallel()
	var c cache[int]
	_, ok, seen := c.get("k")
	if ok || seen.s != nil {
		t.Fatal("empty cache hit")
	}
	c.invalidate("k") // a write commits between the reader's get and fill
	c.fill("k", seen, 1)
	if _, ok, _ := c.get("k"); ok {
		t.Error("fill overwrote a newer invalidation")
	}
	_, _, seen = c.get("k")
	c.fill("k", seen, 2)
	if v, ok, _ := c.get("k"); !ok || v != 2 {
		t.Errorf("fill after invalidation = %v %v", v, ok)
	}
	// Another node's change drops everything: a reader that saw no slot
	// (nothing cached) must not install what it read before the drop.
	_, _, seen = c.get("other")
	c.invalidateAll()
	c.fill("other", seen, 3)
	if _, ok, _ := c.get("other"); ok {
		t.Error("fill after invalidateAll installed a value read before it")
	}
	if _, ok, _ := c.get("k"); ok {
		t.Error("invalidateAll kept a value")
	}
}

// TestPoliciesHitAllocatesNothing: Policies runs on every KMS call, so a
// cache hit must read nothing, parse nothing and allocate nothing. (Not
// parallel: AllocsPerRun forbids it.)
func TestPoliciesHitAllocatesNothing(t *testing.T) {
	s, ctx := newStore(t)
	const a = "111122223333"
	mkUser(t, s, a, "alice", "/")
	k, err := s.CreateAccessKey(ctx, a, "alice", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutPolicy(ctx, Owner{Account: a, Kind: UserOwner, Name: "alice"}, "get", allowGetUser, 2048); err != nil {
		t.Fatal(err)
	}
	p, err := s.Principal(ctx, k.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Policies(ctx, &p)
	if n := testing.AllocsPerRun(100, func() {
		if id, _, err := s.Policies(ctx, &p); len(id) != 1 || err != nil {
			t.Fatal("Policies failed")
		}
	}); n != 0 {
		t.Errorf("Policies cache hit allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { s.Principal(ctx, k.ID, "") }); n != 0 {
		t.Errorf("Principal cache hit allocates %v times", n)
	}
}

// TestEntityQuotas: an account holds at most maxUsers users and maxRoles
// roles; deleting one makes room again.
func TestEntityQuotas(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	s.maxUsers, s.maxRoles = 2, 1
	const a = "111122223333"
	mkUser(t, s, a, "u1", "/")
	mkUser(t, s, a, "u2", "/")
	if err := s.CreateUser(ctx, &User{Account: a, Name: "u3", ID: "AIDAU3U3U3U3U3U3U3U3", Path: "/"}); !errors.Is(err, ErrUserLimit) {
		t.Errorf("third user = %v, want ErrUserLimit", err)
	}
	if err := s.DeleteUser(ctx, a, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &User{Account: a, Name: "u3", ID: "AIDAU3U3U3U3U3U3U3U3", Path: "/"}); err != nil {
		t.Errorf("user after a deletion = %v", err)
	}
	if err := s.CreateRole(ctx, &Role{Account: a, Name: "r1", ID: "AROAR1R1R1R1R1R1R1R1", Path: "/", TrustPolicy: "{}"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRole(ctx, &Role{Account: a, Name: "r2", ID: "AROAR2R2R2R2R2R2R2R2", Path: "/", TrustPolicy: "{}"}); !errors.Is(err, ErrRoleLimit) {
		t.Errorf("second role = %v, want ErrRoleLimit", err)
	}
	// Another account has its own quota.
	if _, _, err := s.EnsureRootAccessKey(ctx, "444455556666", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateRole(ctx, &Role{Account: "444455556666", Name: "r1", ID: "AROAR3R3R3R3R3R3R3R3", Path: "/", TrustPolicy: "{}"}); err != nil {
		t.Errorf("role in another account = %v", err)
	}
}

// TestUserID: UserID follows CreateUser and DeleteUser at once, though
// cached.
func TestUserID(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	const a = "111122223333"
	if _, err := s.UserID(ctx, a, "alice"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("UserID before CreateUser = %v", err)
	}
	u := mkUser(t, s, a, "Alice", "/")
	if id, err := s.UserID(ctx, a, "ALICE"); err != nil || id != u.ID {
		t.Errorf("UserID = %q %v, want %q", id, err, u.ID)
	}
	if err := s.DeleteUser(ctx, a, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UserID(ctx, a, "alice"); !errors.Is(err, ErrNoSuchUser) {
		t.Errorf("UserID after DeleteUser = %v", err)
	}
	u2 := mkUser(t, s, a, "alice", "/")
	if id, _ := s.UserID(ctx, a, "alice"); id != u2.ID || id == u.ID {
		t.Errorf("UserID after re-creation = %q", id)
	}
}

// TestGate: a cache hit is refused while the gate refuses (a node past its
// staleness bound must not honour an access key deleted elsewhere) and
// served again once it admits.
func TestGate(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t)
	u := mkUser(t, s, "111122223333", "app", "/")
	ak, err := s.CreateAccessKey(ctx, "111122223333", u.Name, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Principal(ctx, ak.ID, "") // cached from here on
	if err != nil {
		t.Fatal(err)
	}
	stale := fmt.Errorf("behind: %w", storage.ErrStale)
	var refuse atomic.Bool
	s.SetGate(func() error {
		if refuse.Load() {
			return stale
		}
		return nil
	})
	refuse.Store(true)
	if _, err := s.LookupSecret(ctx, ak.ID); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("LookupSecret past the gate = %v; want ErrUnavailable", err)
	}
	if _, err := s.Principal(ctx, ak.ID, ""); svcerr.CodeOf(err) != svcerr.DependencyTimeout {
		t.Errorf("Principal past the gate = %v; want DependencyTimeoutException", err)
	}
	if _, _, err := s.Policies(ctx, &p); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Policies past the gate = %v; want ErrUnavailable", err)
	}
	if _, err := s.UserID(ctx, "111122223333", "app"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("UserID past the gate = %v; want ErrUnavailable", err)
	}
	if _, err := s.ParsedRole(ctx, "111122223333", "r"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("ParsedRole past the gate = %v; want ErrUnavailable", err)
	}
	refuse.Store(false)
	if _, err := s.LookupSecret(ctx, ak.ID); err != nil {
		t.Errorf("LookupSecret once the gate admits: %v", err)
	}
}
