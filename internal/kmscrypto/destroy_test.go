package kmscrypto

import (
	"bytes"
	"errors"
	"testing"
)

func TestDestroyAsymmetric(t *testing.T) {
	t.Parallel()
	for _, spec := range []KeySpec{ECCNistP256, ECCSecgP256K1, ECCNistEdwards25519, SM2, MLDSA44, HMAC256, SM4} {
		k := otherKey(t, spec)
		raw := k.m.raw
		k.Destroy()
		if !bytes.Equal(raw, make([]byte, len(raw))) || k.Marshal() != nil {
			t.Errorf("%s: material survives Destroy", spec)
		}
		if _, err := k.PublicKeyDER(); !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("%s: PublicKeyDER after Destroy: %v", spec, err)
		}
		if _, err := Sign(k, ECDSASHA256, []byte("m"), MessageRaw); !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("%s: Sign after Destroy: %v", spec, err)
		}
		if err := Verify(k, ECDSASHA256, []byte("m"), MessageRaw, nil); !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("%s: Verify after Destroy: %v", spec, err)
		}
		if _, err := GenerateMac(k, HMACSHA256, nil); !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("%s: GenerateMac after Destroy: %v", spec, err)
		}
		if _, err := DeriveSharedSecret(k, ECDH, nil); !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("%s: DeriveSharedSecret after Destroy: %v", spec, err)
		}
		if _, err := EncryptAsymmetric(k, SM2PKE, []byte("x")); !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("%s: EncryptAsymmetric after Destroy: %v", spec, err)
		}
		if _, err := DecryptAsymmetric(k, SM2PKE, []byte("x")); !errors.Is(err, ErrKeyDestroyed) {
			t.Errorf("%s: DecryptAsymmetric after Destroy: %v", spec, err)
		}
	}
}
