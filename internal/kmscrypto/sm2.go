package kmscrypto

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/subtle"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// SM2UserID is the SM2 distinguishing ID (user ID) AWS KMS uses in Z_A for
// SM2DSA, and so the one Arca uses: signatures verify offline with the
// default ID of GB/T 32918 tooling.
const SM2UserID = "1234567812345678"

// sm2MaxPlaintext is AWS's SM2PKE plaintext limit.
const sm2MaxPlaintext = 1024

// generateSM2 makes a new SM2 key as PKCS#8 DER: id-ecPublicKey with the
// SM2 curve OID 1.2.156.10197.1.301, as gmsm's smx509 (and GmSSL) encode it.
func generateSM2() ([]byte, error) {
	priv, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	defer zeroPrivate(priv)
	return smx509.MarshalPKCS8PrivateKey(priv)
}

// loadSM2 parses m.raw as a PKCS#8 SM2 key.
func loadSM2(m *material) error {
	parsed, err := smx509.ParsePKCS8PrivateKey(m.raw)
	if err != nil {
		return err
	}
	priv, ok := parsed.(*sm2.PrivateKey)
	if !ok || priv.Curve != sm2.P256() {
		zeroPrivate(parsed)
		return fmt.Errorf("PKCS#8 holds a %T, not an SM2 key", parsed)
	}
	return setAsymmetric(m, priv, &priv.PublicKey, smx509.MarshalPKCS8PrivateKey, smx509.MarshalPKIXPublicKey)
}

// sm2Sign signs with SM2DSA, returning a DER (r, s) signature. For RAW the
// input is the message and the digest is SM3(Z_A ‖ M) with SM2UserID; for
// DIGEST the input is that 32-byte digest e, signed as is.
func sm2Sign(priv *sm2.PrivateKey, raw bool, message []byte) ([]byte, error) {
	if raw {
		return sm2.SignASN1(rand.Reader, priv, message, sm2.NewSM2SignerOption(true, []byte(SM2UserID)))
	}
	return sm2.SignASN1(rand.Reader, priv, message, nil)
}

// sm2Verify verifies a signature made by sm2Sign.
func sm2Verify(pub *ecdsa.PublicKey, raw bool, message, sig []byte) bool {
	if raw {
		return sm2.VerifyASN1WithSM2(pub, []byte(SM2UserID), message, sig)
	}
	return sm2.VerifyASN1(pub, message, sig)
}

// sm2Encrypt encrypts with SM2PKE (GB/T 32918.4). The ciphertext is the
// ASN.1 DER SM2Cipher of GB/T 35276 / GM/T 0009 — SEQUENCE { x INTEGER,
// y INTEGER, hash OCTET STRING (C3), ciphertext OCTET STRING (C2) } — the
// form OpenSSL and GmSSL read and write.
func sm2Encrypt(k *Key, plaintext []byte) ([]byte, error) {
	if len(plaintext) == 0 {
		// SM2PKE of nothing is a bare C1‖C3, which decryptors reject.
		return nil, fmt.Errorf("%w: SM2PKE needs at least 1 byte of plaintext", ErrUnsupportedAlgorithm)
	}
	priv, _ := k.m.priv.(*sm2.PrivateKey)
	for range sm2EncryptTries {
		ct, err := sm2.EncryptASN1(rand.Reader, k.m.pubKey.(*ecdsa.PublicKey), plaintext)
		if err != nil || len(plaintext) >= sm2CheckBelow || priv == nil {
			return ct, err
		}
		// gmsm v0.34.1 (the newest the module proxy serves) has two bugs
		// that strike with probability 256^-len(plaintext): when the KDF
		// output is all zeros its encryptor retries with the public key
		// point it has overwritten, making a ciphertext nobody can
		// decrypt; and its decryptor tests C2 instead of the KDF output
		// for all zeros, refusing a valid ciphertext whose C2 is zero. For
		// a short plaintext (1 byte: about 1 in 128) Arca therefore checks
		// that the ciphertext decrypts and, if not, encrypts again with a
		// fresh random k, as the standard's step A5 itself does.
		if pt, err := sm2.Decrypt(priv, ct); err == nil && subtle.ConstantTimeCompare(pt, plaintext) == 1 {
			return ct, nil
		}
	}
	return nil, fmt.Errorf("kmscrypto: SM2PKE: no decryptable ciphertext after %d tries", sm2EncryptTries)
}

// sm2CheckBelow is the plaintext length from which the gmsm bugs above
// (probability 256^-len) are left unchecked: at 16 bytes 2^-128.
const sm2CheckBelow = 16

// sm2EncryptTries bounds the re-encryptions: each fails with probability
// at most about 1/128.
const sm2EncryptTries = 8

// sm2Decrypt decrypts an SM2PKE ciphertext, either the ASN.1 form
// sm2Encrypt makes or the raw 0x04 ‖ C1 ‖ C3 ‖ C2 concatenation.
func sm2Decrypt(k *Key, ciphertext []byte) ([]byte, error) {
	pt, err := sm2.Decrypt(k.m.priv.(*sm2.PrivateKey), ciphertext)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt, nil
}

// ecdhSM2 derives the ECDH shared secret on the SM2 curve: the x-coordinate
// of d·Q for the peer's point Q (the cofactor is 1). AWS describes SM2
// DeriveSharedSecret as the same ECDH primitive as for NIST curves, not as
// the SM2 key exchange protocol of GB/T 32918.3 (which needs both parties'
// IDs and an ephemeral key), so that is what this computes.
func ecdhSM2(priv *sm2.PrivateKey, peerDER []byte) ([]byte, error) {
	parsed, err := smx509.ParsePKIXPublicKey(peerDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPublicKey, err)
	}
	peer, ok := parsed.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(peer) {
		return nil, fmt.Errorf("%w: not an SM2 public key", ErrInvalidPublicKey)
	}
	peerECDH, err := sm2.PublicKeyToECDH(peer)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPublicKey, err)
	}
	privECDH, err := priv.ECDH()
	if err != nil {
		return nil, err
	}
	secret, err := privECDH.ECDH(peerECDH)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPublicKey, err)
	}
	return secret, nil
}
