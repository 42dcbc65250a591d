package kmscrypto

import "fmt"

// keyPairSpecs are the DataKeyPairSpec values GenerateKeyPair makes, in the
// SDK's order. The SDK also lists ML_KEM_512/768/1024, which Arca does not
// make yet.
var keyPairSpecs = []KeySpec{
	RSA2048, RSA3072, RSA4096, ECCNistP256, ECCNistP384, ECCNistP521,
	ECCSecgP256K1, SM2, ECCNistEdwards25519,
}

// KeyPairSpecs returns the specs GenerateKeyPair accepts.
func KeyPairSpecs() []KeySpec { return append([]KeySpec(nil), keyPairSpecs...) }

// GenerateKeyPair makes a data key pair (GenerateDataKeyPair): the private
// key as PKCS#8 DER and the public key as DER SubjectPublicKeyInfo, the
// forms AWS returns. The caller owns and should wipe privPKCS8.
func GenerateKeyPair(spec KeySpec) (privPKCS8, pubSPKI []byte, err error) {
	if !contains(keyPairSpecs, spec) {
		return nil, nil, fmt.Errorf("%w: %q is not a data key pair spec", ErrUnsupportedSpec, spec)
	}
	k, err := Generate(spec)
	if err != nil {
		return nil, nil, err
	}
	defer k.Destroy()
	pub, err := k.PublicKeyDER()
	if err != nil {
		return nil, nil, err
	}
	return k.Marshal(), pub, nil
}
