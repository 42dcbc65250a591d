package kmscrypto

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"io"
	"testing"
)

// seqBytes returns n bytes counting up from start: readable fixed material.
func seqBytes(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// fixedKey is a known-answer test key of spec whose material counts up from 0.
func fixedKey(t testing.TB, spec KeySpec, n int) *Key {
	t.Helper()
	k, err := ParseKey(spec, seqBytes(0, n))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// fixedAES is the AES-256 known-answer key, bytes 0x00..0x1f.
func fixedAES(t testing.TB) *Key { return fixedKey(t, SymmetricDefault, 32) }

// constReader reads b forever, so a pinned "random" nonce is reproducible.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

var _ io.Reader = constReader(0)

// mustGenerate generates a key of spec or fails the test.
func mustGenerate(t testing.TB, spec KeySpec) *Key {
	t.Helper()
	k, err := Generate(spec)
	if err != nil {
		t.Fatalf("Generate(%s): %v", spec, err)
	}
	return k
}

// flipEveryBit calls f with a copy of b in which one bit of one byte is
// flipped, for the lowest and highest bit of every byte.
func flipEveryBit(b []byte, f func(i int, bad []byte)) {
	for i := range b {
		for _, bit := range []byte{0x01, 0x80} {
			c := bytes.Clone(b)
			c[i] ^= bit
			f(i, c)
		}
	}
}

// asn1Unmarshal is encoding/asn1.Unmarshal that also rejects trailing data.
func asn1Unmarshal(b []byte, v any) ([]byte, error) {
	rest, err := asn1.Unmarshal(b, v)
	if err == nil && len(rest) != 0 {
		err = errors.New("trailing data")
	}
	return rest, err
}
