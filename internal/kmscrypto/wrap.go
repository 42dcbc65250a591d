package kmscrypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/kwp/subtle"
)

// WrappingAlgorithm is how a customer protects key material for import,
// spelled as AWS KMS's AlgorithmSpec enum (GetParametersForImport).
type WrappingAlgorithm string

// Wrapping algorithms.
const (
	// WrapRSAESPKCS1V15 is deprecated by AWS and refused by Arca; it is named
	// so that the refusal can say so.
	WrapRSAESPKCS1V15 WrappingAlgorithm = "RSAES_PKCS1_V1_5"
	// WrapRSAESOAEPSHA1 and WrapRSAESOAEPSHA256 encrypt the material directly
	// with the RSA wrapping key (OAEP, MGF1 with the same hash, empty label).
	WrapRSAESOAEPSHA1   WrappingAlgorithm = "RSAES_OAEP_SHA_1"
	WrapRSAESOAEPSHA256 WrappingAlgorithm = "RSAES_OAEP_SHA_256"
	// WrapRSAAESKeyWrapSHA1 and WrapRSAAESKeyWrapSHA256 are PKCS #11's
	// CKM_RSA_AES_KEY_WRAP: an ephemeral AES key encrypted with RSAES-OAEP,
	// followed by the material wrapped under it with AES Key Wrap with
	// Padding (RFC 5649). Needed for RSA private keys, which are too long
	// for OAEP.
	WrapRSAAESKeyWrapSHA1   WrappingAlgorithm = "RSA_AES_KEY_WRAP_SHA_1"
	WrapRSAAESKeyWrapSHA256 WrappingAlgorithm = "RSA_AES_KEY_WRAP_SHA_256"
	// WrapSM2PKE encrypts the material with the SM2 wrapping key (AWS offers
	// it in its China regions).
	WrapSM2PKE WrappingAlgorithm = "SM2PKE"
)

// WrappingAlgorithms lists every value of AWS's AlgorithmSpec enum, the
// deprecated one included, in the SDK's order.
func WrappingAlgorithms() []WrappingAlgorithm {
	return []WrappingAlgorithm{WrapRSAESPKCS1V15, WrapRSAESOAEPSHA1, WrapRSAESOAEPSHA256,
		WrapRSAAESKeyWrapSHA1, WrapRSAAESKeyWrapSHA256, WrapSM2PKE}
}

// WrappingKeySpecs lists AWS's WrappingKeySpec enum: the specs of the key
// pair GetParametersForImport makes.
func WrappingKeySpecs() []KeySpec { return []KeySpec{RSA2048, RSA3072, RSA4096, SM2} }

// CheckWrapping reports whether material for a key of target spec can be
// imported with alg under a wrapping key of wrapSpec, with AWS's rules: RSA
// private keys need an RSA_AES wrapping algorithm; RSAES-OAEP under RSA_2048
// cannot carry ECC_NIST_P521 material; SM2PKE needs an SM2 wrapping key and
// the RSA algorithms an RSA one; RSAES_PKCS1_V1_5 is no longer supported.
// The error says which rule failed.
func CheckWrapping(target KeySpec, alg WrappingAlgorithm, wrapSpec KeySpec) error {
	if !contains(WrappingKeySpecs(), wrapSpec) {
		return fmt.Errorf("%w: wrapping key spec %q", ErrUnsupportedSpec, wrapSpec)
	}
	switch alg {
	case WrapRSAESPKCS1V15:
		return fmt.Errorf("%w: the RSAES_PKCS1_V1_5 wrapping algorithm is deprecated and not supported", ErrUnsupportedAlgorithm)
	case WrapSM2PKE:
		if wrapSpec != SM2 {
			return fmt.Errorf("%w: the SM2PKE wrapping algorithm needs the SM2 wrapping key spec", ErrUnsupportedAlgorithm)
		}
		if rsaBits(target) != 0 {
			return fmt.Errorf("%w: RSA key material cannot be wrapped with SM2PKE", ErrUnsupportedAlgorithm)
		}
		return nil
	case WrapRSAESOAEPSHA1, WrapRSAESOAEPSHA256, WrapRSAAESKeyWrapSHA1, WrapRSAAESKeyWrapSHA256:
		if wrapSpec == SM2 {
			return fmt.Errorf("%w: the %s wrapping algorithm needs an RSA wrapping key spec", ErrUnsupportedAlgorithm, alg)
		}
	default:
		return fmt.Errorf("%w: wrapping algorithm %q", ErrUnsupportedAlgorithm, alg)
	}
	direct := alg == WrapRSAESOAEPSHA1 || alg == WrapRSAESOAEPSHA256
	if direct && rsaBits(target) != 0 {
		return fmt.Errorf("%w: RSA key material must be wrapped with RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256", ErrUnsupportedAlgorithm)
	}
	if direct && target == ECCNistP521 && wrapSpec == RSA2048 {
		return fmt.Errorf("%w: ECC_NIST_P521 key material is too long for %s under an RSA_2048 wrapping key", ErrUnsupportedAlgorithm, alg)
	}
	return nil
}

// oaepFor is the RSAES-OAEP variant inside a wrapping algorithm.
func oaepFor(alg WrappingAlgorithm) EncryptionAlgorithm {
	switch alg {
	case WrapRSAESOAEPSHA1, WrapRSAAESKeyWrapSHA1:
		return RSAESOAEPSHA1
	case WrapRSAESOAEPSHA256, WrapRSAAESKeyWrapSHA256:
		return RSAESOAEPSHA256
	}
	return ""
}

// UnwrapKeyMaterial recovers key material that a customer wrapped with alg
// under the public half of wk (a wrapping key GetParametersForImport made).
// Any failure — wrong key, wrong algorithm, corrupt input — is
// ErrInvalidCiphertext, with no detail that could serve as an oracle. The
// caller owns the result and should wipe it.
func UnwrapKeyMaterial(wk *Key, alg WrappingAlgorithm, wrapped []byte) ([]byte, error) {
	if err := wk.live(); err != nil {
		return nil, err
	}
	switch alg {
	case WrapSM2PKE:
		if wk.spec != SM2 {
			return nil, ErrInvalidCiphertext
		}
		return DecryptAsymmetric(wk, SM2PKE, wrapped)
	case WrapRSAESOAEPSHA1, WrapRSAESOAEPSHA256:
		if rsaBits(wk.spec) == 0 {
			return nil, ErrInvalidCiphertext
		}
		return DecryptAsymmetric(wk, oaepFor(alg), wrapped)
	case WrapRSAAESKeyWrapSHA1, WrapRSAAESKeyWrapSHA256:
		n := rsaBits(wk.spec) / 8
		if n == 0 || len(wrapped) <= n {
			return nil, ErrInvalidCiphertext
		}
		aesKey, err := DecryptAsymmetric(wk, oaepFor(alg), wrapped[:n])
		if err != nil {
			return nil, ErrInvalidCiphertext
		}
		defer clear(aesKey)
		// tink's KWP takes 128- and 256-bit keys; AWS documents 256.
		kwp, err := subtle.NewKWP(aesKey)
		if err != nil {
			return nil, ErrInvalidCiphertext
		}
		material, err := kwp.Unwrap(wrapped[n:])
		if err != nil {
			return nil, ErrInvalidCiphertext
		}
		return material, nil
	}
	return nil, fmt.Errorf("%w: wrapping algorithm %q", ErrUnsupportedAlgorithm, alg)
}

// ImportedMaterialID is the KeyMaterialId of imported material: 64 hex
// digits that depend only on the key (account and key ID) and the material,
// as AWS derives it, so reimporting the same material yields the same ID and
// different material a different one. It is HMAC-SHA256 keyed by the
// material, a pseudorandom function: the ID reveals nothing of the material
// beyond equality.
func ImportedMaterialID(k *Key, account, keyID string) (string, error) {
	if err := k.live(); err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k.m.raw)
	mac.Write([]byte("arca/kms/imported-key-material-id/v1\x00" + account + "\x00" + keyID))
	return hex.EncodeToString(mac.Sum(nil)), nil
}
