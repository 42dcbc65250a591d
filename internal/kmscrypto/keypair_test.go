package kmscrypto

import (
	"bytes"
	"crypto/x509"
	"errors"
	"testing"
)

func TestGenerateKeyPair(t *testing.T) {
	t.Parallel()
	for _, spec := range KeyPairSpecs() {
		if spec == RSA3072 || spec == RSA4096 {
			continue // slow; the same code path as RSA_2048
		}
		priv, pub, err := GenerateKeyPair(spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		k, err := ParseKey(spec, priv)
		if err != nil {
			t.Fatalf("%s: private key does not parse back: %v", spec, err)
		}
		if !bytes.Equal(mustPub(t, k), pub) {
			t.Errorf("%s: public key does not match the private key", spec)
		}
		if spec != SM2 && spec != ECCSecgP256K1 {
			if _, err := x509.ParsePKCS8PrivateKey(priv); err != nil {
				t.Errorf("%s: not PKCS#8: %v", spec, err)
			}
		}
	}
	for _, spec := range []KeySpec{SymmetricDefault, HMAC256, MLDSA44, SM4, "ML_KEM_768", "bogus"} {
		if _, _, err := GenerateKeyPair(spec); !errors.Is(err, ErrUnsupportedSpec) {
			t.Errorf("GenerateKeyPair(%s): %v", spec, err)
		}
	}
}
