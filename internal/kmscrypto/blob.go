package kmscrypto

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
)

// Header names the KMS key and key version that made a ciphertext blob, so
// Decrypt needs no KeyId and still works after rotation.
type Header struct {
	// KeyID identifies the key (Arca puts "ACCOUNT:KEYID" here); 1–64 bytes.
	KeyID string
	// Version is the key version (material generation).
	Version uint32
}

// Blob format, version 1 (docs/FORMATS.md):
//
//	offset  size  field
//	0       1     magic 0xA7 ("Arca")
//	1       1     format version, 0x01
//	2       1     algorithm: 0x01 AES-256-GCM
//	3       1     key ID length L, 1..64
//	4       L     key ID
//	4+L     4     key version, uint32 big-endian
//	8+L     12    nonce, random
//	20+L    n+16  ciphertext and GCM tag
//
// The AAD is bytes [0, 20+L) (the whole header, nonce included) followed by
// CanonicalContext(encryption context), so every header byte and the context
// are authenticated.
const (
	blobMagic    = 0xA7
	blobVersion  = 0x01
	algAES256GCM = 0x01
	maxKeyIDLen  = 64
	nonceLen     = 12
	tagLen       = 16
)

// randReader is crypto/rand's reader; tests replace it to pin vectors.
var randReader io.Reader = rand.Reader

func headerLen(h Header) int { return 4 + len(h.KeyID) + 4 + nonceLen }

// EncryptSymmetric seals plaintext under k with AES-256-GCM and a random
// 96-bit nonce, binding the header and the canonical encryption context as
// AAD, and returns the ciphertext blob.
func EncryptSymmetric(k *Key, h Header, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	if k.spec != SymmetricDefault {
		return nil, fmt.Errorf("%w: %s cannot encrypt symmetrically", ErrUnsupportedSpec, k.spec)
	}
	if len(h.KeyID) == 0 || len(h.KeyID) > maxKeyIDLen {
		return nil, fmt.Errorf("kmscrypto: key ID must be 1..%d bytes", maxKeyIDLen)
	}
	aead, err := k.gcm()
	if err != nil {
		return nil, err
	}
	hl := headerLen(h)
	out := make([]byte, hl, hl+len(plaintext)+tagLen)
	out[0], out[1], out[2], out[3] = blobMagic, blobVersion, algAES256GCM, byte(len(h.KeyID))
	copy(out[4:], h.KeyID)
	binary.BigEndian.PutUint32(out[4+len(h.KeyID):], h.Version)
	nonce := out[hl-nonceLen : hl]
	if _, err := io.ReadFull(randReader, nonce); err != nil {
		return nil, err
	}
	aad := appendContext(append(make([]byte, 0, hl+64), out...), encCtx)
	return aead.Seal(out, nonce, plaintext, aad), nil
}

// ParseHeader reads only the header of a blob, to find its key. It returns
// ErrInvalidCiphertext for anything that is not a version-1 blob.
func ParseHeader(blob []byte) (Header, error) {
	if len(blob) < 4 || blob[0] != blobMagic || blob[1] != blobVersion || blob[2] != algAES256GCM {
		return Header{}, ErrInvalidCiphertext
	}
	l := int(blob[3])
	if l == 0 || l > maxKeyIDLen || len(blob) < 4+l+4+nonceLen+tagLen {
		return Header{}, ErrInvalidCiphertext
	}
	return Header{KeyID: string(blob[4 : 4+l]), Version: binary.BigEndian.Uint32(blob[4+l:])}, nil
}

// DecryptSymmetric opens a blob made by EncryptSymmetric with the same key
// and encryption context. Any failure is ErrInvalidCiphertext.
func DecryptSymmetric(k *Key, blob []byte, encCtx map[string]string) ([]byte, error) {
	h, err := ParseHeader(blob)
	if err != nil {
		return nil, err
	}
	if k.spec != SymmetricDefault {
		return nil, ErrInvalidCiphertext
	}
	aead, err := k.gcm()
	if err != nil {
		return nil, err
	}
	hl := headerLen(h)
	aad := appendContext(append(make([]byte, 0, hl+64), blob[:hl]...), encCtx)
	pt, err := aead.Open(nil, blob[hl-nonceLen:hl], blob[hl:], aad)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt, nil
}
