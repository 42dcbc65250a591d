package kmscrypto

import (
	"fmt"

	"filippo.io/mldsa"
	"filippo.io/mldsa/mldsacrypto"
	mldsax509 "filippo.io/mldsa/x509"
)

// ML-DSA keys persist as their 32-byte seed ξ (FIPS 204 Algorithm 1), the
// form RFC 9881 recommends: every other encoding is derived from it.
const (
	mldsaSeedLen = mldsa.PrivateKeySize
	mldsaMuLen   = 64
)

// mldsaParams is the parameter set of an ML-DSA spec.
func mldsaParams(spec KeySpec) mldsa.Parameters {
	switch spec {
	case MLDSA44:
		return mldsa.MLDSA44()
	case MLDSA65:
		return mldsa.MLDSA65()
	}
	return mldsa.MLDSA87()
}

// loadMLDSA expands the seed in m.raw. The SubjectPublicKeyInfo carries the
// RFC 9881 OIDs id-ml-dsa-44/65/87 (2.16.840.1.101.3.4.3.17/18/19) with
// absent parameters.
func loadMLDSA(m *material, spec KeySpec) error {
	if err := checkLen(spec, m.raw, mldsaSeedLen, mldsaSeedLen); err != nil {
		return err
	}
	priv, err := mldsa.NewPrivateKey(mldsaParams(spec), m.raw)
	if err != nil {
		return err
	}
	pub := priv.PublicKey()
	spki, err := mldsax509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("ML-DSA public key: %v", err)
	}
	m.priv, m.pubKey, m.pub = priv, pub, spki
	return nil
}

// mldsaSign signs with ML-DSA (hedged, empty context): the message for RAW,
// or the 64-byte μ for EXTERNAL_MU (FIPS 204 §6.2; RFC 9881 "external μ").
func mldsaSign(priv *mldsa.PrivateKey, externalMu bool, message []byte) ([]byte, error) {
	if externalMu {
		return priv.Sign(nil, message, mldsacrypto.MLDSAMu)
	}
	return priv.Sign(nil, message, nil)
}

// mldsaVerify verifies a RAW ML-DSA signature with an empty context.
func mldsaVerify(pub *mldsa.PublicKey, message, sig []byte) bool {
	return mldsa.Verify(pub, message, sig, nil) == nil
}
