// Package kmscrypto is the cryptography of KMS keys: key material, the
// ciphertext blob format and the canonical encoding of encryption contexts.
//
// It is pure (keys and bytes in, bytes out; no storage, no I/O but
// crypto/rand) and imports nothing of Arca's. It is named kmscrypto so it
// never shadows the standard library's crypto.
package kmscrypto

import (
	"crypto/rand"
	"errors"
)

// ErrInvalidCiphertext is the single opaque error for any blob that fails to
// parse or authenticate: a bad header, a bad tag and a wrong encryption
// context are indistinguishable, so the error is no oracle.
var ErrInvalidCiphertext = errors.New("kmscrypto: invalid ciphertext")

// ErrUnsupportedSpec is returned for a key spec this package cannot make.
var ErrUnsupportedSpec = errors.New("kmscrypto: unsupported key spec")

// RandomBytes returns n bytes from crypto/rand.
func RandomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return b, nil
}
