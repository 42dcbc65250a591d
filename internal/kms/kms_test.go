package kms

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

const acct = "111122223333"

func root(region string) *auth.Caller {
	return &auth.Caller{
		Principal: auth.Principal{Type: auth.Root, Account: acct, ARN: "arn:aws:iam::" + acct + ":root", UserID: acct},
		Region:    region,
	}
}

type fixture struct {
	s   *Service
	now time.Time
	c   *auth.Caller
	ctx context.Context
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), c: root("us-east-1"), ctx: context.Background()}
	f.s = New(keystore.New(memory.New()), Config{
		Now:     func() time.Time { return f.now },
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Regions: []string{"us-east-1", "eu-west-1"},
	})
	return f
}

func (f *fixture) createKey(t *testing.T) *KeyMetadata {
	t.Helper()
	out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{Description: "test"})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return out.KeyMetadata
}

func i32(v int32) *int32 { return &v }

func wantCode(t *testing.T, err error, code svcerr.Code) {
	t.Helper()
	if got := svcerr.CodeOf(err); got != code {
		t.Errorf("error = %v (code %q), want code %q", err, got, code)
	}
}

func TestCreateKeyDefaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	if m.KeySpec != "SYMMETRIC_DEFAULT" || m.KeyUsage != "ENCRYPT_DECRYPT" || m.KeyState != "Enabled" || !m.Enabled ||
		m.Origin != "AWS_KMS" || m.KeyManager != "CUSTOMER" || m.AWSAccountID != acct {
		t.Errorf("metadata = %+v", m)
	}
	if want := "arn:aws:kms:us-east-1:" + acct + ":key/" + m.KeyID; m.Arn != want {
		t.Errorf("Arn = %q, want %q", m.Arn, want)
	}
	if len(m.EncryptionAlgorithms) != 1 || m.EncryptionAlgorithms[0] != "SYMMETRIC_DEFAULT" {
		t.Errorf("EncryptionAlgorithms = %v", m.EncryptionAlgorithms)
	}
	p, err := f.s.GetKeyPolicy(f.ctx, f.c, &GetKeyPolicyInput{KeyID: m.KeyID})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Policy, `"arn:aws:iam::`+acct+`:root"`) || p.PolicyName != "default" {
		t.Errorf("default policy = %s", p.Policy)
	}
}

func TestCreateKeyValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	long := strings.Repeat("d", maxDescription+1)
	tags51 := make([]Tag, 51)
	for i := range tags51 {
		tags51[i] = Tag{TagKey: "k" + strings.Repeat("x", i), TagValue: "v"}
	}
	tests := []struct {
		name string
		in   CreateKeyInput
		code svcerr.Code
	}{
		{"unknown spec", CreateKeyInput{KeySpec: "AES_512"}, svcerr.Validation},
		{"unknown usage", CreateKeyInput{KeyUsage: "SHRED"}, svcerr.Validation},
		{"usage mismatch", CreateKeyInput{KeyUsage: "SIGN_VERIFY"}, svcerr.Validation},
		{"spec and cmk spec differ", CreateKeyInput{KeySpec: "SYMMETRIC_DEFAULT", CustomerMasterKeySpec: "RSA_2048"}, svcerr.Validation},
		{"description too long", CreateKeyInput{Description: long}, svcerr.Validation},
		{"policy not json", CreateKeyInput{Policy: "{"}, svcerr.MalformedPolicyDocument},
		{"policy without statement", CreateKeyInput{Policy: `{"Version":"2012-10-17"}`}, svcerr.MalformedPolicyDocument},
		{"aws: tag", CreateKeyInput{Tags: []Tag{{TagKey: "aws:x", TagValue: "v"}}}, svcerr.TagException},
		{"duplicate tag", CreateKeyInput{Tags: []Tag{{TagKey: "a"}, {TagKey: "a"}}}, svcerr.TagException},
		{"empty tag key", CreateKeyInput{Tags: []Tag{{TagKey: ""}}}, svcerr.Validation},
		{"51 tags", CreateKeyInput{Tags: tags51}, svcerr.LimitExceeded},
		{"custom key store", CreateKeyInput{CustomKeyStoreID: "cks-1"}, svcerr.CustomKeyStoreNotFound},
		{"unknown origin", CreateKeyInput{Origin: "MOON"}, svcerr.Validation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.CreateKey(f.ctx, f.c, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
	out, err := f.s.ListKeys(f.ctx, f.c, &ListKeysInput{})
	if err != nil || len(out.Keys) != 0 {
		t.Errorf("rejected CreateKey calls left keys: %v, %v", out, err)
	}
}

func TestEncryptDecrypt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	ec := map[string]string{"purpose": "test", "tenant": "a"}
	for _, n := range []int{1, 100, maxPlaintext} {
		pt := bytes.Repeat([]byte{0xA5}, n)
		enc, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: pt, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Encrypt(%d bytes): %v", n, err)
		}
		if enc.KeyID != m.Arn || enc.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
			t.Errorf("Encrypt output = %+v", enc)
		}
		dec, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if !bytes.Equal(dec.Plaintext, pt) || dec.KeyID != m.Arn {
			t.Errorf("Decrypt = %+v", dec)
		}
	}
	enc, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.Arn, Plaintext: []byte("x"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	other := f.createKey(t)
	flipped := bytes.Clone(enc.CiphertextBlob)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name string
		in   DecryptInput
		code svcerr.Code
	}{
		{"no context", DecryptInput{CiphertextBlob: enc.CiphertextBlob}, svcerr.InvalidCiphertext},
		{"other context", DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "test"}}, svcerr.InvalidCiphertext},
		{"flipped byte", DecryptInput{CiphertextBlob: flipped, EncryptionContext: ec}, svcerr.InvalidCiphertext},
		{"junk", DecryptInput{CiphertextBlob: []byte("junk")}, svcerr.InvalidCiphertext},
		{"empty blob", DecryptInput{CiphertextBlob: []byte{}}, svcerr.Validation},
		{"no blob", DecryptInput{}, svcerr.Validation},
		{"too long", DecryptInput{CiphertextBlob: make([]byte, maxCiphertext+1)}, svcerr.Validation},
		{"wrong key id", DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyID: other.KeyID}, svcerr.IncorrectKey},
		{"unknown key id", DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyID: "alias/none"}, svcerr.NotFound},
		{"asymmetric algorithm", DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, EncryptionAlgorithm: "RSAES_OAEP_SHA_1"}, svcerr.InvalidKeyUsage},
		{"unknown algorithm", DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, EncryptionAlgorithm: "ROT13"}, svcerr.Validation},
		{"dry run", DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, DryRun: true}, svcerr.DryRunOperation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.Decrypt(f.ctx, f.c, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
	// A key ID that matches the blob is accepted in every form.
	for _, id := range []string{m.KeyID, m.Arn} {
		if _, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyID: id}); err != nil {
			t.Errorf("Decrypt with KeyId %s: %v", id, err)
		}
	}
}

func TestEncryptValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	tests := []struct {
		name string
		in   EncryptInput
		code svcerr.Code
	}{
		{"no key", EncryptInput{Plaintext: []byte("x")}, svcerr.Validation},
		{"no plaintext", EncryptInput{KeyID: m.KeyID}, svcerr.Validation},
		{"empty plaintext", EncryptInput{KeyID: m.KeyID, Plaintext: []byte{}}, svcerr.Validation},
		{"4097 bytes", EncryptInput{KeyID: m.KeyID, Plaintext: make([]byte, 4097)}, svcerr.Validation},
		{"unknown key", EncryptInput{KeyID: "00000000-0000-4000-8000-000000000000", Plaintext: []byte("x")}, svcerr.NotFound},
		{"unknown alias", EncryptInput{KeyID: "alias/none", Plaintext: []byte("x")}, svcerr.NotFound},
		{"malformed key id", EncryptInput{KeyID: "not a key", Plaintext: []byte("x")}, svcerr.NotFound},
		{"other region arn", EncryptInput{KeyID: strings.Replace(m.Arn, "us-east-1", "eu-west-1", 1), Plaintext: []byte("x")}, svcerr.NotFound},
		{"11 grant tokens", EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x"), GrantTokens: make([]string, 11)}, svcerr.Validation},
		{"dry run", EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x"), DryRun: true}, svcerr.DryRunOperation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.Encrypt(f.ctx, f.c, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
}

func TestKeyStates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	enc, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	crypto := func() []error {
		_, e1 := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})
		_, e2 := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		_, e3 := f.s.GenerateDataKey(f.ctx, f.c, &GenerateDataKeyInput{KeyID: m.KeyID, KeySpec: "AES_256"})
		_, e4 := f.s.ReEncrypt(f.ctx, f.c, &ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyID: m.KeyID})
		return []error{e1, e2, e3, e4}
	}
	if _, err := f.s.DisableKey(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	for i, err := range crypto() {
		if svcerr.CodeOf(err) != svcerr.Disabled {
			t.Errorf("disabled key, op %d: %v", i, err)
		} else if !strings.Contains(err.Error(), m.Arn+" is disabled.") {
			t.Errorf("disabled message = %q", err)
		}
	}
	sd, err := f.s.ScheduleKeyDeletion(f.ctx, f.c, &ScheduleKeyDeletionInput{KeyID: m.KeyID, PendingWindowInDays: i32(7)})
	if err != nil {
		t.Fatal(err)
	}
	if sd.KeyState != "PendingDeletion" || sd.PendingWindowInDays != 7 || !sd.DeletionDate.Equal(f.now.Add(7*24*time.Hour)) || sd.KeyID != m.Arn {
		t.Errorf("ScheduleKeyDeletion = %+v", sd)
	}
	for i, err := range crypto() {
		if svcerr.CodeOf(err) != svcerr.InvalidState || !strings.Contains(err.Error(), "is pending deletion.") {
			t.Errorf("pending deletion, op %d: %v", i, err)
		}
	}
	_, err = f.s.EnableKey(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.InvalidState)
	_, err = f.s.ScheduleKeyDeletion(f.ctx, f.c, &ScheduleKeyDeletionInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.InvalidState)
	_, err = f.s.TagResource(f.ctx, f.c, &TagResourceInput{KeyID: m.KeyID, Tags: []Tag{{TagKey: "a"}}})
	wantCode(t, err, svcerr.InvalidState)
	d, err := f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: m.KeyID})
	if err != nil || d.KeyMetadata.DeletionDate == nil || *d.KeyMetadata.PendingDeletionWindowInDays != 7 {
		t.Errorf("DescribeKey while pending deletion = %+v, %v", d, err)
	}
	if _, err := f.s.CancelKeyDeletion(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	d, _ = f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: m.KeyID})
	if d.KeyMetadata.KeyState != "Disabled" || d.KeyMetadata.DeletionDate != nil {
		t.Errorf("after CancelKeyDeletion: %+v", d.KeyMetadata)
	}
	_, err = f.s.CancelKeyDeletion(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.InvalidState)
	if _, err := f.s.EnableKey(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	for i, err := range crypto() {
		if err != nil {
			t.Errorf("re-enabled key, op %d: %v", i, err)
		}
	}
	for _, w := range []int32{6, 31, 0, -1} {
		_, err := f.s.ScheduleKeyDeletion(f.ctx, f.c, &ScheduleKeyDeletionInput{KeyID: m.KeyID, PendingWindowInDays: i32(w)})
		wantCode(t, err, svcerr.Validation)
	}
	_, err = f.s.EnableKey(f.ctx, f.c, &KeyIDInput{KeyID: "alias/x"})
	wantCode(t, err, svcerr.NotFound)
}

func TestAliases(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.createKey(t), f.createKey(t)
	if _, err := f.s.CreateAlias(f.ctx, f.c, &AliasInput{AliasName: "alias/app", TargetKeyID: a.KeyID}); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name string
		in   AliasInput
		code svcerr.Code
	}{
		{"exists", AliasInput{AliasName: "alias/app", TargetKeyID: b.KeyID}, svcerr.AlreadyExists},
		{"reserved", AliasInput{AliasName: "alias/aws/x", TargetKeyID: a.KeyID}, svcerr.InvalidAliasName},
		{"no prefix", AliasInput{AliasName: "app2", TargetKeyID: a.KeyID}, svcerr.InvalidAliasName},
		{"bad chars", AliasInput{AliasName: "alias/a b", TargetKeyID: a.KeyID}, svcerr.Validation},
		{"alias target", AliasInput{AliasName: "alias/app2", TargetKeyID: "alias/app"}, svcerr.NotFound},
		{"missing target", AliasInput{AliasName: "alias/app2", TargetKeyID: "00000000-0000-4000-8000-000000000000"}, svcerr.NotFound},
		{"no name", AliasInput{TargetKeyID: a.KeyID}, svcerr.Validation},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.CreateAlias(f.ctx, f.c, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
	for _, id := range []string{"alias/app", "arn:aws:kms:us-east-1:" + acct + ":alias/app"} {
		d, err := f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: id})
		if err != nil || d.KeyMetadata.KeyID != a.KeyID {
			t.Errorf("DescribeKey(%s) = %v, %v", id, d, err)
		}
	}
	if _, err := f.s.UpdateAlias(f.ctx, f.c, &AliasInput{AliasName: "alias/app", TargetKeyID: b.KeyID}); err != nil {
		t.Fatal(err)
	}
	enc, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: "alias/app", Plaintext: []byte("x")})
	if err != nil || enc.KeyID != b.Arn {
		t.Errorf("Encrypt via updated alias = %+v, %v", enc, err)
	}
	for i := range 3 {
		name := "alias/page-" + string(rune('a'+i))
		if _, err := f.s.CreateAlias(f.ctx, f.c, &AliasInput{AliasName: name, TargetKeyID: a.KeyID}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	marker := ""
	for {
		out, err := f.s.ListAliases(f.ctx, f.c, &ListAliasesInput{Limit: i32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.Aliases {
			names = append(names, a.AliasName)
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	if strings.Join(names, ",") != "alias/app,alias/page-a,alias/page-b,alias/page-c" {
		t.Errorf("paged aliases = %v", names)
	}
	out, err := f.s.ListAliases(f.ctx, f.c, &ListAliasesInput{KeyID: a.KeyID})
	if err != nil || len(out.Aliases) != 3 {
		t.Errorf("ListAliases(KeyId=a) = %+v, %v", out, err)
	}
	if _, err := f.s.DeleteAlias(f.ctx, f.c, &DeleteAliasInput{AliasName: "alias/app"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.DeleteAlias(f.ctx, f.c, &DeleteAliasInput{AliasName: "alias/app"})
	wantCode(t, err, svcerr.NotFound)
	_, err = f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: "alias/app"})
	wantCode(t, err, svcerr.NotFound)
}

func TestTags(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	if _, err := f.s.TagResource(f.ctx, f.c, &TagResourceInput{KeyID: m.KeyID, Tags: []Tag{{"b", "2"}, {"a", "1"}, {"c", "3"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.TagResource(f.ctx, f.c, &TagResourceInput{KeyID: m.Arn, Tags: []Tag{{"a", "one"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.UntagResource(f.ctx, f.c, &UntagResourceInput{KeyID: m.KeyID, TagKeys: []string{"c", "zz"}}); err != nil {
		t.Fatal(err)
	}
	out, err := f.s.ListResourceTags(f.ctx, f.c, &ListResourceTagsInput{KeyID: m.KeyID, Limit: i32(1)})
	if err != nil || len(out.Tags) != 1 || out.Tags[0] != (Tag{"a", "one"}) || !out.Truncated {
		t.Fatalf("page 1 = %+v, %v", out, err)
	}
	out, err = f.s.ListResourceTags(f.ctx, f.c, &ListResourceTagsInput{KeyID: m.KeyID, Marker: out.NextMarker})
	if err != nil || len(out.Tags) != 1 || out.Tags[0] != (Tag{"b", "2"}) || out.Truncated {
		t.Errorf("page 2 = %+v, %v", out, err)
	}
	_, err = f.s.ListResourceTags(f.ctx, f.c, &ListResourceTagsInput{KeyID: m.KeyID, Limit: i32(51)})
	wantCode(t, err, svcerr.Validation)
}

func TestListKeysPagination(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	want := map[string]bool{}
	for range 5 {
		want[f.createKey(t).KeyID] = true
	}
	got := map[string]bool{}
	marker := ""
	for pages := 0; ; pages++ {
		out, err := f.s.ListKeys(f.ctx, f.c, &ListKeysInput{Limit: i32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Keys) > 2 {
			t.Errorf("page of %d keys with limit 2", len(out.Keys))
		}
		for _, k := range out.Keys {
			got[k.KeyID] = true
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	if len(got) != len(want) {
		t.Errorf("listed %d keys, created %d", len(got), len(want))
	}
	_, err := f.s.ListKeys(f.ctx, f.c, &ListKeysInput{Marker: "garbage"})
	wantCode(t, err, svcerr.InvalidMarker)
	_, err = f.s.ListKeys(f.ctx, f.c, &ListKeysInput{Limit: i32(1001)})
	wantCode(t, err, svcerr.Validation)
	other, err := f.s.ListKeys(f.ctx, root("eu-west-1"), &ListKeysInput{})
	if err != nil || len(other.Keys) != 0 {
		t.Errorf("keys leaked into another region: %+v, %v", other, err)
	}
}

func TestDataKeys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	for _, tc := range []struct {
		in   GenerateDataKeyInput
		size int
	}{
		{GenerateDataKeyInput{KeySpec: "AES_256"}, 32},
		{GenerateDataKeyInput{KeySpec: "AES_128"}, 16},
		{GenerateDataKeyInput{NumberOfBytes: i32(1)}, 1},
		{GenerateDataKeyInput{NumberOfBytes: i32(1024)}, 1024},
	} {
		tc.in.KeyID = m.KeyID
		tc.in.EncryptionContext = map[string]string{"k": "v"}
		out, err := f.s.GenerateDataKey(f.ctx, f.c, &tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Plaintext) != tc.size {
			t.Errorf("data key of %d bytes, want %d", len(out.Plaintext), tc.size)
		}
		dec, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: out.CiphertextBlob, EncryptionContext: tc.in.EncryptionContext})
		if err != nil || !bytes.Equal(dec.Plaintext, out.Plaintext) {
			t.Errorf("data key does not decrypt to its plaintext: %v", err)
		}
	}
	for _, in := range []GenerateDataKeyInput{
		{KeyID: m.KeyID},
		{KeyID: m.KeyID, KeySpec: "AES_256", NumberOfBytes: i32(32)},
		{KeyID: m.KeyID, NumberOfBytes: i32(0)},
		{KeyID: m.KeyID, NumberOfBytes: i32(1025)},
		{KeyID: m.KeyID, KeySpec: "AES_512"},
	} {
		_, err := f.s.GenerateDataKey(f.ctx, f.c, &in)
		wantCode(t, err, svcerr.Validation)
	}
	wp, err := f.s.GenerateDataKeyWithoutPlaintext(f.ctx, f.c, &GenerateDataKeyInput{KeyID: m.KeyID, KeySpec: "AES_256"})
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: wp.CiphertextBlob}); err != nil || len(dec.Plaintext) != 32 {
		t.Errorf("GenerateDataKeyWithoutPlaintext blob: %v", err)
	}
	for _, n := range []int32{0, 1025} {
		_, err := f.s.GenerateRandom(f.ctx, f.c, &GenerateRandomInput{NumberOfBytes: i32(n)})
		wantCode(t, err, svcerr.Validation)
	}
	r1, err1 := f.s.GenerateRandom(f.ctx, f.c, &GenerateRandomInput{NumberOfBytes: i32(32)})
	r2, err2 := f.s.GenerateRandom(f.ctx, f.c, &GenerateRandomInput{NumberOfBytes: i32(32)})
	if err1 != nil || err2 != nil || len(r1.Plaintext) != 32 || bytes.Equal(r1.Plaintext, r2.Plaintext) {
		t.Errorf("GenerateRandom: %v %v", err1, err2)
	}
}

func TestReEncrypt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := f.createKey(t), f.createKey(t)
	enc, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: a.KeyID, Plaintext: []byte("move me"), EncryptionContext: map[string]string{"x": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	re, err := f.s.ReEncrypt(f.ctx, f.c, &ReEncryptInput{
		CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: map[string]string{"x": "1"},
		DestinationKeyID: b.KeyID, DestinationEncryptionContext: map[string]string{"y": "2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if re.SourceKeyID != a.Arn || re.KeyID != b.Arn {
		t.Errorf("ReEncrypt = %+v", re)
	}
	dec, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: map[string]string{"y": "2"}})
	if err != nil || string(dec.Plaintext) != "move me" || dec.KeyID != b.Arn {
		t.Errorf("Decrypt after ReEncrypt = %+v, %v", dec, err)
	}
	_, err = f.s.ReEncrypt(f.ctx, f.c, &ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyID: b.KeyID})
	wantCode(t, err, svcerr.InvalidCiphertext)
	_, err = f.s.ReEncrypt(f.ctx, f.c, &ReEncryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, svcerr.Validation)
}

// TestOtherAccountDenied checks the authorization hook: another account's
// root may not use a key even when it names it by ARN.
func TestOtherAccountDenied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	stranger := &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: "999999999999", ARN: "arn:aws:iam::999999999999:root"}, Region: "us-east-1"}
	_, err := f.s.Encrypt(f.ctx, stranger, &EncryptInput{KeyID: m.Arn, Plaintext: []byte("x")})
	wantCode(t, err, svcerr.AccessDenied)
	if err != nil && !strings.Contains(err.Error(), "arn:aws:iam::999999999999:root is not authorized to perform: kms:Encrypt") {
		t.Errorf("AccessDenied message = %q", err)
	}
	_, err = f.s.DescribeKey(f.ctx, stranger, &DescribeKeyInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.NotFound)
}
