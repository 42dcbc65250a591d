// This file drives the KMS cryptographic operations through the real
// aws-sdk-go-v2 KMS client: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
// GenerateDataKeyWithoutPlaintext and GenerateRandom, with their limits,
// encryption context binding, DryRun, key-state enforcement and many
// concurrent clients. Expected behaviour follows the AWS KMS API Reference
// (https://docs.aws.amazon.com/kms/latest/APIReference/).
package e2e

import (
	"bytes"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestEncryptDecrypt(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	other := createKey(t, c, nil)
	mustOK(t, err2(c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/crypto"), TargetKeyId: m.KeyId})), "CreateAlias")
	ec := map[string]string{"app": "e2e", "tenant": "42"}

	t.Run("round trips", func(t *testing.T) {
		for _, n := range []int{1, 16, 1000, 4096} {
			for _, ref := range []string{aws.ToString(m.KeyId), aws.ToString(m.Arn), "alias/crypto"} {
				pt := bytes.Repeat([]byte{byte(n), 0, 0xff}, n)[:n]
				enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(ref), Plaintext: pt, EncryptionContext: ec})
				if err != nil {
					t.Errorf("Encrypt %d bytes with %s: %v", n, ref, err)
					continue
				}
				// Encrypt returns the key ARN whatever identifier was given.
				if aws.ToString(enc.KeyId) != aws.ToString(m.Arn) || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
					t.Errorf("Encrypt output: KeyId %s algorithm %s", aws.ToString(enc.KeyId), enc.EncryptionAlgorithm)
				}
				if bytes.Contains(enc.CiphertextBlob, pt) && n >= 16 {
					t.Errorf("ciphertext contains the plaintext")
				}
				dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
				if err != nil || !bytes.Equal(dec.Plaintext, pt) {
					t.Errorf("Decrypt %d bytes: %v", n, err)
					continue
				}
				if aws.ToString(dec.KeyId) != aws.ToString(m.Arn) || dec.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
					t.Errorf("Decrypt output: KeyId %s algorithm %s", aws.ToString(dec.KeyId), dec.EncryptionAlgorithm)
				}
			}
		}
		a, _ := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("same")})
		b, _ := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("same")})
		if a != nil && b != nil && bytes.Equal(a.CiphertextBlob, b.CiphertextBlob) {
			t.Errorf("two encryptions of the same plaintext gave the same ciphertext")
		}
	})

	t.Run("plaintext size limits", func(t *testing.T) {
		// Plaintext: "Length Constraints: Minimum length of 1. Maximum length of 4096."
		_, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: make([]byte, 4097)})
		wantCode(t, err, "ValidationException", "Encrypt 4097 bytes")
		_, err = c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte{}})
		wantCode(t, err, "ValidationException", "Encrypt 0 bytes")
		_, err = c.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String("alias/none"), Plaintext: []byte("x")})
		wantErr[*types.NotFoundException](t, err, "Encrypt with a missing alias")
	})

	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("secret"), EncryptionContext: ec})
	mustOK(t, err, "Encrypt")

	t.Run("encryption context is bound", func(t *testing.T) {
		for name, ctx := range map[string]map[string]string{
			"missing":         nil,
			"different value": {"app": "e2e", "tenant": "43"},
			"extra pair":      {"app": "e2e", "tenant": "42", "x": "y"},
			"pair missing":    {"app": "e2e"},
			"key case":        {"App": "e2e", "tenant": "42"},
		} {
			_, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ctx})
			wantErr[*types.InvalidCiphertextException](t, err, "Decrypt with context "+name)
		}
		// Order of pairs does not matter; a context on Encrypt without one
		// on Decrypt fails the other way round too.
		plain, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("no context")})
		mustOK(t, err, "Encrypt without context")
		_, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: plain.CiphertextBlob, EncryptionContext: ec})
		wantErr[*types.InvalidCiphertextException](t, err, "Decrypt with a context the ciphertext has not")
	})

	t.Run("tampered ciphertext", func(t *testing.T) {
		for _, at := range []int{len(enc.CiphertextBlob) - 1, len(enc.CiphertextBlob) - 20} {
			bad := bytes.Clone(enc.CiphertextBlob)
			bad[at] ^= 0x01
			_, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: bad, EncryptionContext: ec})
			wantErr[*types.InvalidCiphertextException](t, err, "Decrypt with byte "+strconv.Itoa(at)+" flipped")
		}
		_, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob[:len(enc.CiphertextBlob)-1], EncryptionContext: ec})
		wantErr[*types.InvalidCiphertextException](t, err, "Decrypt of a truncated ciphertext")
		_, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: bytes.Repeat([]byte{7}, 200)})
		wantErr[*types.InvalidCiphertextException](t, err, "Decrypt of garbage")
	})

	t.Run("Decrypt with KeyId", func(t *testing.T) {
		for _, ref := range []string{aws.ToString(m.KeyId), aws.ToString(m.Arn), "alias/crypto"} {
			dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: aws.String(ref)})
			if err != nil || string(dec.Plaintext) != "secret" {
				t.Errorf("Decrypt with matching KeyId %s: %v", ref, err)
			}
		}
		// "The KeyId in a Decrypt request ... must identify the same KMS key
		// that was used to encrypt the ciphertext" -> IncorrectKeyException.
		for _, ref := range []*string{other.KeyId, other.Arn} {
			_, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec, KeyId: ref})
			wantErr[*types.IncorrectKeyException](t, err, "Decrypt with another key's "+aws.ToString(ref))
		}
	})

	t.Run("ReEncrypt", func(t *testing.T) {
		dctx := map[string]string{"stage": "two"}
		re, err := c.ReEncrypt(bg(), &kms.ReEncryptInput{
			CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec,
			DestinationKeyId: aws.String("alias/crypto"), DestinationEncryptionContext: dctx,
		})
		mustOK(t, err, "ReEncrypt")
		if aws.ToString(re.SourceKeyId) != aws.ToString(m.Arn) || aws.ToString(re.KeyId) != aws.ToString(m.Arn) {
			t.Errorf("ReEncrypt SourceKeyId %s KeyId %s", aws.ToString(re.SourceKeyId), aws.ToString(re.KeyId))
		}
		dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: dctx})
		if err != nil || string(dec.Plaintext) != "secret" {
			t.Errorf("Decrypt after ReEncrypt: %v", err)
		}
		re, err = c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: other.KeyId, SourceKeyId: m.Arn})
		mustOK(t, err, "ReEncrypt to another key")
		if aws.ToString(re.KeyId) != aws.ToString(other.Arn) {
			t.Errorf("ReEncrypt KeyId = %s, want %s", aws.ToString(re.KeyId), aws.ToString(other.Arn))
		}
		dec, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "secret" || aws.ToString(dec.KeyId) != aws.ToString(other.Arn) {
			t.Errorf("Decrypt after ReEncrypt to another key: %v", err)
		}
		_, err = c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: ec, DestinationKeyId: m.KeyId, SourceKeyId: other.KeyId})
		wantErr[*types.IncorrectKeyException](t, err, "ReEncrypt with the wrong SourceKeyId")
		_, err = c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: other.KeyId})
		wantErr[*types.InvalidCiphertextException](t, err, "ReEncrypt without the source context")
	})
}

func TestDataKeysAndRandom(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	ec := map[string]string{"purpose": "data key"}

	t.Run("GenerateDataKey", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			in   kms.GenerateDataKeyInput
			size int
		}{
			{"AES_256", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes256}, 32},
			{"AES_128", kms.GenerateDataKeyInput{KeySpec: types.DataKeySpecAes128}, 16},
			{"1 byte", kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1)}, 1},
			{"1024 bytes", kms.GenerateDataKeyInput{NumberOfBytes: aws.Int32(1024)}, 1024},
		} {
			in := tc.in
			in.KeyId, in.EncryptionContext = m.KeyId, ec
			dk, err := c.GenerateDataKey(bg(), &in)
			if err != nil {
				t.Errorf("GenerateDataKey %s: %v", tc.name, err)
				continue
			}
			if len(dk.Plaintext) != tc.size || aws.ToString(dk.KeyId) != aws.ToString(m.Arn) {
				t.Errorf("GenerateDataKey %s: %d bytes, KeyId %s", tc.name, len(dk.Plaintext), aws.ToString(dk.KeyId))
			}
			dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob, EncryptionContext: ec})
			if err != nil || !bytes.Equal(dec.Plaintext, dk.Plaintext) {
				t.Errorf("GenerateDataKey %s: Decrypt of its blob: %v", tc.name, err)
			}
			_, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
			wantErr[*types.InvalidCiphertextException](t, err, "data key blob without its context")
		}
		a, _ := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256})
		b, _ := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256})
		if a != nil && b != nil && bytes.Equal(a.Plaintext, b.Plaintext) {
			t.Errorf("two data keys are equal")
		}
	})

	t.Run("GenerateDataKey bad input", func(t *testing.T) {
		// "You must specify either the KeySpec or the NumberOfBytes
		// parameter (but not both)"; NumberOfBytes is 1 to 1024.
		for name, in := range map[string]*kms.GenerateDataKeyInput{
			"neither":         {KeyId: m.KeyId},
			"both":            {KeyId: m.KeyId, NumberOfBytes: aws.Int32(32), KeySpec: types.DataKeySpecAes256},
			"0 bytes":         {KeyId: m.KeyId, NumberOfBytes: aws.Int32(0)},
			"1025 bytes":      {KeyId: m.KeyId, NumberOfBytes: aws.Int32(1025)},
			"unknown KeySpec": {KeyId: m.KeyId, KeySpec: "AES_512"},
		} {
			_, err := c.GenerateDataKey(bg(), in)
			wantCode(t, err, "ValidationException", "GenerateDataKey "+name)
		}
		_, err := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: aws.String("alias/none"), KeySpec: types.DataKeySpecAes256})
		wantErr[*types.NotFoundException](t, err, "GenerateDataKey with a missing alias")
	})

	t.Run("GenerateDataKeyWithoutPlaintext", func(t *testing.T) {
		for spec, size := range map[types.DataKeySpec]int{types.DataKeySpecAes256: 32, types.DataKeySpecAes128: 16} {
			wp, err := c.GenerateDataKeyWithoutPlaintext(bg(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: m.KeyId, KeySpec: spec, EncryptionContext: ec})
			mustOK(t, err, "GenerateDataKeyWithoutPlaintext")
			if aws.ToString(wp.KeyId) != aws.ToString(m.Arn) {
				t.Errorf("KeyId = %s", aws.ToString(wp.KeyId))
			}
			dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: wp.CiphertextBlob, EncryptionContext: ec})
			if err != nil || len(dec.Plaintext) != size {
				t.Errorf("GenerateDataKeyWithoutPlaintext %s: Decrypt: %v", spec, err)
			}
		}
		wp, err := c.GenerateDataKeyWithoutPlaintext(bg(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: m.KeyId, NumberOfBytes: aws.Int32(64)})
		mustOK(t, err, "GenerateDataKeyWithoutPlaintext 64 bytes")
		if dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: wp.CiphertextBlob}); err != nil || len(dec.Plaintext) != 64 {
			t.Errorf("Decrypt of a 64-byte data key: %v", err)
		}
		for name, in := range map[string]*kms.GenerateDataKeyWithoutPlaintextInput{
			"neither":    {KeyId: m.KeyId},
			"both":       {KeyId: m.KeyId, NumberOfBytes: aws.Int32(32), KeySpec: types.DataKeySpecAes256},
			"1025 bytes": {KeyId: m.KeyId, NumberOfBytes: aws.Int32(1025)},
		} {
			_, err := c.GenerateDataKeyWithoutPlaintext(bg(), in)
			wantCode(t, err, "ValidationException", "GenerateDataKeyWithoutPlaintext "+name)
		}
	})

	t.Run("GenerateRandom", func(t *testing.T) {
		for _, n := range []int32{1, 32, 1024} {
			r, err := c.GenerateRandom(bg(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(n)})
			if err != nil || len(r.Plaintext) != int(n) {
				t.Errorf("GenerateRandom %d: %d bytes, %v", n, len(r.Plaintext), err)
			}
		}
		a, _ := c.GenerateRandom(bg(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
		b, _ := c.GenerateRandom(bg(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
		if a != nil && b != nil && bytes.Equal(a.Plaintext, b.Plaintext) {
			t.Errorf("GenerateRandom repeated itself")
		}
		for _, n := range []int32{0, 1025} {
			_, err := c.GenerateRandom(bg(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(n)})
			wantCode(t, err, "ValidationException", "GenerateRandom "+strconv.Itoa(int(n)))
		}
	})
}

// TestDryRun: "DryRun is an optional API parameter that you specify to
// verify that AWS KMS API calls will succeed" (developer guide, Testing your
// permissions): a call that would succeed fails with DryRunOperationException
// and does nothing; one that would fail gets its real error.
func TestDryRun(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
	mustOK(t, err, "Encrypt")
	dry := aws.Bool(true)
	calls := map[string]func() error{
		"Encrypt": func() error {
			return err2(c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x"), DryRun: dry}))
		},
		"Decrypt": func() error {
			return err2(c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, DryRun: dry}))
		},
		"ReEncrypt": func() error {
			return err2(c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: m.KeyId, DryRun: dry}))
		},
		"GenerateDataKey": func() error {
			return err2(c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256, DryRun: dry}))
		},
		"GenerateDataKeyWithoutPlaintext": func() error {
			return err2(c.GenerateDataKeyWithoutPlaintext(bg(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256, DryRun: dry}))
		},
	}
	for op, call := range calls {
		t.Run(op, func(t *testing.T) {
			wantErr[*types.DryRunOperationException](t, call(), op+" DryRun")
		})
	}
	t.Run("invalid parameters", func(t *testing.T) {
		_, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: make([]byte, 4097), DryRun: dry})
		wantCode(t, err, "ValidationException", "Encrypt DryRun of 4097 bytes")
		_, err = c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, DryRun: dry})
		wantCode(t, err, "ValidationException", "GenerateDataKey DryRun without KeySpec")
		_, err = c.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String("alias/none"), Plaintext: []byte("x"), DryRun: dry})
		wantErr[*types.NotFoundException](t, err, "Encrypt DryRun with a missing key")
	})
	t.Run("disabled key", func(t *testing.T) {
		mustOK(t, err2(c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: m.KeyId})), "DisableKey")
		defer c.EnableKey(bg(), &kms.EnableKeyInput{KeyId: m.KeyId})
		for _, op := range []string{"Encrypt", "Decrypt", "GenerateDataKey"} {
			wantErr[*types.DisabledException](t, calls[op](), op+" DryRun with a disabled key")
		}
	})
}

func TestKeyStateEnforced(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	good := createKey(t, c, nil)
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
	mustOK(t, err, "Encrypt")
	encGood, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: good.KeyId, Plaintext: []byte("x")})
	mustOK(t, err, "Encrypt")
	ops := map[string]func() error{
		"Encrypt": func() error {
			return err2(c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")}))
		},
		"Decrypt": func() error {
			return err2(c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}))
		},
		"GenerateDataKey": func() error {
			return err2(c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256}))
		},
		"GenerateDataKeyWithoutPlaintext": func() error {
			return err2(c.GenerateDataKeyWithoutPlaintext(bg(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256}))
		},
		"ReEncrypt from": func() error {
			return err2(c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: good.KeyId}))
		},
		"ReEncrypt to": func() error {
			return err2(c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: encGood.CiphertextBlob, DestinationKeyId: m.KeyId}))
		},
	}

	t.Run("Disabled", func(t *testing.T) {
		mustOK(t, err2(c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: m.KeyId})), "DisableKey")
		// AWS: "DisabledException: arn:aws:kms:...:key/... is disabled."
		want := aws.ToString(m.Arn) + " is disabled."
		for op, call := range ops {
			err := call()
			if wantErr[*types.DisabledException](t, err, op+" with a disabled key") != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("%s: message %q does not contain %q", op, err.Error(), want)
			}
		}
		// DescribeKey and metadata operations still work.
		mustOK(t, err2(c.UpdateKeyDescription(bg(), &kms.UpdateKeyDescriptionInput{KeyId: m.KeyId, Description: aws.String("d")})), "UpdateKeyDescription of a disabled key")
	})

	t.Run("PendingDeletion", func(t *testing.T) {
		mustOK(t, err2(c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: aws.Int32(7)})), "ScheduleKeyDeletion")
		// AWS: "KMSInvalidStateException: arn:aws:kms:...:key/... is pending deletion."
		want := aws.ToString(m.Arn) + " is pending deletion."
		for op, call := range ops {
			err := call()
			if wantErr[*types.KMSInvalidStateException](t, err, op+" with a key pending deletion") != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("%s: message %q does not contain %q", op, err.Error(), want)
			}
		}
		_, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/doomed"), TargetKeyId: m.KeyId})
		wantErr[*types.KMSInvalidStateException](t, err, "CreateAlias for a key pending deletion")
	})

	t.Run("other keys unaffected", func(t *testing.T) {
		dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: encGood.CiphertextBlob})
		if err != nil || string(dec.Plaintext) != "x" {
			t.Errorf("Decrypt with an enabled key: %v", err)
		}
	})
}

// TestConcurrentAliasCreation races 16 CreateAlias calls for one name:
// exactly one wins, the others get AlreadyExistsException.
func TestConcurrentAliasCreation(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	keys := make([]*types.KeyMetadata, 4)
	for i := range keys {
		keys[i] = createKey(t, c, nil)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []string
	)
	for w := range 16 {
		wg.Go(func() {
			k := keys[w%len(keys)]
			_, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/race"), TargetKeyId: k.KeyId})
			if err == nil {
				mu.Lock()
				winners = append(winners, aws.ToString(k.KeyId))
				mu.Unlock()
				return
			}
			wantErr[*types.AlreadyExistsException](t, err, "losing CreateAlias")
		})
	}
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d CreateAlias calls won, want 1", len(winners))
	}
	if d := describe(t, c, "alias/race"); aws.ToString(d.KeyId) != winners[0] {
		t.Errorf("alias/race -> %s, the winner was %s", aws.ToString(d.KeyId), winners[0])
	}
	la, err := c.ListAliases(bg(), &kms.ListAliasesInput{})
	if err != nil || countCustomerAliases(la) != 1 {
		t.Errorf("ListAliases after the race: %d aliases, %v", countCustomerAliases(la), err)
	}
}

// TestConcurrentClients runs 16 goroutines of Encrypt/Decrypt round trips
// against one server (run the package with -race to check the SDK side, and
// ARCA_E2E_RACE=1 for a race-built server).
func TestConcurrentClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	keys := []*types.KeyMetadata{createKey(t, c, nil), createKey(t, c, nil)}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			k := keys[w%len(keys)]
			for i := range 20 {
				pt := []byte("worker " + strconv.Itoa(w) + " round " + strconv.Itoa(i))
				ec := map[string]string{"w": strconv.Itoa(w)}
				enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: pt, EncryptionContext: ec})
				if err != nil {
					t.Errorf("worker %d Encrypt %d: %v", w, i, err)
					return
				}
				dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
				if err != nil || !bytes.Equal(dec.Plaintext, pt) || aws.ToString(dec.KeyId) != aws.ToString(k.Arn) {
					t.Errorf("worker %d round trip %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
