package iamsvc

import (
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/svcerr"
)

func TestGetAccessKeyLastUsed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx, r := f.ctx, f.root
	for _, n := range []string{"alice", "bob"} {
		_, err := f.s.CreateUser(ctx, r, &CreateUserInput{UserName: n})
		f.must(t, err)
	}
	k, err := f.s.CreateAccessKey(ctx, r, &CreateAccessKeyInput{UserName: "alice"})
	f.must(t, err)
	id := k.AccessKey.AccessKeyID

	out, err := f.s.GetAccessKeyLastUsed(ctx, r, &GetAccessKeyLastUsedInput{AccessKeyID: id})
	f.must(t, err)
	if out.UserName != "alice" || out.AccessKeyLastUsed.LastUsedDate != nil || out.AccessKeyLastUsed.ServiceName != "N/A" || out.AccessKeyLastUsed.Region != "N/A" {
		t.Errorf("never used = %+v", out)
	}
	used := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	f.ids.NoteUsed(id, "kms", "eu-west-1", used)
	out, err = f.s.GetAccessKeyLastUsed(ctx, r, &GetAccessKeyLastUsedInput{AccessKeyID: id})
	f.must(t, err)
	if d := out.AccessKeyLastUsed.LastUsedDate; d == nil || !d.Equal(used) || out.AccessKeyLastUsed.ServiceName != "kms" || out.AccessKeyLastUsed.Region != "eu-west-1" {
		t.Errorf("used = %+v", out.AccessKeyLastUsed)
	}

	// A user without a policy is denied, even for its own key; an unknown
	// key and another account's key are both "not found" for the root.
	bob := f.userCall("bob")
	_, err = f.s.GetAccessKeyLastUsed(ctx, bob, &GetAccessKeyLastUsedInput{AccessKeyID: id})
	wantErr(t, "bob without policy", err, svcerr.AccessDenied, "iam:GetAccessKeyLastUsed")
	_, err = f.s.GetAccessKeyLastUsed(ctx, r, &GetAccessKeyLastUsedInput{AccessKeyID: "AKIAUNKNOWNUNKNOWN00"})
	wantErr(t, "unknown key", err, svcerr.NotFound, "The Access Key with id AKIAUNKNOWNUNKNOWN00 cannot be found.")
	_, err = f.s.GetAccessKeyLastUsed(ctx, f.tenant, &GetAccessKeyLastUsedInput{AccessKeyID: id})
	wantErr(t, "another account's key", err, svcerr.NotFound, "cannot be found")
	_, err = f.s.GetAccessKeyLastUsed(ctx, r, &GetAccessKeyLastUsedInput{AccessKeyID: "short"})
	wantErr(t, "bad id", err, svcerr.Validation, "accessKeyId")

	_, err = f.s.PutUserPolicy(ctx, r, &PutUserPolicyInput{UserName: "bob", PolicyName: "p",
		PolicyDocument: doc(`{"Effect":"Allow","Action":"iam:GetAccessKeyLastUsed","Resource":"arn:aws:iam::111122223333:user/alice"}`)})
	f.must(t, err)
	if _, err := f.s.GetAccessKeyLastUsed(ctx, bob, &GetAccessKeyLastUsedInput{AccessKeyID: id}); err != nil {
		t.Errorf("bob with policy: %v", err)
	}
}
