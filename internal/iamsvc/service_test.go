package iamsvc

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

const (
	operator = "111122223333"
	tenant   = "444455556666"
	trust    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`
)

func doc(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

type fixture struct {
	s        *Service
	ids      *iam.Store
	root     *auth.Caller // the operator
	tenant   *auth.Caller // another account's root
	ctx      context.Context
	userCall func(name string) *auth.Caller
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	ids := iam.New(memory.New(), "aws")
	for _, a := range []string{operator, tenant} {
		if _, _, err := ids.EnsureRootAccessKey(ctx, a, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	f := &fixture{s: New(ids, Config{Operator: operator, Now: func() time.Time { return now }}), ids: ids, ctx: ctx,
		root:   &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: operator, ARN: "arn:aws:iam::" + operator + ":root", UserID: operator}},
		tenant: &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: tenant, ARN: "arn:aws:iam::" + tenant + ":root", UserID: tenant}},
	}
	f.userCall = func(name string) *auth.Caller {
		t.Helper()
		k, err := f.s.CreateAccessKey(ctx, f.root, &CreateAccessKeyInput{UserName: name})
		if err != nil {
			t.Fatal(err)
		}
		p, err := ids.Principal(ctx, k.AccessKey.AccessKeyID, "")
		if err != nil {
			t.Fatal(err)
		}
		return &auth.Caller{Principal: p, SourceIP: "10.1.2.3"}
	}
	return f
}

func (f *fixture) must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr checks err's code and, when msg is not empty, that its message
// contains msg.
func wantErr(t *testing.T, what string, err error, code svcerr.Code, msg string) {
	t.Helper()
	se := svcerr.As(err)
	if se == nil || se.Code != code || !strings.Contains(se.Msg, msg) {
		t.Errorf("%s: %v, want %s containing %q", what, err, code, msg)
	}
}

func TestValidationAndStoreErrors(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, r := f.ctx, f.root
	_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "alice"})
	f.must(t, err)
	_, err = f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "app", AssumeRolePolicyDocument: trust})
	f.must(t, err)
	i32 := func(v int32) *int32 { return &v }
	tags := func(n int) []Tag {
		var out []Tag
		for i := range n {
			out = append(out, Tag{Key: "k" + string(rune('A'+i%26)) + string(rune('a'+i/26)), Value: "v"})
		}
		return out
	}
	bigUserDoc := doc(`{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::111122223333:user/` + strings.Repeat("x", 2000) + `"}`)
	bigRoleDoc := doc(`{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::111122223333:user/` + strings.Repeat("x", 10200) + `"}`)
	bigTrust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/` + strings.Repeat("x", 2000) + `"},"Action":"sts:AssumeRole"}]}`
	for _, c := range []struct {
		name string
		call func() error
		code svcerr.Code
		msg  string
	}{
		{"CreateUser no name", func() error { _, err := f.s.CreateUser(ctx, r, &CreateUserInput{}); return err },
			svcerr.Validation, "Value null at 'userName' failed to satisfy constraint: Member must not be null"},
		{"CreateUser bad name", func() error { _, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "a/b"}); return err },
			svcerr.Validation, `Value 'a/b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"CreateUser 65 chars", func() error {
			_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: strings.Repeat("a", 65)})
			return err
		}, svcerr.Validation, "Member must have length less than or equal to 64"},
		{"CreateUser 64 chars", func() error {
			_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: strings.Repeat("a", 64)})
			return err
		}, "", ""},
		{"CreateUser bad path", func() error {
			_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "p", Path: "/a"})
			return err
		},
			svcerr.Validation, "at 'path'"},
		{"CreateUser exists", func() error { _, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "ALICE"}); return err },
			svcerr.AlreadyExists, "User with name ALICE already exists."},
		{"CreateUser boundary", func() error {
			_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "b", PermissionsBoundary: "arn:aws:iam::aws:policy/x"})
			return err
		}, svcerr.InvalidInput, "PermissionsBoundary"},
		{"CreateUser 51 tags", func() error {
			_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "t", Tags: tags(51)})
			return err
		},
			svcerr.Validation, "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"},
		{"CreateUser bad tag key", func() error {
			_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "t", Tags: []Tag{{Key: "a*b"}}})
			return err
		}, svcerr.Validation, "at 'tags.1.member.key'"},
		{"CreateUser empty tag key", func() error {
			_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "t", Tags: []Tag{{Value: "v"}}})
			return err
		}, svcerr.Validation, "Value null at 'tags.1.member.key'"},
		{"CreateUser duplicate tags", func() error {
			_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "t", Tags: []Tag{{Key: "a"}, {Key: "A"}}})
			return err
		}, svcerr.InvalidInput, "Duplicate tag keys found"},
		{"GetUser missing", func() error { _, err := f.s.GetUser(ctx, r, &GetUserInput{UserName: "bob"}); return err },
			svcerr.NotFound, "The user with name bob cannot be found."},
		{"ListUsers MaxItems 0", func() error { _, err := f.s.ListUsers(ctx, r, &ListUsersInput{MaxItems: i32(0)}); return err },
			svcerr.Validation, "Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"},
		{"ListUsers bad prefix", func() error { _, err := f.s.ListUsers(ctx, r, &ListUsersInput{PathPrefix: "x"}); return err },
			svcerr.Validation, "at 'pathPrefix'"},
		{"ListUsers bad marker", func() error { _, err := f.s.ListUsers(ctx, r, &ListUsersInput{Marker: "\x01"}); return err },
			svcerr.Validation, "at 'marker'"},
		{"DeleteUser missing", func() error { _, err := f.s.DeleteUser(ctx, r, &UserNameInput{UserName: "bob"}); return err },
			svcerr.NotFound, "bob cannot be found"},
		{"CreateAccessKey by root without name", func() error { _, err := f.s.CreateAccessKey(ctx, r, &CreateAccessKeyInput{}); return err },
			svcerr.Validation, "Must specify userName when calling with non-User credentials"},
		{"UpdateAccessKey bad status", func() error {
			_, err := f.s.UpdateAccessKey(ctx, r, &UpdateAccessKeyInput{UserName: "alice", AccessKeyID: "AKIAAAAAAAAAAAAAAAAA", Status: "On"})
			return err
		}, svcerr.Validation, "Member must satisfy enum value set: [Active, Inactive, Expired]"},
		{"UpdateAccessKey no status", func() error {
			_, err := f.s.UpdateAccessKey(ctx, r, &UpdateAccessKeyInput{UserName: "alice", AccessKeyID: "AKIAAAAAAAAAAAAAAAAA"})
			return err
		}, svcerr.Validation, "Value null at 'status'"},
		{"UpdateAccessKey short id", func() error {
			_, err := f.s.UpdateAccessKey(ctx, r, &UpdateAccessKeyInput{UserName: "alice", AccessKeyID: "AKIA", Status: "Active"})
			return err
		}, svcerr.Validation, "Member must have length greater than or equal to 16"},
		{"UpdateAccessKey unknown", func() error {
			_, err := f.s.UpdateAccessKey(ctx, r, &UpdateAccessKeyInput{UserName: "alice", AccessKeyID: "AKIAAAAAAAAAAAAAAAAA", Status: "Active"})
			return err
		}, svcerr.NotFound, "The Access Key with id AKIAAAAAAAAAAAAAAAAA cannot be found."},
		{"DeleteAccessKey unknown", func() error {
			_, err := f.s.DeleteAccessKey(ctx, r, &DeleteAccessKeyInput{UserName: "alice", AccessKeyID: "AKIAAAAAAAAAAAAAAAAA"})
			return err
		}, svcerr.NotFound, "The Access Key with id"},
		{"PutUserPolicy malformed", func() error {
			_, err := f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "alice", PolicyName: "p", PolicyDocument: `{"Statement":[]`})
			return err
		}, svcerr.MalformedPolicyDocument, "Syntax errors in policy."},
		{"PutUserPolicy old version", func() error {
			_, err := f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "alice", PolicyName: "p",
				PolicyDocument: `{"Version":"2008-10-17","Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}`})
			return err
		}, svcerr.MalformedPolicyDocument, "Policy document must be version 2012-10-17 or greater."},
		{"PutUserPolicy principal", func() error {
			_, err := f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "alice", PolicyName: "p",
				PolicyDocument: doc(`{"Effect":"Allow","Principal":"*","Action":"iam:*","Resource":"*"}`)})
			return err
		}, svcerr.MalformedPolicyDocument, "Policy document should not specify a principal."},
		{"PutUserPolicy no document", func() error {
			_, err := f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "alice", PolicyName: "p"})
			return err
		}, svcerr.Validation, "Value null at 'policyDocument'"},
		{"PutUserPolicy bad policy name", func() error {
			_, err := f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "alice", PolicyName: "a b", PolicyDocument: "{}"})
			return err
		}, svcerr.Validation, "at 'policyName'"},
		{"PutUserPolicy too large", func() error {
			_, err := f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "alice", PolicyName: "big", PolicyDocument: bigUserDoc})
			return err
		}, svcerr.LimitExceeded, "Maximum policy size of 2048 bytes exceeded for user alice"},
		{"PutUserPolicy over the API length", func() error {
			_, err := f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "alice", PolicyName: "huge", PolicyDocument: strings.Repeat(" ", 131073)})
			return err
		}, svcerr.Validation, "Member must have length less than or equal to 131072"},
		{"PutUserPolicy missing user", func() error {
			_, err := f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "bob", PolicyName: "p", PolicyDocument: doc(`{"Effect":"Allow","Action":"iam:*","Resource":"*"}`)})
			return err
		}, svcerr.NotFound, "The user with name bob cannot be found."},
		{"GetUserPolicy missing", func() error {
			_, err := f.s.GetUserPolicy(ctx, r, &UserPolicyInput{UserName: "alice", PolicyName: "nope"})
			return err
		}, svcerr.NotFound, "The user policy with name nope cannot be found."},
		{"DeleteUserPolicy missing", func() error {
			_, err := f.s.DeleteUserPolicy(ctx, r, &UserPolicyInput{UserName: "alice", PolicyName: "nope"})
			return err
		}, svcerr.NotFound, "The user policy with name nope cannot be found."},
		{"CreateRole exists", func() error {
			_, err := f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "APP", AssumeRolePolicyDocument: trust})
			return err
		}, svcerr.AlreadyExists, "Role with name APP already exists."},
		{"CreateRole duration low", func() error {
			_, err := f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "d", AssumeRolePolicyDocument: trust, MaxSessionDuration: i32(3599)})
			return err
		}, svcerr.Validation, "Value '3599' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600"},
		{"CreateRole duration high", func() error {
			_, err := f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "d", AssumeRolePolicyDocument: trust, MaxSessionDuration: i32(43201)})
			return err
		}, svcerr.Validation, "less than or equal to 43200"},
		{"CreateRole description", func() error {
			_, err := f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "d", AssumeRolePolicyDocument: trust, Description: "\x00"})
			return err
		}, svcerr.Validation, "at 'description'"},
		{"CreateRole trust with resource", func() error {
			_, err := f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "d",
				AssumeRolePolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}]}`})
			return err
		}, svcerr.MalformedPolicyDocument, "Has prohibited field Resource"},
		{"CreateRole trust without principal", func() error {
			_, err := f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "d",
				AssumeRolePolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`})
			return err
		}, svcerr.MalformedPolicyDocument, "Missing required field Principal"},
		{"CreateRole trust too large", func() error {
			_, err := f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "d", AssumeRolePolicyDocument: bigTrust})
			return err
		}, svcerr.LimitExceeded, "Cannot exceed quota for ACLSizePerRole: 2048"},
		{"CreateRole no trust", func() error { _, err := f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "d"}); return err },
			svcerr.Validation, "Value null at 'assumeRolePolicyDocument'"},
		{"GetRole missing", func() error { _, err := f.s.GetRole(ctx, r, &RoleNameInput{RoleName: "nope"}); return err },
			svcerr.NotFound, "The role with name nope cannot be found."},
		{"UpdateAssumeRolePolicy malformed", func() error {
			_, err := f.s.UpdateAssumeRolePolicy(ctx, r, &UpdateAssumeRolePolicyInput{RoleName: "app", PolicyDocument: "[]"})
			return err
		}, svcerr.MalformedPolicyDocument, "Syntax errors in policy."},
		{"UpdateAssumeRolePolicy missing role", func() error {
			_, err := f.s.UpdateAssumeRolePolicy(ctx, r, &UpdateAssumeRolePolicyInput{RoleName: "nope", PolicyDocument: trust})
			return err
		}, svcerr.NotFound, "The role with name nope cannot be found."},
		{"PutRolePolicy too large", func() error {
			_, err := f.s.PutRolePolicy(ctx, r, &PutRolePolicyInput{RoleName: "app", PolicyName: "big", PolicyDocument: bigRoleDoc})
			return err
		}, svcerr.LimitExceeded, "Maximum policy size of 10240 bytes exceeded for role app"},
		{"PutRolePolicy within the role quota", func() error {
			_, err := f.s.PutRolePolicy(ctx, r, &PutRolePolicyInput{RoleName: "app", PolicyName: "big", PolicyDocument: bigUserDoc})
			return err
		}, "", ""},
		{"GetRolePolicy missing", func() error {
			_, err := f.s.GetRolePolicy(ctx, r, &RolePolicyInput{RoleName: "app", PolicyName: "nope"})
			return err
		}, svcerr.NotFound, "The role policy with name nope cannot be found."},
		{"DeleteRole with policies", func() error { _, err := f.s.DeleteRole(ctx, r, &RoleNameInput{RoleName: "app"}); return err },
			svcerr.DeleteConflict, "Cannot delete entity, must delete policies first."},
		{"TagUser missing tags", func() error { _, err := f.s.TagUser(ctx, r, &TagUserInput{UserName: "alice"}); return err },
			svcerr.Validation, "Value null at 'tags'"},
		{"TagUser missing user", func() error {
			_, err := f.s.TagUser(ctx, r, &TagUserInput{UserName: "bob", Tags: []Tag{{Key: "a"}}})
			return err
		}, svcerr.NotFound, "The user with name bob cannot be found."},
		{"TagUser 257-character value", func() error {
			_, err := f.s.TagUser(ctx, r, &TagUserInput{UserName: "alice", Tags: []Tag{{Key: "a", Value: strings.Repeat("v", 257)}}})
			return err
		}, svcerr.Validation, "at 'tags.1.member.value'"},
		{"UntagUser no keys", func() error { _, err := f.s.UntagUser(ctx, r, &UntagUserInput{UserName: "alice"}); return err },
			svcerr.Validation, "Value null at 'tagKeys'"},
		{"TagRole missing role", func() error {
			_, err := f.s.TagRole(ctx, r, &TagRoleInput{RoleName: "nope", Tags: []Tag{{Key: "a"}}})
			return err
		}, svcerr.NotFound, "The role with name nope cannot be found."},
		{"ListRoleTags missing role", func() error {
			_, err := f.s.ListRoleTags(ctx, r, &ListRoleTagsInput{RoleName: "nope"})
			return err
		}, svcerr.NotFound, "The role with name nope cannot be found."},
	} {
		err := c.call()
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		wantErr(t, c.name, err, c.code, c.msg)
	}
}

func TestTagLimits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, r := f.ctx, f.root
	_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "alice"})
	f.must(t, err)
	_, err = f.s.CreateRole(ctx, r, &CreateRoleInput{RoleName: "app", AssumeRolePolicyDocument: trust})
	f.must(t, err)
	var tags []Tag
	for i := range 50 {
		tags = append(tags, Tag{Key: "k" + strings.Repeat("x", i), Value: "v"})
	}
	_, err = f.s.TagUser(ctx, r, &TagUserInput{UserName: "alice", Tags: tags})
	f.must(t, err)
	_, err = f.s.TagRole(ctx, r, &TagRoleInput{RoleName: "app", Tags: tags})
	f.must(t, err)
	// Replacing an existing key (in another case) stays within the quota.
	_, err = f.s.TagUser(ctx, r, &TagUserInput{UserName: "alice", Tags: []Tag{{Key: "K", Value: "new"}}})
	f.must(t, err)
	_, err = f.s.TagUser(ctx, r, &TagUserInput{UserName: "alice", Tags: []Tag{{Key: "one-more"}}})
	wantErr(t, "51st user tag", err, svcerr.LimitExceeded, "Cannot exceed quota for TagsPerUser: 50")
	_, err = f.s.TagRole(ctx, r, &TagRoleInput{RoleName: "app", Tags: []Tag{{Key: "one-more"}}})
	wantErr(t, "51st role tag", err, svcerr.LimitExceeded, "Cannot exceed quota for TagsPerRole: 50")
	lt, err := f.s.ListUserTags(ctx, r, &ListUserTagsInput{UserName: "alice"})
	f.must(t, err)
	if len(lt.Tags) != 50 || lt.Tags[0].Key != "K" || lt.Tags[0].Value != "new" {
		t.Errorf("ListUserTags = %d tags, first %+v", len(lt.Tags), lt.Tags[0])
	}
}

func TestAccessKeysOfTheCaller(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, r := f.ctx, f.root
	_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "alice", Path: "/eng/"})
	f.must(t, err)
	_, err = f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "alice", PolicyName: "self",
		PolicyDocument: doc(`{"Effect":"Allow","Action":["iam:*AccessKey*","iam:GetUser"],"Resource":"arn:aws:iam::111122223333:user/eng/${aws:username}"}`)})
	f.must(t, err)
	alice := f.userCall("alice")
	k, err := f.s.CreateAccessKey(ctx, alice, &CreateAccessKeyInput{})
	f.must(t, err)
	if k.AccessKey.UserName != "alice" || k.AccessKey.Status != "Active" || len(k.AccessKey.SecretAccessKey) != 40 ||
		!k.AccessKey.CreateDate.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("CreateAccessKey (self) = %+v", k.AccessKey)
	}
	_, err = f.s.CreateAccessKey(ctx, alice, &CreateAccessKeyInput{})
	wantErr(t, "third key", err, svcerr.LimitExceeded, "Cannot exceed quota for AccessKeysPerUser: 2")
	lk, err := f.s.ListAccessKeys(ctx, alice, &ListAccessKeysInput{})
	f.must(t, err)
	if len(lk.AccessKeyMetadata) != 2 {
		t.Errorf("ListAccessKeys (self) = %+v", lk.AccessKeyMetadata)
	}
	_, err = f.s.UpdateAccessKey(ctx, alice, &UpdateAccessKeyInput{AccessKeyID: k.AccessKey.AccessKeyID, Status: "Inactive"})
	f.must(t, err)
	_, err = f.s.DeleteAccessKey(ctx, alice, &DeleteAccessKeyInput{AccessKeyID: k.AccessKey.AccessKeyID})
	f.must(t, err)
	g, err := f.s.GetUser(ctx, alice, &GetUserInput{})
	f.must(t, err)
	if g.User.UserName != "alice" || g.User.Path != "/eng/" {
		t.Errorf("GetUser (self) = %+v", g.User)
	}
	// The policy variable limits alice to herself.
	_, err = f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "bob", Path: "/eng/"})
	f.must(t, err)
	_, err = f.s.CreateAccessKey(ctx, alice, &CreateAccessKeyInput{UserName: "bob"})
	wantErr(t, "alice CreateAccessKey for bob", err, svcerr.AccessDenied,
		"User: arn:aws:iam::111122223333:user/eng/alice is not authorized to perform: iam:CreateAccessKey on resource: arn:aws:iam::111122223333:user/eng/bob because no identity-based policy allows the iam:CreateAccessKey action")

	// Root: GetUser without a name describes the root user; ListAccessKeys
	// its root key.
	g, err = f.s.GetUser(ctx, r, &GetUserInput{})
	f.must(t, err)
	if g.User.Arn != "arn:aws:iam::111122223333:root" || g.User.UserID != operator || g.User.UserName != "" {
		t.Errorf("GetUser (root) = %+v", g.User)
	}
	lk, err = f.s.ListAccessKeys(ctx, r, &ListAccessKeysInput{})
	f.must(t, err)
	if len(lk.AccessKeyMetadata) != 1 || lk.AccessKeyMetadata[0].UserName != "" {
		t.Errorf("ListAccessKeys (root) = %+v", lk.AccessKeyMetadata)
	}
}

func TestAuthorization(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, r := f.ctx, f.root
	_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "alice"})
	f.must(t, err)
	alice := f.userCall("alice")
	deny := func(action, resource string) string {
		return "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: " + action + " on resource: " + resource +
			" because no identity-based policy allows the " + action + " action"
	}
	_, err = f.s.ListUsers(ctx, alice, &ListUsersInput{})
	wantErr(t, "ListUsers", err, svcerr.AccessDenied, deny("iam:ListUsers", "arn:aws:iam::111122223333:user/"))
	_, err = f.s.ListRoles(ctx, alice, &ListRolesInput{PathPrefix: "/svc/"})
	wantErr(t, "ListRoles", err, svcerr.AccessDenied, deny("iam:ListRoles", "arn:aws:iam::111122223333:role/svc/"))
	// A missing entity is AccessDenied, not NoSuchEntity, to a caller not
	// allowed to see it.
	_, err = f.s.GetUser(ctx, alice, &GetUserInput{UserName: "ghost"})
	wantErr(t, "GetUser ghost", err, svcerr.AccessDenied, deny("iam:GetUser", "arn:aws:iam::111122223333:user/ghost"))
	_, err = f.s.GetRole(ctx, alice, &RoleNameInput{RoleName: "ghost"})
	wantErr(t, "GetRole ghost", err, svcerr.AccessDenied, deny("iam:GetRole", "arn:aws:iam::111122223333:role/ghost"))

	_, err = f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "alice", PolicyName: "p", PolicyDocument: doc(
		`{"Effect":"Allow","Action":"iam:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`,
		`{"Effect":"Deny","Action":"iam:DeleteRole","Resource":"*"}`,
		`{"Effect":"Deny","Action":"iam:TagUser","Resource":"*","Condition":{"StringEquals":{"aws:RequestTag/env":"prod"}}}`,
		`{"Effect":"Deny","Action":"iam:UntagUser","Resource":"*","Condition":{"ForAnyValue:StringEquals":{"aws:TagKeys":"owner"}}}`)})
	f.must(t, err)
	_, err = f.s.CreateRole(ctx, alice, &CreateRoleInput{RoleName: "app", AssumeRolePolicyDocument: trust})
	f.must(t, err)
	_, err = f.s.DeleteRole(ctx, alice, &RoleNameInput{RoleName: "app"})
	wantErr(t, "DeleteRole (explicit deny)", err, svcerr.AccessDenied,
		"User: arn:aws:iam::111122223333:user/alice is not authorized to perform: iam:DeleteRole on resource: arn:aws:iam::111122223333:role/app with an explicit deny in an identity-based policy")
	_, err = f.s.GetUser(ctx, alice, &GetUserInput{UserName: "ghost"})
	wantErr(t, "GetUser ghost (allowed)", err, svcerr.NotFound, "The user with name ghost cannot be found.")
	_, err = f.s.TagUser(ctx, alice, &TagUserInput{UserName: "alice", Tags: []Tag{{Key: "env", Value: "dev"}}})
	f.must(t, err)
	_, err = f.s.TagUser(ctx, alice, &TagUserInput{UserName: "alice", Tags: []Tag{{Key: "env", Value: "prod"}}})
	wantErr(t, "TagUser env=prod", err, svcerr.AccessDenied, "explicit deny")
	_, err = f.s.UntagUser(ctx, alice, &UntagUserInput{UserName: "alice", TagKeys: []string{"env"}})
	f.must(t, err)
	_, err = f.s.UntagUser(ctx, alice, &UntagUserInput{UserName: "alice", TagKeys: []string{"owner"}})
	wantErr(t, "UntagUser owner", err, svcerr.AccessDenied, "explicit deny")
	// From another address the Allow does not apply.
	elsewhere := *alice
	elsewhere.SourceIP = "192.0.2.1"
	_, err = f.s.ListUsers(ctx, &elsewhere, &ListUsersInput{})
	wantErr(t, "ListUsers from outside 10/8", err, svcerr.AccessDenied, deny("iam:ListUsers", "arn:aws:iam::111122223333:user/"))

	// Accounts are isolated: the tenant's root sees nothing of the operator's.
	_, err = f.s.GetUser(ctx, f.tenant, &GetUserInput{UserName: "alice"})
	wantErr(t, "tenant GetUser alice", err, svcerr.NotFound, "alice cannot be found")
	lu, err := f.s.ListUsers(ctx, f.tenant, &ListUsersInput{})
	f.must(t, err)
	if len(lu.Users) != 0 {
		t.Errorf("tenant ListUsers = %+v", lu.Users)
	}
}

func TestOperatorOnly(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, r := f.ctx, f.root
	_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: "admin"})
	f.must(t, err)
	_, err = f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "admin", PolicyName: "all", PolicyDocument: doc(`{"Effect":"Allow","Action":"*","Resource":"*"}`)})
	f.must(t, err)
	admin := f.userCall("admin")
	for _, c := range []*auth.Caller{admin, f.tenant} {
		_, err := f.s.ArcaCreateAccount(ctx, c, &ArcaCreateAccountInput{})
		wantErr(t, c.ARN+" ArcaCreateAccount", err, svcerr.AccessDenied, "is not authorized to perform: arca:CreateAccount")
		_, err = f.s.ArcaListAccounts(ctx, c, &ArcaListAccountsInput{})
		wantErr(t, c.ARN+" ArcaListAccounts", err, svcerr.AccessDenied, "arca:ListAccounts")
		_, err = f.s.ArcaDeleteAccount(ctx, c, &ArcaAccountInput{AccountID: tenant})
		wantErr(t, c.ARN+" ArcaDeleteAccount", err, svcerr.AccessDenied, "arca:DeleteAccount")
		_, err = f.s.ArcaCreateAccountRootAccessKey(ctx, c, &ArcaAccountInput{AccountID: tenant})
		wantErr(t, c.ARN+" ArcaCreateAccountRootAccessKey", err, svcerr.AccessDenied, "arca:CreateAccountRootAccessKey")
	}
	out, err := f.s.ArcaCreateAccount(ctx, r, &ArcaCreateAccountInput{})
	f.must(t, err)
	if len(out.Account.AccountID) != 12 || out.Account.AccountID[0] == '0' || len(out.AccessKey.SecretAccessKey) != 40 {
		t.Errorf("ArcaCreateAccount = %+v", out)
	}
	_, err = f.s.ArcaCreateAccount(ctx, r, &ArcaCreateAccountInput{AccountID: tenant})
	wantErr(t, "ArcaCreateAccount existing", err, svcerr.AlreadyExists, "Account with id 444455556666 already exists.")
	_, err = f.s.ArcaCreateAccount(ctx, r, &ArcaCreateAccountInput{AccountID: "12345678901a"})
	wantErr(t, "ArcaCreateAccount bad id", err, svcerr.Validation, "at 'accountId'")
	_, err = f.s.ArcaDeleteAccount(ctx, r, &ArcaAccountInput{AccountID: operator})
	wantErr(t, "ArcaDeleteAccount operator", err, svcerr.DeleteConflict, "default account")
	_, err = f.s.ArcaDeleteAccount(ctx, r, &ArcaAccountInput{AccountID: "999999999999"})
	wantErr(t, "ArcaDeleteAccount unknown", err, svcerr.NotFound, "The account with id 999999999999 cannot be found.")
	_, err = f.s.ArcaDeleteAccount(ctx, r, &ArcaAccountInput{})
	wantErr(t, "ArcaDeleteAccount no id", err, svcerr.Validation, "Value null at 'accountId'")
	la, err := f.s.ArcaListAccounts(ctx, r, &ArcaListAccountsInput{})
	f.must(t, err)
	if len(la.Accounts) != 3 || la.IsTruncated {
		t.Errorf("ArcaListAccounts = %+v", la)
	}
	_, err = f.s.ArcaDeleteAccount(ctx, r, &ArcaAccountInput{AccountID: tenant})
	f.must(t, err)
}

func TestGetCallerIdentity(t *testing.T) {
	t.Parallel()
	f := setup(t)
	_, err := f.s.CreateUser(f.ctx, f.root, &CreateUserInput{UserName: "alice"})
	f.must(t, err)
	alice := f.userCall("alice")
	for _, c := range []*auth.Caller{f.root, alice} {
		out, err := f.s.GetCallerIdentity(f.ctx, c, &GetCallerIdentityInput{})
		if err != nil || out.Arn != c.ARN || out.UserID != c.UserID || out.Account != c.Account {
			t.Errorf("GetCallerIdentity(%s) = %+v %v", c.ARN, out, err)
		}
	}
}

func TestEncodeDocument(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"Version": "2012-10-17"}`: `%7B%22Version%22%3A%20%222012-10-17%22%7D`,
		"a+b/c~d_e.f-g*h":           `a%2Bb%2Fc~d_e.f-g%2Ah`,
		"line\nbreak":               `line%0Abreak`,
	} {
		if got := encodeDocument(in); got != want {
			t.Errorf("encodeDocument(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPolicyLintWarnings: an accepted but overly broad inline policy is
// reported in the server log with the finding's ID; a narrow one is not.
func TestPolicyLintWarnings(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var buf bytes.Buffer
	f.s.log = slog.New(slog.NewTextHandler(&buf, nil))
	_, err := f.s.CreateUser(f.ctx, f.root, &CreateUserInput{UserName: "lint"})
	f.must(t, err)
	_, err = f.s.CreateRole(f.ctx, f.root, &CreateRoleInput{RoleName: "lint", AssumeRolePolicyDocument: trust})
	f.must(t, err)
	_, err = f.s.PutUserPolicy(f.ctx, f.root, &PutUserPolicyInput{UserName: "lint", PolicyName: "narrow",
		PolicyDocument: doc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/k"}`)})
	f.must(t, err)
	if buf.Len() != 0 {
		t.Errorf("a narrow policy was reported: %s", buf.String())
	}
	_, err = f.s.PutUserPolicy(f.ctx, f.root, &PutUserPolicyInput{UserName: "lint", PolicyName: "broad",
		PolicyDocument: doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"}`)})
	f.must(t, err)
	_, err = f.s.PutRolePolicy(f.ctx, f.root, &PutRolePolicyInput{RoleName: "lint", PolicyName: "escalate",
		PolicyDocument: doc(`{"Effect":"Allow","Action":"iam:PassRole","Resource":"*"}`)})
	f.must(t, err)
	open := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`
	_, err = f.s.UpdateAssumeRolePolicy(f.ctx, f.root, &UpdateAssumeRolePolicyInput{RoleName: "lint", PolicyDocument: open})
	f.must(t, err)
	_, err = f.s.CreateRole(f.ctx, f.root, &CreateRoleInput{RoleName: "open", AssumeRolePolicyDocument: open})
	f.must(t, err)
	log := buf.String()
	for _, want := range []string{
		`msg="identity policy lint" owner=arn:aws:iam::111122223333:user/lint policy=broad`, "finding=" + policy.LintWildcardAction,
		`owner=arn:aws:iam::111122223333:role/lint policy=escalate`, "finding=" + policy.LintEscalation,
		`msg="trust policy lint" owner=arn:aws:iam::111122223333:role/lint principal=`,
		`msg="trust policy lint" owner=arn:aws:iam::111122223333:role/open principal=`, "finding=" + policy.LintPublicPrincipal,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestResourceTagConditions: IAM operations on a user or role see its tags
// as aws:ResourceTag/*, so a policy can confine a principal to the
// entities of its team; tagging operations see the current tags too.
func TestResourceTagConditions(t *testing.T) {
	t.Parallel()
	f := setup(t)
	for _, u := range []struct{ name, team string }{{"alice", "blue"}, {"bob", "blue"}, {"carol", "red"}} {
		_, err := f.s.CreateUser(f.ctx, f.root, &CreateUserInput{UserName: u.name, Tags: []Tag{{Key: "team", Value: u.team}}})
		f.must(t, err)
	}
	for _, r := range []struct{ name, team string }{{"blue-app", "blue"}, {"red-app", "red"}} {
		_, err := f.s.CreateRole(f.ctx, f.root, &CreateRoleInput{RoleName: r.name, AssumeRolePolicyDocument: trust, Tags: []Tag{{Key: "team", Value: r.team}}})
		f.must(t, err)
	}
	_, err := f.s.PutUserPolicy(f.ctx, f.root, &PutUserPolicyInput{UserName: "alice", PolicyName: "team",
		PolicyDocument: doc(`{"Effect":"Allow","Action":["iam:GetUser","iam:GetRole","iam:TagUser"],"Resource":"*",
		  "Condition":{"StringEquals":{"aws:ResourceTag/team":"${aws:PrincipalTag/team}"}}}`)})
	f.must(t, err)
	alice := f.userCall("alice")
	_, err = f.s.GetUser(f.ctx, alice, &GetUserInput{UserName: "bob"})
	f.must(t, err)
	_, err = f.s.GetUser(f.ctx, alice, &GetUserInput{UserName: "carol"})
	wantErr(t, "GetUser carol", err, svcerr.AccessDenied, "iam:GetUser")
	_, err = f.s.GetRole(f.ctx, alice, &RoleNameInput{RoleName: "blue-app"})
	f.must(t, err)
	_, err = f.s.GetRole(f.ctx, alice, &RoleNameInput{RoleName: "red-app"})
	wantErr(t, "GetRole red-app", err, svcerr.AccessDenied, "iam:GetRole")
	_, err = f.s.TagUser(f.ctx, alice, &TagUserInput{UserName: "bob", Tags: []Tag{{Key: "env", Value: "x"}}})
	f.must(t, err)
	_, err = f.s.TagUser(f.ctx, alice, &TagUserInput{UserName: "carol", Tags: []Tag{{Key: "team", Value: "blue"}}})
	wantErr(t, "TagUser carol", err, svcerr.AccessDenied, "iam:TagUser")
	// A user that does not exist has no tags: denied, not NoSuchEntity.
	_, err = f.s.GetUser(f.ctx, alice, &GetUserInput{UserName: "nobody"})
	wantErr(t, "GetUser nobody", err, svcerr.AccessDenied, "iam:GetUser")
}
