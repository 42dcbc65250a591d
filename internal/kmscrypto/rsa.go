package kmscrypto

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"hash"
)

// rsaBits is the modulus size of an RSA spec.
func rsaBits(spec KeySpec) int {
	switch spec {
	case RSA2048:
		return 2048
	case RSA3072:
		return 3072
	case RSA4096:
		return 4096
	}
	return 0
}

// generateRSA makes a new RSA key (public exponent 65537, as AWS) and
// returns it as PKCS#8 DER.
func generateRSA(bits int) ([]byte, error) {
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, err
	}
	defer zeroPrivate(priv)
	return x509.MarshalPKCS8PrivateKey(priv)
}

// loadRSA parses m.raw as a PKCS#8 RSA key of exactly bits bits and
// re-encodes it canonically.
func loadRSA(m *material, bits int) error {
	parsed, err := x509.ParsePKCS8PrivateKey(m.raw)
	if err != nil {
		return err
	}
	priv, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return fmt.Errorf("PKCS#8 holds a %T, not an RSA key", parsed)
	}
	if priv.N.BitLen() != bits {
		return fmt.Errorf("RSA modulus is %d bits, not %d", priv.N.BitLen(), bits)
	}
	if priv.E != 65537 {
		// AWS generates and imports e = 65537 only; a small or odd
		// exponent is a sign of hand-made material.
		return fmt.Errorf("RSA public exponent %d is not 65537", priv.E)
	}
	return setAsymmetric(m, priv, &priv.PublicKey, x509.MarshalPKCS8PrivateKey, x509.MarshalPKIXPublicKey)
}

// setAsymmetric stores priv in m with its canonical PKCS#8 encoding (in place
// of the raw input, which it wipes) and its SubjectPublicKeyInfo.
func setAsymmetric(m *material, priv, pub any, marshalPriv func(any) ([]byte, error), marshalPub func(any) ([]byte, error)) error {
	canonical, err := marshalPriv(priv)
	if err != nil {
		return err
	}
	spki, err := marshalPub(pub)
	if err != nil {
		clear(canonical)
		return err
	}
	clear(m.raw)
	m.raw, m.priv, m.pubKey, m.pub = canonical, priv, pub, spki
	return nil
}

// oaepHash is the OAEP (and MGF1) hash of an RSA encryption algorithm.
func oaepHash(alg EncryptionAlgorithm) (func() hash.Hash, int) {
	switch alg {
	case RSAESOAEPSHA1:
		return sha1.New, sha1.Size
	case RSAESOAEPSHA256:
		return sha256.New, sha256.Size
	}
	return nil, 0
}

// MaxPlaintextSize returns the largest plaintext EncryptAsymmetric accepts
// for a key of spec with alg, as AWS documents: k − 2·hLen − 2 bytes for
// RSAES-OAEP (RSA_2048: 214 with SHA-1, 190 with SHA-256; RSA_3072: 342 and
// 318; RSA_4096: 470 and 446) and 1024 bytes for SM2PKE. For
// SYMMETRIC_DEFAULT it is AWS's 4096-byte Encrypt limit.
func MaxPlaintextSize(spec KeySpec, alg EncryptionAlgorithm) (int, error) {
	if !contains(encryptionAlgorithms(spec), alg) {
		return 0, fmt.Errorf("%w: %s cannot encrypt with %s", ErrUnsupportedAlgorithm, spec, alg)
	}
	switch alg {
	case EncryptionSymmetricDefault:
		return 4096, nil
	case SM2PKE:
		return sm2MaxPlaintext, nil
	}
	_, hLen := oaepHash(alg)
	return rsaBits(spec)/8 - 2*hLen - 2, nil
}

// EncryptAsymmetric encrypts plaintext with the public key of k: RSAES-OAEP
// (SHA-1 or SHA-256 for both the label hash and MGF1, empty label) for RSA
// keys, SM2PKE for SM2 keys. The output is the raw algorithm output, as AWS
// returns it, not a ciphertext blob.
func EncryptAsymmetric(k *Key, alg EncryptionAlgorithm, plaintext []byte) ([]byte, error) {
	if err := k.live(); err != nil {
		return nil, err
	}
	max, err := MaxPlaintextSize(k.spec, alg)
	if err != nil || alg == EncryptionSymmetricDefault {
		return nil, fmt.Errorf("%w: %s cannot encrypt asymmetrically with %s", ErrUnsupportedAlgorithm, k.spec, alg)
	}
	if len(plaintext) > max {
		return nil, fmt.Errorf("%w: %d bytes, at most %d for %s with %s", ErrPlaintextTooLarge, len(plaintext), max, k.spec, alg)
	}
	if alg == SM2PKE {
		return sm2Encrypt(k, plaintext)
	}
	h, _ := oaepHash(alg)
	return rsa.EncryptOAEP(h(), rand.Reader, k.m.pubKey.(*rsa.PublicKey), plaintext, nil)
}

// DecryptAsymmetric decrypts a ciphertext EncryptAsymmetric (or anyone with
// the public key) made with alg. Any failure to decrypt is
// ErrInvalidCiphertext.
func DecryptAsymmetric(k *Key, alg EncryptionAlgorithm, ciphertext []byte) ([]byte, error) {
	if err := k.live(); err != nil {
		return nil, err
	}
	if alg == EncryptionSymmetricDefault || !contains(encryptionAlgorithms(k.spec), alg) {
		return nil, fmt.Errorf("%w: %s cannot decrypt asymmetrically with %s", ErrUnsupportedAlgorithm, k.spec, alg)
	}
	if alg == SM2PKE {
		return sm2Decrypt(k, ciphertext)
	}
	h, _ := oaepHash(alg)
	pt, err := rsa.DecryptOAEP(h(), nil, k.m.priv.(*rsa.PrivateKey), ciphertext, nil)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt, nil
}

// rsaSign signs digest (already hashed with h) with PSS or PKCS #1 v1.5.
// PSS uses MGF1 with the same hash and a salt as long as the hash, as AWS.
func rsaSign(priv *rsa.PrivateKey, pss bool, h crypto.Hash, digest []byte) ([]byte, error) {
	if pss {
		return rsa.SignPSS(rand.Reader, priv, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	}
	return rsa.SignPKCS1v15(nil, priv, h, digest)
}

// rsaVerify verifies a signature made by rsaSign.
func rsaVerify(pub *rsa.PublicKey, pss bool, h crypto.Hash, digest, sig []byte) bool {
	if pss {
		return rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	}
	return rsa.VerifyPKCS1v15(pub, h, digest, sig) == nil
}
