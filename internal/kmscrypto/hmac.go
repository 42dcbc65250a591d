package kmscrypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
)

// hmacSpec describes an HMAC key spec: AWS generates keys as long as the
// hash output (HMAC_224: 28 bytes, 256: 32, 384: 48, 512: 64) and imports
// keys from that length up to the hash's block size.
type hmacSpec struct {
	alg            MacAlgorithm
	hash           func() hash.Hash
	keyLen         int
	minLen, maxLen int
}

// hmacParams returns the parameters of an HMAC spec.
func hmacParams(spec KeySpec) hmacSpec {
	switch spec {
	case HMAC224:
		return hmacSpec{HMACSHA224, sha256.New224, 28, 28, 64}
	case HMAC256:
		return hmacSpec{HMACSHA256, sha256.New, 32, 32, 64}
	case HMAC384:
		return hmacSpec{HMACSHA384, sha512.New384, 48, 48, 128}
	case HMAC512:
		return hmacSpec{HMACSHA512, sha512.New, 64, 64, 128}
	}
	return hmacSpec{}
}

// GenerateMac computes the HMAC of message under k with alg, which must be
// the one MAC algorithm of k's spec.
func GenerateMac(k *Key, alg MacAlgorithm, message []byte) ([]byte, error) {
	if err := k.live(); err != nil {
		return nil, err
	}
	p := hmacParams(k.spec)
	if p.alg == "" || p.alg != alg {
		return nil, fmt.Errorf("%w: %s keys cannot compute %s", ErrUnsupportedAlgorithm, k.spec, alg)
	}
	m := hmac.New(p.hash, k.m.raw)
	m.Write(message)
	return m.Sum(nil), nil
}

// VerifyMac recomputes the HMAC of message and compares it with mac in
// constant time; a mismatch (of any length) is ErrInvalidMAC.
func VerifyMac(k *Key, alg MacAlgorithm, message, mac []byte) error {
	want, err := GenerateMac(k, alg, message)
	if err != nil {
		return err
	}
	if !hmac.Equal(want, mac) {
		return ErrInvalidMAC
	}
	return nil
}
