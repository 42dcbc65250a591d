package kmscrypto

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"fmt"
)

// generateEd25519 makes a new Ed25519 key as PKCS#8 DER (RFC 8410).
func generateEd25519() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	defer clear(priv)
	return x509.MarshalPKCS8PrivateKey(priv)
}

// loadEd25519 parses m.raw as a PKCS#8 Ed25519 key.
func loadEd25519(m *material) error {
	parsed, err := x509.ParsePKCS8PrivateKey(m.raw)
	if err != nil {
		return err
	}
	priv, ok := parsed.(ed25519.PrivateKey)
	if !ok {
		return fmt.Errorf("PKCS#8 holds a %T, not an Ed25519 key", parsed)
	}
	return setAsymmetric(m, priv, priv.Public(), x509.MarshalPKCS8PrivateKey, x509.MarshalPKIXPublicKey)
}

// ed25519Sign signs with pure Ed25519 (ED25519_SHA_512, RAW) or with
// Ed25519ph (ED25519_PH_SHA_512, DIGEST). For Ed25519ph AWS still applies
// the SHA-512 prehash of FIPS 186-5 §7.8.1 to the 64-byte input, so the
// input is the message M and the prehash is SHA-512(M).
func ed25519Sign(priv ed25519.PrivateKey, ph bool, message []byte) ([]byte, error) {
	if !ph {
		return ed25519.Sign(priv, message), nil
	}
	h := sha512.Sum512(message)
	return priv.Sign(nil, h[:], &ed25519.Options{Hash: crypto.SHA512})
}

// ed25519Verify verifies a signature made by ed25519Sign.
func ed25519Verify(pub ed25519.PublicKey, ph bool, message, sig []byte) bool {
	opts := &ed25519.Options{}
	if ph {
		h := sha512.Sum512(message)
		opts.Hash, message = crypto.SHA512, h[:]
	}
	return ed25519.VerifyWithOptions(pub, message, sig, opts) == nil
}
