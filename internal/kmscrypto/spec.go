package kmscrypto

import "fmt"

// Key specs beyond SymmetricDefault, spelled as AWS KMS's KeySpec enum
// (SM4 is Arca's own).
const (
	RSA2048             KeySpec = "RSA_2048"
	RSA3072             KeySpec = "RSA_3072"
	RSA4096             KeySpec = "RSA_4096"
	ECCNistP256         KeySpec = "ECC_NIST_P256"
	ECCNistP384         KeySpec = "ECC_NIST_P384"
	ECCNistP521         KeySpec = "ECC_NIST_P521"
	ECCSecgP256K1       KeySpec = "ECC_SECG_P256K1"
	ECCNistEdwards25519 KeySpec = "ECC_NIST_EDWARDS25519"
	HMAC224             KeySpec = "HMAC_224"
	HMAC256             KeySpec = "HMAC_256"
	HMAC384             KeySpec = "HMAC_384"
	HMAC512             KeySpec = "HMAC_512"
	SM2                 KeySpec = "SM2"
	MLDSA44             KeySpec = "ML_DSA_44"
	MLDSA65             KeySpec = "ML_DSA_65"
	MLDSA87             KeySpec = "ML_DSA_87"
	// SM4 is Arca's extension: a 128-bit SM4 key used in GCM mode through
	// EncryptSymmetric and DecryptSymmetric, for deployments that must use
	// the Chinese commercial algorithms end to end.
	SM4 KeySpec = "SM4"
)

// KeyUsage is AWS KMS's KeyUsageType: what a key may be used for. This
// package checks algorithms against a key's spec only; the service enforces
// the key's usage.
type KeyUsage string

// Key usages.
const (
	UsageEncryptDecrypt    KeyUsage = "ENCRYPT_DECRYPT"
	UsageSignVerify        KeyUsage = "SIGN_VERIFY"
	UsageGenerateVerifyMac KeyUsage = "GENERATE_VERIFY_MAC"
	UsageKeyAgreement      KeyUsage = "KEY_AGREEMENT"
)

// EncryptionAlgorithm is AWS KMS's EncryptionAlgorithmSpec.
type EncryptionAlgorithm string

// Encryption algorithms.
const (
	EncryptionSymmetricDefault EncryptionAlgorithm = "SYMMETRIC_DEFAULT"
	RSAESOAEPSHA1              EncryptionAlgorithm = "RSAES_OAEP_SHA_1"
	RSAESOAEPSHA256            EncryptionAlgorithm = "RSAES_OAEP_SHA_256"
	SM2PKE                     EncryptionAlgorithm = "SM2PKE"
)

// SigningAlgorithm is AWS KMS's SigningAlgorithmSpec.
type SigningAlgorithm string

// Signing algorithms.
const (
	RSASSAPSSSHA256      SigningAlgorithm = "RSASSA_PSS_SHA_256"
	RSASSAPSSSHA384      SigningAlgorithm = "RSASSA_PSS_SHA_384"
	RSASSAPSSSHA512      SigningAlgorithm = "RSASSA_PSS_SHA_512"
	RSASSAPKCS1V15SHA256 SigningAlgorithm = "RSASSA_PKCS1_V1_5_SHA_256"
	RSASSAPKCS1V15SHA384 SigningAlgorithm = "RSASSA_PKCS1_V1_5_SHA_384"
	RSASSAPKCS1V15SHA512 SigningAlgorithm = "RSASSA_PKCS1_V1_5_SHA_512"
	ECDSASHA256          SigningAlgorithm = "ECDSA_SHA_256"
	ECDSASHA384          SigningAlgorithm = "ECDSA_SHA_384"
	ECDSASHA512          SigningAlgorithm = "ECDSA_SHA_512"
	Ed25519SHA512        SigningAlgorithm = "ED25519_SHA_512"
	Ed25519PHSHA512      SigningAlgorithm = "ED25519_PH_SHA_512"
	SM2DSA               SigningAlgorithm = "SM2DSA"
	MLDSASHAKE256        SigningAlgorithm = "ML_DSA_SHAKE_256"
)

// MacAlgorithm is AWS KMS's MacAlgorithmSpec.
type MacAlgorithm string

// MAC algorithms.
const (
	HMACSHA224 MacAlgorithm = "HMAC_SHA_224"
	HMACSHA256 MacAlgorithm = "HMAC_SHA_256"
	HMACSHA384 MacAlgorithm = "HMAC_SHA_384"
	HMACSHA512 MacAlgorithm = "HMAC_SHA_512"
)

// KeyAgreementAlgorithm is AWS KMS's KeyAgreementAlgorithmSpec.
type KeyAgreementAlgorithm string

// ECDH is the only key agreement algorithm: the cofactor Diffie-Hellman
// primitive, whose output is the x-coordinate of the shared point.
const ECDH KeyAgreementAlgorithm = "ECDH"

// MessageType is AWS KMS's MessageType for Sign and Verify.
type MessageType string

// Message types. The empty MessageType means RAW, as in AWS.
const (
	// MessageRaw: the message is hashed as the algorithm prescribes.
	MessageRaw MessageType = "RAW"
	// MessageDigest: the message is already the digest the algorithm would
	// compute, and its length must match (32, 48 or 64 bytes; 32 for SM2DSA,
	// which must be SM3(Z_A ‖ M); 64 for ED25519_PH_SHA_512).
	MessageDigest MessageType = "DIGEST"
	// MessageExternalMu: ML-DSA only; the message is the 64-byte μ of
	// FIPS 204 section 6.2 (SHAKE256(tr ‖ M′)).
	MessageExternalMu MessageType = "EXTERNAL_MU"
)

// Algorithms is what DescribeKey reports for a key of one spec and usage;
// the lists AWS leaves out are nil.
type Algorithms struct {
	EncryptionAlgorithms   []EncryptionAlgorithm
	SigningAlgorithms      []SigningAlgorithm
	MacAlgorithms          []MacAlgorithm
	KeyAgreementAlgorithms []KeyAgreementAlgorithm
}

// allSpecs lists every spec this package implements, in AWS's order.
var allSpecs = []KeySpec{
	SymmetricDefault, RSA2048, RSA3072, RSA4096,
	ECCNistP256, ECCNistP384, ECCNistP521, ECCSecgP256K1, ECCNistEdwards25519,
	HMAC224, HMAC256, HMAC384, HMAC512,
	SM2, MLDSA44, MLDSA65, MLDSA87, SM4,
}

// Specs returns every key spec Generate and ParseKey accept.
func Specs() []KeySpec { return append([]KeySpec(nil), allSpecs...) }

// IsAsymmetric reports whether spec is a key pair with a public key
// (GetPublicKey works for it).
func IsAsymmetric(spec KeySpec) bool {
	switch spec {
	case SymmetricDefault, SM4, HMAC224, HMAC256, HMAC384, HMAC512:
		return false
	}
	return KeyUsages(spec) != nil
}

// KeyUsages returns the usages a key of spec may be created with, the
// default (or only) one first, or nil for a spec this package does not know.
func KeyUsages(spec KeySpec) []KeyUsage {
	switch spec {
	case SymmetricDefault, SM4:
		return []KeyUsage{UsageEncryptDecrypt}
	case RSA2048, RSA3072, RSA4096:
		return []KeyUsage{UsageEncryptDecrypt, UsageSignVerify}
	case ECCNistP256, ECCNistP384, ECCNistP521:
		return []KeyUsage{UsageSignVerify, UsageKeyAgreement}
	case ECCSecgP256K1, ECCNistEdwards25519, MLDSA44, MLDSA65, MLDSA87:
		return []KeyUsage{UsageSignVerify}
	case HMAC224, HMAC256, HMAC384, HMAC512:
		return []KeyUsage{UsageGenerateVerifyMac}
	case SM2:
		return []KeyUsage{UsageEncryptDecrypt, UsageSignVerify, UsageKeyAgreement}
	}
	return nil
}

// AlgorithmsFor returns the algorithms DescribeKey reports for a key of
// spec created with usage. It fails with ErrUnsupportedSpec for an unknown
// spec and ErrUnsupportedAlgorithm for a usage the spec does not allow.
func AlgorithmsFor(spec KeySpec, usage KeyUsage) (Algorithms, error) {
	usages := KeyUsages(spec)
	if usages == nil {
		return Algorithms{}, fmt.Errorf("%w: %q", ErrUnsupportedSpec, spec)
	}
	if !contains(usages, usage) {
		return Algorithms{}, fmt.Errorf("%w: %s keys cannot be used for %s", ErrUnsupportedAlgorithm, spec, usage)
	}
	var a Algorithms
	switch usage {
	case UsageEncryptDecrypt:
		a.EncryptionAlgorithms = encryptionAlgorithms(spec)
	case UsageSignVerify:
		a.SigningAlgorithms = signingAlgorithms(spec)
	case UsageGenerateVerifyMac:
		a.MacAlgorithms = macAlgorithms(spec)
	case UsageKeyAgreement:
		a.KeyAgreementAlgorithms = []KeyAgreementAlgorithm{ECDH}
	}
	return a, nil
}

// encryptionAlgorithms lists the encryption algorithms of spec, nil if it
// cannot encrypt.
func encryptionAlgorithms(spec KeySpec) []EncryptionAlgorithm {
	switch spec {
	case SymmetricDefault, SM4:
		// SM4 keys answer to the same algorithm name: the blob's own
		// algorithm byte tells AES-GCM and SM4-GCM apart.
		return []EncryptionAlgorithm{EncryptionSymmetricDefault}
	case RSA2048, RSA3072, RSA4096:
		return []EncryptionAlgorithm{RSAESOAEPSHA1, RSAESOAEPSHA256}
	case SM2:
		return []EncryptionAlgorithm{SM2PKE}
	}
	return nil
}

// signingAlgorithms lists the signing algorithms of spec, nil if it cannot
// sign.
func signingAlgorithms(spec KeySpec) []SigningAlgorithm {
	switch spec {
	case RSA2048, RSA3072, RSA4096:
		return []SigningAlgorithm{
			RSASSAPKCS1V15SHA256, RSASSAPKCS1V15SHA384, RSASSAPKCS1V15SHA512,
			RSASSAPSSSHA256, RSASSAPSSSHA384, RSASSAPSSSHA512,
		}
	case ECCNistP256, ECCSecgP256K1:
		return []SigningAlgorithm{ECDSASHA256}
	case ECCNistP384:
		return []SigningAlgorithm{ECDSASHA384}
	case ECCNistP521:
		return []SigningAlgorithm{ECDSASHA512}
	case ECCNistEdwards25519:
		return []SigningAlgorithm{Ed25519SHA512, Ed25519PHSHA512}
	case SM2:
		return []SigningAlgorithm{SM2DSA}
	case MLDSA44, MLDSA65, MLDSA87:
		return []SigningAlgorithm{MLDSASHAKE256}
	}
	return nil
}

// macAlgorithms lists the MAC algorithm of an HMAC spec: exactly one, as in
// AWS, whose hash matches the key size.
func macAlgorithms(spec KeySpec) []MacAlgorithm {
	switch spec {
	case HMAC224:
		return []MacAlgorithm{HMACSHA224}
	case HMAC256:
		return []MacAlgorithm{HMACSHA256}
	case HMAC384:
		return []MacAlgorithm{HMACSHA384}
	case HMAC512:
		return []MacAlgorithm{HMACSHA512}
	}
	return nil
}

// contains reports whether list holds v.
func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
