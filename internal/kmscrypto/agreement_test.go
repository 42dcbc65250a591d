package kmscrypto

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"math/big"
	"testing"
)

func TestDeriveSharedSecret(t *testing.T) {
	t.Parallel()
	curves := map[KeySpec]ecdh.Curve{ECCNistP256: ecdh.P256(), ECCNistP384: ecdh.P384(), ECCNistP521: ecdh.P521()}
	sizes := map[KeySpec]int{ECCNistP256: 32, ECCNistP384: 48, ECCNistP521: 66, SM2: 32}
	for _, spec := range []KeySpec{ECCNistP256, ECCNistP384, ECCNistP521, SM2} {
		a, b := testKey(t, spec), otherKey(t, spec)
		ab, err := DeriveSharedSecret(a, ECDH, mustPub(t, b))
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		ba, err := DeriveSharedSecret(b, ECDH, mustPub(t, a))
		if err != nil || !bytes.Equal(ab, ba) || len(ab) != sizes[spec] {
			t.Errorf("%s: secrets differ or wrong size: %x / %x, %v", spec, ab, ba, err)
		}
		if spec == SM2 {
			// Independently: x(d_b · Q_a) with textbook arithmetic, d_b
			// read from b's PKCS#8 with encoding/asn1.
			ax, ay, _ := spkiPoint(t, mustPub(t, a))
			x, _ := sm2Curve.mul(sm2Scalar(t, b), ax, ay)
			if want := x.FillBytes(make([]byte, 32)); !bytes.Equal(ab, want) {
				t.Errorf("SM2: secret %x, reference %x", ab, want)
			}
			continue
		}
		// A peer key made by crypto/ecdh, as an offline client would.
		peer, _ := curves[spec].GenerateKey(rand.Reader)
		peerDER, _ := x509.MarshalPKIXPublicKey(peer.PublicKey())
		got, err := DeriveSharedSecret(a, ECDH, peerDER)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		aPub, _ := publicOf(t, a).(interface {
			ECDH() (*ecdh.PublicKey, error)
		}).ECDH()
		want, _ := peer.ECDH(aPub)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: secret %x, crypto/ecdh %x", spec, got, want)
		}
	}
	p256, p384 := testKey(t, ECCNistP256), testKey(t, ECCNistP384)
	for name, peer := range map[string][]byte{
		"P-384 peer":  mustPub(t, p384),
		"SM2 peer":    mustPub(t, testKey(t, SM2)),
		"RSA peer":    mustPub(t, testKey(t, RSA2048)),
		"Ed25519":     mustPub(t, testKey(t, ECCNistEdwards25519)),
		"k1 peer":     mustPub(t, testKey(t, ECCSecgP256K1)),
		"junk":        []byte("junk"),
		"empty":       nil,
		"truncated":   mustPub(t, otherKey(t, ECCNistP256))[:40],
		"off curve":   offCurve(mustPub(t, otherKey(t, ECCNistP256))),
		"ML-DSA peer": mustPub(t, testKey(t, MLDSA44)),
	} {
		if _, err := DeriveSharedSecret(p256, ECDH, peer); !errors.Is(err, ErrInvalidPublicKey) {
			t.Errorf("P-256 with %s: %v", name, err)
		}
	}
	if _, err := DeriveSharedSecret(testKey(t, SM2), ECDH, mustPub(t, p256)); !errors.Is(err, ErrInvalidPublicKey) {
		t.Errorf("SM2 with a P-256 peer: %v", err)
	}
	for _, spec := range []KeySpec{RSA2048, ECCSecgP256K1, ECCNistEdwards25519, MLDSA44, SymmetricDefault, HMAC256} {
		if _, err := DeriveSharedSecret(testKey(t, spec), ECDH, mustPub(t, p256)); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("%s: %v", spec, err)
		}
	}
	if _, err := DeriveSharedSecret(p256, "X25519", mustPub(t, otherKey(t, ECCNistP256))); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("algorithm X25519: %v", err)
	}
}

// sm2Scalar reads the private scalar of an SM2 key from its PKCS#8 with
// encoding/asn1 alone.
func sm2Scalar(t *testing.T, k *Key) *big.Int {
	var p pkcs8
	var ec ecPrivateKey
	if _, err := asn1Unmarshal(k.Marshal(), &p); err != nil {
		t.Fatal(err)
	}
	if _, err := asn1Unmarshal(p.PrivateKey, &ec); err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(ec.PrivateKey)
}

// offCurve moves the point in an uncompressed EC SPKI off its curve.
func offCurve(der []byte) []byte {
	c := bytes.Clone(der)
	c[len(c)-1] ^= 1
	return c
}
