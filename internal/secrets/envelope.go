package secrets

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"

	"github.com/arca-kms/arca/internal/auth"
)

// The encryption context Secrets Manager gives KMS for every version, as
// AWS documents it; a key policy may condition on it
// (kms:EncryptionContext:SecretARN).
const (
	ecSecretARN = "SecretARN"
	ecVersionID = "SecretVersionId"
)

func encryptionContext(secretARN, versionID string) map[string]string {
	return map[string]string{ecSecretARN: secretARN, ecVersionID: versionID}
}

// aad binds a sealed value to its secret and version in AES-GCM, as the
// encryption context binds its data key in KMS.
func aad(secretARN, versionID string) []byte {
	return []byte(secretARN + "\x00" + versionID)
}

// via is the caller as KMS sees a call Secrets Manager makes for it.
func via(c *auth.Caller, region string) *auth.Caller {
	v := *c
	v.Region = region
	v.ViaService = managedKeyService + "." + region + ".amazonaws.com"
	return &v
}

// keyFor returns the KMS key ID to encrypt r's versions with in region:
// r's KmsKeyId, or the account's AWS managed key (created on first use).
func (s *Service) keyFor(ctx context.Context, account, region, kmsKeyID string) (string, error) {
	if kmsKeyID != "" {
		return kmsKeyID, nil
	}
	arn, err := s.keys.ManagedKey(ctx, account, region, managedKeyService)
	if err != nil {
		return "", kmsErr(err, true)
	}
	return arn, nil
}

// seal encrypts one version's value: a fresh data key from KMS under keyID
// (as the caller, via Secrets Manager) with the version's encryption
// context, and AES-256-GCM under it.
func (s *Service) seal(ctx context.Context, c *auth.Caller, region, keyID, secretARN, versionID string, plaintext []byte, binary bool) (*value, error) {
	keyARN, dk, blob, err := s.keys.GenerateDataKeyFor(ctx, via(c, region), keyID, encryptionContext(secretARN, versionID))
	if err != nil {
		return nil, kmsErr(err, true)
	}
	defer clear(dk)
	gcm, err := newGCM(dk)
	if err != nil {
		return nil, internalErr(err)
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, internalErr(err)
	}
	return &value{KeyARN: keyARN, DataKey: blob, Nonce: nonce, Sealed: gcm.Seal(nil, nonce, plaintext, aad(secretARN, versionID)), Binary: binary}, nil
}

// open decrypts one version's value, asking KMS (as the caller) to decrypt
// its data key; a disabled or deleted key fails here as in AWS.
func (s *Service) open(ctx context.Context, c *auth.Caller, region, secretARN, versionID string, v *value) ([]byte, error) {
	// The blob names its key; KeyId is left out so KMS reads it once.
	dk, err := s.keys.DecryptFor(ctx, via(c, region), "", v.DataKey, v.context(secretARN, versionID))
	if err != nil {
		return nil, kmsErr(err, false)
	}
	defer clear(dk)
	gcm, err := newGCM(dk)
	if err != nil {
		return nil, internalErr(err)
	}
	pt, err := gcm.Open(nil, v.Nonce, v.Sealed, aad(secretARN, versionID))
	if err != nil {
		return nil, internalErr(errors.New("secret version does not authenticate under its data key"))
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, errors.New("data key is not 256 bits")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}
