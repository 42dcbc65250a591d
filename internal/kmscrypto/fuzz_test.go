package kmscrypto

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

// fuzzBlobs are the only blobs that authenticate under fixedAES in the fuzz
// targets: made with a pinned nonce, so the seed corpus in testdata/fuzz is
// reproducible, and listed, so any other blob that opens is a forgery.
func fuzzBlobs(t testing.TB) (k *Key, withCtx, noCtx []byte) {
	k = fixedAES(t)
	withCtx, err := encryptSymmetric(k, Header{KeyID: "acct:key", Version: 1}, []byte("seed"), map[string]string{"a": "b"}, constReader(0x42))
	if err != nil {
		t.Fatal(err)
	}
	noCtx, err = encryptSymmetric(k, Header{KeyID: "acct:key", Version: 2}, nil, nil, constReader(0x43))
	if err != nil {
		t.Fatal(err)
	}
	return k, withCtx, noCtx
}

func FuzzParseHeader(f *testing.F) {
	_, blob, _ := fuzzBlobs(f)
	f.Add(blob)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if err != ErrInvalidCiphertext {
				t.Fatalf("error %v is not ErrInvalidCiphertext", err)
			}
			return
		}
		if len(h.KeyID) == 0 || len(h.KeyID) > maxKeyIDLen || len(b) < headerLen(len(h.KeyID))+tagLen {
			t.Errorf("accepted %x as %+v", b, h)
		}
	})
}

func FuzzDecryptSymmetric(f *testing.F) {
	k, withCtx, noCtx := fuzzBlobs(f)
	f.Add(withCtx, "a", "b", true)
	f.Add(noCtx, "", "", false)
	f.Fuzz(func(t *testing.T, b []byte, key, val string, useCtx bool) {
		var ec map[string]string
		if useCtx {
			ec = map[string]string{key: val}
		}
		pt, err := DecryptSymmetric(k, b, ec)
		if err != nil {
			if err != ErrInvalidCiphertext {
				t.Fatalf("error %v is not ErrInvalidCiphertext", err)
			}
			return
		}
		authentic := (bytes.Equal(b, withCtx) && useCtx && key == "a" && val == "b" && string(pt) == "seed") ||
			(bytes.Equal(b, noCtx) && !useCtx && len(pt) == 0)
		if !authentic {
			t.Errorf("forged blob opened: %x with %q -> %q", b, ec, pt)
		}
	})
}

// fuzzSpecs are the keys the asymmetric fuzz targets use: one of each
// signature and agreement family, without the slow RSA sizes.
var fuzzSpecs = []KeySpec{RSA2048, ECCNistP256, ECCNistP521, ECCSecgP256K1, ECCNistEdwards25519, SM2, MLDSA44}

var fuzzKeys struct {
	once sync.Once
	m    map[KeySpec]*Key
}

func fuzzKey(t testing.TB, spec KeySpec) *Key {
	fuzzKeys.once.Do(func() {
		fuzzKeys.m = map[KeySpec]*Key{}
		for _, s := range fuzzSpecs {
			k, err := Generate(s)
			if err != nil {
				panic(err)
			}
			fuzzKeys.m[s] = k
		}
	})
	return fuzzKeys.m[spec]
}

// FuzzVerify feeds arbitrary signatures (and messages) to every signature
// family's parser and verifier: no panics, and only ErrInvalidSignature or a
// request error may come back.
func FuzzVerify(f *testing.F) {
	f.Add(uint8(1), []byte("m"), []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, which uint8, msg, sig []byte) {
		spec := fuzzSpecs[int(which)%len(fuzzSpecs)]
		k := fuzzKey(t, spec)
		for _, alg := range signingAlgorithms(spec) {
			mt := MessageRaw
			if alg == Ed25519PHSHA512 {
				mt = MessageDigest
			}
			err := Verify(k, alg, msg, mt, sig)
			if err != nil && err != ErrInvalidSignature && !errors.Is(err, ErrInvalidDigestLength) {
				t.Fatalf("%s %s: unexpected error %v", spec, alg, err)
			}
		}
	})
}

// FuzzDeriveSharedSecret feeds arbitrary peer public keys to the SPKI
// parsers and point decoders of every key agreement curve.
func FuzzDeriveSharedSecret(f *testing.F) {
	f.Add(uint8(0), []byte{0x30, 0x59, 0x30, 0x13})
	f.Fuzz(func(t *testing.T, which uint8, peer []byte) {
		spec := []KeySpec{ECCNistP256, ECCNistP521, SM2}[int(which)%3]
		k := fuzzKey(t, spec)
		secret, err := DeriveSharedSecret(k, ECDH, peer)
		if err != nil {
			if !errors.Is(err, ErrInvalidPublicKey) {
				t.Fatalf("%s: unexpected error %v", spec, err)
			}
			return
		}
		if len(secret) == 0 || bytes.Equal(secret, make([]byte, len(secret))) {
			t.Fatalf("%s: degenerate secret %x from %x", spec, secret, peer)
		}
	})
}

// FuzzParseKey feeds arbitrary material to every spec's parser: no panics,
// and whatever parses must round-trip through Marshal.
func FuzzParseKey(f *testing.F) {
	f.Add(uint8(0), make([]byte, 32))
	f.Fuzz(func(t *testing.T, which uint8, material []byte) {
		specs := Specs()
		spec := specs[int(which)%len(specs)]
		if rsaBits(spec) > 2048 {
			return // parsing big RSA keys is slow and the same code
		}
		k, err := ParseKey(spec, material)
		if err != nil {
			if !errors.Is(err, ErrInvalidKeyMaterial) {
				t.Fatalf("%s: unexpected error %v", spec, err)
			}
			return
		}
		again, err := ParseKey(spec, k.Marshal())
		if err != nil || !again.Equal(k) {
			t.Fatalf("%s: parsed key does not round-trip: %v", spec, err)
		}
		if _, err := k.PublicKeyDER(); IsAsymmetric(spec) && err != nil {
			t.Fatalf("%s: no public key: %v", spec, err)
		}
	})
}

// FuzzUnwrapKeyMaterial feeds arbitrary wrapped material to every wrapping
// algorithm: no panics, and nothing but ErrInvalidCiphertext comes back, so
// an importer learns nothing from the error about why unwrapping failed.
func FuzzUnwrapKeyMaterial(f *testing.F) {
	f.Add(uint8(0), make([]byte, 256))
	f.Add(uint8(3), make([]byte, 256+40))
	f.Add(uint8(5), []byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, which uint8, wrapped []byte) {
		algs := []WrappingAlgorithm{WrapRSAESOAEPSHA1, WrapRSAESOAEPSHA256, WrapRSAAESKeyWrapSHA1, WrapRSAAESKeyWrapSHA256, WrapSM2PKE, WrapSM2PKE}
		alg := algs[int(which)%len(algs)]
		spec := RSA2048
		if alg == WrapSM2PKE {
			spec = SM2
		}
		if _, err := UnwrapKeyMaterial(fuzzKey(t, spec), alg, wrapped); err != nil && err != ErrInvalidCiphertext {
			t.Fatalf("%s: error %v is not ErrInvalidCiphertext", alg, err)
		}
	})
}
