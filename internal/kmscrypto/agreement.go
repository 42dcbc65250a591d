package kmscrypto

import (
	"crypto/ecdsa"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
)

// DeriveSharedSecret computes the raw ECDH shared secret of k's private key
// and a peer's public key, given as DER SubjectPublicKeyInfo on the same
// curve (ECC_NIST_P256/P384/P521 or SM2). The secret is the x-coordinate of
// the shared point, big-endian and as long as the field (32, 48, 66 bytes),
// exactly what AWS returns; callers should run it through a KDF.
func DeriveSharedSecret(k *Key, alg KeyAgreementAlgorithm, peerPublicKeyDER []byte) ([]byte, error) {
	if err := k.live(); err != nil {
		return nil, err
	}
	if alg != ECDH || !contains(KeyUsages(k.spec), UsageKeyAgreement) {
		return nil, fmt.Errorf("%w: %s keys cannot derive a shared secret with %s", ErrUnsupportedAlgorithm, k.spec, alg)
	}
	switch priv := k.m.priv.(type) {
	case *sm2.PrivateKey:
		return ecdhSM2(priv, peerPublicKeyDER)
	case *ecdsa.PrivateKey:
		return ecdhNIST(priv, peerPublicKeyDER)
	}
	return nil, fmt.Errorf("%w: %s keys cannot derive a shared secret", ErrUnsupportedAlgorithm, k.spec)
}
