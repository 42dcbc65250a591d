// This file covers key rotation and scheduled deletion end to end, moving
// the server's clock with the dev-mode control instead of sleeping.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// advanceClock moves the dev server's clock forward and waits for the
// scheduler sweep that the move triggers.
func advanceClock(t *testing.T, s *server, d time.Duration) {
	t.Helper()
	body := []byte(fmt.Sprintf(`{"AdvanceSeconds":%d}`, int64(d/time.Second)))
	req, _ := http.NewRequest(http.MethodPost, s.endpoint+"/_arca/dev/clock", bytes.NewReader(body))
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("dev clock: %d %s", resp.StatusCode, b)
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	enc1, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := c.RotateKeyOnDemand(bg(), &kms.RotateKeyOnDemandInput{KeyId: m.KeyId})
	if err != nil || aws.ToString(rot.KeyId) != aws.ToString(m.Arn) {
		t.Fatalf("RotateKeyOnDemand = %v, %v", rot, err)
	}
	enc2, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("after")})
	if err != nil {
		t.Fatal(err)
	}
	for want, e := range map[string]*kms.EncryptOutput{"before": enc1, "after": enc2} {
		dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: e.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != want || aws.ToString(dec.KeyId) != aws.ToString(m.Arn) {
			t.Errorf("Decrypt %q after rotation: %v", want, err)
		}
	}
	lr, err := c.ListKeyRotations(bg(), &kms.ListKeyRotationsInput{KeyId: m.KeyId, IncludeKeyMaterial: types.IncludeKeyMaterialAllKeyMaterial})
	if err != nil || len(lr.Rotations) != 2 || lr.Rotations[1].RotationType != types.RotationTypeOnDemand {
		t.Fatalf("ListKeyRotations = %+v, %v", lr, err)
	}

	if _, err := c.EnableKeyRotation(bg(), &kms.EnableKeyRotationInput{KeyId: m.KeyId, RotationPeriodInDays: aws.Int32(90)}); err != nil {
		t.Fatal(err)
	}
	st, err := c.GetKeyRotationStatus(bg(), &kms.GetKeyRotationStatusInput{KeyId: m.KeyId})
	if err != nil || !st.KeyRotationEnabled || aws.ToInt32(st.RotationPeriodInDays) != 90 || time.Until(*st.NextRotationDate) < 89*24*time.Hour {
		t.Fatalf("GetKeyRotationStatus = %+v, %v", st, err)
	}
	advanceClock(t, s, 91*24*time.Hour)
	lr, err = c.ListKeyRotations(bg(), &kms.ListKeyRotationsInput{KeyId: m.KeyId})
	if err != nil || len(lr.Rotations) != 2 || lr.Rotations[1].RotationType != types.RotationTypeAutomatic {
		t.Fatalf("after 91 days: %+v, %v", lr, err)
	}
	// A restart must not rotate again: the next rotation is 90 days away.
	s.restart()
	c = s.client("us-east-1")
	lr, _ = c.ListKeyRotations(bg(), &kms.ListKeyRotationsInput{KeyId: m.KeyId})
	if len(lr.Rotations) != 2 {
		t.Errorf("restart changed the rotations: %d", len(lr.Rotations))
	}
	dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc1.CiphertextBlob})
	if err != nil || string(dec.Plaintext) != "before" {
		t.Errorf("oldest ciphertext after two rotations and a restart: %v", err)
	}

	disabledKey := createKey(t, c, nil)
	c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: disabledKey.KeyId})
	_, err = c.RotateKeyOnDemand(bg(), &kms.RotateKeyOnDemandInput{KeyId: disabledKey.KeyId})
	var de *types.DisabledException
	if !errors.As(err, &de) {
		t.Errorf("rotating a disabled key: %v", err)
	}
}

func TestScheduledDeletionHappens(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	doomed := createKey(t, c, nil)
	kept := createKey(t, c, nil)
	if _, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: doomed.KeyId}); err != nil {
		t.Fatal(err)
	}
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: doomed.KeyId, Plaintext: []byte("gone soon")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: doomed.KeyId, PendingWindowInDays: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	advanceClock(t, s, 6*24*time.Hour)
	if d, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: doomed.KeyId}); err != nil || d.KeyMetadata.KeyState != types.KeyStatePendingDeletion {
		t.Fatalf("deleted before its date: %v", err)
	}
	advanceClock(t, s, 24*time.Hour+time.Minute)
	var nf *types.NotFoundException
	if _, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: doomed.KeyId}); !errors.As(err, &nf) {
		t.Errorf("DescribeKey after the deletion date: %v", err)
	}
	if _, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String("alias/doomed")}); !errors.As(err, &nf) {
		t.Errorf("alias of a deleted key: %v", err)
	}
	var ic *types.InvalidCiphertextException
	if _, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); !errors.As(err, &ic) {
		t.Errorf("Decrypt under a deleted key: %v", err)
	}
	if _, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: kept.KeyId}); err != nil {
		t.Errorf("an unscheduled key was deleted: %v", err)
	}
}
