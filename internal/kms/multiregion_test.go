package kms

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/arn"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

// The regions the multi-Region tests' deployment serves.
const (
	east = "us-east-1"
	west = "eu-west-1"
	apse = "ap-southeast-2"
	// unserved is a well-formed region the deployment does not serve.
	unserved = "us-west-2"
)

// mrFixture is a service serving three regions over a memory store the
// test can list, with a caller per region.
type mrFixture struct {
	*fixture
	st      *memory.Backend
	callers map[string]*auth.Caller
}

func newMRFixture(t *testing.T) *mrFixture {
	t.Helper()
	f := &mrFixture{
		fixture: &fixture{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), c: root(east), ctx: context.Background()},
		st:      memory.New(),
		callers: map[string]*auth.Caller{east: root(east), west: root(west), apse: root(apse), unserved: root(unserved)},
	}
	f.s = New(keystore.New(f.st), Config{
		Now:     func() time.Time { return f.now },
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Regions: []string{east, west, apse},
	})
	return f
}

// in returns the caller signing for region.
func (f *mrFixture) in(region string) *auth.Caller { return f.callers[region] }

func (f *mrFixture) createMRK(t *testing.T, in CreateKeyInput) *KeyMetadata {
	t.Helper()
	in.MultiRegion = true
	out, err := f.s.CreateKey(f.ctx, f.in(east), &in)
	if err != nil {
		t.Fatalf("CreateKey(MultiRegion): %v", err)
	}
	return out.KeyMetadata
}

func (f *mrFixture) replicate(t *testing.T, from, keyID, to string) *ReplicateKeyOutput {
	t.Helper()
	out, err := f.s.ReplicateKey(f.ctx, f.in(from), &ReplicateKeyInput{KeyID: keyID, ReplicaRegion: to})
	if err != nil {
		t.Fatalf("ReplicateKey(%s → %s): %v", from, to, err)
	}
	return out
}

func (f *mrFixture) describe(t *testing.T, region, keyID string) *KeyMetadata {
	t.Helper()
	out, err := f.s.DescribeKey(f.ctx, f.in(region), &DescribeKeyInput{KeyID: keyID})
	if err != nil {
		t.Fatalf("DescribeKey in %s: %v", region, err)
	}
	return out.KeyMetadata
}

func keyARNIn(region, id string) string { return arn.KeyARN("aws", region, acct, id) }

// wantConfig checks m's MultiRegionConfiguration against the expected role,
// primary region and replica regions.
func wantConfig(t *testing.T, m *KeyMetadata, typ, primary string, replicas ...string) {
	t.Helper()
	c := m.MultiRegionConfiguration
	if !m.MultiRegion || c == nil {
		t.Fatalf("%s: MultiRegion %v, configuration %+v", m.Arn, m.MultiRegion, c)
	}
	if c.MultiRegionKeyType != typ {
		t.Errorf("%s: MultiRegionKeyType %s, want %s", m.Arn, c.MultiRegionKeyType, typ)
	}
	if c.PrimaryKey == nil || c.PrimaryKey.Region != primary || c.PrimaryKey.Arn != keyARNIn(primary, m.KeyID) {
		t.Errorf("%s: PrimaryKey %+v, want %s", m.Arn, c.PrimaryKey, keyARNIn(primary, m.KeyID))
	}
	if c.ReplicaKeys == nil {
		t.Errorf("%s: ReplicaKeys is null, want a list", m.Arn)
	}
	var got []string
	for _, r := range c.ReplicaKeys {
		if r.Arn != keyARNIn(r.Region, m.KeyID) {
			t.Errorf("%s: replica %+v has the wrong ARN", m.Arn, r)
		}
		got = append(got, r.Region)
	}
	slices.Sort(replicas)
	if !slices.Equal(got, replicas) {
		t.Errorf("%s: ReplicaKeys regions %v, want %v", m.Arn, got, replicas)
	}
}

func sameTime(a, b *epoch.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b.Time)
}

var mrkID = regexp.MustCompile(`^mrk-[0-9a-f]{32}$`)

// TestMultiRegionKeyTypes creates a multi-Region key of each kind AWS
// allows, replicates it, and uses the material across the two regions in
// both directions.
func TestMultiRegionKeyTypes(t *testing.T) {
	t.Parallel()
	msg := []byte("multi-Region message")
	tests := []struct {
		spec, usage string
		// use produces something in region a with key id and checks it in region b.
		use func(f *mrFixture, id, a, b string) error
	}{
		{"SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", func(f *mrFixture, id, a, b string) error {
			enc, err := f.s.Encrypt(f.ctx, f.in(a), &EncryptInput{KeyID: id, Plaintext: msg, EncryptionContext: map[string]string{"k": "v"}})
			if err != nil {
				return err
			}
			dec, err := f.s.Decrypt(f.ctx, f.in(b), &DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"k": "v"}})
			if err != nil {
				return err
			}
			if !bytes.Equal(dec.Plaintext, msg) || dec.KeyID != keyARNIn(b, id) {
				t.Errorf("Decrypt in %s = %q by %s", b, dec.Plaintext, dec.KeyID)
			}
			return nil
		}},
		{"SM4", "ENCRYPT_DECRYPT", func(f *mrFixture, id, a, b string) error {
			gen, err := f.s.GenerateDataKey(f.ctx, f.in(a), &GenerateDataKeyInput{KeyID: id, KeySpec: "AES_256"})
			if err != nil {
				return err
			}
			dec, err := f.s.Decrypt(f.ctx, f.in(b), &DecryptInput{CiphertextBlob: gen.CiphertextBlob})
			if err != nil {
				return err
			}
			if !bytes.Equal(dec.Plaintext, gen.Plaintext) {
				t.Errorf("data key decrypted in %s differs", b)
			}
			return nil
		}},
		{"HMAC_256", "GENERATE_VERIFY_MAC", func(f *mrFixture, id, a, b string) error {
			mac, err := f.s.GenerateMac(f.ctx, f.in(a), &GenerateMacInput{KeyID: id, Message: msg, MacAlgorithm: "HMAC_SHA_256"})
			if err != nil {
				return err
			}
			v, err := f.s.VerifyMac(f.ctx, f.in(b), &VerifyMacInput{KeyID: id, Message: msg, MacAlgorithm: "HMAC_SHA_256", Mac: mac.Mac})
			if err != nil {
				return err
			}
			if !v.MacValid {
				t.Errorf("MAC from %s invalid in %s", a, b)
			}
			return nil
		}},
		{"ECC_NIST_P256", "SIGN_VERIFY", func(f *mrFixture, id, a, b string) error {
			sig, err := f.s.Sign(f.ctx, f.in(a), &SignInput{KeyID: id, Message: msg, SigningAlgorithm: "ECDSA_SHA_256"})
			if err != nil {
				return err
			}
			v, err := f.s.Verify(f.ctx, f.in(b), &VerifyInput{KeyID: id, Message: msg, Signature: sig.Signature, SigningAlgorithm: "ECDSA_SHA_256"})
			if err != nil {
				return err
			}
			if !v.SignatureValid {
				t.Errorf("signature from %s invalid in %s", a, b)
			}
			return nil
		}},
		{"RSA_2048", "ENCRYPT_DECRYPT", func(f *mrFixture, id, a, b string) error {
			enc, err := f.s.Encrypt(f.ctx, f.in(a), &EncryptInput{KeyID: id, Plaintext: msg, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
			if err != nil {
				return err
			}
			dec, err := f.s.Decrypt(f.ctx, f.in(b), &DecryptInput{KeyID: id, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: "RSAES_OAEP_SHA_256"})
			if err != nil {
				return err
			}
			if !bytes.Equal(dec.Plaintext, msg) {
				t.Errorf("RSA decrypt in %s = %q", b, dec.Plaintext)
			}
			return nil
		}},
	}
	for _, tc := range tests {
		t.Run(tc.spec+"/"+tc.usage, func(t *testing.T) {
			t.Parallel()
			f := newMRFixture(t)
			m := f.createMRK(t, CreateKeyInput{KeySpec: tc.spec, KeyUsage: tc.usage})
			if !mrkID.MatchString(m.KeyID) || !arn.IsKeyID(m.KeyID) {
				t.Errorf("KeyId %q is not mrk- and 32 lowercase hex digits", m.KeyID)
			}
			if _, err := arn.ParseKeyRef(m.Arn); err != nil {
				t.Errorf("ParseKeyRef(%s): %v", m.Arn, err)
			}
			wantConfig(t, m, "PRIMARY", east)
			f.replicate(t, east, m.KeyID, west)
			for _, dir := range [][2]string{{east, west}, {west, east}} {
				if err := tc.use(f, m.KeyID, dir[0], dir[1]); err != nil {
					t.Errorf("%s → %s: %v", dir[0], dir[1], err)
				}
			}
			pub := func(region string) []byte {
				out, err := f.s.GetPublicKey(f.ctx, f.in(region), &GetPublicKeyInput{KeyID: m.KeyID})
				if err != nil {
					return nil
				}
				return out.PublicKey
			}
			if !bytes.Equal(pub(east), pub(west)) {
				t.Error("GetPublicKey differs between primary and replica")
			}
		})
	}
}

func TestCreateMultiRegionKeyRefusals(t *testing.T) {
	t.Parallel()
	f := newMRFixture(t)
	_, err := f.s.CreateKey(f.ctx, f.in(east), &CreateKeyInput{MultiRegion: true, Origin: OriginExternal})
	wantCode(t, err, svcerr.UnsupportedOperation)
	_, err = f.s.CreateKey(f.ctx, f.in(east), &CreateKeyInput{MultiRegion: true, CustomKeyStoreID: "cks-1234567890abcdef0"})
	wantCode(t, err, svcerr.CustomKeyStoreNotFound)
	single := f.createKey(t)
	if single.MultiRegion || single.MultiRegionConfiguration != nil || strings.HasPrefix(single.KeyID, "mrk-") {
		t.Errorf("single-Region key shows multi-Region metadata: %+v", single)
	}
}

// TestReplicateKey replicates a primary key, describes both sides, and uses
// each side's ciphertext in the other region.
func TestReplicateKey(t *testing.T) {
	t.Parallel()
	f := newMRFixture(t)
	m := f.createMRK(t, CreateKeyInput{Description: "primary", Tags: []Tag{{TagKey: "side", TagValue: "primary"}}})
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"kms:*","Resource":"*"}]}`
	out, err := f.s.ReplicateKey(f.ctx, f.in(east), &ReplicateKeyInput{
		KeyID: m.Arn, ReplicaRegion: west, Description: "replica", Policy: policy,
		Tags: []Tag{{TagKey: "side", TagValue: "replica"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.ReplicaKeyMetadata
	if r.KeyID != m.KeyID || r.Arn != keyARNIn(west, m.KeyID) || r.KeyState != "Enabled" || !r.Enabled || r.Description != "replica" {
		t.Errorf("ReplicaKeyMetadata = %+v", r)
	}
	if out.ReplicaPolicy != policy || len(out.ReplicaTags) != 1 || out.ReplicaTags[0].TagValue != "replica" {
		t.Errorf("ReplicaPolicy %q, ReplicaTags %+v", out.ReplicaPolicy, out.ReplicaTags)
	}
	wantConfig(t, r, "REPLICA", east, west)
	p, rd := f.describe(t, east, m.KeyID), f.describe(t, west, m.KeyID)
	wantConfig(t, p, "PRIMARY", east, west)
	wantConfig(t, rd, "REPLICA", east, west)
	if p.Description != "primary" || rd.Description != "replica" {
		t.Errorf("descriptions %q / %q: not independent", p.Description, rd.Description)
	}
	if rd.KeySpec != p.KeySpec || rd.KeyUsage != p.KeyUsage || rd.Origin != p.Origin || rd.CurrentKeyMaterialID != p.CurrentKeyMaterialID || rd.CurrentKeyMaterialID == "" {
		t.Errorf("shared properties differ: primary %+v, replica %+v", p, rd)
	}
	tags, _ := f.s.ListResourceTags(f.ctx, f.in(west), &ListResourceTagsInput{KeyID: m.KeyID})
	if len(tags.Tags) != 1 || tags.Tags[0].TagValue != "replica" {
		t.Errorf("replica tags = %+v", tags.Tags)
	}

	// A replica with no Policy gets the default key policy.
	out2 := f.replicate(t, east, m.KeyID, apse)
	if out2.ReplicaPolicy != defaultKeyPolicy("aws", acct) || out2.ReplicaTags == nil || len(out2.ReplicaTags) != 0 || out2.ReplicaKeyMetadata.Description != "" {
		t.Errorf("defaults: policy %q, tags %+v, description %q", out2.ReplicaPolicy, out2.ReplicaTags, out2.ReplicaKeyMetadata.Description)
	}
	for _, region := range []string{east, west, apse} {
		want := "REPLICA"
		if region == east {
			want = "PRIMARY"
		}
		wantConfig(t, f.describe(t, region, m.KeyID), want, east, west, apse)
	}

	// Ciphertext made in any region decrypts in every other.
	ec := map[string]string{"purpose": "mrk"}
	for _, from := range []string{east, west, apse} {
		enc, err := f.s.Encrypt(f.ctx, f.in(from), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte(from), EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Encrypt in %s: %v", from, err)
		}
		for _, to := range []string{east, west, apse} {
			dec, err := f.s.Decrypt(f.ctx, f.in(to), &DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyID: keyARNIn(to, m.KeyID)})
			if err != nil || string(dec.Plaintext) != from {
				t.Errorf("encrypt in %s, decrypt in %s: %v", from, to, err)
			}
		}
	}

	// A replica is an ordinary key of its region.
	lk, _ := f.s.ListKeys(f.ctx, f.in(west), &ListKeysInput{})
	if len(lk.Keys) != 1 || lk.Keys[0].KeyArn != keyARNIn(west, m.KeyID) {
		t.Errorf("ListKeys in %s = %+v", west, lk.Keys)
	}
	if _, err := f.s.CreateAlias(f.ctx, f.in(west), &AliasInput{AliasName: "alias/west-only", TargetKeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	_, err = f.s.DescribeKey(f.ctx, f.in(east), &DescribeKeyInput{KeyID: "alias/west-only"})
	wantCode(t, err, svcerr.NotFound)
	f.s.DisableKey(f.ctx, f.in(west), &KeyIDInput{KeyID: m.KeyID})
	_, err = f.s.Encrypt(f.ctx, f.in(west), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})
	wantCode(t, err, svcerr.Disabled)
	if _, err := f.s.Encrypt(f.ctx, f.in(east), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")}); err != nil {
		t.Errorf("disabling the replica disabled the primary: %v", err)
	}
}

func TestReplicateKeyErrors(t *testing.T) {
	t.Parallel()
	f := newMRFixture(t)
	mrk := f.createMRK(t, CreateKeyInput{})
	f.replicate(t, east, mrk.KeyID, west)
	single := f.createKey(t)
	disabled := f.createMRK(t, CreateKeyInput{})
	f.s.DisableKey(f.ctx, f.in(east), &KeyIDInput{KeyID: disabled.KeyID})
	f.s.CreateAlias(f.ctx, f.in(east), &AliasInput{AliasName: "alias/mrk", TargetKeyID: mrk.KeyID})
	deleting := f.createMRK(t, CreateKeyInput{})
	f.replicate(t, east, deleting.KeyID, apse)
	f.s.ScheduleKeyDeletion(f.ctx, f.in(apse), &ScheduleKeyDeletionInput{KeyID: deleting.KeyID, PendingWindowInDays: i32(7)})

	tests := []struct {
		name, from string
		in         ReplicateKeyInput
		code       svcerr.Code
	}{
		{"region not served", east, ReplicateKeyInput{KeyID: mrk.KeyID, ReplicaRegion: unserved}, svcerr.UnsupportedOperation},
		{"same region as the primary", east, ReplicateKeyInput{KeyID: mrk.KeyID, ReplicaRegion: east}, svcerr.Validation},
		{"twice to one region", east, ReplicateKeyInput{KeyID: mrk.KeyID, ReplicaRegion: west}, svcerr.AlreadyExists},
		{"replica pending deletion still exists", east, ReplicateKeyInput{KeyID: deleting.KeyID, ReplicaRegion: apse}, svcerr.AlreadyExists},
		{"single-Region key", east, ReplicateKeyInput{KeyID: single.KeyID, ReplicaRegion: west}, svcerr.UnsupportedOperation},
		{"a replica", west, ReplicateKeyInput{KeyID: mrk.KeyID, ReplicaRegion: apse}, svcerr.UnsupportedOperation},
		{"disabled primary", east, ReplicateKeyInput{KeyID: disabled.KeyID, ReplicaRegion: west}, svcerr.Disabled},
		{"alias", east, ReplicateKeyInput{KeyID: "alias/mrk", ReplicaRegion: apse}, svcerr.NotFound},
		{"no such key", east, ReplicateKeyInput{KeyID: "mrk-00000000000000000000000000000000", ReplicaRegion: apse}, svcerr.NotFound},
		{"key ARN of another region", east, ReplicateKeyInput{KeyID: keyARNIn(west, mrk.KeyID), ReplicaRegion: apse}, svcerr.NotFound},
		{"no KeyId", east, ReplicateKeyInput{ReplicaRegion: apse}, svcerr.Validation},
		{"no ReplicaRegion", east, ReplicateKeyInput{KeyID: mrk.KeyID}, svcerr.Validation},
		{"malformed region", east, ReplicateKeyInput{KeyID: mrk.KeyID, ReplicaRegion: "moon"}, svcerr.Validation},
		{"region too long", east, ReplicateKeyInput{KeyID: mrk.KeyID, ReplicaRegion: "us-" + strings.Repeat("a", 30) + "-1"}, svcerr.Validation},
		{"bad policy", east, ReplicateKeyInput{KeyID: mrk.KeyID, ReplicaRegion: apse, Policy: "{"}, svcerr.MalformedPolicyDocument},
		{"reserved tag", east, ReplicateKeyInput{KeyID: mrk.KeyID, ReplicaRegion: apse, Tags: []Tag{{TagKey: "aws:x"}}}, svcerr.TagException},
		{"description too long", east, ReplicateKeyInput{KeyID: mrk.KeyID, ReplicaRegion: apse, Description: strings.Repeat("d", maxDescription+1)}, svcerr.Validation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.ReplicateKey(f.ctx, f.in(tc.from), &tc.in)
			wantCode(t, err, tc.code)
		})
	}
	// None of the refused calls left a key or a configuration change behind.
	lk, _ := f.s.ListKeys(f.ctx, f.in(apse), &ListKeysInput{})
	if len(lk.Keys) != 1 || lk.Keys[0].KeyID != deleting.KeyID {
		t.Errorf("keys in %s after refused replications: %+v", apse, lk.Keys)
	}
	wantConfig(t, f.describe(t, east, mrk.KeyID), "PRIMARY", east, west)
	wantConfig(t, f.describe(t, east, disabled.KeyID), "PRIMARY", east)
}

// TestMultiRegionRotation rotates a primary key on demand and automatically
// and checks that every replica gets the same version in the same step,
// that old and new ciphertexts decrypt in every region, and that replicas
// refuse rotation changes of their own and never rotate by themselves.
func TestMultiRegionRotation(t *testing.T) {
	t.Parallel()
	f := newMRFixture(t)
	m := f.createMRK(t, CreateKeyInput{})
	f.replicate(t, east, m.KeyID, west)
	before, _ := f.s.Encrypt(f.ctx, f.in(east), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("v1")})

	onReplica := []struct {
		name string
		call func() error
	}{
		{"EnableKeyRotation", func() error {
			_, err := f.s.EnableKeyRotation(f.ctx, f.in(west), &EnableKeyRotationInput{KeyID: m.KeyID})
			return err
		}},
		{"DisableKeyRotation", func() error {
			_, err := f.s.DisableKeyRotation(f.ctx, f.in(west), &KeyIDInput{KeyID: m.KeyID})
			return err
		}},
		{"RotateKeyOnDemand", func() error {
			_, err := f.s.RotateKeyOnDemand(f.ctx, f.in(west), &KeyIDInput{KeyID: m.KeyID})
			return err
		}},
	}
	for _, tc := range onReplica {
		t.Run(tc.name+" on a replica", func(t *testing.T) { wantCode(t, tc.call(), svcerr.UnsupportedOperation) })
	}

	if _, err := f.s.RotateKeyOnDemand(f.ctx, f.in(east), &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	rotations := func(region string) []RotationsListEntry {
		t.Helper()
		out, err := f.s.ListKeyRotations(f.ctx, f.in(region), &ListKeyRotationsInput{KeyID: m.KeyID, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
		if err != nil {
			t.Fatalf("ListKeyRotations in %s: %v", region, err)
		}
		return out.Rotations
	}
	sameRotations := func(want int) {
		t.Helper()
		pr, rr := rotations(east), rotations(west)
		if len(pr) != want || len(rr) != want {
			t.Fatalf("rotations: primary %d, replica %d, want %d each", len(pr), len(rr), want)
		}
		for i := range pr {
			if pr[i].KeyMaterialID != rr[i].KeyMaterialID || pr[i].RotationType != rr[i].RotationType || !sameTime(pr[i].RotationDate, rr[i].RotationDate) {
				t.Errorf("version %d: primary %+v, replica %+v", i+1, pr[i], rr[i])
			}
		}
		if p, r := f.describe(t, east, m.KeyID), f.describe(t, west, m.KeyID); p.CurrentKeyMaterialID != r.CurrentKeyMaterialID || p.CurrentKeyMaterialID != pr[want-1].KeyMaterialID {
			t.Errorf("CurrentKeyMaterialId: primary %s, replica %s, newest %s", p.CurrentKeyMaterialID, r.CurrentKeyMaterialID, pr[want-1].KeyMaterialID)
		}
	}
	sameRotations(2)

	// The replica encrypts under the new version, and both versions'
	// ciphertexts decrypt in both regions.
	after, _ := f.s.Encrypt(f.ctx, f.in(east), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("v2 east")})
	fromReplica, _ := f.s.Encrypt(f.ctx, f.in(west), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("v2 west")})
	if h, err := kmscrypto.ParseHeader(fromReplica.CiphertextBlob); err != nil || h.Version != 2 {
		t.Errorf("replica encrypted under version %d (%v), want 2", h.Version, err)
	}
	for _, blob := range [][]byte{before.CiphertextBlob, after.CiphertextBlob, fromReplica.CiphertextBlob} {
		for _, region := range []string{east, west} {
			if _, err := f.s.Decrypt(f.ctx, f.in(region), &DecryptInput{CiphertextBlob: blob}); err != nil {
				t.Errorf("Decrypt in %s after rotation: %v", region, err)
			}
		}
	}

	// Automatic rotation: enabled on the primary, visible on the replica,
	// done once per set by the sweep.
	if _, err := f.s.EnableKeyRotation(f.ctx, f.in(east), &EnableKeyRotationInput{KeyID: m.KeyID, RotationPeriodInDays: i32(90)}); err != nil {
		t.Fatal(err)
	}
	st, err := f.s.GetKeyRotationStatus(f.ctx, f.in(west), &KeyIDInput{KeyID: m.KeyID})
	if err != nil || !st.KeyRotationEnabled || *st.RotationPeriodInDays != 90 || !st.NextRotationDate.Equal(f.now.Add(90*day)) || st.KeyID != keyARNIn(west, m.KeyID) {
		t.Errorf("replica GetKeyRotationStatus = %+v, %v", st, err)
	}
	// While the primary is disabled nothing rotates, though the enabled
	// replica is past the same NextRotation: a replica never rotates by
	// itself.
	f.s.DisableKey(f.ctx, f.in(east), &KeyIDInput{KeyID: m.KeyID})
	f.now = f.now.Add(91 * day)
	if rep, err := f.s.Sweep(f.ctx); err != nil || rep.Rotated != 0 {
		t.Fatalf("sweep with the primary disabled = %+v, %v; want no rotation", rep, err)
	}
	sameRotations(2)
	f.s.EnableKey(f.ctx, f.in(east), &KeyIDInput{KeyID: m.KeyID})
	rotated := 0
	for range 3 {
		rep, err := f.s.Sweep(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		rotated += rep.Rotated
	}
	if rotated != 1 {
		t.Fatalf("three sweeps rotated %d times, want once for the whole set", rotated)
	}
	sameRotations(3)
	if pr := rotations(east); pr[2].RotationType != "AUTOMATIC" {
		t.Errorf("third version's rotation = %+v", pr[2])
	}
	st, _ = f.s.GetKeyRotationStatus(f.ctx, f.in(west), &KeyIDInput{KeyID: m.KeyID})
	if !st.NextRotationDate.Equal(f.now.Add(90 * day)) {
		t.Errorf("replica's next rotation %v, want the primary's %v", st.NextRotationDate, f.now.Add(90*day))
	}

	// A replica added after rotations gets every version.
	f.replicate(t, east, m.KeyID, apse)
	if got := rotations(apse); len(got) != 3 || got[2].KeyMaterialID != rotations(east)[2].KeyMaterialID {
		t.Errorf("new replica's versions = %+v", got)
	}
	if _, err := f.s.Decrypt(f.ctx, f.in(apse), &DecryptInput{CiphertextBlob: before.CiphertextBlob}); err != nil {
		t.Errorf("new replica cannot decrypt a version-1 ciphertext: %v", err)
	}
	if st, _ := f.s.GetKeyRotationStatus(f.ctx, f.in(apse), &KeyIDInput{KeyID: m.KeyID}); !st.KeyRotationEnabled || !st.NextRotationDate.Equal(f.now.Add(90*day)) {
		t.Errorf("new replica's rotation status %+v does not share the primary's", st)
	}

	// Disabling rotation on the primary disables it on every replica.
	f.s.DisableKeyRotation(f.ctx, f.in(east), &KeyIDInput{KeyID: m.KeyID})
	for _, region := range []string{west, apse} {
		if st, _ := f.s.GetKeyRotationStatus(f.ctx, f.in(region), &KeyIDInput{KeyID: m.KeyID}); st.KeyRotationEnabled {
			t.Errorf("rotation still enabled in %s", region)
		}
	}
}

// TestUpdatePrimaryRegion swaps the primary and replica roles and checks
// that every key of the set changed its configuration together.
func TestUpdatePrimaryRegion(t *testing.T) {
	t.Parallel()
	f := newMRFixture(t)
	m := f.createMRK(t, CreateKeyInput{})
	f.replicate(t, east, m.KeyID, west)
	single := f.createKey(t)
	lonely := f.createMRK(t, CreateKeyInput{})
	blocked := f.createMRK(t, CreateKeyInput{})
	f.replicate(t, east, blocked.KeyID, west)
	f.s.DisableKey(f.ctx, f.in(west), &KeyIDInput{KeyID: blocked.KeyID})

	errs := []struct {
		name, from string
		in         UpdatePrimaryRegionInput
		code       svcerr.Code
	}{
		{"no replica there", east, UpdatePrimaryRegionInput{KeyID: m.KeyID, PrimaryRegion: apse}, svcerr.NotFound},
		{"no replicas at all", east, UpdatePrimaryRegionInput{KeyID: lonely.KeyID, PrimaryRegion: west}, svcerr.NotFound},
		{"on a replica", west, UpdatePrimaryRegionInput{KeyID: m.KeyID, PrimaryRegion: east}, svcerr.UnsupportedOperation},
		{"single-Region key", east, UpdatePrimaryRegionInput{KeyID: single.KeyID, PrimaryRegion: west}, svcerr.UnsupportedOperation},
		{"own region", east, UpdatePrimaryRegionInput{KeyID: m.KeyID, PrimaryRegion: east}, svcerr.Validation},
		{"region not served", east, UpdatePrimaryRegionInput{KeyID: m.KeyID, PrimaryRegion: unserved}, svcerr.UnsupportedOperation},
		{"malformed region", east, UpdatePrimaryRegionInput{KeyID: m.KeyID, PrimaryRegion: "EU"}, svcerr.Validation},
		{"no region", east, UpdatePrimaryRegionInput{KeyID: m.KeyID}, svcerr.Validation},
		{"disabled replica", east, UpdatePrimaryRegionInput{KeyID: blocked.KeyID, PrimaryRegion: west}, svcerr.Disabled},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.UpdatePrimaryRegion(f.ctx, f.in(tc.from), &tc.in)
			wantCode(t, err, tc.code)
		})
	}
	wantConfig(t, f.describe(t, west, blocked.KeyID), "REPLICA", east, west)

	if _, err := f.s.UpdatePrimaryRegion(f.ctx, f.in(east), &UpdatePrimaryRegionInput{KeyID: m.Arn, PrimaryRegion: west}); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, f.describe(t, east, m.KeyID), "REPLICA", west, east)
	wantConfig(t, f.describe(t, west, m.KeyID), "PRIMARY", west, east)

	// The roles follow: only the new primary replicates and rotates.
	_, err := f.s.ReplicateKey(f.ctx, f.in(east), &ReplicateKeyInput{KeyID: m.KeyID, ReplicaRegion: apse})
	wantCode(t, err, svcerr.UnsupportedOperation)
	_, err = f.s.RotateKeyOnDemand(f.ctx, f.in(east), &KeyIDInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.UnsupportedOperation)
	f.replicate(t, west, m.KeyID, apse)
	for _, region := range []string{east, west, apse} {
		want := "REPLICA"
		if region == west {
			want = "PRIMARY"
		}
		wantConfig(t, f.describe(t, region, m.KeyID), want, west, east, apse)
	}
	if _, err := f.s.RotateKeyOnDemand(f.ctx, f.in(west), &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	enc, _ := f.s.Encrypt(f.ctx, f.in(west), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("after swap")})
	for _, region := range []string{east, apse} {
		if _, err := f.s.Decrypt(f.ctx, f.in(region), &DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
			t.Errorf("Decrypt in %s of the new primary's new version: %v", region, err)
		}
	}

	// Back again, from the new primary.
	if _, err := f.s.UpdatePrimaryRegion(f.ctx, f.in(west), &UpdatePrimaryRegionInput{KeyID: m.KeyID, PrimaryRegion: east}); err != nil {
		t.Fatal(err)
	}
	wantConfig(t, f.describe(t, apse, m.KeyID), "REPLICA", east, west, apse)
}

// TestMultiRegionDeletion follows AWS's deletion of a set of multi-Region
// keys: the primary waits in PendingReplicaDeletion until its last replica
// is deleted, then its own waiting period starts.
func TestMultiRegionDeletion(t *testing.T) {
	t.Parallel()
	f := newMRFixture(t)
	m := f.createMRK(t, CreateKeyInput{})
	f.replicate(t, east, m.KeyID, west)
	f.replicate(t, east, m.KeyID, apse)
	enc, _ := f.s.Encrypt(f.ctx, f.in(east), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})

	sd, err := f.s.ScheduleKeyDeletion(f.ctx, f.in(east), &ScheduleKeyDeletionInput{KeyID: m.KeyID, PendingWindowInDays: i32(7)})
	if err != nil {
		t.Fatal(err)
	}
	if sd.KeyState != "PendingReplicaDeletion" || sd.DeletionDate != nil || sd.PendingWindowInDays != 7 {
		t.Errorf("ScheduleKeyDeletion of a primary with replicas = %+v", sd)
	}
	p := f.describe(t, east, m.KeyID)
	if p.KeyState != "PendingReplicaDeletion" || p.Enabled || p.DeletionDate != nil || p.PendingDeletionWindowInDays == nil || *p.PendingDeletionWindowInDays != 7 {
		t.Errorf("primary pending replica deletion: %+v", p)
	}
	refused := []struct {
		name string
		call func() error
		code svcerr.Code
	}{
		{"Encrypt", func() error {
			_, err := f.s.Encrypt(f.ctx, f.in(east), &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})
			return err
		}, svcerr.InvalidState},
		{"Decrypt", func() error {
			_, err := f.s.Decrypt(f.ctx, f.in(east), &DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			return err
		}, svcerr.InvalidState},
		{"ReplicateKey", func() error {
			_, err := f.s.ReplicateKey(f.ctx, f.in(east), &ReplicateKeyInput{KeyID: m.KeyID, ReplicaRegion: west})
			return err
		}, svcerr.InvalidState},
		{"ScheduleKeyDeletion again", func() error {
			_, err := f.s.ScheduleKeyDeletion(f.ctx, f.in(east), &ScheduleKeyDeletionInput{KeyID: m.KeyID})
			return err
		}, svcerr.InvalidState},
		{"EnableKey", func() error {
			_, err := f.s.EnableKey(f.ctx, f.in(east), &KeyIDInput{KeyID: m.KeyID})
			return err
		}, svcerr.InvalidState},
		{"UpdatePrimaryRegion", func() error {
			_, err := f.s.UpdatePrimaryRegion(f.ctx, f.in(east), &UpdatePrimaryRegionInput{KeyID: m.KeyID, PrimaryRegion: west})
			return err
		}, svcerr.InvalidState},
	}
	for _, tc := range refused {
		t.Run(tc.name+" while PendingReplicaDeletion", func(t *testing.T) { wantCode(t, tc.call(), tc.code) })
	}
	// The replicas still work meanwhile.
	if _, err := f.s.Decrypt(f.ctx, f.in(west), &DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Errorf("replica unusable while its primary waits: %v", err)
	}

	// Cancel and schedule again: CancelKeyDeletion works as for PendingDeletion.
	if _, err := f.s.CancelKeyDeletion(f.ctx, f.in(east), &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	if p := f.describe(t, east, m.KeyID); p.KeyState != "Disabled" || p.PendingDeletionWindowInDays != nil {
		t.Errorf("after CancelKeyDeletion: %+v", p)
	}
	f.s.ScheduleKeyDeletion(f.ctx, f.in(east), &ScheduleKeyDeletionInput{KeyID: m.KeyID, PendingWindowInDays: i32(7)})

	for region, days := range map[string]int32{west: 7, apse: 30} {
		sd, err := f.s.ScheduleKeyDeletion(f.ctx, f.in(region), &ScheduleKeyDeletionInput{KeyID: m.KeyID, PendingWindowInDays: i32(days)})
		if err != nil || sd.KeyState != "PendingDeletion" || sd.DeletionDate == nil || !sd.DeletionDate.Equal(f.now.Add(time.Duration(days)*day)) {
			t.Fatalf("ScheduleKeyDeletion of the replica in %s = %+v, %v", region, sd, err)
		}
	}

	// Day 8: the west replica is deleted and leaves the set.
	f.now = f.now.Add(8 * day)
	if rep, err := f.s.Sweep(f.ctx); err != nil || rep.Deleted != 1 {
		t.Fatalf("sweep at day 8 = %+v, %v", rep, err)
	}
	_, err = f.s.DescribeKey(f.ctx, f.in(west), &DescribeKeyInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.NotFound)
	_, err = f.s.Decrypt(f.ctx, f.in(west), &DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, svcerr.InvalidCiphertext)
	wantConfig(t, f.describe(t, east, m.KeyID), "PRIMARY", east, apse)
	wantConfig(t, f.describe(t, apse, m.KeyID), "REPLICA", east, apse)
	if p := f.describe(t, east, m.KeyID); p.KeyState != "PendingReplicaDeletion" {
		t.Errorf("primary with one replica left is %s", p.KeyState)
	}

	// Day 31: the last replica is deleted; the primary's 7 days start now.
	f.now = f.now.Add(23 * day)
	lastDeleted := f.now
	if rep, err := f.s.Sweep(f.ctx); err != nil || rep.Deleted != 1 {
		t.Fatalf("sweep at day 31 = %+v, %v", rep, err)
	}
	p = f.describe(t, east, m.KeyID)
	if p.KeyState != "PendingDeletion" || p.DeletionDate == nil || !p.DeletionDate.Equal(lastDeleted.Add(7*day)) || *p.PendingDeletionWindowInDays != 7 {
		t.Errorf("primary after its last replica's deletion: %+v", p)
	}
	wantConfig(t, p, "PRIMARY", east)
	f.now = f.now.Add(7*day - time.Second)
	if rep, _ := f.s.Sweep(f.ctx); rep.Deleted != 0 {
		t.Error("primary deleted before its waiting period ended")
	}
	f.now = f.now.Add(time.Second)
	if rep, _ := f.s.Sweep(f.ctx); rep.Deleted != 1 {
		t.Error("primary not deleted at the end of its waiting period")
	}
	if ents, _ := f.st.List(f.ctx, "kms/", "", 0); len(ents) != 0 {
		t.Errorf("storage not empty after the whole set was deleted: %d entries", len(ents))
	}
}

// TestScheduleDeletionPrimaryWithoutReplicas: a primary key without
// replicas is deleted like a single-Region key.
func TestScheduleDeletionPrimaryWithoutReplicas(t *testing.T) {
	t.Parallel()
	f := newMRFixture(t)
	m := f.createMRK(t, CreateKeyInput{})
	sd, err := f.s.ScheduleKeyDeletion(f.ctx, f.in(east), &ScheduleKeyDeletionInput{KeyID: m.KeyID, PendingWindowInDays: i32(7)})
	if err != nil || sd.KeyState != "PendingDeletion" || sd.DeletionDate == nil {
		t.Fatalf("ScheduleKeyDeletion = %+v, %v", sd, err)
	}
	_, err = f.s.ReplicateKey(f.ctx, f.in(east), &ReplicateKeyInput{KeyID: m.KeyID, ReplicaRegion: west})
	wantCode(t, err, svcerr.InvalidState)
}

// materialRegions lists storage and returns, per key ID, the regions under
// whose prefix its material is stored, and the count per region.
func materialRegions(t *testing.T, f *mrFixture) map[string]map[string]int {
	t.Helper()
	ents, err := f.st.List(f.ctx, "kms/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]int{}
	for _, e := range ents {
		parts := strings.Split(e.Key, "/") // kms/ACCOUNT/REGION/mat/ID/VERSION
		if len(parts) != 6 || parts[3] != "mat" {
			continue
		}
		if out[parts[4]] == nil {
			out[parts[4]] = map[string]int{}
		}
		out[parts[4]][parts[2]]++
	}
	return out
}

// TestDataResidency lists the storage paths: a single-Region key's material
// is only under its own region's prefix; a multi-Region key's material is
// under each region that holds a key of its set, and no other.
func TestDataResidency(t *testing.T) {
	t.Parallel()
	f := newMRFixture(t)
	single := f.createKey(t)
	westOnly, err := f.s.CreateKey(f.ctx, f.in(west), &CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	m := f.createMRK(t, CreateKeyInput{})
	check := func(stage string, want map[string]map[string]int) {
		t.Helper()
		got := materialRegions(t, f)
		for id, regions := range want {
			for r, n := range regions {
				if got[id][r] != n {
					t.Errorf("%s: key %s has %d versions under %s, want %d", stage, id, got[id][r], r, n)
				}
			}
			for r := range got[id] {
				if _, ok := regions[r]; !ok {
					t.Errorf("%s: key %s has material under %s, which holds no key of it", stage, id, r)
				}
			}
		}
	}
	check("created", map[string]map[string]int{single.KeyID: {east: 1}, westOnly.KeyMetadata.KeyID: {west: 1}, m.KeyID: {east: 1}})
	f.s.RotateKeyOnDemand(f.ctx, f.in(east), &KeyIDInput{KeyID: single.KeyID})
	f.replicate(t, east, m.KeyID, west)
	check("replicated", map[string]map[string]int{single.KeyID: {east: 2}, westOnly.KeyMetadata.KeyID: {west: 1}, m.KeyID: {east: 1, west: 1}})
	f.s.RotateKeyOnDemand(f.ctx, f.in(east), &KeyIDInput{KeyID: m.KeyID})
	check("rotated", map[string]map[string]int{m.KeyID: {east: 2, west: 2}})
	f.s.UpdatePrimaryRegion(f.ctx, f.in(east), &UpdatePrimaryRegionInput{KeyID: m.KeyID, PrimaryRegion: west})
	f.replicate(t, west, m.KeyID, apse)
	check("swapped and replicated", map[string]map[string]int{m.KeyID: {east: 2, west: 2, apse: 2}, single.KeyID: {east: 2}})
	f.s.ScheduleKeyDeletion(f.ctx, f.in(east), &ScheduleKeyDeletionInput{KeyID: m.KeyID, PendingWindowInDays: i32(7)})
	f.now = f.now.Add(8 * day)
	f.s.Sweep(f.ctx)
	check("replica deleted", map[string]map[string]int{m.KeyID: {west: 2, apse: 2}})
}
