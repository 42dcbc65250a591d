// This file covers multi-Region keys end to end: one server serving two
// regions, a client per region, the real aws-sdk-go-v2.
package e2e

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

const (
	regionA = "us-east-1"
	regionB = "eu-west-1"
)

// wantMultiRegion checks a key's MultiRegionConfiguration as the SDK decodes it.
func wantMultiRegion(t *testing.T, m *types.KeyMetadata, typ types.MultiRegionKeyType, primary string, replicas ...string) {
	t.Helper()
	c := m.MultiRegionConfiguration
	if !aws.ToBool(m.MultiRegion) || c == nil {
		t.Fatalf("%s: MultiRegion %v, MultiRegionConfiguration %+v", aws.ToString(m.Arn), aws.ToBool(m.MultiRegion), c)
	}
	if c.MultiRegionKeyType != typ {
		t.Errorf("%s: MultiRegionKeyType %s, want %s", aws.ToString(m.Arn), c.MultiRegionKeyType, typ)
	}
	wantARN := "arn:aws:kms:" + primary + ":000000000000:key/" + aws.ToString(m.KeyId)
	if c.PrimaryKey == nil || aws.ToString(c.PrimaryKey.Region) != primary || aws.ToString(c.PrimaryKey.Arn) != wantARN {
		t.Errorf("%s: PrimaryKey %+v, want %s", aws.ToString(m.Arn), c.PrimaryKey, wantARN)
	}
	var got []string
	for _, r := range c.ReplicaKeys {
		got = append(got, aws.ToString(r.Region))
		if want := "arn:aws:kms:" + aws.ToString(r.Region) + ":000000000000:key/" + aws.ToString(m.KeyId); aws.ToString(r.Arn) != want {
			t.Errorf("%s: replica ARN %s, want %s", aws.ToString(m.Arn), aws.ToString(r.Arn), want)
		}
	}
	if !slices.Equal(got, replicas) {
		t.Errorf("%s: ReplicaKeys %v, want %v", aws.ToString(m.Arn), got, replicas)
	}
}

// decryptIn decrypts blob with client c and checks the plaintext and the
// key ARN that answered.
func decryptIn(t *testing.T, c *kms.Client, blob []byte, want, keyARN string) {
	t.Helper()
	dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: blob})
	if err != nil {
		t.Errorf("Decrypt %q with %s: %v", want, keyARN, err)
		return
	}
	if string(dec.Plaintext) != want || aws.ToString(dec.KeyId) != keyARN {
		t.Errorf("Decrypt = %q by %s, want %q by %s", dec.Plaintext, aws.ToString(dec.KeyId), want, keyARN)
	}
}

func TestMultiRegionKeys(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{regions: regionA + "," + regionB})
	a, b := s.client(regionA), s.client(regionB)

	m := createKey(t, a, &kms.CreateKeyInput{MultiRegion: aws.Bool(true), Description: aws.String("primary")})
	id := aws.ToString(m.KeyId)
	if !regexp.MustCompile(`^mrk-[0-9a-f]{32}$`).MatchString(id) {
		t.Errorf("multi-Region KeyId %q", id)
	}
	wantMultiRegion(t, m, types.MultiRegionKeyTypePrimary, regionA)
	arnA, arnB := aws.ToString(m.Arn), "arn:aws:kms:"+regionB+":000000000000:key/"+id

	rep, err := a.ReplicateKey(bg(), &kms.ReplicateKeyInput{
		KeyId: m.Arn, ReplicaRegion: aws.String(regionB), Description: aws.String("replica"),
		Tags: []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("b")}},
	})
	mustOK(t, err, "ReplicateKey")
	r := rep.ReplicaKeyMetadata
	if aws.ToString(r.KeyId) != id || aws.ToString(r.Arn) != arnB || r.KeyState != types.KeyStateEnabled || aws.ToString(r.Description) != "replica" {
		t.Errorf("ReplicaKeyMetadata = %+v", r)
	}
	if aws.ToString(rep.ReplicaPolicy) == "" || len(rep.ReplicaTags) != 1 || aws.ToString(rep.ReplicaTags[0].TagValue) != "b" {
		t.Errorf("ReplicaPolicy %q, ReplicaTags %+v", aws.ToString(rep.ReplicaPolicy), rep.ReplicaTags)
	}
	wantMultiRegion(t, r, types.MultiRegionKeyTypeReplica, regionA, regionB)
	wantMultiRegion(t, describe(t, a, id), types.MultiRegionKeyTypePrimary, regionA, regionB)
	wantMultiRegion(t, describe(t, b, id), types.MultiRegionKeyTypeReplica, regionA, regionB)

	// Ciphertext crosses regions in both directions.
	encA, err := a.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("from A")})
	mustOK(t, err, "Encrypt in A")
	decryptIn(t, b, encA.CiphertextBlob, "from A", arnB)
	encB, err := b.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("from B")})
	mustOK(t, err, "Encrypt in B")
	decryptIn(t, a, encB.CiphertextBlob, "from B", arnA)

	// Rotating the primary gives the replica the same new version.
	_, err = a.RotateKeyOnDemand(bg(), &kms.RotateKeyOnDemandInput{KeyId: m.KeyId})
	mustOK(t, err, "RotateKeyOnDemand in A")
	encA2, err := a.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("from A, v2")})
	mustOK(t, err, "Encrypt in A after rotation")
	decryptIn(t, b, encA2.CiphertextBlob, "from A, v2", arnB)
	decryptIn(t, b, encA.CiphertextBlob, "from A", arnB)
	rotA, err := a.ListKeyRotations(bg(), &kms.ListKeyRotationsInput{KeyId: m.KeyId})
	mustOK(t, err, "ListKeyRotations in A")
	rotB, err := b.ListKeyRotations(bg(), &kms.ListKeyRotationsInput{KeyId: m.KeyId})
	mustOK(t, err, "ListKeyRotations in B")
	if len(rotA.Rotations) != 1 || len(rotB.Rotations) != 1 || aws.ToString(rotA.Rotations[0].KeyMaterialId) != aws.ToString(rotB.Rotations[0].KeyMaterialId) {
		t.Errorf("rotations: A %+v, B %+v", rotA.Rotations, rotB.Rotations)
	}
	if ka, kb := describe(t, a, id), describe(t, b, id); aws.ToString(ka.CurrentKeyMaterialId) != aws.ToString(kb.CurrentKeyMaterialId) {
		t.Errorf("CurrentKeyMaterialId: A %s, B %s", aws.ToString(ka.CurrentKeyMaterialId), aws.ToString(kb.CurrentKeyMaterialId))
	}
	_, err = b.RotateKeyOnDemand(bg(), &kms.RotateKeyOnDemandInput{KeyId: m.KeyId})
	wantErr[*types.UnsupportedOperationException](t, err, "RotateKeyOnDemand on the replica")

	// Refusals, as typed SDK errors.
	_, err = a.ReplicateKey(bg(), &kms.ReplicateKeyInput{KeyId: m.KeyId, ReplicaRegion: aws.String("us-west-2")})
	wantErr[*types.UnsupportedOperationException](t, err, "ReplicateKey to a region not served")
	_, err = a.ReplicateKey(bg(), &kms.ReplicateKeyInput{KeyId: m.KeyId, ReplicaRegion: aws.String(regionB)})
	wantErr[*types.AlreadyExistsException](t, err, "ReplicateKey twice")
	_, err = a.ReplicateKey(bg(), &kms.ReplicateKeyInput{KeyId: m.KeyId, ReplicaRegion: aws.String(regionA)})
	wantCode(t, err, "ValidationException", "ReplicateKey to the primary's region")
	_, err = b.ReplicateKey(bg(), &kms.ReplicateKeyInput{KeyId: m.KeyId, ReplicaRegion: aws.String(regionA)})
	wantErr[*types.UnsupportedOperationException](t, err, "ReplicateKey of a replica")
	single := createKey(t, a, nil)
	_, err = a.ReplicateKey(bg(), &kms.ReplicateKeyInput{KeyId: single.KeyId, ReplicaRegion: aws.String(regionB)})
	wantErr[*types.UnsupportedOperationException](t, err, "ReplicateKey of a single-Region key")
	singleEnc, err := a.Encrypt(bg(), &kms.EncryptInput{KeyId: single.KeyId, Plaintext: []byte("stays in A")})
	mustOK(t, err, "Encrypt with a single-Region key")
	_, err = b.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: singleEnc.CiphertextBlob})
	wantErr[*types.InvalidCiphertextException](t, err, "Decrypt of a single-Region key's ciphertext in another region")

	// Everything survives a restart.
	s.restart()
	a, b = s.client(regionA), s.client(regionB)
	decryptIn(t, b, encA2.CiphertextBlob, "from A, v2", arnB)

	// Swap the roles.
	_, err = a.UpdatePrimaryRegion(bg(), &kms.UpdatePrimaryRegionInput{KeyId: m.KeyId, PrimaryRegion: aws.String(regionB)})
	mustOK(t, err, "UpdatePrimaryRegion")
	wantMultiRegion(t, describe(t, a, id), types.MultiRegionKeyTypeReplica, regionB, regionA)
	wantMultiRegion(t, describe(t, b, id), types.MultiRegionKeyTypePrimary, regionB, regionA)
	_, err = b.RotateKeyOnDemand(bg(), &kms.RotateKeyOnDemandInput{KeyId: m.KeyId})
	mustOK(t, err, "RotateKeyOnDemand on the new primary")
	encB2, err := b.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("from B, v3")})
	mustOK(t, err, "Encrypt in B after the swap")
	decryptIn(t, a, encB2.CiphertextBlob, "from B, v3", arnA)

	// Deletion: the primary waits for its replica, then its own 7 days.
	sd, err := b.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, err, "ScheduleKeyDeletion of the primary")
	if sd.KeyState != types.KeyStatePendingReplicaDeletion || sd.DeletionDate != nil || aws.ToInt32(sd.PendingWindowInDays) != 7 {
		t.Errorf("ScheduleKeyDeletion of a primary with a replica = state %s, date %v, window %d", sd.KeyState, sd.DeletionDate, aws.ToInt32(sd.PendingWindowInDays))
	}
	_, err = b.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
	wantErr[*types.KMSInvalidStateException](t, err, "Encrypt with a primary pending replica deletion")
	_, err = a.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, err, "ScheduleKeyDeletion of the replica")
	advanceClock(t, s, 7*24*time.Hour+time.Minute)
	_, err = a.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: m.KeyId})
	wantErr[*types.NotFoundException](t, err, "DescribeKey of the deleted replica")
	p := describe(t, b, id)
	if p.KeyState != types.KeyStatePendingDeletion || p.DeletionDate == nil || time.Until(*p.DeletionDate) < 6*24*time.Hour {
		t.Errorf("primary after its last replica's deletion: state %s, DeletionDate %v", p.KeyState, p.DeletionDate)
	}
	wantMultiRegion(t, p, types.MultiRegionKeyTypePrimary, regionB)
	advanceClock(t, s, 7*24*time.Hour+time.Minute)
	_, err = b.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: m.KeyId})
	wantErr[*types.NotFoundException](t, err, "DescribeKey of the deleted primary")
}
