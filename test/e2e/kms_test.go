// This file drives every supported KMS operation and its error paths through
// the real aws-sdk-go-v2 KMS client.
package e2e

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func createKey(t *testing.T, c *kms.Client, in *kms.CreateKeyInput) *types.KeyMetadata {
	t.Helper()
	if in == nil {
		in = &kms.CreateKeyInput{}
	}
	out, err := c.CreateKey(bg(), in)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return out.KeyMetadata
}

func TestKeyManagement(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{account: "111122223333"})
	c := s.client("us-east-1")
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"all","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	m := createKey(t, c, &kms.CreateKeyInput{
		Description: aws.String("e2e key"), Policy: aws.String(policy),
		Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("core")}},
	})
	if !strings.HasPrefix(aws.ToString(m.Arn), "arn:aws:kms:us-east-1:111122223333:key/") || aws.ToString(m.AWSAccountId) != "111122223333" {
		t.Errorf("ARN/account = %s / %s", aws.ToString(m.Arn), aws.ToString(m.AWSAccountId))
	}
	if m.KeySpec != types.KeySpecSymmetricDefault || m.KeyUsage != types.KeyUsageTypeEncryptDecrypt || m.KeyState != types.KeyStateEnabled ||
		!m.Enabled || m.Origin != types.OriginTypeAwsKms || m.KeyManager != types.KeyManagerTypeCustomer || m.CreationDate == nil ||
		aws.ToString(m.Description) != "e2e key" || len(m.EncryptionAlgorithms) != 1 {
		t.Errorf("metadata = %+v", m)
	}
	if time.Since(*m.CreationDate) > time.Minute {
		t.Errorf("CreationDate = %v", m.CreationDate)
	}
	gp, err := c.GetKeyPolicy(bg(), &kms.GetKeyPolicyInput{KeyId: m.KeyId, PolicyName: aws.String("default")})
	if err != nil || aws.ToString(gp.Policy) != policy {
		t.Errorf("GetKeyPolicy = %v, %v", gp, err)
	}
	def := createKey(t, c, nil)
	gp, err = c.GetKeyPolicy(bg(), &kms.GetKeyPolicyInput{KeyId: def.KeyId})
	if err != nil || !strings.Contains(aws.ToString(gp.Policy), `"arn:aws:iam::111122223333:root"`) || !strings.Contains(aws.ToString(gp.Policy), "kms:*") {
		t.Errorf("default key policy = %v, %v", aws.ToString(gp.Policy), err)
	}

	if _, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/e2e"), TargetKeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{aws.ToString(m.KeyId), aws.ToString(m.Arn), "alias/e2e", "arn:aws:kms:us-east-1:111122223333:alias/e2e"} {
		d, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if err != nil || aws.ToString(d.KeyMetadata.KeyId) != aws.ToString(m.KeyId) {
			t.Errorf("DescribeKey(%s) = %v", id, err)
		}
	}
	_, err = c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String("alias/none")})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("DescribeKey(alias/none) = %v, want NotFoundException", err)
	}

	if _, err := c.UpdateKeyDescription(bg(), &kms.UpdateKeyDescriptionInput{KeyId: m.KeyId, Description: aws.String("renamed")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	d, _ := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: m.KeyId})
	if d.KeyMetadata.KeyState != types.KeyStateDisabled || d.KeyMetadata.Enabled || aws.ToString(d.KeyMetadata.Description) != "renamed" {
		t.Errorf("after disable/rename: %+v", d.KeyMetadata)
	}
	if _, err := c.EnableKey(bg(), &kms.EnableKeyInput{KeyId: m.Arn}); err != nil {
		t.Fatal(err)
	}
	sd, err := c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		t.Fatal(err)
	}
	if sd.KeyState != types.KeyStatePendingDeletion || aws.ToInt32(sd.PendingWindowInDays) != 7 || aws.ToString(sd.KeyId) != aws.ToString(m.Arn) ||
		time.Until(*sd.DeletionDate) < 7*24*time.Hour-time.Minute {
		t.Errorf("ScheduleKeyDeletion = %+v", sd)
	}
	_, err = c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: m.KeyId})
	var inv *types.KMSInvalidStateException
	if !errors.As(err, &inv) {
		t.Errorf("second ScheduleKeyDeletion = %v", err)
	}
	for _, w := range []int32{6, 31} {
		_, err := c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: def.KeyId, PendingWindowInDays: aws.Int32(w)})
		wantCode(t, err, "ValidationException")
	}
	sd, err = c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: def.KeyId})
	if err != nil || aws.ToInt32(sd.PendingWindowInDays) != 30 {
		t.Errorf("default window = %+v, %v", sd, err)
	}
	cd, err := c.CancelKeyDeletion(bg(), &kms.CancelKeyDeletionInput{KeyId: m.KeyId})
	if err != nil || aws.ToString(cd.KeyId) != aws.ToString(m.Arn) {
		t.Fatalf("CancelKeyDeletion = %v, %v", cd, err)
	}
	d, _ = c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: m.KeyId})
	if d.KeyMetadata.KeyState != types.KeyStateDisabled || d.KeyMetadata.DeletionDate != nil {
		t.Errorf("after cancel: %+v", d.KeyMetadata)
	}
}

func TestListKeysAndAliasesPaginate(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	ids := map[string]bool{}
	for i := range 7 {
		m := createKey(t, c, nil)
		ids[aws.ToString(m.KeyId)] = true
		if _, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/page/" + string(rune('a'+i))), TargetKeyId: m.KeyId}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	pages := 0
	p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(3)})
	for p.HasMorePages() {
		out, err := p.NextPage(bg())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, k := range out.Keys {
			if seen[aws.ToString(k.KeyId)] {
				t.Errorf("key %s listed twice", aws.ToString(k.KeyId))
			}
			seen[aws.ToString(k.KeyId)] = true
		}
	}
	if len(seen) != 7 || pages != 3 {
		t.Errorf("listed %d keys in %d pages, want 7 in 3", len(seen), pages)
	}
	var aliases []string
	ap := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{Limit: aws.Int32(2)})
	for ap.HasMorePages() {
		out, err := ap.NextPage(bg())
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range out.Aliases {
			aliases = append(aliases, aws.ToString(a.AliasName))
		}
	}
	if len(aliases) != 7 || aliases[0] != "alias/page/a" || aliases[6] != "alias/page/g" {
		t.Errorf("aliases = %v", aliases)
	}
	_, err := c.ListKeys(bg(), &kms.ListKeysInput{Marker: aws.String("not-a-marker")})
	var im *types.InvalidMarkerException
	if !errors.As(err, &im) {
		t.Errorf("bad marker: %v", err)
	}
}

func TestAliasesAndTags(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	a, b := createKey(t, c, nil), createKey(t, c, nil)
	if _, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: a.KeyId}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: b.KeyId})
	var ae *types.AlreadyExistsException
	if !errors.As(err, &ae) {
		t.Errorf("duplicate alias: %v", err)
	}
	_, err = c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: b.KeyId})
	var ian *types.InvalidAliasNameException
	if !errors.As(err, &ian) {
		t.Errorf("reserved alias: %v", err)
	}
	if _, err := c.UpdateAlias(bg(), &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: b.KeyId}); err != nil {
		t.Fatal(err)
	}
	la, err := c.ListAliases(bg(), &kms.ListAliasesInput{KeyId: b.KeyId})
	if err != nil || len(la.Aliases) != 1 || aws.ToString(la.Aliases[0].TargetKeyId) != aws.ToString(b.KeyId) {
		t.Errorf("ListAliases(b) = %+v, %v", la, err)
	}
	if _, err := c.DeleteAlias(bg(), &kms.DeleteAliasInput{AliasName: aws.String("alias/app")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteAlias(bg(), &kms.DeleteAliasInput{AliasName: aws.String("alias/app")})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("deleting a missing alias: %v", err)
	}

	tags := []types.Tag{{TagKey: aws.String("b"), TagValue: aws.String("2")}, {TagKey: aws.String("a"), TagValue: aws.String("1")}}
	if _, err := c.TagResource(bg(), &kms.TagResourceInput{KeyId: a.KeyId, Tags: tags}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(bg(), &kms.UntagResourceInput{KeyId: a.KeyId, TagKeys: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	lt, err := c.ListResourceTags(bg(), &kms.ListResourceTagsInput{KeyId: a.KeyId})
	if err != nil || len(lt.Tags) != 1 || aws.ToString(lt.Tags[0].TagKey) != "a" || aws.ToString(lt.Tags[0].TagValue) != "1" {
		t.Errorf("ListResourceTags = %+v, %v", lt, err)
	}
	_, err = c.TagResource(bg(), &kms.TagResourceInput{KeyId: a.KeyId, Tags: []types.Tag{{TagKey: aws.String("aws:x"), TagValue: aws.String("")}}})
	var te *types.TagException
	if !errors.As(err, &te) {
		t.Errorf("aws: tag: %v", err)
	}
}

func TestCryptography(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	other := createKey(t, c, nil)
	ec := map[string]string{"app": "e2e", "tenant": "42"}
	for _, n := range []int{1, 1000, 4096} {
		pt := bytes.Repeat([]byte{byte(n)}, n)
		enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: pt, EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Encrypt %d bytes: %v", n, err)
		}
		if aws.ToString(enc.KeyId) != aws.ToString(m.Arn) || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
			t.Errorf("Encrypt output = %+v", enc)
		}
		dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
		if err != nil || !bytes.Equal(dec.Plaintext, pt) || aws.ToString(dec.KeyId) != aws.ToString(m.Arn) {
			t.Errorf("Decrypt %d bytes: %v", n, err)
		}
	}
	_, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: make([]byte, 4097)})
	wantCode(t, err, "ValidationException")

	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("secret"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	var ic *types.InvalidCiphertextException
	for name, ctx := range map[string]map[string]string{"missing": nil, "different": {"app": "e2e", "tenant": "43"}, "extra": {"app": "e2e", "tenant": "42", "x": "y"}} {
		if _, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx}); !errors.As(err, &ic) {
			t.Errorf("%s context: %v", name, err)
		}
	}
	flipped := bytes.Clone(enc.CiphertextBlob)
	flipped[len(flipped)/2] ^= 0x40
	if _, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: flipped, EncryptionContext: ec}); !errors.As(err, &ic) {
		t.Errorf("flipped byte: %v", err)
	}
	var ik *types.IncorrectKeyException
	if _, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: other.KeyId}); !errors.As(err, &ik) {
		t.Errorf("Decrypt with another KeyId: %v", err)
	}
	if _, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: m.Arn}); err != nil {
		t.Errorf("Decrypt with matching KeyId: %v", err)
	}

	re, err := c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: other.KeyId})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(re.SourceKeyId) != aws.ToString(m.Arn) || aws.ToString(re.KeyId) != aws.ToString(other.Arn) {
		t.Errorf("ReEncrypt = %+v", re)
	}
	if dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob}); err != nil || string(dec.Plaintext) != "secret" {
		t.Errorf("Decrypt after ReEncrypt: %v", err)
	}

	for spec, size := range map[types.DataKeySpec]int{types.DataKeySpecAes256: 32, types.DataKeySpecAes128: 16} {
		dk, err := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: spec, EncryptionContext: ec})
		if err != nil || len(dk.Plaintext) != size {
			t.Fatalf("GenerateDataKey %s: %v", spec, err)
		}
		dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
		if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
			t.Errorf("data key round trip: %v", err)
		}
	}
	dk, err := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, NumberOfBytes: aws.Int32(1024)})
	if err != nil || len(dk.Plaintext) != 1024 {
		t.Errorf("GenerateDataKey 1024 bytes: %v", err)
	}
	for _, in := range []*kms.GenerateDataKeyInput{
		{KeyId: m.KeyId},
		{KeyId: m.KeyId, NumberOfBytes: aws.Int32(1025)},
		{KeyId: m.KeyId, NumberOfBytes: aws.Int32(32), KeySpec: types.DataKeySpecAes256},
	} {
		_, err := c.GenerateDataKey(bg(), in)
		wantCode(t, err, "ValidationException")
	}
	wp, err := c.GenerateDataKeyWithoutPlaintext(bg(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	if dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: wp.CiphertextBlob}); err != nil || len(dec.Plaintext) != 32 {
		t.Errorf("GenerateDataKeyWithoutPlaintext blob: %v", err)
	}
	r, err := c.GenerateRandom(bg(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1024)})
	if err != nil || len(r.Plaintext) != 1024 {
		t.Errorf("GenerateRandom: %v", err)
	}
	_, err = c.GenerateRandom(bg(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(1025)})
	wantCode(t, err, "ValidationException")

	var dry *types.DryRunOperationException
	if _, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x"), DryRun: aws.Bool(true)}); !errors.As(err, &dry) {
		t.Errorf("Encrypt DryRun: %v", err)
	}
	if _, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, DryRun: aws.Bool(true)}); !errors.As(err, &dry) {
		t.Errorf("Decrypt DryRun: %v", err)
	}
	if _, err := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256, DryRun: aws.Bool(true)}); !errors.As(err, &dry) {
		t.Errorf("GenerateDataKey DryRun: %v", err)
	}
	if _, err := c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: m.KeyId, DryRun: aws.Bool(true)}); !errors.As(err, &dry) {
		t.Errorf("ReEncrypt DryRun: %v", err)
	}
}

func TestKeyStateEnforced(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	ops := func() map[string]error {
		_, e1 := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
		_, e2 := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		_, e3 := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256})
		_, e4 := c.GenerateDataKeyWithoutPlaintext(bg(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256})
		_, e5 := c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: m.KeyId})
		return map[string]error{"Encrypt": e1, "Decrypt": e2, "GenerateDataKey": e3, "GenerateDataKeyWithoutPlaintext": e4, "ReEncrypt": e5}
	}
	c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: m.KeyId})
	for op, err := range ops() {
		var de *types.DisabledException
		if !errors.As(err, &de) {
			t.Errorf("%s on a disabled key: %v", op, err)
		}
	}
	c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: aws.Int32(7)})
	for op, err := range ops() {
		var inv *types.KMSInvalidStateException
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), aws.ToString(m.Arn)+" is pending deletion.") {
			t.Errorf("%s on a key pending deletion: %v", op, err)
		}
	}
	_, err = c.EnableKey(bg(), &kms.EnableKeyInput{KeyId: m.KeyId})
	var inv *types.KMSInvalidStateException
	if !errors.As(err, &inv) {
		t.Errorf("EnableKey while pending deletion: %v", err)
	}
}

func TestRegionsAreSeparate(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{regions: "us-east-1,eu-west-1"})
	east, west := s.client("us-east-1"), s.client("eu-west-1")
	m := createKey(t, east, nil)
	var nf *types.NotFoundException
	if _, err := west.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: m.KeyId}); !errors.As(err, &nf) {
		t.Errorf("key visible from another region: %v", err)
	}
	if _, err := west.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: m.Arn}); !errors.As(err, &nf) {
		t.Errorf("key ARN usable from another region: %v", err)
	}
	enc, err := east.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	var ic *types.InvalidCiphertextException
	if _, err := west.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); !errors.As(err, &ic) {
		t.Errorf("ciphertext from another region: %v", err)
	}
	wm := createKey(t, west, nil)
	if !strings.HasPrefix(aws.ToString(wm.Arn), "arn:aws:kms:eu-west-1:000000000000:key/") {
		t.Errorf("eu-west-1 key ARN = %s", aws.ToString(wm.Arn))
	}
	lk, _ := east.ListKeys(bg(), &kms.ListKeysInput{})
	if len(lk.Keys) != 1 {
		t.Errorf("us-east-1 lists %d keys, want 1", len(lk.Keys))
	}
	_, err = s.client("ap-south-1").ListKeys(bg(), &kms.ListKeysInput{})
	wantCode(t, err, "InvalidSignatureException")
}

func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				pt := []byte{byte(w), byte(i)}
				enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: pt})
				if err != nil {
					t.Error(err)
					return
				}
				dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
				if err != nil || !bytes.Equal(dec.Plaintext, pt) {
					t.Errorf("round trip %d/%d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
