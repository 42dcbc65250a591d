package kms

import (
	"context"
	"errors"
	"slices"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Key usages beyond ENCRYPT_DECRYPT.
const (
	UsageSignVerify   = "SIGN_VERIFY"
	UsageMac          = "GENERATE_VERIFY_MAC"
	UsageKeyAgreement = "KEY_AGREEMENT"
)

// Actions of the asymmetric and MAC operations.
const (
	ActSign                                = "kms:Sign"
	ActVerify                              = "kms:Verify"
	ActGetPublicKey                        = "kms:GetPublicKey"
	ActGenerateMac                         = "kms:GenerateMac"
	ActVerifyMac                           = "kms:VerifyMac"
	ActDeriveSharedSecret                  = "kms:DeriveSharedSecret"
	ActGenerateDataKeyPair                 = "kms:GenerateDataKeyPair"
	ActGenerateDataKeyPairWithoutPlaintext = "kms:GenerateDataKeyPairWithoutPlaintext"
)

// Limits of these operations, as AWS documents them.
const (
	maxSignMessage = 4096
	maxSignature   = 6144
	maxMacMessage  = 4096
	maxMac         = 6144
	maxPeerKey     = 8192
)

var (
	allSigningAlgorithms = []string{
		"RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512",
		"RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
		"ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "ED25519_SHA_512", "ED25519_PH_SHA_512",
		"SM2DSA", "ML_DSA_SHAKE_256",
	}
	allMessageTypes  = []string{"RAW", "DIGEST", "EXTERNAL_MU"}
	allMacAlgorithms = []string{"HMAC_SHA_224", "HMAC_SHA_256", "HMAC_SHA_384", "HMAC_SHA_512"}
)

// SignInput is the Sign request.
type SignInput struct {
	KeyID            string   `json:"KeyId"`
	Message          []byte   `json:"Message"`
	MessageType      string   `json:"MessageType"`
	GrantTokens      []string `json:"GrantTokens"`
	SigningAlgorithm string   `json:"SigningAlgorithm"`
	DryRun           bool     `json:"DryRun"`
}

// SignOutput is the Sign response.
type SignOutput struct {
	KeyID            string `json:"KeyId"`
	Signature        []byte `json:"Signature"`
	SigningAlgorithm string `json:"SigningAlgorithm"`
}

// VerifyInput is the Verify request.
type VerifyInput struct {
	KeyID            string   `json:"KeyId"`
	Message          []byte   `json:"Message"`
	MessageType      string   `json:"MessageType"`
	Signature        []byte   `json:"Signature"`
	SigningAlgorithm string   `json:"SigningAlgorithm"`
	GrantTokens      []string `json:"GrantTokens"`
	DryRun           bool     `json:"DryRun"`
}

// VerifyOutput is the Verify response.
type VerifyOutput struct {
	KeyID            string `json:"KeyId"`
	SignatureValid   bool   `json:"SignatureValid"`
	SigningAlgorithm string `json:"SigningAlgorithm"`
}

// GetPublicKeyInput is the GetPublicKey request.
type GetPublicKeyInput struct {
	KeyID       string   `json:"KeyId"`
	GrantTokens []string `json:"GrantTokens"`
}

// GetPublicKeyOutput is the GetPublicKey response.
type GetPublicKeyOutput struct {
	KeyID                  string   `json:"KeyId"`
	PublicKey              []byte   `json:"PublicKey"`
	CustomerMasterKeySpec  string   `json:"CustomerMasterKeySpec"`
	KeySpec                string   `json:"KeySpec"`
	KeyUsage               string   `json:"KeyUsage"`
	EncryptionAlgorithms   []string `json:"EncryptionAlgorithms,omitempty"`
	SigningAlgorithms      []string `json:"SigningAlgorithms,omitempty"`
	KeyAgreementAlgorithms []string `json:"KeyAgreementAlgorithms,omitempty"`
}

// GenerateMacInput is the GenerateMac request.
type GenerateMacInput struct {
	KeyID        string   `json:"KeyId"`
	Message      []byte   `json:"Message"`
	MacAlgorithm string   `json:"MacAlgorithm"`
	GrantTokens  []string `json:"GrantTokens"`
	DryRun       bool     `json:"DryRun"`
}

// GenerateMacOutput is the GenerateMac response.
type GenerateMacOutput struct {
	Mac          []byte `json:"Mac"`
	MacAlgorithm string `json:"MacAlgorithm"`
	KeyID        string `json:"KeyId"`
}

// VerifyMacInput is the VerifyMac request.
type VerifyMacInput struct {
	KeyID        string   `json:"KeyId"`
	Message      []byte   `json:"Message"`
	MacAlgorithm string   `json:"MacAlgorithm"`
	Mac          []byte   `json:"Mac"`
	GrantTokens  []string `json:"GrantTokens"`
	DryRun       bool     `json:"DryRun"`
}

// VerifyMacOutput is the VerifyMac response.
type VerifyMacOutput struct {
	KeyID        string `json:"KeyId"`
	MacValid     bool   `json:"MacValid"`
	MacAlgorithm string `json:"MacAlgorithm"`
}

// DeriveSharedSecretInput is the DeriveSharedSecret request.
type DeriveSharedSecretInput struct {
	KeyID                 string         `json:"KeyId"`
	KeyAgreementAlgorithm string         `json:"KeyAgreementAlgorithm"`
	PublicKey             []byte         `json:"PublicKey"`
	GrantTokens           []string       `json:"GrantTokens"`
	DryRun                bool           `json:"DryRun"`
	Recipient             *RecipientInfo `json:"Recipient"`
}

// DeriveSharedSecretOutput is the DeriveSharedSecret response.
type DeriveSharedSecretOutput struct {
	KeyID                 string `json:"KeyId"`
	SharedSecret          []byte `json:"SharedSecret"`
	KeyAgreementAlgorithm string `json:"KeyAgreementAlgorithm"`
	KeyOrigin             string `json:"KeyOrigin"`
}

// GenerateDataKeyPairInput is the GenerateDataKeyPair(WithoutPlaintext) request.
type GenerateDataKeyPairInput struct {
	KeyID             string            `json:"KeyId"`
	KeyPairSpec       string            `json:"KeyPairSpec"`
	EncryptionContext map[string]string `json:"EncryptionContext"`
	GrantTokens       []string          `json:"GrantTokens"`
	Recipient         *RecipientInfo    `json:"Recipient"`
	DryRun            bool              `json:"DryRun"`
}

// GenerateDataKeyPairOutput is the GenerateDataKeyPair response; the
// WithoutPlaintext variant leaves PrivateKeyPlaintext out.
type GenerateDataKeyPairOutput struct {
	PrivateKeyCiphertextBlob []byte `json:"PrivateKeyCiphertextBlob"`
	PrivateKeyPlaintext      []byte `json:"PrivateKeyPlaintext,omitempty"`
	PublicKey                []byte `json:"PublicKey"`
	KeyID                    string `json:"KeyId"`
	KeyPairSpec              string `json:"KeyPairSpec"`
}

// supports reports whether k (of its spec and usage) offers algorithm alg
// in the list pick selects.
func supports[T ~string](k *keystore.Key, alg string, pick func(kmscrypto.Algorithms) []T) bool {
	algs, err := kmscrypto.AlgorithmsFor(k.Spec, kmscrypto.KeyUsage(k.Usage))
	return err == nil && slices.Contains(pick(algs), T(alg))
}

// signing validates the members Sign and Verify share and resolves the key.
func (s *Service) signing(ctx context.Context, c *auth.Caller, keyID string, msg []byte, msgType, alg string, tokens []string, action string) (*keystore.Key, string, error) {
	if err := checkKeyID("keyId", keyID); err != nil {
		return nil, "", err
	}
	if msg == nil {
		return nil, "", svcerr.Missing("message")
	}
	if err := svcerr.CheckLen("message", len(msg), 1, maxSignMessage); err != nil {
		return nil, "", err
	}
	if msgType == "" {
		msgType = "RAW"
	}
	if err := checkEnum("messageType", msgType, allMessageTypes...); err != nil {
		return nil, "", err
	}
	if alg == "" {
		return nil, "", svcerr.Missing("signingAlgorithm")
	}
	if err := checkEnum("signingAlgorithm", alg, allSigningAlgorithms...); err != nil {
		return nil, "", err
	}
	if err := checkGrantTokens(tokens); err != nil {
		return nil, "", err
	}
	k, err := s.cryptoKey(ctx, c, keyID, action, UsageSignVerify, &facts{signAlg: alg, grantTokens: tokens})
	if err != nil {
		return nil, "", err
	}
	if !supports(k, alg, func(a kmscrypto.Algorithms) []kmscrypto.SigningAlgorithm { return a.SigningAlgorithms }) {
		return nil, "", svcerr.New(svcerr.InvalidKeyUsage, "%s does not support the %s signing algorithm.", s.keyARN(k), alg)
	}
	return k, msgType, nil
}

// Sign signs a message or digest with an asymmetric SIGN_VERIFY key.
func (s *Service) Sign(ctx context.Context, c *auth.Caller, in *SignInput) (*SignOutput, error) {
	k, msgType, err := s.signing(ctx, c, in.KeyID, in.Message, in.MessageType, in.SigningAlgorithm, in.GrantTokens, ActSign)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	m, err := s.ks.Material(ctx, k, k.Current)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	sig, err := kmscrypto.Sign(m, kmscrypto.SigningAlgorithm(in.SigningAlgorithm), in.Message, kmscrypto.MessageType(msgType))
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &SignOutput{KeyID: s.keyARN(k), Signature: sig, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// Verify checks a signature made by Sign (or by any holder of the private
// key). An invalid signature is KMSInvalidSignatureException, as AWS.
func (s *Service) Verify(ctx context.Context, c *auth.Caller, in *VerifyInput) (*VerifyOutput, error) {
	if in.Signature == nil {
		return nil, svcerr.Missing("signature")
	}
	if err := svcerr.CheckLen("signature", len(in.Signature), 1, maxSignature); err != nil {
		return nil, err
	}
	k, msgType, err := s.signing(ctx, c, in.KeyID, in.Message, in.MessageType, in.SigningAlgorithm, in.GrantTokens, ActVerify)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	m, err := s.ks.Material(ctx, k, k.Current)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	if err := kmscrypto.Verify(m, kmscrypto.SigningAlgorithm(in.SigningAlgorithm), in.Message, kmscrypto.MessageType(msgType), in.Signature); err != nil {
		return nil, cryptoErr(err)
	}
	return &VerifyOutput{KeyID: s.keyARN(k), SignatureValid: true, SigningAlgorithm: in.SigningAlgorithm}, nil
}

// GetPublicKey returns an asymmetric key's public key as DER
// SubjectPublicKeyInfo, with the metadata AWS returns beside it.
func (s *Service) GetPublicKey(ctx context.Context, c *auth.Caller, in *GetPublicKeyInput) (*GetPublicKeyOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.keyFor(ctx, c, in.KeyID, ActGetPublicKey, true)
	if err != nil {
		return nil, err
	}
	if !kmscrypto.IsAsymmetric(k.Spec) {
		return nil, svcerr.New(svcerr.UnsupportedOperation, "%s is not an asymmetric KMS key; it has no public key.", s.keyARN(k))
	}
	m, err := s.ks.Material(ctx, k, k.Current)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	der, err := m.PublicKeyDER()
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	meta := s.metadata(k)
	return &GetPublicKeyOutput{
		KeyID: s.keyARN(k), PublicKey: der, CustomerMasterKeySpec: string(k.Spec), KeySpec: string(k.Spec), KeyUsage: k.Usage,
		EncryptionAlgorithms: meta.EncryptionAlgorithms, SigningAlgorithms: meta.SigningAlgorithms, KeyAgreementAlgorithms: meta.KeyAgreementAlgorithms,
	}, nil
}

// mac validates the members GenerateMac and VerifyMac share and resolves the key.
func (s *Service) mac(ctx context.Context, c *auth.Caller, keyID string, msg []byte, alg string, tokens []string, action string) (*keystore.Key, *kmscrypto.Key, error) {
	if err := checkKeyID("keyId", keyID); err != nil {
		return nil, nil, err
	}
	if msg == nil {
		return nil, nil, svcerr.Missing("message")
	}
	if err := svcerr.CheckLen("message", len(msg), 1, maxMacMessage); err != nil {
		return nil, nil, err
	}
	if alg == "" {
		return nil, nil, svcerr.Missing("macAlgorithm")
	}
	if err := checkEnum("macAlgorithm", alg, allMacAlgorithms...); err != nil {
		return nil, nil, err
	}
	if err := checkGrantTokens(tokens); err != nil {
		return nil, nil, err
	}
	k, err := s.cryptoKey(ctx, c, keyID, action, UsageMac, &facts{macAlg: alg, grantTokens: tokens})
	if err != nil {
		return nil, nil, err
	}
	if !supports(k, alg, func(a kmscrypto.Algorithms) []kmscrypto.MacAlgorithm { return a.MacAlgorithms }) {
		return nil, nil, svcerr.New(svcerr.InvalidKeyUsage, "%s does not support the %s MAC algorithm.", s.keyARN(k), alg)
	}
	m, err := s.ks.Material(ctx, k, k.Current)
	if err != nil {
		return nil, nil, svcerr.InternalError(err)
	}
	return k, m, nil
}

// GenerateMac computes an HMAC with an HMAC key.
func (s *Service) GenerateMac(ctx context.Context, c *auth.Caller, in *GenerateMacInput) (*GenerateMacOutput, error) {
	k, m, err := s.mac(ctx, c, in.KeyID, in.Message, in.MacAlgorithm, in.GrantTokens, ActGenerateMac)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	out, err := kmscrypto.GenerateMac(m, kmscrypto.MacAlgorithm(in.MacAlgorithm), in.Message)
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &GenerateMacOutput{Mac: out, MacAlgorithm: in.MacAlgorithm, KeyID: s.keyARN(k)}, nil
}

// VerifyMac checks an HMAC in constant time. A wrong MAC is
// KMSInvalidMacException, as AWS.
func (s *Service) VerifyMac(ctx context.Context, c *auth.Caller, in *VerifyMacInput) (*VerifyMacOutput, error) {
	if in.Mac == nil {
		return nil, svcerr.Missing("mac")
	}
	if err := svcerr.CheckLen("mac", len(in.Mac), 1, maxMac); err != nil {
		return nil, err
	}
	k, m, err := s.mac(ctx, c, in.KeyID, in.Message, in.MacAlgorithm, in.GrantTokens, ActVerifyMac)
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	if err := kmscrypto.VerifyMac(m, kmscrypto.MacAlgorithm(in.MacAlgorithm), in.Message, in.Mac); err != nil {
		return nil, cryptoErr(err)
	}
	return &VerifyMacOutput{KeyID: s.keyARN(k), MacValid: true, MacAlgorithm: in.MacAlgorithm}, nil
}

// DeriveSharedSecret runs ECDH between a KEY_AGREEMENT key and a peer's
// public key and returns the raw shared secret, as AWS does without a
// Recipient.
func (s *Service) DeriveSharedSecret(ctx context.Context, c *auth.Caller, in *DeriveSharedSecretInput) (*DeriveSharedSecretOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if in.KeyAgreementAlgorithm == "" {
		return nil, svcerr.Missing("keyAgreementAlgorithm")
	}
	if err := checkEnum("keyAgreementAlgorithm", in.KeyAgreementAlgorithm, "ECDH"); err != nil {
		return nil, err
	}
	if in.PublicKey == nil {
		return nil, svcerr.Missing("publicKey")
	}
	if err := svcerr.CheckLen("publicKey", len(in.PublicKey), 1, maxPeerKey); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if in.Recipient != nil {
		return nil, recipientUnsupported()
	}
	k, err := s.cryptoKey(ctx, c, in.KeyID, ActDeriveSharedSecret, UsageKeyAgreement, &facts{grantTokens: in.GrantTokens})
	if err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	m, err := s.ks.Material(ctx, k, k.Current)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	secret, err := kmscrypto.DeriveSharedSecret(m, kmscrypto.KeyAgreementAlgorithm(in.KeyAgreementAlgorithm), in.PublicKey)
	if err != nil {
		return nil, cryptoErr(err)
	}
	return &DeriveSharedSecretOutput{KeyID: s.keyARN(k), SharedSecret: secret, KeyAgreementAlgorithm: in.KeyAgreementAlgorithm, KeyOrigin: k.Origin}, nil
}

func (s *Service) dataKeyPair(ctx context.Context, c *auth.Caller, in *GenerateDataKeyPairInput, action string) (*GenerateDataKeyPairOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if in.KeyPairSpec == "" {
		return nil, svcerr.Missing("keyPairSpec")
	}
	var specs []string
	for _, sp := range kmscrypto.KeyPairSpecs() {
		specs = append(specs, string(sp))
	}
	if err := checkEnum("keyPairSpec", in.KeyPairSpec, specs...); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	if in.Recipient != nil {
		return nil, recipientUnsupported()
	}
	k, err := s.cryptoKey(ctx, c, in.KeyID, action, UsageEncryptDecrypt, &facts{ec: in.EncryptionContext, grantTokens: in.GrantTokens})
	if err != nil {
		return nil, err
	}
	if !isSymmetric(k.Spec) {
		return nil, svcerr.New(svcerr.InvalidKeyUsage, "%s is not a symmetric encryption key.", s.keyARN(k))
	}
	if in.DryRun {
		return nil, dryRun()
	}
	priv, pub, err := kmscrypto.GenerateKeyPair(kmscrypto.KeySpec(in.KeyPairSpec))
	if err != nil {
		if errors.Is(err, kmscrypto.ErrUnsupportedSpec) {
			return nil, svcerr.Validationf("KeyPairSpec %s is not supported.", in.KeyPairSpec)
		}
		return nil, svcerr.InternalError(err)
	}
	blob, err := s.seal(ctx, k, algSymmetricDefault, priv, in.EncryptionContext)
	if err != nil {
		clear(priv)
		return nil, err
	}
	return &GenerateDataKeyPairOutput{PrivateKeyCiphertextBlob: blob, PrivateKeyPlaintext: priv, PublicKey: pub, KeyID: s.keyARN(k), KeyPairSpec: in.KeyPairSpec}, nil
}

// GenerateDataKeyPair returns a fresh key pair: the private key as PKCS#8
// DER in plaintext and encrypted under a symmetric KMS key, and the public key.
func (s *Service) GenerateDataKeyPair(ctx context.Context, c *auth.Caller, in *GenerateDataKeyPairInput) (*GenerateDataKeyPairOutput, error) {
	return s.dataKeyPair(ctx, c, in, ActGenerateDataKeyPair)
}

// GenerateDataKeyPairWithoutPlaintext is GenerateDataKeyPair without the
// plaintext private key.
func (s *Service) GenerateDataKeyPairWithoutPlaintext(ctx context.Context, c *auth.Caller, in *GenerateDataKeyPairInput) (*GenerateDataKeyPairOutput, error) {
	out, err := s.dataKeyPair(ctx, c, in, ActGenerateDataKeyPairWithoutPlaintext)
	if err != nil {
		return nil, err
	}
	clear(out.PrivateKeyPlaintext)
	out.PrivateKeyPlaintext = nil
	return out, nil
}
