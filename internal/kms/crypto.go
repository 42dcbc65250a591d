package kms

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/svcerr"
)

// blobKeyRef names a key inside a ciphertext blob: the owning account and the
// key ID, so Decrypt without a KeyId can find a key in another account (for
// cross-account use) while a multi-Region key's blobs stay portable between
// its regions.
func blobKeyRef(k *keystore.Key) string { return k.Account + ":" + k.ID }

func parseBlobKeyRef(ref string) (account, id string, ok bool) {
	return strings.Cut(ref, ":")
}

func invalidCiphertext() error {
	return svcerr.New(svcerr.InvalidCiphertext, "The ciphertext is invalid, was not made by this key, or the encryption context does not match.")
}

// cryptoKey resolves the key a cryptographic operation uses (alias forms
// allowed), authorizes the action and checks state and usage.
func (s *Service) cryptoKey(ctx context.Context, c *auth.Caller, id, action string, usage string, f *facts) (*keystore.Key, error) {
	if err := checkKeyID("keyId", id); err != nil {
		return nil, err
	}
	k, err := s.resolve(ctx, c, id, true)
	if err != nil {
		return nil, err
	}
	if name, ok := requestAlias(id); ok {
		f.alias = name
	}
	return k, s.usable(ctx, c, k, action, usage, f)
}

// usable authorizes action on k and checks its state and usage.
func (s *Service) usable(ctx context.Context, c *auth.Caller, k *keystore.Key, action, usage string, f *facts) error {
	if err := s.authorizeWith(ctx, c, action, k, f); err != nil {
		return err
	}
	if err := s.checkKeyState(k, action); err != nil {
		return err
	}
	if k.Usage != usage {
		return svcerr.New(svcerr.InvalidKeyUsage, "%s key usage is %s which is not valid for %s.", s.keyARN(k), k.Usage, strings.TrimPrefix(action, "kms:"))
	}
	return nil
}

// orDefaultAlg is an EncryptionAlgorithm member with AWS's default applied,
// as kms:EncryptionAlgorithm sees it.
func orDefaultAlg(alg string) string {
	if alg == "" {
		return algSymmetricDefault
	}
	return alg
}

// requestAlias returns the alias name ("alias/NAME") a KeyId member names
// the key by, for kms:RequestAlias.
func requestAlias(id string) (string, bool) {
	if strings.HasPrefix(id, "alias/") {
		return id, true
	}
	if i := strings.Index(id, ":alias/"); i >= 0 && strings.HasPrefix(id, "arn:") {
		return id[i+1:], true
	}
	return "", false
}

var allEncryptionAlgorithms = []string{algSymmetricDefault, "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE"}

// checkAlgorithm validates an EncryptionAlgorithm member, and when k is
// given, that k supports it. The default is SYMMETRIC_DEFAULT, as AWS's.
func (s *Service) checkAlgorithm(field, alg string, k *keystore.Key) (string, error) {
	if alg == "" {
		alg = algSymmetricDefault
	}
	if err := checkEnum(field, alg, allEncryptionAlgorithms...); err != nil {
		return "", err
	}
	if k != nil && !(alg == algSymmetricDefault && isSymmetric(k.Spec) && k.Usage == UsageEncryptDecrypt) {
		// The symmetric case above is the hot path and needs no table lookup.
		algs, err := kmscrypto.AlgorithmsFor(k.Spec, kmscrypto.KeyUsage(k.Usage))
		if err != nil || !slices.Contains(algs.EncryptionAlgorithms, kmscrypto.EncryptionAlgorithm(alg)) {
			return "", svcerr.New(svcerr.InvalidKeyUsage, "%s does not support the %s encryption algorithm.", s.keyARN(k), alg)
		}
	}
	return alg, nil
}

// seal encrypts plaintext under the current version of k: into Arca's
// ciphertext blob for symmetric keys, and as the algorithm's raw
// ciphertext for asymmetric ones, as AWS returns it.
func (s *Service) seal(ctx context.Context, k *keystore.Key, alg string, plaintext []byte, ec map[string]string) ([]byte, error) {
	if !isSymmetric(k.Spec) {
		if len(ec) > 0 {
			return nil, svcerr.Validationf("EncryptionContext is not supported with asymmetric KMS keys.")
		}
		max, err := kmscrypto.MaxPlaintextSize(k.Spec, kmscrypto.EncryptionAlgorithm(alg))
		if err != nil {
			return nil, svcerr.New(svcerr.InvalidKeyUsage, "%s does not support the %s encryption algorithm.", s.keyARN(k), alg)
		}
		if len(plaintext) > max {
			return nil, svcerr.Validationf("Plaintext of %d bytes is too large for %s with %s: at most %d bytes.", len(plaintext), k.Spec, alg, max)
		}
	}
	m, err := s.ks.Material(ctx, k, k.Current)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	if !isSymmetric(k.Spec) {
		ct, err := kmscrypto.EncryptAsymmetric(m, kmscrypto.EncryptionAlgorithm(alg), plaintext)
		if err != nil {
			return nil, cryptoErr(err)
		}
		return ct, nil
	}
	blob, err := kmscrypto.EncryptSymmetric(m, kmscrypto.Header{KeyID: blobKeyRef(k), Version: k.Current}, plaintext, ec)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	return blob, nil
}

// cryptoErr maps kmscrypto's sentinel errors to AWS error codes.
func cryptoErr(err error) error {
	switch {
	case errors.Is(err, kmscrypto.ErrInvalidCiphertext):
		return invalidCiphertext()
	case errors.Is(err, kmscrypto.ErrPlaintextTooLarge):
		return svcerr.Validationf("The plaintext is too large for this key and algorithm.")
	case errors.Is(err, kmscrypto.ErrInvalidDigestLength):
		return svcerr.Validationf("Digest is invalid length for algorithm: the message length must equal the digest length of the signing algorithm.")
	case errors.Is(err, kmscrypto.ErrInvalidMessageType):
		return svcerr.Validationf("The MessageType is not valid for this signing algorithm.")
	case errors.Is(err, kmscrypto.ErrUnsupportedAlgorithm), errors.Is(err, kmscrypto.ErrUnsupportedSpec):
		return svcerr.New(svcerr.InvalidKeyUsage, "The algorithm is not supported by this KMS key.")
	case errors.Is(err, kmscrypto.ErrInvalidPublicKey):
		return svcerr.Validationf("PublicKey is not a valid DER-encoded SubjectPublicKeyInfo for this key's curve.")
	case errors.Is(err, kmscrypto.ErrInvalidSignature):
		return svcerr.New(svcerr.InvalidSignatureKMS, "")
	case errors.Is(err, kmscrypto.ErrInvalidMAC):
		return svcerr.New(svcerr.InvalidMacKMS, "")
	}
	return svcerr.InternalError(err)
}

// open finds the key that made blob, checks it against keyID when given,
// authorizes action and decrypts. A blob whose key is unknown here is
// reported as invalid ciphertext: the caller gave no key, only bytes.
func (s *Service) open(ctx context.Context, c *auth.Caller, blob []byte, keyID, alg string, ec map[string]string, tokens []string, action string, dry bool) (*keystore.Key, []byte, error) {
	if blob == nil {
		return nil, nil, svcerr.Missing("ciphertextBlob")
	}
	if err := svcerr.CheckLen("ciphertextBlob", len(blob), 1, maxCiphertext); err != nil {
		return nil, nil, err
	}
	if _, err := s.checkAlgorithm("encryptionAlgorithm", alg, nil); err != nil {
		return nil, nil, err
	}
	var want *keystore.Key
	if keyID != "" {
		if err := svcerr.CheckLen("keyId", len(keyID), 1, 2048); err != nil {
			return nil, nil, err
		}
		k, err := s.resolve(ctx, c, keyID, true)
		if err != nil {
			return nil, nil, err
		}
		want = k
	}
	if want != nil && !isSymmetric(want.Spec) {
		return s.openAsymmetric(ctx, c, want, blob, alg, ec, tokens, action, dry)
	}
	h, err := kmscrypto.ParseHeader(blob)
	if err != nil {
		return nil, nil, invalidCiphertext()
	}
	account, id, ok := parseBlobKeyRef(h.KeyID)
	if !ok {
		return nil, nil, invalidCiphertext()
	}
	if want != nil && (want.Account != account || want.ID != id) {
		return nil, nil, svcerr.New(svcerr.IncorrectKey, "The key ID in the request does not identify a CMK that can perform this operation.")
	}
	k, err := s.ks.Get(ctx, account, c.Region, id)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, nil, invalidCiphertext()
	}
	if err != nil {
		return nil, nil, svcerr.InternalError(err)
	}
	if err := s.usable(ctx, c, k, action, UsageEncryptDecrypt, &facts{ec: ec, encAlg: orDefaultAlg(alg), grantTokens: tokens}); err != nil {
		return nil, nil, err
	}
	if _, err := s.checkAlgorithm("encryptionAlgorithm", alg, k); err != nil {
		return nil, nil, err
	}
	if dry {
		return nil, nil, dryRun()
	}
	m, err := s.ks.Material(ctx, k, h.Version)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, nil, invalidCiphertext()
	}
	if err != nil {
		return nil, nil, svcerr.InternalError(err)
	}
	pt, err := kmscrypto.DecryptSymmetric(m, blob, ec)
	if err != nil {
		return nil, nil, invalidCiphertext()
	}
	return k, pt, nil
}

// openAsymmetric decrypts a raw asymmetric ciphertext with the key the
// request named; asymmetric ciphertexts carry no header, so AWS requires the
// KeyId and the algorithm.
func (s *Service) openAsymmetric(ctx context.Context, c *auth.Caller, k *keystore.Key, ct []byte, alg string, ec map[string]string, tokens []string, action string, dry bool) (*keystore.Key, []byte, error) {
	if err := s.usable(ctx, c, k, action, UsageEncryptDecrypt, &facts{ec: ec, encAlg: orDefaultAlg(alg), grantTokens: tokens}); err != nil {
		return nil, nil, err
	}
	if alg == "" || alg == algSymmetricDefault {
		return nil, nil, svcerr.New(svcerr.InvalidKeyUsage, "%s is an asymmetric key: specify one of its encryption algorithms.", s.keyARN(k))
	}
	if _, err := s.checkAlgorithm("encryptionAlgorithm", alg, k); err != nil {
		return nil, nil, err
	}
	if len(ec) > 0 {
		return nil, nil, svcerr.Validationf("EncryptionContext is not supported with asymmetric KMS keys.")
	}
	if dry {
		return nil, nil, dryRun()
	}
	m, err := s.ks.Material(ctx, k, k.Current)
	if err != nil {
		return nil, nil, svcerr.InternalError(err)
	}
	pt, err := kmscrypto.DecryptAsymmetric(m, kmscrypto.EncryptionAlgorithm(alg), ct)
	if err != nil {
		return nil, nil, invalidCiphertext()
	}
	return k, pt, nil
}

// Encrypt encrypts up to 4096 bytes under a symmetric key.
func (s *Service) Encrypt(ctx context.Context, c *auth.Caller, in *EncryptInput) (*EncryptOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if in.Plaintext == nil {
		return nil, svcerr.Missing("plaintext")
	}
	if err := svcerr.CheckLen("plaintext", len(in.Plaintext), 1, maxPlaintext); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if _, err := s.checkAlgorithm("encryptionAlgorithm", in.EncryptionAlgorithm, nil); err != nil {
		return nil, err
	}
	k, err := s.cryptoKey(ctx, c, in.KeyID, ActEncrypt, UsageEncryptDecrypt, &facts{ec: in.EncryptionContext, encAlg: orDefaultAlg(in.EncryptionAlgorithm), grantTokens: in.GrantTokens})
	if err != nil {
		return nil, err
	}
	alg, err := s.checkAlgorithm("encryptionAlgorithm", in.EncryptionAlgorithm, k)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	blob, err := s.seal(ctx, k, alg, in.Plaintext, in.EncryptionContext)
	if err != nil {
		return nil, err
	}
	return &EncryptOutput{CiphertextBlob: blob, KeyID: s.keyARN(k), EncryptionAlgorithm: alg}, nil
}

// Decrypt decrypts a ciphertext blob made by Encrypt, GenerateDataKey,
// GenerateDataKeyWithoutPlaintext or ReEncrypt.
func (s *Service) Decrypt(ctx context.Context, c *auth.Caller, in *DecryptInput) (*DecryptOutput, error) {
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if in.Recipient != nil {
		return nil, recipientUnsupported()
	}
	k, pt, err := s.open(ctx, c, in.CiphertextBlob, in.KeyID, in.EncryptionAlgorithm, in.EncryptionContext, in.GrantTokens, ActDecrypt, in.DryRun)
	if err != nil {
		return nil, err
	}
	alg := in.EncryptionAlgorithm
	if alg == "" {
		alg = algSymmetricDefault
	}
	return &DecryptOutput{KeyID: s.keyARN(k), Plaintext: pt, EncryptionAlgorithm: alg}, nil
}

// ReEncrypt decrypts a blob and encrypts its plaintext under another key
// (or the same key's current version) without exposing the plaintext.
func (s *Service) ReEncrypt(ctx context.Context, c *auth.Caller, in *ReEncryptInput) (*ReEncryptOutput, error) {
	if in.CiphertextBlob == nil {
		return nil, svcerr.Missing("ciphertextBlob")
	}
	if err := checkKeyID("destinationKeyId", in.DestinationKeyID); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if _, err := s.checkAlgorithm("destinationEncryptionAlgorithm", in.DestinationEncryptionAlgorithm, nil); err != nil {
		return nil, err
	}
	dst, err := s.cryptoKey(ctx, c, in.DestinationKeyID, ActReEncryptTo, UsageEncryptDecrypt, &facts{ec: in.DestinationEncryptionContext, encAlg: orDefaultAlg(in.DestinationEncryptionAlgorithm), grantTokens: in.GrantTokens})
	if err != nil {
		return nil, err
	}
	dstAlg, err := s.checkAlgorithm("destinationEncryptionAlgorithm", in.DestinationEncryptionAlgorithm, dst)
	if err != nil {
		return nil, err
	}
	src, pt, err := s.open(ctx, c, in.CiphertextBlob, in.SourceKeyID, in.SourceEncryptionAlgorithm, in.SourceEncryptionContext, in.GrantTokens, ActReEncryptFrom, in.DryRun)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	blob, err := s.seal(ctx, dst, dstAlg, pt, in.DestinationEncryptionContext)
	if err != nil {
		return nil, err
	}
	srcAlg := in.SourceEncryptionAlgorithm
	if srcAlg == "" {
		srcAlg = algSymmetricDefault
	}
	return &ReEncryptOutput{
		CiphertextBlob: blob, SourceKeyID: s.keyARN(src), KeyID: s.keyARN(dst),
		SourceEncryptionAlgorithm: srcAlg, DestinationEncryptionAlgorithm: dstAlg,
	}, nil
}

func recipientUnsupported() error {
	return svcerr.New(svcerr.UnsupportedOperation, "Arca does not accept a Recipient attestation document: there are no Nitro Enclaves to attest.")
}

// dataKeySize validates the NumberOfBytes/KeySpec pair of the data-key
// operations (exactly one must be given) and returns the key length.
func dataKeySize(n *int32, spec string) (int, error) {
	switch {
	case n != nil && spec != "":
		return 0, svcerr.Validationf("Please specify either number of bytes or key spec, not both.")
	case n != nil:
		if err := svcerr.CheckRange("numberOfBytes", *n, 1, maxDataKeyBytes); err != nil {
			return 0, err
		}
		return int(*n), nil
	case spec != "":
		if err := checkEnum("keySpec", spec, "AES_256", "AES_128"); err != nil {
			return 0, err
		}
		if spec == "AES_128" {
			return 16, nil
		}
		return 32, nil
	}
	return 0, svcerr.Validationf("Please specify either number of bytes or key spec.")
}

func (s *Service) dataKey(ctx context.Context, c *auth.Caller, in *GenerateDataKeyInput, action string) (*keystore.Key, []byte, []byte, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, nil, nil, err
	}
	n, err := dataKeySize(in.NumberOfBytes, in.KeySpec)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, nil, nil, err
	}
	if in.Recipient != nil {
		return nil, nil, nil, recipientUnsupported()
	}
	k, err := s.cryptoKey(ctx, c, in.KeyID, action, UsageEncryptDecrypt, &facts{ec: in.EncryptionContext, encAlg: algSymmetricDefault, grantTokens: in.GrantTokens})
	if err != nil {
		return nil, nil, nil, err
	}
	if !isSymmetric(k.Spec) {
		return nil, nil, nil, svcerr.New(svcerr.InvalidKeyUsage, "%s is not a symmetric encryption key.", s.keyARN(k))
	}
	if in.DryRun {
		return nil, nil, nil, dryRun()
	}
	pt, err := kmscrypto.RandomBytes(n)
	if err != nil {
		return nil, nil, nil, svcerr.InternalError(err)
	}
	blob, err := s.seal(ctx, k, algSymmetricDefault, pt, in.EncryptionContext)
	if err != nil {
		clear(pt)
		return nil, nil, nil, err
	}
	return k, pt, blob, nil
}

// GenerateDataKey returns a fresh data key in plaintext and encrypted under a KMS key.
func (s *Service) GenerateDataKey(ctx context.Context, c *auth.Caller, in *GenerateDataKeyInput) (*GenerateDataKeyOutput, error) {
	k, pt, blob, err := s.dataKey(ctx, c, in, ActGenerateDataKey)
	if err != nil {
		return nil, err
	}
	return &GenerateDataKeyOutput{CiphertextBlob: blob, Plaintext: pt, KeyID: s.keyARN(k)}, nil
}

// GenerateDataKeyWithoutPlaintext returns a fresh data key encrypted under a
// KMS key only.
func (s *Service) GenerateDataKeyWithoutPlaintext(ctx context.Context, c *auth.Caller, in *GenerateDataKeyInput) (*GenerateDataKeyWithoutPlaintextOutput, error) {
	if in.Recipient != nil {
		return nil, svcerr.Validationf("GenerateDataKeyWithoutPlaintext does not take a Recipient.")
	}
	k, pt, blob, err := s.dataKey(ctx, c, in, ActGenerateDataKeyWithoutPlaintext)
	if err != nil {
		return nil, err
	}
	clear(pt)
	return &GenerateDataKeyWithoutPlaintextOutput{CiphertextBlob: blob, KeyID: s.keyARN(k)}, nil
}

// GenerateRandom returns 1–1024 random bytes from crypto/rand.
func (s *Service) GenerateRandom(ctx context.Context, c *auth.Caller, in *GenerateRandomInput) (*GenerateRandomOutput, error) {
	if in.NumberOfBytes == nil {
		return nil, svcerr.Missing("numberOfBytes")
	}
	if err := svcerr.CheckRange("numberOfBytes", *in.NumberOfBytes, 1, maxRandomBytes); err != nil {
		return nil, err
	}
	if in.Recipient != nil {
		return nil, recipientUnsupported()
	}
	if in.CustomKeyStoreID != "" {
		return nil, svcerr.New(svcerr.CustomKeyStoreNotFound, "Custom key store %s does not exist.", in.CustomKeyStoreID)
	}
	if err := s.authorize(ctx, c, ActGenerateRandom, nil); err != nil {
		return nil, err
	}
	b, err := kmscrypto.RandomBytes(int(*in.NumberOfBytes))
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	return &GenerateRandomOutput{Plaintext: b}, nil
}
