package kmscrypto

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
)

// fixedKey is a known-answer test key: bytes 0x00..0x1f.
func fixedKey(t testing.TB) *Key {
	t.Helper()
	m := make([]byte, 32)
	for i := range m {
		m[i] = byte(i)
	}
	k, err := ParseKey(SymmetricDefault, m)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKnownAnswer pins the blob format: a fixed key, nonce, header and
// context must give exactly the bytes in testdata. If this fails, the format
// changed and every stored ciphertext would break: bump the format version
// instead.
func TestKnownAnswer(t *testing.T) {
	// Not parallel: it swaps the package's random source.
	want, err := os.ReadFile("testdata/blob-v1.hex")
	if err != nil {
		t.Fatal(err)
	}
	saved := randReader
	randReader = bytes.NewReader(bytes.Repeat([]byte{0x11}, nonceLen))
	defer func() { randReader = saved }()
	blob, err := EncryptSymmetric(fixedKey(t), Header{KeyID: "000000000000:1234abcd-12ab-34cd-56ef-1234567890ab", Version: 3},
		[]byte("arca known answer"), map[string]string{"purpose": "kat", "a": ""})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(blob); got != strings.TrimSpace(string(want)) {
		t.Errorf("blob = %s\nwant   %s", got, strings.TrimSpace(string(want)))
	}
	pt, err := DecryptSymmetric(fixedKey(t), blob, map[string]string{"a": "", "purpose": "kat"})
	if err != nil || string(pt) != "arca known answer" {
		t.Errorf("decrypt known answer: %q, %v", pt, err)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k, err := Generate(SymmetricDefault)
	if err != nil {
		t.Fatal(err)
	}
	h := Header{KeyID: "acct:key", Version: 7}
	for _, n := range []int{0, 1, 4096} {
		pt := bytes.Repeat([]byte{0x5a}, n)
		for _, ec := range []map[string]string{nil, {}, {"k": "v"}} {
			blob, err := EncryptSymmetric(k, h, pt, ec)
			if err != nil {
				t.Fatal(err)
			}
			gotH, err := ParseHeader(blob)
			if err != nil || gotH != h {
				t.Errorf("ParseHeader = %+v, %v", gotH, err)
			}
			got, err := DecryptSymmetric(k, blob, ec)
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("n=%d ec=%v: %v", n, ec, err)
			}
		}
	}
	a, _ := EncryptSymmetric(k, h, []byte("x"), nil)
	b, _ := EncryptSymmetric(k, h, []byte("x"), nil)
	if bytes.Equal(a, b) {
		t.Error("two encryptions of the same plaintext are identical: nonce not random")
	}
}

func TestTamper(t *testing.T) {
	t.Parallel()
	k := fixedKey(t)
	ec := map[string]string{"k": "v"}
	blob, err := EncryptSymmetric(k, Header{KeyID: "acct:key", Version: 1}, []byte("secret"), ec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range blob {
		for _, bit := range []byte{0x01, 0x80} {
			c := bytes.Clone(blob)
			c[i] ^= bit
			if _, err := DecryptSymmetric(k, c, ec); err != ErrInvalidCiphertext {
				t.Errorf("byte %d bit %#x flipped: err = %v", i, bit, err)
			}
		}
	}
	for n := range len(blob) {
		if _, err := DecryptSymmetric(k, blob[:n], ec); err != ErrInvalidCiphertext {
			t.Errorf("truncated to %d: err = %v", n, err)
		}
	}
	if _, err := DecryptSymmetric(k, append(bytes.Clone(blob), 0), ec); err != ErrInvalidCiphertext {
		t.Errorf("extended: err = %v", err)
	}
	other, _ := Generate(SymmetricDefault)
	if _, err := DecryptSymmetric(other, blob, ec); err != ErrInvalidCiphertext {
		t.Errorf("wrong key: err = %v", err)
	}
	for _, bad := range []map[string]string{nil, {"k": "w"}, {"k": "v", "x": ""}, {"K": "v"}} {
		if _, err := DecryptSymmetric(k, blob, bad); err != ErrInvalidCiphertext {
			t.Errorf("context %v: err = %v", bad, err)
		}
	}
}

func TestCanonicalContext(t *testing.T) {
	t.Parallel()
	distinct := []map[string]string{
		nil, {"ab": "c"}, {"a": "bc"}, {"": ""}, {"a": ""}, {"": "a"},
		{"a": "b", "c": "d"}, {"a": "bc", "": "d"}, {"é": "ü"}, {"a\x00": "b"},
	}
	seen := map[string]int{}
	for i, ec := range distinct {
		enc := string(CanonicalContext(ec))
		if j, ok := seen[enc]; ok {
			t.Errorf("contexts %v and %v encode alike", distinct[j], ec)
		}
		seen[enc] = i
	}
	if !bytes.Equal(CanonicalContext(nil), CanonicalContext(map[string]string{})) {
		t.Error("nil and empty context differ")
	}
	m := map[string]string{"b": "2", "a": "1", "c": "3"}
	want := "00000003" + "00000001" + "61" + "00000001" + "31" + "00000001" + "62" + "00000001" + "32" + "00000001" + "63" + "00000001" + "33"
	if got := hex.EncodeToString(CanonicalContext(m)); got != want {
		t.Errorf("CanonicalContext = %s, want %s", got, want)
	}
}

func TestKeyHygiene(t *testing.T) {
	t.Parallel()
	k := fixedKey(t)
	hexMaterial := hex.EncodeToString(k.sym)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q"} {
		if s := fmt.Sprintf(verb, k); strings.Contains(strings.ToLower(s), hexMaterial[:16]) || strings.Contains(s, string(k.sym[1:9])) {
			t.Errorf("%s prints material: %s", verb, s)
		}
	}
	k2 := fixedKey(t)
	if !k.Equal(k2) {
		t.Error("equal keys compare unequal")
	}
	g, _ := Generate(SymmetricDefault)
	if k.Equal(g) {
		t.Error("different keys compare equal")
	}
	m := k.Marshal()
	m[0] ^= 0xff
	if !k.Equal(k2) {
		t.Error("Marshal returned the key's own buffer")
	}
	k2.Destroy()
	if !bytes.Equal(k2.sym, make([]byte, 32)) {
		t.Error("Destroy left material")
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := ParseKey(SymmetricDefault, make([]byte, n)); err == nil {
			t.Errorf("ParseKey accepted %d bytes", n)
		}
	}
	if _, err := Generate("RSA_1024"); err == nil {
		t.Error("Generate accepted an unknown spec")
	}
}

func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	k := fixedKey(t)
	for _, id := range []string{"", strings.Repeat("k", 65)} {
		if _, err := EncryptSymmetric(k, Header{KeyID: id}, []byte("x"), nil); err == nil {
			t.Errorf("key ID of %d bytes accepted", len(id))
		}
	}
	if _, err := EncryptSymmetric(k, Header{KeyID: strings.Repeat("k", 64)}, []byte("x"), nil); err != nil {
		t.Errorf("64-byte key ID: %v", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	k := fixedKey(f)
	blob, _ := EncryptSymmetric(k, Header{KeyID: "acct:key", Version: 1}, []byte("seed"), nil)
	f.Add(blob)
	f.Add([]byte{})
	f.Add([]byte{blobMagic, blobVersion, algAES256GCM, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if len(h.KeyID) == 0 || len(h.KeyID) > maxKeyIDLen {
			t.Errorf("accepted key ID of %d bytes", len(h.KeyID))
		}
	})
}

func FuzzDecryptSymmetric(f *testing.F) {
	k := fixedKey(f)
	blob, _ := EncryptSymmetric(k, Header{KeyID: "acct:key", Version: 1}, []byte("seed"), map[string]string{"a": "b"})
	f.Add(blob, "a", "b")
	f.Add(blob, "a", "c")
	f.Add([]byte("junk"), "", "")
	f.Fuzz(func(t *testing.T, b []byte, key, val string) {
		// Only blobs this test encrypted (plaintext "seed", context a=b)
		// can authenticate under k; anything else opening is a forgery.
		pt, err := DecryptSymmetric(k, b, map[string]string{key: val})
		if err == nil && (string(pt) != "seed" || key != "a" || val != "b") {
			t.Errorf("forged blob accepted: %x", b)
		}
	})
}

func BenchmarkEncryptSymmetric1KiB(b *testing.B) {
	k := fixedKey(b)
	pt := make([]byte, 1024)
	h := Header{KeyID: "000000000000:1234abcd-12ab-34cd-56ef-1234567890ab", Version: 1}
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncryptSymmetric(k, h, pt, map[string]string{"k": "v"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptSymmetric1KiB(b *testing.B) {
	k := fixedKey(b)
	blob, _ := EncryptSymmetric(k, Header{KeyID: "000000000000:1234abcd-12ab-34cd-56ef-1234567890ab", Version: 1}, make([]byte, 1024), nil)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecryptSymmetric(k, blob, nil); err != nil {
			b.Fatal(err)
		}
	}
}
