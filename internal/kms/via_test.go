package kms

import (
	"testing"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/svcerr"
)

// TestManagedKeyViaService checks the AWS managed key of a service: created
// once, usable by the account through the service (kms:ViaService), and not
// directly.
func TestManagedKeyViaService(t *testing.T) {
	f := newFixture(t)
	arn1, err := f.s.ManagedKey(f.ctx, acct, "us-east-1", "secretsmanager")
	if err != nil {
		t.Fatal(err)
	}
	arn2, err := f.s.ManagedKey(f.ctx, acct, "us-east-1", "secretsmanager")
	if err != nil || arn1 != arn2 {
		t.Fatalf("second ManagedKey = %q, %v; want %q", arn2, err, arn1)
	}
	ec := map[string]string{"SecretARN": "arn:aws:secretsmanager:us-east-1:" + acct + ":secret:x-abcdef", "SecretVersionId": "v1"}
	via := *f.c
	via.ViaService = "secretsmanager.us-east-1.amazonaws.com"
	_, pt, blob, err := f.s.GenerateDataKeyFor(f.ctx, &via, arn1, ec)
	if err != nil {
		t.Fatalf("GenerateDataKeyFor via secretsmanager: %v", err)
	}
	got, err := f.s.DecryptFor(f.ctx, &via, arn1, blob, ec)
	if err != nil || string(got) != string(pt) {
		t.Fatalf("DecryptFor: %v", err)
	}
	if _, err := f.s.DecryptFor(f.ctx, f.c, arn1, blob, ec); svcerr.CodeOf(err) != svcerr.AccessDenied {
		t.Fatalf("direct Decrypt with the managed key: %v; want AccessDenied", err)
	}
	other := &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: "999999999999", ARN: "arn:aws:iam::999999999999:root"}, Region: "us-east-1", ViaService: via.ViaService}
	if _, err := f.s.DecryptFor(f.ctx, other, arn1, blob, ec); err == nil {
		t.Fatal("another account decrypted with the managed key")
	}
	d, err := f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: "alias/aws/secretsmanager"})
	if err != nil || d.KeyMetadata.KeyManager != ManagerAWS {
		t.Fatalf("DescribeKey alias/aws/secretsmanager: %+v, %v", d, err)
	}
}
