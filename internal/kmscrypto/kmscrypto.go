// Package kmscrypto is the cryptography of KMS keys: key material for every
// AWS KMS key spec (and Arca's SM4), the ciphertext blob format, the
// canonical encoding of encryption contexts, signing, asymmetric encryption,
// MACs, key agreement and data key pairs.
//
// It is pure: keys and bytes in, bytes out. It does no storage, no network
// and no I/O beyond reading crypto/rand, caches nothing in package state, and
// imports nothing of Arca's. It is named kmscrypto so it never shadows the
// standard library's crypto.
//
// One file per concept: key.go (Key, Generate, ParseKey, Marshal), spec.go
// (spec, usage and algorithm names; the DescribeKey tables), blob.go and
// context.go (symmetric ciphertext), sign.go (Sign, Verify), rsa.go, ecc.go,
// secp256k1.go, ed25519.go, sm2.go, mldsa.go, hmac.go, agreement.go,
// keypair.go. Libraries: the standard library for AES, RSA, NIST ECDSA/ECDH,
// Ed25519 and HMAC; github.com/emmansun/gmsm for SM2, SM3 and SM4;
// github.com/decred/dcrd/dcrec/secp256k1/v4 for secp256k1; filippo.io/mldsa
// (the standard library's own ML-DSA, which Go 1.26 does not yet export) for
// ML-DSA.
//
// This package checks an algorithm against a key's spec
// (ErrUnsupportedAlgorithm) but not against the key's usage: usage is the
// service's metadata, and the service must check it first. The exported
// Err* sentinels are what the service maps to AWS error codes.
//
// # Key material (Key.Marshal)
//
//	SYMMETRIC_DEFAULT        32 raw bytes (AES-256)
//	SM4                      16 raw bytes
//	HMAC_224/256/384/512     raw bytes; generated 28/32/48/64, imported up to 64/64/128/128
//	RSA_2048/3072/4096       PKCS#8 DER (e = 65537)
//	ECC_NIST_P256/P384/P521  PKCS#8 DER, RFC 5915 ECPrivateKey inside
//	ECC_SECG_P256K1          PKCS#8 DER, id-ecPublicKey + secp256k1 (1.3.132.0.10)
//	ECC_NIST_EDWARDS25519    PKCS#8 DER (RFC 8410)
//	SM2                      PKCS#8 DER, id-ecPublicKey + SM2 (1.2.156.10197.1.301)
//	ML_DSA_44/65/87          the 32-byte seed ξ (FIPS 204)
//
// ParseKey also accepts any valid PKCS#8 of the right algorithm and size and
// re-encodes it in the form above. Public keys (PublicKeyDER) are DER
// SubjectPublicKeyInfo; ML-DSA uses the RFC 9881 OIDs.
//
// # Ciphertext blob, format version 1
//
// EncryptSymmetric returns a self-describing blob, so Decrypt needs no KeyId
// and still works after rotation. All integers are big-endian:
//
//	offset  size   field
//	0       1      format version, 0x01 (any other value is rejected)
//	1       2      magic 0xA7 0xCA, so foreign bytes are rejected cheaply
//	3       1      algorithm: 0x01 AES-256-GCM, 0x02 SM4-GCM (others rejected)
//	4       1      key ID length L, 1..64
//	5       L      key ID (opaque to this package; Arca writes ACCOUNT:KEYID)
//	5+L     4      key version, uint32
//	9+L     12     nonce, random per blob
//	21+L    n+16   ciphertext of the n-byte plaintext, then the 16-byte GCM tag
//
// The additional authenticated data is bytes [0, 21+L) — the whole header,
// nonce included — followed by CanonicalContext(encryption context), so a
// change to any byte of the blob, or a different context, fails to open. The
// same layout is documented in docs/FORMATS.md.
package kmscrypto

import (
	"crypto/rand"
	"errors"
	"fmt"
)

// ErrInvalidCiphertext is the single opaque error for any blob that fails to
// parse or authenticate: a bad header, a bad tag, a wrong key and a wrong
// encryption context are indistinguishable, so the error is no oracle.
var ErrInvalidCiphertext = errors.New("kmscrypto: invalid ciphertext")

// ErrUnsupportedSpec is returned for a key spec this package does not know,
// or for an operation the key's spec cannot perform (for example
// EncryptSymmetric with an RSA key).
var ErrUnsupportedSpec = errors.New("kmscrypto: unsupported key spec")

// ErrInvalidKeyMaterial is returned by ParseKey for material that is not a
// valid persisted form of the named spec.
var ErrInvalidKeyMaterial = errors.New("kmscrypto: invalid key material")

// ErrUnsupportedAlgorithm is returned for an algorithm the key's spec does
// not support (AWS: InvalidKeyUsageException), or a usage the spec does not
// allow.
var ErrUnsupportedAlgorithm = errors.New("kmscrypto: algorithm not supported by this key spec")

// ErrInvalidMessageType is returned for a MessageType the signing algorithm
// does not accept, such as DIGEST with ED25519_SHA_512 or EXTERNAL_MU with
// anything but ML-DSA (AWS: ValidationException).
var ErrInvalidMessageType = errors.New("kmscrypto: message type not valid for this signing algorithm")

// ErrInvalidDigestLength is returned when a DIGEST or EXTERNAL_MU message is
// not exactly as long as the algorithm's digest (AWS: ValidationException).
var ErrInvalidDigestLength = errors.New("kmscrypto: digest length does not match the signing algorithm")

// ErrInvalidSignature is returned by Verify for a signature that does not
// verify, whatever the reason (AWS: KMSInvalidSignatureException).
var ErrInvalidSignature = errors.New("kmscrypto: invalid signature")

// ErrInvalidMAC is returned by VerifyMac for a MAC that does not verify
// (AWS: KMSInvalidMacException).
var ErrInvalidMAC = errors.New("kmscrypto: invalid MAC")

// ErrPlaintextTooLarge is returned by EncryptAsymmetric for a plaintext over
// the algorithm's limit for the key (AWS: ValidationException).
var ErrPlaintextTooLarge = errors.New("kmscrypto: plaintext too large for this key and algorithm")

// ErrInvalidPublicKey is returned by DeriveSharedSecret for a peer public key
// that does not parse as SubjectPublicKeyInfo, is not on the key's curve, or
// is not a valid point (AWS: ValidationException).
var ErrInvalidPublicKey = errors.New("kmscrypto: invalid peer public key")

// RandomBytes returns n bytes from crypto/rand, for GenerateRandom and data
// keys.
func RandomBytes(n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("kmscrypto: negative length %d", n)
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
