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
	// KeyID identifies the key, 1–64 bytes. This package treats it as
	// opaque bytes: a key ID ("1234abcd-12ab-34cd-56ef-1234567890ab",
	// "mrk-" + 32 hex) or Arca's "ACCOUNT:KEYID" both fit.
	KeyID string
	// Version is the key version (material generation); any uint32.
	Version uint32
}

// Blob format version 1; the package doc and docs/FORMATS.md give the layout.
const (
	blobFormatV1 = 0x01
	blobMagic0   = 0xA7
	blobMagic1   = 0xCA

	// Algorithm bytes. They let SM4 (and any later algorithm) share the
	// format, and stop a blob from being opened by a key of another kind.
	algAES256GCM = 0x01
	algSM4GCM    = 0x02

	// prefixLen covers version, magic, algorithm and key ID length.
	prefixLen   = 5
	maxKeyIDLen = 64
	nonceLen    = 12
	tagLen      = 16
)

// headerLen is the length of a blob header whose key ID is idLen bytes.
func headerLen(idLen int) int { return prefixLen + idLen + 4 + nonceLen }

// EncryptSymmetric seals plaintext under k (AES-256-GCM for
// SYMMETRIC_DEFAULT, SM4-GCM for SM4) with a random 96-bit nonce, binding the
// header and the canonical encryption context as AAD, and returns the
// ciphertext blob. Nil and empty contexts are the same context.
func EncryptSymmetric(k *Key, h Header, plaintext []byte, encCtx map[string]string) ([]byte, error) {
	return encryptSymmetric(k, h, plaintext, encCtx, rand.Reader)
}

// encryptSymmetric is EncryptSymmetric with the nonce drawn from random, so
// known-answer tests can pin the nonce.
func encryptSymmetric(k *Key, h Header, plaintext []byte, encCtx map[string]string, random io.Reader) ([]byte, error) {
	alg, aead, err := k.blobAEAD()
	if err != nil {
		return nil, err
	}
	if len(h.KeyID) == 0 || len(h.KeyID) > maxKeyIDLen {
		return nil, fmt.Errorf("kmscrypto: key ID must be 1..%d bytes, got %d", maxKeyIDLen, len(h.KeyID))
	}
	var kbuf [stackKeys]string
	keys := sortedKeys(kbuf[:0], encCtx)
	hl := headerLen(len(h.KeyID))
	n := hl + len(plaintext) + tagLen
	// One allocation: the blob, followed by scratch room for the AAD
	// (header || context), which the returned slice's capacity excludes.
	out := make([]byte, n+hl+contextLen(keys, encCtx))
	out[0], out[1], out[2], out[3], out[4] = blobFormatV1, blobMagic0, blobMagic1, alg, byte(len(h.KeyID))
	copy(out[prefixLen:], h.KeyID)
	binary.BigEndian.PutUint32(out[prefixLen+len(h.KeyID):], h.Version)
	nonce := out[hl-nonceLen : hl]
	if _, err := io.ReadFull(random, nonce); err != nil {
		return nil, err
	}
	aad := out[n:]
	copy(aad, out[:hl])
	appendContext(aad[:hl], keys, encCtx)
	aead.Seal(out[:hl], nonce, plaintext, aad)
	clear(aad)
	return out[:n:n], nil
}

// ParseHeader reads only the header of a blob, to find its key. Anything that
// is not a well-formed version-1 blob, including one too short to hold a
// tag, gives ErrInvalidCiphertext.
func ParseHeader(blob []byte) (Header, error) {
	_, hl, err := parseHeader(blob)
	if err != nil {
		return Header{}, err
	}
	idLen := int(blob[4])
	return Header{
		KeyID:   string(blob[prefixLen : prefixLen+idLen]),
		Version: binary.BigEndian.Uint32(blob[hl-nonceLen-4:]),
	}, nil
}

// parseHeader checks the fixed parts of a blob and returns its algorithm
// byte and header length, without allocating.
func parseHeader(blob []byte) (alg byte, hl int, err error) {
	if len(blob) < prefixLen || blob[0] != blobFormatV1 || blob[1] != blobMagic0 || blob[2] != blobMagic1 {
		return 0, 0, ErrInvalidCiphertext
	}
	alg = blob[3]
	if alg != algAES256GCM && alg != algSM4GCM {
		return 0, 0, ErrInvalidCiphertext
	}
	idLen := int(blob[4])
	hl = headerLen(idLen)
	if idLen == 0 || idLen > maxKeyIDLen || len(blob) < hl+tagLen {
		return 0, 0, ErrInvalidCiphertext
	}
	return alg, hl, nil
}

// DecryptSymmetric opens a blob made by EncryptSymmetric with the same key
// and encryption context. Every failure to open, including a key of the
// wrong kind, is ErrInvalidCiphertext; only a destroyed key says so.
func DecryptSymmetric(k *Key, blob []byte, encCtx map[string]string) ([]byte, error) {
	alg, hl, err := parseHeader(blob)
	if err != nil {
		return nil, err
	}
	kalg, aead, err := k.blobAEAD()
	if err == ErrKeyDestroyed {
		return nil, err
	}
	if err != nil || alg != kalg {
		return nil, ErrInvalidCiphertext
	}
	var kbuf [stackKeys]string
	keys := sortedKeys(kbuf[:0], encCtx)
	ptLen := len(blob) - hl - tagLen
	// One allocation: the plaintext, followed by scratch room for the AAD.
	buf := make([]byte, ptLen+hl+contextLen(keys, encCtx))
	aad := buf[ptLen:]
	copy(aad, blob[:hl])
	appendContext(aad[:hl], keys, encCtx)
	pt, err := aead.Open(buf[:0], blob[hl-nonceLen:hl], blob[hl:], aad)
	clear(aad)
	if err != nil {
		return nil, ErrInvalidCiphertext
	}
	return pt[:ptLen:ptLen], nil
}
