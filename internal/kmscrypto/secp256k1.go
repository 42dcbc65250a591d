package kmscrypto

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// The standard library's crypto/x509 does not know secp256k1, so its PKCS#8
// and SubjectPublicKeyInfo encodings are built here, in the same shape
// crypto/x509 uses for NIST curves: id-ecPublicKey with the named curve
// secp256k1 (1.3.132.0.10, SEC 2) as the algorithm parameter, an RFC 5915
// ECPrivateKey (version 1, 32-byte scalar, [1] uncompressed public key)
// inside PKCS#8, and the uncompressed point in the SPKI.
var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
)

// pkcs8 is PKCS#8 PrivateKeyInfo (RFC 5208) without attributes.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

// ecPrivateKey is RFC 5915 ECPrivateKey.
type ecPrivateKey struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// subjectPublicKeyInfo is RFC 5280 SubjectPublicKeyInfo.
type subjectPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// secp256k1Algorithm is the AlgorithmIdentifier of a secp256k1 key.
func secp256k1Algorithm() pkix.AlgorithmIdentifier {
	params, _ := asn1.Marshal(oidSecp256k1)
	return pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}}
}

// generateSecp256k1 makes a new secp256k1 key as PKCS#8 DER.
func generateSecp256k1() ([]byte, error) {
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return nil, err
	}
	defer priv.Zero()
	return marshalSecp256k1PKCS8(priv)
}

// marshalSecp256k1PKCS8 encodes priv as PKCS#8 DER.
func marshalSecp256k1PKCS8(priv *secp256k1.PrivateKey) ([]byte, error) {
	scalar := priv.Key.Bytes()
	defer clear(scalar[:])
	inner, err := asn1.Marshal(ecPrivateKey{
		Version:    1,
		PrivateKey: scalar[:],
		PublicKey:  asn1.BitString{Bytes: priv.PubKey().SerializeUncompressed(), BitLength: 65 * 8},
	})
	if err != nil {
		return nil, err
	}
	defer clear(inner)
	return asn1.Marshal(pkcs8{Algo: secp256k1Algorithm(), PrivateKey: inner})
}

// marshalSecp256k1SPKI encodes pub as SubjectPublicKeyInfo DER.
func marshalSecp256k1SPKI(pub *secp256k1.PublicKey) ([]byte, error) {
	return asn1.Marshal(subjectPublicKeyInfo{
		Algorithm: secp256k1Algorithm(),
		PublicKey: asn1.BitString{Bytes: pub.SerializeUncompressed(), BitLength: 65 * 8},
	})
}

// loadSecp256k1 parses m.raw as a PKCS#8 secp256k1 key.
func loadSecp256k1(m *material) error {
	var p pkcs8
	if rest, err := asn1.Unmarshal(m.raw, &p); err != nil || len(rest) != 0 {
		return errors.New("not PKCS#8 DER")
	}
	var curve asn1.ObjectIdentifier
	if !p.Algo.Algorithm.Equal(oidECPublicKey) {
		return fmt.Errorf("PKCS#8 algorithm %v is not id-ecPublicKey", p.Algo.Algorithm)
	}
	if rest, err := asn1.Unmarshal(p.Algo.Parameters.FullBytes, &curve); err != nil || len(rest) != 0 || !curve.Equal(oidSecp256k1) {
		return errors.New("EC key is not on secp256k1")
	}
	var ec ecPrivateKey
	if rest, err := asn1.Unmarshal(p.PrivateKey, &ec); err != nil || len(rest) != 0 {
		return errors.New("not an RFC 5915 ECPrivateKey")
	}
	defer clear(ec.PrivateKey)
	if ec.Version != 1 || len(ec.PrivateKey) > 32 || (ec.NamedCurveOID != nil && !ec.NamedCurveOID.Equal(oidSecp256k1)) {
		return errors.New("malformed secp256k1 ECPrivateKey")
	}
	var d secp256k1.ModNScalar
	if overflow := d.SetByteSlice(ec.PrivateKey); overflow || d.IsZero() {
		return errors.New("secp256k1 private scalar out of range")
	}
	priv := secp256k1.NewPrivateKey(&d)
	d.Zero()
	if ec.PublicKey.BitLength > 0 {
		pub, err := secp256k1.ParsePubKey(ec.PublicKey.Bytes)
		if err != nil || !pub.IsEqual(priv.PubKey()) {
			priv.Zero()
			return errors.New("secp256k1 public key does not match the private key")
		}
	}
	pub := priv.PubKey()
	return setAsymmetric(m, priv, pub,
		func(any) ([]byte, error) { return marshalSecp256k1PKCS8(priv) },
		func(any) ([]byte, error) { return marshalSecp256k1SPKI(pub) })
}

// secp256k1Sign signs a 32-byte digest with RFC 6979 deterministic ECDSA,
// returning the DER signature (low S, as decred's signer makes it).
func secp256k1Sign(priv *secp256k1.PrivateKey, digest []byte) []byte {
	return ecdsa.Sign(priv, digest).Serialize()
}

// secp256k1Verify verifies a DER ECDSA signature over digest. High-S
// signatures are accepted, as by any ECDSA verifier: AWS does not normalize
// S. decred's parser is strict DER: trailing or non-minimal bytes fail.
func secp256k1Verify(pub *secp256k1.PublicKey, digest, sig []byte) bool {
	s, err := ecdsa.ParseDERSignature(sig)
	if err != nil {
		return false
	}
	return s.Verify(digest, pub)
}
