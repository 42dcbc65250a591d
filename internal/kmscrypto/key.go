package kmscrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"sync"
)

// KeySpec names a key's material type, spelled as AWS KMS's KeySpec enum.
type KeySpec string

// Key specs.
const (
	// SymmetricDefault is a 256-bit AES-GCM key.
	SymmetricDefault KeySpec = "SYMMETRIC_DEFAULT"
)

const symmetricKeyLen = 32

// Key is the secret material of one key version. It cannot be printed (its
// Format writes only the spec), is compared only in constant time, and is
// zeroed by Destroy. A Key is safe for concurrent use.
type Key struct {
	spec KeySpec
	sym  []byte

	once sync.Once
	aead cipher.AEAD
	err  error
}

// Generate makes new material for spec from crypto/rand.
func Generate(spec KeySpec) (*Key, error) {
	switch spec {
	case SymmetricDefault:
		b := make([]byte, symmetricKeyLen)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return &Key{spec: spec, sym: b}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedSpec, spec)
}

// ParseKey rebuilds a Key from the persisted form Marshal produced. It copies
// material, so the caller may wipe its buffer.
func ParseKey(spec KeySpec, material []byte) (*Key, error) {
	switch spec {
	case SymmetricDefault:
		if len(material) != symmetricKeyLen {
			return nil, fmt.Errorf("kmscrypto: %s material must be %d bytes", spec, symmetricKeyLen)
		}
		return &Key{spec: spec, sym: append([]byte(nil), material...)}, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrUnsupportedSpec, spec)
}

// Spec returns the key's spec.
func (k *Key) Spec() KeySpec { return k.spec }

// Marshal returns the persisted form of the material, a fresh copy. It is
// only ever handed to the barrier.
func (k *Key) Marshal() []byte { return append([]byte(nil), k.sym...) }

// Equal reports, in constant time, whether k and o hold the same material.
func (k *Key) Equal(o *Key) bool {
	return k.spec == o.spec && subtle.ConstantTimeCompare(k.sym, o.sym) == 1
}

// Destroy zeroes the material. The Key must not be used afterwards.
func (k *Key) Destroy() { clear(k.sym) }

// Format prints only the spec, whatever the verb, so material never reaches
// a log line through fmt.
func (k *Key) Format(f fmt.State, _ rune) { fmt.Fprintf(f, "kmscrypto.Key(%s, REDACTED)", k.spec) }

// gcm returns the key's AES-GCM instance, built once: the AES key schedule
// is the expensive part and the hot path must not redo it per call.
func (k *Key) gcm() (cipher.AEAD, error) {
	k.once.Do(func() {
		var b cipher.Block
		b, k.err = aes.NewCipher(k.sym)
		if k.err == nil {
			k.aead, k.err = cipher.NewGCM(b)
		}
	})
	return k.aead, k.err
}
