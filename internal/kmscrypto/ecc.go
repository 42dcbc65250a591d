package kmscrypto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
)

// nistCurve is the curve of a NIST ECC spec.
func nistCurve(spec KeySpec) elliptic.Curve {
	switch spec {
	case ECCNistP256:
		return elliptic.P256()
	case ECCNistP384:
		return elliptic.P384()
	case ECCNistP521:
		return elliptic.P521()
	}
	return nil
}

// generateECDSA makes a new key on the curve of a NIST spec, as PKCS#8 DER.
func generateECDSA(spec KeySpec) ([]byte, error) {
	priv, err := ecdsa.GenerateKey(nistCurve(spec), rand.Reader)
	if err != nil {
		return nil, err
	}
	defer zeroPrivate(priv)
	return x509.MarshalPKCS8PrivateKey(priv)
}

// loadECDSA parses m.raw as a PKCS#8 EC key on the curve of spec.
func loadECDSA(m *material, spec KeySpec) error {
	parsed, err := x509.ParsePKCS8PrivateKey(m.raw)
	if err != nil {
		return err
	}
	priv, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("PKCS#8 holds a %T, not an EC key", parsed)
	}
	if priv.Curve != nistCurve(spec) {
		return fmt.Errorf("key is on %s, not %s", priv.Curve.Params().Name, nistCurve(spec).Params().Name)
	}
	return setAsymmetric(m, priv, &priv.PublicKey, x509.MarshalPKCS8PrivateKey, x509.MarshalPKIXPublicKey)
}

// ecdhNIST derives the ECDH shared secret (the x-coordinate of the shared
// point, as crypto/ecdh returns it) of priv and a peer SubjectPublicKeyInfo
// on the same curve.
func ecdhNIST(priv *ecdsa.PrivateKey, peerDER []byte) ([]byte, error) {
	parsed, err := x509.ParsePKIXPublicKey(peerDER)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPublicKey, err)
	}
	peer, ok := parsed.(*ecdsa.PublicKey)
	if !ok || peer.Curve != priv.Curve {
		return nil, fmt.Errorf("%w: not a %s public key", ErrInvalidPublicKey, priv.Curve.Params().Name)
	}
	peerECDH, err := peer.ECDH()
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
