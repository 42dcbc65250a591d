// This file drives Arca's IAM and STS APIs (AWS Query protocol) with the
// real aws-sdk-go-v2 service/iam and service/sts clients: users, access
// keys, inline policies and their enforcement, roles, tags, and Arca's
// operator-only account administration (signed raw Query requests, as the
// SDK has no such operations).
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

const defaultAccount = "000000000000"

var (
	reUserID = regexp.MustCompile(`^AIDA[A-Z2-7]{16}$`)
	reRoleID = regexp.MustCompile(`^AROA[A-Z2-7]{16}$`)
	reAKID   = regexp.MustCompile(`^AKIA[A-Z2-7]{16}$`)
)

// iamClient returns an IAM client for the server with the given
// credentials. It signs with us-east-1, as the SDK signs IAM.
func (s *server) iamClient(akid, secret string) *iam.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(akid, secret, "")}
	return iam.NewFromConfig(cfg, func(o *iam.Options) {
		o.BaseEndpoint = aws.String(s.endpoint)
		o.Retryer = closedConnRetryer()
	})
}

// stsClient returns an STS client signing for region.
func (s *server) stsClient(region, akid, secret string) *sts.Client {
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(akid, secret, "")}
	return sts.NewFromConfig(cfg, func(o *sts.Options) {
		o.BaseEndpoint = aws.String(s.endpoint)
		o.Retryer = closedConnRetryer()
	})
}

// wantQueryErr reports an error unless err carries the AWS error code and
// HTTP status.
func wantQueryErr(t *testing.T, err error, code string, status int, what string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Errorf("%s: got %v; want %s", what, err, code)
		return
	}
	if got := httpStatus(err); got != status {
		t.Errorf("%s: HTTP status %d, want %d", what, got, status)
	}
}

func errMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

func policyDoc(statements ...string) *string {
	return aws.String(`{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`)
}

func TestIAMUsersKeysAndPolicies(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	root := srv.iamClient(rootAKID, rootSecret)

	// CreateUser, its validation and uniqueness regardless of case.
	cu, err := root.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("alice"), Path: aws.String("/eng/"),
		Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("eng")}}})
	mustOK(t, err, "CreateUser alice")
	u := cu.User
	if aws.ToString(u.Arn) != "arn:aws:iam::"+defaultAccount+":user/eng/alice" || aws.ToString(u.Path) != "/eng/" ||
		!reUserID.MatchString(aws.ToString(u.UserId)) || u.CreateDate == nil || len(u.Tags) != 1 {
		t.Errorf("CreateUser = %+v", u)
	}
	_, err = root.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("ALICE")})
	wantQueryErr(t, err, "EntityAlreadyExists", 409, "CreateUser ALICE")
	_, err = root.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("bad name")})
	wantQueryErr(t, err, "ValidationError", 400, "CreateUser 'bad name'")
	_, err = root.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String(strings.Repeat("u", 65))})
	wantQueryErr(t, err, "ValidationError", 400, "CreateUser 65-character name")
	_, err = root.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("x"), Path: aws.String("noslash")})
	wantQueryErr(t, err, "ValidationError", 400, "CreateUser bad path")
	_, err = root.GetUser(bg(), &iam.GetUserInput{UserName: aws.String("nobody")})
	wantQueryErr(t, err, "NoSuchEntity", 404, "GetUser nobody")
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Errorf("GetUser nobody: %T, want *types.NoSuchEntityException", err)
	}
	g, err := root.GetUser(bg(), &iam.GetUserInput{UserName: aws.String("Alice")})
	mustOK(t, err, "GetUser Alice")
	if aws.ToString(g.User.UserName) != "alice" || aws.ToString(g.User.UserId) != aws.ToString(u.UserId) {
		t.Errorf("GetUser Alice = %+v", g.User)
	}
	self, err := root.GetUser(bg(), &iam.GetUserInput{})
	mustOK(t, err, "GetUser (root)")
	if aws.ToString(self.User.Arn) != "arn:aws:iam::"+defaultAccount+":root" || aws.ToString(self.User.UserId) != defaultAccount {
		t.Errorf("GetUser (root) = %+v", self.User)
	}

	// ListUsers: path prefix and pagination.
	for _, n := range []string{"u1", "u2", "u3"} {
		_, err := root.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String(n)})
		mustOK(t, err, "CreateUser "+n)
	}
	lu, err := root.ListUsers(bg(), &iam.ListUsersInput{PathPrefix: aws.String("/eng/")})
	mustOK(t, err, "ListUsers /eng/")
	if len(lu.Users) != 1 || aws.ToString(lu.Users[0].UserName) != "alice" || lu.IsTruncated {
		t.Errorf("ListUsers /eng/ = %+v", lu.Users)
	}
	var names []string
	p := iam.NewListUsersPaginator(root, &iam.ListUsersInput{MaxItems: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(bg())
		mustOK(t, err, "ListUsers page")
		pages++
		for _, u := range out.Users {
			names = append(names, aws.ToString(u.UserName))
		}
	}
	if strings.Join(names, ",") != "alice,u1,u2,u3" || pages != 2 {
		t.Errorf("ListUsers pages = %d %v", pages, names)
	}
	_, err = root.ListUsers(bg(), &iam.ListUsersInput{MaxItems: aws.Int32(1001)})
	wantQueryErr(t, err, "ValidationError", 400, "ListUsers MaxItems 1001")

	// Access keys: the secret works, at most two, deactivation and deletion
	// take effect at once.
	k1, err := root.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	mustOK(t, err, "CreateAccessKey")
	akid, secret := aws.ToString(k1.AccessKey.AccessKeyId), aws.ToString(k1.AccessKey.SecretAccessKey)
	if !reAKID.MatchString(akid) || len(secret) != 40 || k1.AccessKey.Status != iamtypes.StatusTypeActive ||
		aws.ToString(k1.AccessKey.UserName) != "alice" {
		t.Errorf("CreateAccessKey = %+v", k1.AccessKey)
	}
	id, err := srv.stsClient("us-east-1", akid, secret).GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{})
	mustOK(t, err, "GetCallerIdentity as alice")
	if aws.ToString(id.Arn) != aws.ToString(u.Arn) || aws.ToString(id.UserId) != aws.ToString(u.UserId) || aws.ToString(id.Account) != defaultAccount {
		t.Errorf("GetCallerIdentity = %s %s %s", aws.ToString(id.Arn), aws.ToString(id.UserId), aws.ToString(id.Account))
	}
	// STS signs with the client's region; a served region works too.
	if _, err := srv.stsClient("us-east-1", rootAKID, rootSecret).GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity as root: %v", err)
	}
	alice := srv.iamClient(akid, secret)

	// Until a policy allows it, alice may do nothing.
	_, err = alice.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("carol")})
	wantQueryErr(t, err, "AccessDenied", 403, "alice CreateUser without a policy")
	want := "User: arn:aws:iam::" + defaultAccount + ":user/eng/alice is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::" +
		defaultAccount + ":user/carol because no identity-based policy allows the iam:CreateUser action"
	if msg := errMessage(err); msg != want {
		t.Errorf("AccessDenied message\n got %q\nwant %q", msg, want)
	}
	_, err = root.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("create"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":["iam:CreateUser","iam:GetUser"],"Resource":"arn:aws:iam::` + defaultAccount + `:user/*"}`)})
	mustOK(t, err, "PutUserPolicy create")
	_, err = alice.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("carol")})
	mustOK(t, err, "alice CreateUser carol with a policy")
	me, err := alice.GetUser(bg(), &iam.GetUserInput{})
	mustOK(t, err, "alice GetUser (herself)")
	if aws.ToString(me.User.UserName) != "alice" {
		t.Errorf("alice GetUser = %+v", me.User)
	}
	_, err = alice.ListUsers(bg(), &iam.ListUsersInput{})
	wantQueryErr(t, err, "AccessDenied", 403, "alice ListUsers (not allowed)")
	_, err = root.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("deny-dave"),
		PolicyDocument: policyDoc(`{"Effect":"Deny","Action":"iam:CreateUser","Resource":"arn:aws:iam::` + defaultAccount + `:user/dave"}`)})
	mustOK(t, err, "PutUserPolicy deny-dave")
	_, err = alice.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("dave")})
	wantQueryErr(t, err, "AccessDenied", 403, "alice CreateUser dave (explicit deny)")
	if msg := errMessage(err); !strings.HasSuffix(msg, "with an explicit deny in an identity-based policy") {
		t.Errorf("explicit deny message %q", msg)
	}
	// Alice cannot reach KMS: identity policies do not grant KMS yet.
	if _, err := srv.clientWith("us-east-1", akid, secret).ListKeys(bg(), &kms.ListKeysInput{}); apiCode(err) != "AccessDeniedException" {
		t.Errorf("alice kms ListKeys: %v, want AccessDeniedException", err)
	}

	// Inline policies: read back URL-encoded, listed, validated.
	gp, err := root.GetUserPolicy(bg(), &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("create")})
	mustOK(t, err, "GetUserPolicy")
	doc, err := url.QueryUnescape(aws.ToString(gp.PolicyDocument))
	if err != nil || !strings.Contains(doc, `"iam:CreateUser"`) || !strings.HasPrefix(aws.ToString(gp.PolicyDocument), "%7B%22Version%22%3A") {
		t.Errorf("GetUserPolicy document %q (%v)", aws.ToString(gp.PolicyDocument), err)
	}
	lp, err := root.ListUserPolicies(bg(), &iam.ListUserPoliciesInput{UserName: aws.String("alice")})
	mustOK(t, err, "ListUserPolicies")
	if strings.Join(lp.PolicyNames, ",") != "create,deny-dave" {
		t.Errorf("ListUserPolicies = %v", lp.PolicyNames)
	}
	_, err = root.GetUserPolicy(bg(), &iam.GetUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("nope")})
	wantQueryErr(t, err, "NoSuchEntity", 404, "GetUserPolicy nope")
	_, err = root.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("bad"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser"}]}`)})
	wantQueryErr(t, err, "MalformedPolicyDocument", 400, "PutUserPolicy without Resource")
	if msg := errMessage(err); msg != "Policy statement must contain resources." {
		t.Errorf("MalformedPolicyDocument message %q", msg)
	}
	big := `{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::` + defaultAccount + `:user/` + strings.Repeat("x", 1900) + `"}`
	_, err = root.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("big"), PolicyDocument: policyDoc(big)})
	wantQueryErr(t, err, "LimitExceeded", 409, "PutUserPolicy over the 2048-character aggregate")
	_, err = root.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("nobody"), PolicyName: aws.String("p"), PolicyDocument: policyDoc(`{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}`)})
	wantQueryErr(t, err, "NoSuchEntity", 404, "PutUserPolicy on a missing user")

	k2, err := root.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	mustOK(t, err, "second CreateAccessKey")
	_, err = root.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("alice")})
	wantQueryErr(t, err, "LimitExceeded", 409, "third CreateAccessKey")
	if msg := errMessage(err); msg != "Cannot exceed quota for AccessKeysPerUser: 2" {
		t.Errorf("LimitExceeded message %q", msg)
	}
	lk, err := root.ListAccessKeys(bg(), &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	mustOK(t, err, "ListAccessKeys")
	if len(lk.AccessKeyMetadata) != 2 || aws.ToString(lk.AccessKeyMetadata[0].AccessKeyId) != akid {
		t.Errorf("ListAccessKeys = %+v", lk.AccessKeyMetadata)
	}
	_, err = root.UpdateAccessKey(bg(), &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(akid), Status: iamtypes.StatusTypeInactive})
	mustOK(t, err, "UpdateAccessKey Inactive")
	_, err = srv.stsClient("us-east-1", akid, secret).GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{})
	wantQueryErr(t, err, "InvalidClientTokenId", 403, "GetCallerIdentity with an inactive key")
	if _, err := srv.clientWith("us-east-1", akid, secret).ListKeys(bg(), &kms.ListKeysInput{}); apiCode(err) != "UnrecognizedClientException" {
		t.Errorf("kms with an inactive key: %v, want UnrecognizedClientException", err)
	}
	lk, err = root.ListAccessKeys(bg(), &iam.ListAccessKeysInput{UserName: aws.String("alice")})
	mustOK(t, err, "ListAccessKeys")
	if lk.AccessKeyMetadata[0].Status != iamtypes.StatusTypeInactive {
		t.Errorf("ListAccessKeys after deactivation = %+v", lk.AccessKeyMetadata[0])
	}
	_, err = root.UpdateAccessKey(bg(), &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(akid), Status: iamtypes.StatusTypeActive})
	mustOK(t, err, "UpdateAccessKey Active")
	if _, err := srv.stsClient("us-east-1", akid, secret).GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("GetCallerIdentity after reactivation: %v", err)
	}
	_, err = root.UpdateAccessKey(bg(), &iam.UpdateAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String("AKIAAAAAAAAAAAAAAAAA"), Status: iamtypes.StatusTypeActive})
	wantQueryErr(t, err, "NoSuchEntity", 404, "UpdateAccessKey unknown key")

	// DeleteUser refuses while keys, then policies, remain.
	_, err = root.DeleteUser(bg(), &iam.DeleteUserInput{UserName: aws.String("alice")})
	wantQueryErr(t, err, "DeleteConflict", 409, "DeleteUser with access keys")
	for _, k := range []string{akid, aws.ToString(k2.AccessKey.AccessKeyId)} {
		_, err := root.DeleteAccessKey(bg(), &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(k)})
		mustOK(t, err, "DeleteAccessKey")
	}
	_, err = root.DeleteAccessKey(bg(), &iam.DeleteAccessKeyInput{UserName: aws.String("alice"), AccessKeyId: aws.String(akid)})
	wantQueryErr(t, err, "NoSuchEntity", 404, "DeleteAccessKey twice")
	_, err = srv.stsClient("us-east-1", akid, secret).GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{})
	wantQueryErr(t, err, "InvalidClientTokenId", 403, "GetCallerIdentity with a deleted key")
	_, err = root.DeleteUser(bg(), &iam.DeleteUserInput{UserName: aws.String("alice")})
	wantQueryErr(t, err, "DeleteConflict", 409, "DeleteUser with policies")
	for _, pn := range []string{"create", "deny-dave"} {
		_, err := root.DeleteUserPolicy(bg(), &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String(pn)})
		mustOK(t, err, "DeleteUserPolicy "+pn)
	}
	_, err = root.DeleteUserPolicy(bg(), &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("create")})
	wantQueryErr(t, err, "NoSuchEntity", 404, "DeleteUserPolicy twice")
	_, err = root.DeleteUser(bg(), &iam.DeleteUserInput{UserName: aws.String("alice")})
	mustOK(t, err, "DeleteUser")
	_, err = root.GetUser(bg(), &iam.GetUserInput{UserName: aws.String("alice")})
	wantQueryErr(t, err, "NoSuchEntity", 404, "GetUser after DeleteUser")
}

// TestIAMPrincipalTags checks that a user's tags reach policy conditions
// and that changing them, or the user's policies, takes effect at once.
func TestIAMPrincipalTags(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	root := srv.iamClient(rootAKID, rootSecret)
	_, err := root.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("tagged"),
		Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("eng")}}})
	mustOK(t, err, "CreateUser")
	k, err := root.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("tagged")})
	mustOK(t, err, "CreateAccessKey")
	user := srv.iamClient(aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey))
	_, err = root.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("tagged"), PolicyName: aws.String("eng-only"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/team":"eng"}}}`)})
	mustOK(t, err, "PutUserPolicy")
	_, err = user.ListUsers(bg(), &iam.ListUsersInput{})
	mustOK(t, err, "ListUsers with team=eng")

	_, err = root.TagUser(bg(), &iam.TagUserInput{UserName: aws.String("tagged"), Tags: []iamtypes.Tag{{Key: aws.String("TEAM"), Value: aws.String("ops")}}})
	mustOK(t, err, "TagUser TEAM=ops")
	_, err = user.ListUsers(bg(), &iam.ListUsersInput{})
	wantQueryErr(t, err, "AccessDenied", 403, "ListUsers after the tag changed")
	lt, err := root.ListUserTags(bg(), &iam.ListUserTagsInput{UserName: aws.String("tagged")})
	mustOK(t, err, "ListUserTags")
	if len(lt.Tags) != 1 || aws.ToString(lt.Tags[0].Key) != "TEAM" || aws.ToString(lt.Tags[0].Value) != "ops" {
		t.Errorf("ListUserTags = %+v", lt.Tags)
	}
	_, err = root.UntagUser(bg(), &iam.UntagUserInput{UserName: aws.String("tagged"), TagKeys: []string{"team", "absent"}})
	mustOK(t, err, "UntagUser")
	lt, err = root.ListUserTags(bg(), &iam.ListUserTagsInput{UserName: aws.String("tagged")})
	mustOK(t, err, "ListUserTags")
	if len(lt.Tags) != 0 {
		t.Errorf("ListUserTags after UntagUser = %+v", lt.Tags)
	}
	_, err = root.TagUser(bg(), &iam.TagUserInput{UserName: aws.String("tagged"), Tags: []iamtypes.Tag{
		{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("A"), Value: aws.String("2")}}})
	wantQueryErr(t, err, "InvalidInput", 400, "TagUser duplicate keys")
	_, err = root.TagUser(bg(), &iam.TagUserInput{UserName: aws.String("tagged"), Tags: []iamtypes.Tag{{Key: aws.String(strings.Repeat("k", 129)), Value: aws.String("v")}}})
	wantQueryErr(t, err, "ValidationError", 400, "TagUser 129-character key")
	_, err = root.TagUser(bg(), &iam.TagUserInput{UserName: aws.String("tagged"), Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String(strings.Repeat("v", 257))}}})
	wantQueryErr(t, err, "ValidationError", 400, "TagUser 257-character value")
	_, err = root.TagUser(bg(), &iam.TagUserInput{UserName: aws.String("nobody"), Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantQueryErr(t, err, "NoSuchEntity", 404, "TagUser missing user")
	var tags []iamtypes.Tag
	for i := range 50 {
		tags = append(tags, iamtypes.Tag{Key: aws.String(fmt.Sprintf("k%02d", i)), Value: aws.String("v")})
	}
	_, err = root.TagUser(bg(), &iam.TagUserInput{UserName: aws.String("tagged"), Tags: tags})
	mustOK(t, err, "TagUser 50 tags")
	_, err = root.TagUser(bg(), &iam.TagUserInput{UserName: aws.String("tagged"), Tags: []iamtypes.Tag{{Key: aws.String("one-more"), Value: aws.String("v")}}})
	wantQueryErr(t, err, "LimitExceeded", 409, "TagUser 51st tag")
	_, err = root.TagUser(bg(), &iam.TagUserInput{UserName: aws.String("tagged"), Tags: append(tags, iamtypes.Tag{Key: aws.String("x"), Value: aws.String("v")})})
	wantQueryErr(t, err, "ValidationError", 400, "TagUser 51 tags in one request")
	lt, err = root.ListUserTags(bg(), &iam.ListUserTagsInput{UserName: aws.String("tagged"), MaxItems: aws.Int32(30)})
	mustOK(t, err, "ListUserTags page 1")
	lt2, err := root.ListUserTags(bg(), &iam.ListUserTagsInput{UserName: aws.String("tagged"), Marker: lt.Marker})
	mustOK(t, err, "ListUserTags page 2")
	if len(lt.Tags) != 30 || !lt.IsTruncated || len(lt2.Tags) != 20 || lt2.IsTruncated {
		t.Errorf("ListUserTags pages: %d (%v), %d (%v)", len(lt.Tags), lt.IsTruncated, len(lt2.Tags), lt2.IsTruncated)
	}

	// Removing the policy takes effect at once too.
	_, err = root.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("tagged"), PolicyName: aws.String("eng-only"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}`)})
	mustOK(t, err, "PutUserPolicy (replace)")
	_, err = user.ListUsers(bg(), &iam.ListUsersInput{})
	mustOK(t, err, "ListUsers with the replaced policy")
	_, err = root.DeleteUserPolicy(bg(), &iam.DeleteUserPolicyInput{UserName: aws.String("tagged"), PolicyName: aws.String("eng-only")})
	mustOK(t, err, "DeleteUserPolicy")
	_, err = user.ListUsers(bg(), &iam.ListUsersInput{})
	wantQueryErr(t, err, "AccessDenied", 403, "ListUsers after DeleteUserPolicy")
}

func TestIAMRoles(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	root := srv.iamClient(rootAKID, rootSecret)
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + defaultAccount + `:root"},"Action":"sts:AssumeRole"}]}`
	cr, err := root.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("app"), Path: aws.String("/svc/"),
		AssumeRolePolicyDocument: aws.String(trust), Description: aws.String("the app"), MaxSessionDuration: aws.Int32(7200),
		Tags: []iamtypes.Tag{{Key: aws.String("env"), Value: aws.String("dev")}}})
	mustOK(t, err, "CreateRole")
	r := cr.Role
	got, _ := url.QueryUnescape(aws.ToString(r.AssumeRolePolicyDocument))
	if aws.ToString(r.Arn) != "arn:aws:iam::"+defaultAccount+":role/svc/app" || !reRoleID.MatchString(aws.ToString(r.RoleId)) ||
		got != trust || aws.ToString(r.Description) != "the app" || aws.ToInt32(r.MaxSessionDuration) != 7200 || len(r.Tags) != 1 {
		t.Errorf("CreateRole = %+v (trust %q)", r, got)
	}
	_, err = root.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("APP"), AssumeRolePolicyDocument: aws.String(trust)})
	wantQueryErr(t, err, "EntityAlreadyExists", 409, "CreateRole APP")
	_, err = root.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("short"), AssumeRolePolicyDocument: aws.String(trust), MaxSessionDuration: aws.Int32(3599)})
	wantQueryErr(t, err, "ValidationError", 400, "CreateRole MaxSessionDuration 3599")
	_, err = root.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("long"), AssumeRolePolicyDocument: aws.String(trust), MaxSessionDuration: aws.Int32(43201)})
	wantQueryErr(t, err, "ValidationError", 400, "CreateRole MaxSessionDuration 43201")
	_, err = root.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("bad"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Resource":"*"}]}`)})
	wantQueryErr(t, err, "MalformedPolicyDocument", 400, "CreateRole trust policy with Resource")
	if msg := errMessage(err); msg != "Has prohibited field Resource" {
		t.Errorf("MalformedPolicyDocument message %q", msg)
	}

	def, err := root.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("plain"), AssumeRolePolicyDocument: aws.String(trust)})
	mustOK(t, err, "CreateRole plain")
	if aws.ToInt32(def.Role.MaxSessionDuration) != 3600 || aws.ToString(def.Role.Path) != "/" {
		t.Errorf("CreateRole defaults = %+v", def.Role)
	}
	gr, err := root.GetRole(bg(), &iam.GetRoleInput{RoleName: aws.String("App")})
	mustOK(t, err, "GetRole App")
	if aws.ToString(gr.Role.RoleName) != "app" || aws.ToString(gr.Role.RoleId) != aws.ToString(r.RoleId) {
		t.Errorf("GetRole = %+v", gr.Role)
	}
	_, err = root.GetRole(bg(), &iam.GetRoleInput{RoleName: aws.String("nope")})
	wantQueryErr(t, err, "NoSuchEntity", 404, "GetRole nope")
	lr, err := root.ListRoles(bg(), &iam.ListRolesInput{})
	mustOK(t, err, "ListRoles")
	if len(lr.Roles) != 2 || aws.ToString(lr.Roles[0].RoleName) != "app" || aws.ToString(lr.Roles[1].RoleName) != "plain" {
		t.Errorf("ListRoles = %+v", lr.Roles)
	}
	lr, err = root.ListRoles(bg(), &iam.ListRolesInput{PathPrefix: aws.String("/svc/")})
	mustOK(t, err, "ListRoles /svc/")
	if len(lr.Roles) != 1 {
		t.Errorf("ListRoles /svc/ = %+v", lr.Roles)
	}

	trust2 := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	_, err = root.UpdateAssumeRolePolicy(bg(), &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("app"), PolicyDocument: aws.String(trust2)})
	mustOK(t, err, "UpdateAssumeRolePolicy")
	gr, err = root.GetRole(bg(), &iam.GetRoleInput{RoleName: aws.String("app")})
	mustOK(t, err, "GetRole")
	if got, _ := url.QueryUnescape(aws.ToString(gr.Role.AssumeRolePolicyDocument)); got != trust2 {
		t.Errorf("trust policy after update = %q", got)
	}
	_, err = root.UpdateAssumeRolePolicy(bg(), &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("app"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`)})
	wantQueryErr(t, err, "MalformedPolicyDocument", 400, "UpdateAssumeRolePolicy without Principal")

	perm := policyDoc(`{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}`)
	_, err = root.PutRolePolicy(bg(), &iam.PutRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("decrypt"), PolicyDocument: perm})
	mustOK(t, err, "PutRolePolicy")
	grp, err := root.GetRolePolicy(bg(), &iam.GetRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("decrypt")})
	mustOK(t, err, "GetRolePolicy")
	if got, _ := url.QueryUnescape(aws.ToString(grp.PolicyDocument)); got != aws.ToString(perm) || aws.ToString(grp.RoleName) != "app" {
		t.Errorf("GetRolePolicy = %q", got)
	}
	lrp, err := root.ListRolePolicies(bg(), &iam.ListRolePoliciesInput{RoleName: aws.String("app")})
	mustOK(t, err, "ListRolePolicies")
	if len(lrp.PolicyNames) != 1 || lrp.PolicyNames[0] != "decrypt" {
		t.Errorf("ListRolePolicies = %v", lrp.PolicyNames)
	}
	_, err = root.GetRolePolicy(bg(), &iam.GetRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("nope")})
	wantQueryErr(t, err, "NoSuchEntity", 404, "GetRolePolicy nope")
	_, err = root.PutRolePolicy(bg(), &iam.PutRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("bad"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]}`)})
	wantQueryErr(t, err, "MalformedPolicyDocument", 400, "PutRolePolicy with a Principal")

	_, err = root.TagRole(bg(), &iam.TagRoleInput{RoleName: aws.String("app"), Tags: []iamtypes.Tag{{Key: aws.String("owner"), Value: aws.String("me")}}})
	mustOK(t, err, "TagRole")
	lt, err := root.ListRoleTags(bg(), &iam.ListRoleTagsInput{RoleName: aws.String("app")})
	mustOK(t, err, "ListRoleTags")
	if len(lt.Tags) != 2 || aws.ToString(lt.Tags[0].Key) != "env" || aws.ToString(lt.Tags[1].Key) != "owner" {
		t.Errorf("ListRoleTags = %+v", lt.Tags)
	}
	_, err = root.UntagRole(bg(), &iam.UntagRoleInput{RoleName: aws.String("app"), TagKeys: []string{"ENV"}})
	mustOK(t, err, "UntagRole")
	lt, err = root.ListRoleTags(bg(), &iam.ListRoleTagsInput{RoleName: aws.String("app")})
	mustOK(t, err, "ListRoleTags")
	if len(lt.Tags) != 1 || aws.ToString(lt.Tags[0].Key) != "owner" {
		t.Errorf("ListRoleTags after UntagRole = %+v", lt.Tags)
	}
	_, err = root.TagRole(bg(), &iam.TagRoleInput{RoleName: aws.String("nope"), Tags: []iamtypes.Tag{{Key: aws.String("k"), Value: aws.String("v")}}})
	wantQueryErr(t, err, "NoSuchEntity", 404, "TagRole missing role")

	_, err = root.DeleteRole(bg(), &iam.DeleteRoleInput{RoleName: aws.String("app")})
	wantQueryErr(t, err, "DeleteConflict", 409, "DeleteRole with policies")
	_, err = root.DeleteRolePolicy(bg(), &iam.DeleteRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("decrypt")})
	mustOK(t, err, "DeleteRolePolicy")
	_, err = root.DeleteRolePolicy(bg(), &iam.DeleteRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("decrypt")})
	wantQueryErr(t, err, "NoSuchEntity", 404, "DeleteRolePolicy twice")
	_, err = root.DeleteRole(bg(), &iam.DeleteRoleInput{RoleName: aws.String("app")})
	mustOK(t, err, "DeleteRole")
	_, err = root.DeleteRole(bg(), &iam.DeleteRoleInput{RoleName: aws.String("app")})
	wantQueryErr(t, err, "NoSuchEntity", 404, "DeleteRole twice")
}

// queryResp is a raw Query response.
type queryResp struct {
	status int
	body   []byte
	code   string // Error/Code, for errors
}

// queryCall sends a Query request with params, signed (unless akid is "")
// for service and us-east-1.
func queryCall(t *testing.T, s *server, service, akid, secret string, params url.Values) queryResp {
	t.Helper()
	body := []byte(params.Encode())
	return queryRaw(t, s, service, akid, secret, "application/x-www-form-urlencoded; charset=utf-8", body)
}

func queryRaw(t *testing.T, s *server, service, akid, secret, contentType string, body []byte) queryResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if akid != "" {
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := queryResp{status: resp.StatusCode, body: b}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error struct {
				Type, Code, Message string
			}
			RequestID string `xml:"RequestId"`
		}
		if err := xml.Unmarshal(b, &e); err != nil {
			t.Errorf("error body is not XML: %v: %s", err, b)
		}
		if e.RequestID == "" || resp.Header.Get("x-amzn-RequestId") != e.RequestID {
			t.Errorf("error RequestId %q, header %q", e.RequestID, resp.Header.Get("x-amzn-RequestId"))
		}
		out.code = e.Error.Code
	}
	if resp.StatusCode >= 500 {
		t.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return out
}

// arcaAccount is the Result of ArcaCreateAccount / ArcaCreateAccountRootAccessKey.
type arcaAccount struct {
	Result struct {
		Account struct {
			AccountID string `xml:"AccountId"`
			Arn       string
		}
		AccessKey struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string
			Status          string
		}
	} `xml:",any"`
}

func TestIAMAccounts(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	root := srv.iamClient(rootAKID, rootSecret)
	admin := func(akid, secret string, kv ...string) queryResp {
		t.Helper()
		p := url.Values{"Version": {"2010-05-08"}}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Set(kv[i], kv[i+1])
		}
		return queryCall(t, srv, "iam", akid, secret, p)
	}

	r := admin(rootAKID, rootSecret, "Action", "ArcaCreateAccount", "AccountId", "111122223333")
	if r.status != 200 {
		t.Fatalf("ArcaCreateAccount: %d %s", r.status, r.body)
	}
	var acct arcaAccount
	if err := xml.Unmarshal(r.body, &acct); err != nil {
		t.Fatal(err)
	}
	a := acct.Result
	if a.Account.AccountID != "111122223333" || a.Account.Arn != "arn:aws:iam::111122223333:root" ||
		!reAKID.MatchString(a.AccessKey.AccessKeyID) || len(a.AccessKey.SecretAccessKey) != 40 {
		t.Fatalf("ArcaCreateAccount = %+v", a)
	}
	if r := admin(rootAKID, rootSecret, "Action", "ArcaCreateAccount", "AccountId", "111122223333"); r.status != 409 || r.code != "EntityAlreadyExists" {
		t.Errorf("ArcaCreateAccount twice: %d %s", r.status, r.code)
	}
	if r := admin(rootAKID, rootSecret, "Action", "ArcaCreateAccount", "AccountId", "12345"); r.status != 400 || r.code != "ValidationError" {
		t.Errorf("ArcaCreateAccount bad ID: %d %s", r.status, r.code)
	}
	r = admin(rootAKID, rootSecret, "Action", "ArcaCreateAccount")
	if r.status != 200 || !regexp.MustCompile(`<AccountId>[1-9][0-9]{11}</AccountId>`).Match(r.body) {
		t.Errorf("ArcaCreateAccount without AccountId: %d %s", r.status, r.body)
	}

	// The new account's root sees only its own account.
	other := srv.iamClient(a.AccessKey.AccessKeyID, a.AccessKey.SecretAccessKey)
	id, err := srv.stsClient("us-east-1", a.AccessKey.AccessKeyID, a.AccessKey.SecretAccessKey).GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{})
	mustOK(t, err, "GetCallerIdentity as the new account's root")
	if aws.ToString(id.Account) != "111122223333" || aws.ToString(id.Arn) != "arn:aws:iam::111122223333:root" {
		t.Errorf("GetCallerIdentity = %s %s", aws.ToString(id.Account), aws.ToString(id.Arn))
	}
	_, err = root.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("bob")})
	mustOK(t, err, "CreateUser bob in the default account")
	_, err = other.GetUser(bg(), &iam.GetUserInput{UserName: aws.String("bob")})
	wantQueryErr(t, err, "NoSuchEntity", 404, "other account GetUser bob")
	lu, err := other.ListUsers(bg(), &iam.ListUsersInput{})
	mustOK(t, err, "other account ListUsers")
	if len(lu.Users) != 0 {
		t.Errorf("other account sees users %+v", lu.Users)
	}
	ob, err := other.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("bob")})
	mustOK(t, err, "CreateUser bob in the other account")
	if aws.ToString(ob.User.Arn) != "arn:aws:iam::111122223333:user/bob" {
		t.Errorf("other bob ARN %s", aws.ToString(ob.User.Arn))
	}
	// Keys made in one account are not visible in the other.
	if _, err := srv.clientWith("us-east-1", a.AccessKey.AccessKeyID, a.AccessKey.SecretAccessKey).ListKeys(bg(), &kms.ListKeysInput{}); err != nil {
		t.Errorf("kms as the new account's root: %v", err)
	}

	// Only the operator administers accounts; policies cannot grant it.
	if r := admin(a.AccessKey.AccessKeyID, a.AccessKey.SecretAccessKey, "Action", "ArcaListAccounts"); r.status != 403 || r.code != "AccessDenied" {
		t.Errorf("ArcaListAccounts by another account's root: %d %s", r.status, r.code)
	}
	_, err = root.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("all"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":"*","Resource":"*"}`)})
	mustOK(t, err, "PutUserPolicy all")
	bk, err := root.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("bob")})
	mustOK(t, err, "CreateAccessKey bob")
	bakid, bsecret := aws.ToString(bk.AccessKey.AccessKeyId), aws.ToString(bk.AccessKey.SecretAccessKey)
	if r := admin(bakid, bsecret, "Action", "ArcaCreateAccount"); r.status != 403 || r.code != "AccessDenied" {
		t.Errorf("ArcaCreateAccount by an IAM user with *: %d %s", r.status, r.code)
	}
	// ...while iam:* lets bob act in his own account.
	if _, err := srv.iamClient(bakid, bsecret).CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("bobs-friend")}); err != nil {
		t.Errorf("bob CreateUser with *: %v", err)
	}

	r = admin(rootAKID, rootSecret, "Action", "ArcaListAccounts")
	if r.status != 200 || !bytes.Contains(r.body, []byte("<AccountId>111122223333</AccountId>")) || !bytes.Contains(r.body, []byte("<AccountId>"+defaultAccount+"</AccountId>")) {
		t.Errorf("ArcaListAccounts: %d %s", r.status, r.body)
	}
	r = admin(rootAKID, rootSecret, "Action", "ArcaListAccounts", "MaxItems", "1")
	if r.status != 200 || !bytes.Contains(r.body, []byte("<IsTruncated>true</IsTruncated>")) {
		t.Errorf("ArcaListAccounts MaxItems=1: %d %s", r.status, r.body)
	}

	// Reissuing the root key retires the old one at once.
	r = admin(rootAKID, rootSecret, "Action", "ArcaCreateAccountRootAccessKey", "AccountId", "111122223333")
	var re arcaAccount
	if err := xml.Unmarshal(r.body, &re); err != nil || r.status != 200 {
		t.Fatalf("ArcaCreateAccountRootAccessKey: %d %s", r.status, r.body)
	}
	_, err = other.ListUsers(bg(), &iam.ListUsersInput{})
	wantQueryErr(t, err, "InvalidClientTokenId", 403, "old root key after reissue")
	other = srv.iamClient(re.Result.AccessKey.AccessKeyID, re.Result.AccessKey.SecretAccessKey)
	if _, err := other.ListUsers(bg(), &iam.ListUsersInput{}); err != nil {
		t.Errorf("new root key: %v", err)
	}
	if r := admin(rootAKID, rootSecret, "Action", "ArcaCreateAccountRootAccessKey", "AccountId", "999999999999"); r.status != 404 || r.code != "NoSuchEntity" {
		t.Errorf("ArcaCreateAccountRootAccessKey unknown account: %d %s", r.status, r.code)
	}

	// Deletion: not while users remain, never the operator's account.
	if r := admin(rootAKID, rootSecret, "Action", "ArcaDeleteAccount", "AccountId", "111122223333"); r.status != 409 || r.code != "DeleteConflict" {
		t.Errorf("ArcaDeleteAccount with users: %d %s", r.status, r.code)
	}
	if r := admin(rootAKID, rootSecret, "Action", "ArcaDeleteAccount", "AccountId", defaultAccount); r.status != 409 || r.code != "DeleteConflict" {
		t.Errorf("ArcaDeleteAccount of the operator's account: %d %s", r.status, r.code)
	}
	_, err = other.DeleteUser(bg(), &iam.DeleteUserInput{UserName: aws.String("bob")})
	mustOK(t, err, "DeleteUser bob in the other account")
	if r := admin(rootAKID, rootSecret, "Action", "ArcaDeleteAccount", "AccountId", "111122223333"); r.status != 200 {
		t.Errorf("ArcaDeleteAccount: %d %s", r.status, r.body)
	}
	_, err = other.ListUsers(bg(), &iam.ListUsersInput{})
	wantQueryErr(t, err, "InvalidClientTokenId", 403, "root key of a deleted account")
	if r := admin(rootAKID, rootSecret, "Action", "ArcaDeleteAccount", "AccountId", "111122223333"); r.status != 404 || r.code != "NoSuchEntity" {
		t.Errorf("ArcaDeleteAccount twice: %d %s", r.status, r.code)
	}
}

// TestIAMBadInput sends malformed Query requests: each gets a 4xx Query
// error, never a 5xx.
func TestIAMBadInput(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	form := "application/x-www-form-urlencoded"
	for _, c := range []struct {
		name, service, body string
		unsigned            bool
		status              int
		code                string
	}{
		{"unsigned", "iam", "Action=ListUsers&Version=2010-05-08", true, 403, "MissingAuthenticationToken"},
		{"no action", "iam", "Version=2010-05-08", false, 400, "MissingAction"},
		{"unknown action", "iam", "Action=CreateGroup&Version=2010-05-08", false, 400, "InvalidAction"},
		{"wrong version", "iam", "Action=ListUsers&Version=2011-06-15", false, 400, "InvalidAction"},
		{"sts action on iam", "iam", "Action=GetCallerIdentity&Version=2010-05-08", false, 400, "InvalidAction"},
		{"bad escape", "iam", "Action=ListUsers&Version=2010-05-08&PathPrefix=%zz", false, 400, "InvalidQueryParameter"},
		{"list index 0", "iam", "Action=CreateUser&Version=2010-05-08&UserName=x&Tags.member.0.Key=k", false, 400, "InvalidQueryParameter"},
		{"list index huge", "iam", "Action=CreateUser&Version=2010-05-08&UserName=x&Tags.member.99999999.Key=k", false, 400, "InvalidQueryParameter"},
		{"non-numeric MaxItems", "iam", "Action=ListUsers&Version=2010-05-08&MaxItems=lots", false, 400, "ValidationError"},
		{"missing UserName", "iam", "Action=CreateUser&Version=2010-05-08", false, 400, "ValidationError"},
		{"missing trust policy", "iam", "Action=CreateRole&Version=2010-05-08&RoleName=r", false, 400, "ValidationError"},
		{"bad status", "iam", "Action=UpdateAccessKey&Version=2010-05-08&UserName=x&AccessKeyId=AKIAAAAAAAAAAAAAAAAA&Status=On", false, 400, "ValidationError"},
		{"kms service scope", "kms", "Action=ListUsers&Version=2010-05-08", false, 403, "SignatureDoesNotMatch"},
		{"policy bad characters", "iam", "Action=PutUserPolicy&Version=2010-05-08&UserName=x&PolicyName=p&PolicyDocument=%01", false, 400, "ValidationError"},
	} {
		t.Run(c.name, func(t *testing.T) {
			akid := rootAKID
			if c.unsigned {
				akid = ""
			}
			r := queryRaw(t, srv, c.service, akid, rootSecret, form, []byte(c.body))
			if r.status != c.status || r.code != c.code {
				t.Errorf("%s: %d %s, want %d %s (%s)", c.body, r.status, r.code, c.status, c.code, r.body)
			}
		})
	}
	// A form body over the limit is refused before it is read.
	big := append([]byte("Action=ListUsers&Version=2010-05-08&X="), bytes.Repeat([]byte("a"), 1<<20)...)
	if r := queryRaw(t, srv, "iam", rootAKID, rootSecret, form, big); r.status != 413 {
		t.Errorf("oversized body: %d %s", r.status, r.code)
	}
	// KMS requests still reach the JSON protocol.
	if _, err := srv.client("us-east-1").ListKeys(bg(), &kms.ListKeysInput{}); err != nil {
		t.Errorf("kms ListKeys: %v", err)
	}
	// A successful Query response is the AWS envelope.
	r := queryCall(t, srv, "sts", rootAKID, rootSecret, url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
	var env struct {
		XMLName xml.Name
		Result  struct {
			Arn string
		} `xml:"GetCallerIdentityResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal(r.body, &env); err != nil || env.XMLName.Local != "GetCallerIdentityResponse" ||
		env.XMLName.Space != "https://sts.amazonaws.com/doc/2011-06-15/" || env.RequestID == "" || env.Result.Arn == "" {
		t.Errorf("GetCallerIdentity envelope: %v %s", err, r.body)
	}
}

// TestArcaIAMCLI drives `arca iam` (the binary under test) against a server.
func TestArcaIAMCLI(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	dir := t.TempDir()
	run := func(wantOK bool, args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(arcaBin, append([]string{"iam"}, args...)...)
		cmd.Env = cleanEnv("ARCA_ADDR="+srv.endpoint, "AWS_ACCESS_KEY_ID="+rootAKID, "AWS_SECRET_ACCESS_KEY="+rootSecret)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if (err == nil) != wantOK {
			t.Fatalf("arca iam %v: %v\nstdout: %s\nstderr: %s", args, err, stdout.String(), stderr.String())
		}
		if !wantOK {
			return map[string]any{"stderr": stderr.String()}
		}
		var out map[string]any
		if stdout.Len() > 0 {
			if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
				t.Fatalf("arca iam %v: output is not JSON: %v\n%s", args, err, stdout.String())
			}
		}
		return out
	}
	get := func(m map[string]any, path ...string) string {
		var v any = m
		for _, p := range path {
			mm, _ := v.(map[string]any)
			v = mm[p]
		}
		s, _ := v.(string)
		return s
	}

	out := run(true, "create-user", "--user-name", "cli", "--path", "/ops/", "--tag", "team=ops")
	if get(out, "User", "Arn") != "arn:aws:iam::"+defaultAccount+":user/ops/cli" {
		t.Errorf("create-user = %v", out)
	}
	out = run(true, "list-users")
	if users, _ := out["Users"].([]any); len(users) != 1 {
		t.Errorf("list-users = %v", out)
	}
	out = run(true, "create-access-key", "--user-name", "cli")
	akid := get(out, "AccessKey", "AccessKeyId")
	if !reAKID.MatchString(akid) || len(get(out, "AccessKey", "SecretAccessKey")) != 40 {
		t.Errorf("create-access-key = %v", out)
	}
	doc := filepath.Join(dir, "p.json")
	if err := os.WriteFile(doc, []byte(*policyDoc(`{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}`)), 0o600); err != nil {
		t.Fatal(err)
	}
	run(true, "put-user-policy", "--user-name", "cli", "--policy-name", "get", "--policy-document", "file://"+doc)
	out = run(true, "create-role", "--role-name", "cli-role", "--max-session-duration", "7200", "--assume-role-policy-document",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"`+defaultAccount+`"},"Action":"sts:AssumeRole"}]}`)
	if !reRoleID.MatchString(get(out, "Role", "RoleId")) {
		t.Errorf("create-role = %v", out)
	}
	run(true, "put-role-policy", "--role-name", "cli-role", "--policy-name", "get", "--policy-document", "file://"+doc)
	out = run(true, "create-account", "--account-id", "222233334444")
	if get(out, "Account", "AccountId") != "222233334444" || !reAKID.MatchString(get(out, "AccessKey", "AccessKeyId")) {
		t.Errorf("create-account = %v", out)
	}
	out = run(true, "list-accounts")
	if accts, _ := out["Accounts"].([]any); len(accts) != 2 {
		t.Errorf("list-accounts = %v", out)
	}
	run(true, "delete-account", "--account-id", "222233334444")
	out = run(false, "delete-user", "--user-name", "cli")
	if !strings.Contains(get(out, "stderr"), "DeleteConflict") {
		t.Errorf("delete-user with a key: %v", out)
	}
	run(true, "delete-access-key", "--user-name", "cli", "--access-key-id", akid)
	out = run(false, "create-user")
	if !strings.Contains(get(out, "stderr"), "--user-name is required") {
		t.Errorf("create-user without a name: %v", out)
	}
}
