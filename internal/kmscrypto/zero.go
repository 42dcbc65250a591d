package kmscrypto

import (
	"crypto/ed25519"
	"crypto/rsa"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/emmansun/gmsm/sm2"
)

// zeroPrivate overwrites the private scalars of priv that are reachable
// from outside its package. It is best effort: see Key.Destroy.
func zeroPrivate(priv any) {
	switch p := priv.(type) {
	case *rsa.PrivateKey:
		zeroInt(p.D)
		for _, q := range p.Primes {
			zeroInt(q)
		}
		zeroInt(p.Precomputed.Dp)
		zeroInt(p.Precomputed.Dq)
		zeroInt(p.Precomputed.Qinv)
	// *ecdsa.PrivateKey is absent on purpose: since Go 1.26 its D field is
	// a deprecated copy and the live scalar is internal to crypto/ecdsa.
	case *sm2.PrivateKey:
		zeroInt(p.D)
	case *secp256k1.PrivateKey:
		p.Zero()
	case ed25519.PrivateKey:
		clear(p)
	}
}

// zeroInt clears the limbs of x in place.
func zeroInt(x *big.Int) {
	if x != nil {
		clear(x.Bits())
	}
}
