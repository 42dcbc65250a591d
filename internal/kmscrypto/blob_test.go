package kmscrypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

// blobVector is one pinned known-answer blob in testdata/blob-v1.json.
type blobVector struct {
	Name      string            `json:"name"`
	Spec      KeySpec           `json:"spec"`
	Key       string            `json:"key"`   // hex material
	Nonce     byte              `json:"nonce"` // every nonce byte
	KeyID     string            `json:"key_id"`
	Version   uint32            `json:"version"`
	Context   map[string]string `json:"context"`
	Plaintext string            `json:"plaintext"` // hex
	Blob      string            `json:"blob"`      // hex
}

func loadBlobVectors(t *testing.T) []blobVector {
	t.Helper()
	raw, err := os.ReadFile("testdata/blob-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []blobVector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBlobKnownAnswer pins the blob format: a fixed key, nonce, header and
// context must give exactly the bytes in testdata. If this fails, the format
// changed and every stored ciphertext would stop opening: add a new format
// version instead of editing the vectors.
func TestBlobKnownAnswer(t *testing.T) {
	t.Parallel()
	for _, v := range loadBlobVectors(t) {
		k, err := ParseKey(v.Spec, unhex(t, v.Key))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		pt := unhex(t, v.Plaintext)
		blob, err := encryptSymmetric(k, Header{KeyID: v.KeyID, Version: v.Version}, pt, v.Context, constReader(v.Nonce))
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		if got := hex.EncodeToString(blob); got != v.Blob {
			t.Errorf("%s: blob = %s\nwant   %s", v.Name, got, v.Blob)
		}
		got, err := DecryptSymmetric(k, unhex(t, v.Blob), v.Context)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%s: decrypt pinned blob: %x, %v", v.Name, got, err)
		}
		h, err := ParseHeader(unhex(t, v.Blob))
		if err != nil || h != (Header{KeyID: v.KeyID, Version: v.Version}) {
			t.Errorf("%s: ParseHeader = %+v, %v", v.Name, h, err)
		}
	}
}

// TestBlobLayout builds the AES blob by hand from the layout in the package
// doc and docs/FORMATS.md, with the standard library's AES-GCM, so the code,
// the document and the vectors agree.
func TestBlobLayout(t *testing.T) {
	t.Parallel()
	material := seqBytes(0, 32)
	id, version := "mrk-0123456789abcdef0123456789abcdef", uint32(0x01020304)
	nonce := bytes.Repeat([]byte{0x5c}, 12)
	ec := map[string]string{"k": "v"}
	pt := []byte("layout")

	hdr := []byte{0x01, 0xA7, 0xCA, 0x01, byte(len(id))}
	hdr = append(hdr, id...)
	hdr = binary.BigEndian.AppendUint32(hdr, version)
	hdr = append(hdr, nonce...)
	aad := append(bytes.Clone(hdr), 0, 0, 0, 1, 0, 0, 0, 1, 'k', 0, 0, 0, 1, 'v')
	block, _ := aes.NewCipher(material)
	gcm, _ := cipher.NewGCM(block)
	want := gcm.Seal(bytes.Clone(hdr), nonce, pt, aad)

	k := fixedAES(t)
	got, err := encryptSymmetric(k, Header{KeyID: id, Version: version}, pt, ec, constReader(0x5c))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("blob = %x\nwant   %x", got, want)
	}
	if len(got) != 21+len(id)+len(pt)+16 || cap(got) != len(got) {
		t.Errorf("len %d cap %d", len(got), cap(got))
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustGenerate(t, SymmetricDefault)
	for _, id := range []string{"k", "1234abcd-12ab-34cd-56ef-1234567890ab", "mrk-1234abcd12ab34cd56ef1234567890ab", "111122223333:1234abcd-12ab-34cd-56ef-1234567890ab", strings.Repeat("x", 64)} {
		h := Header{KeyID: id, Version: 0xfffffffe}
		for _, n := range []int{0, 1, 4096} {
			pt := bytes.Repeat([]byte{0x5a}, n)
			for _, ec := range []map[string]string{nil, {}, {"k": "v"}, {"": ""}} {
				blob, err := EncryptSymmetric(k, h, pt, ec)
				if err != nil {
					t.Fatal(err)
				}
				if gotH, err := ParseHeader(blob); err != nil || gotH != h {
					t.Errorf("ParseHeader = %+v, %v", gotH, err)
				}
				got, err := DecryptSymmetric(k, blob, ec)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("id %q n=%d ec=%v: %v", id, n, ec, err)
				}
			}
		}
	}
	a, _ := EncryptSymmetric(k, Header{KeyID: "k", Version: 1}, []byte("x"), nil)
	b, _ := EncryptSymmetric(k, Header{KeyID: "k", Version: 1}, []byte("x"), nil)
	if bytes.Equal(a, b) {
		t.Error("two encryptions of the same plaintext are identical: nonce not random")
	}
	// Nil and empty contexts are the same context.
	blob, _ := EncryptSymmetric(k, Header{KeyID: "k", Version: 1}, []byte("x"), nil)
	if _, err := DecryptSymmetric(k, blob, map[string]string{}); err != nil {
		t.Errorf("empty context does not open a nil-context blob: %v", err)
	}
}

func TestTamper(t *testing.T) {
	t.Parallel()
	k := fixedAES(t)
	ec := map[string]string{"k": "v"}
	blob, err := EncryptSymmetric(k, Header{KeyID: "acct:key", Version: 1}, []byte("secret"), ec)
	if err != nil {
		t.Fatal(err)
	}
	flipEveryBit(blob, func(i int, bad []byte) {
		if _, err := DecryptSymmetric(k, bad, ec); err != ErrInvalidCiphertext {
			t.Errorf("byte %d flipped: err = %v", i, err)
		}
	})
	for n := range len(blob) {
		if _, err := DecryptSymmetric(k, blob[:n], ec); err != ErrInvalidCiphertext {
			t.Errorf("truncated to %d: err = %v", n, err)
		}
	}
	if _, err := DecryptSymmetric(k, append(bytes.Clone(blob), 0), ec); err != ErrInvalidCiphertext {
		t.Errorf("extended: err = %v", err)
	}
	if _, err := DecryptSymmetric(mustGenerate(t, SymmetricDefault), blob, ec); err != ErrInvalidCiphertext {
		t.Errorf("wrong key: err = %v", err)
	}
	for _, bad := range []map[string]string{nil, {"k": "w"}, {"k": "v", "x": ""}, {"K": "v"}, {"k": "v "}, {"kv": ""}} {
		if _, err := DecryptSymmetric(k, blob, bad); err != ErrInvalidCiphertext {
			t.Errorf("context %q: err = %v", bad, err)
		}
	}
	if got, err := DecryptSymmetric(k, blob, map[string]string{"k": "v"}); err != nil || string(got) != "secret" {
		t.Errorf("untampered blob: %q, %v", got, err)
	}
}

func TestParseHeaderJunk(t *testing.T) {
	t.Parallel()
	good, _ := encryptSymmetric(fixedAES(t), Header{KeyID: "kid", Version: 9}, nil, nil, constReader(0))
	with := func(i int, b byte) []byte { c := bytes.Clone(good); c[i] = b; return c }
	for name, b := range map[string][]byte{
		"nil":            nil,
		"one byte":       {0x01},
		"text":           []byte("this is not a ciphertext blob at all, honest"),
		"aws blob":       unhex(t, "0102020078"+strings.Repeat("ab", 60)),
		"format 0":       with(0, 0x00),
		"format 2":       with(0, 0x02),
		"bad magic 0":    with(1, 0xA6),
		"bad magic 1":    with(2, 0xCB),
		"algorithm 0":    with(3, 0x00),
		"algorithm 0xff": with(3, 0xff),
		"key ID len 0":   with(4, 0),
		"key ID len 65":  append(with(4, 65), make([]byte, 100)...),
		"no tag":         good[:len(good)-1],
	} {
		if _, err := ParseHeader(b); err != ErrInvalidCiphertext {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	if h, err := ParseHeader(good); err != nil || h != (Header{KeyID: "kid", Version: 9}) {
		t.Errorf("good: %+v, %v", h, err)
	}
}

func TestHeaderLimits(t *testing.T) {
	t.Parallel()
	k := fixedAES(t)
	for _, id := range []string{"", strings.Repeat("k", 65)} {
		if _, err := EncryptSymmetric(k, Header{KeyID: id}, []byte("x"), nil); err == nil {
			t.Errorf("key ID of %d bytes accepted", len(id))
		}
	}
	if _, err := EncryptSymmetric(k, Header{KeyID: strings.Repeat("k", 64)}, []byte("x"), nil); err != nil {
		t.Errorf("64-byte key ID: %v", err)
	}
}

func TestBlobDestroyedKey(t *testing.T) {
	t.Parallel()
	k := mustGenerate(t, SymmetricDefault)
	blob, _ := EncryptSymmetric(k, Header{KeyID: "k", Version: 1}, []byte("x"), nil)
	k.Destroy()
	if _, err := EncryptSymmetric(k, Header{KeyID: "k", Version: 1}, []byte("x"), nil); !errors.Is(err, ErrKeyDestroyed) {
		t.Errorf("encrypt after Destroy: %v", err)
	}
	if _, err := DecryptSymmetric(k, blob, nil); !errors.Is(err, ErrKeyDestroyed) {
		t.Errorf("decrypt after Destroy: %v", err)
	}
}

func TestEncryptAllocations(t *testing.T) {
	k := fixedAES(t)
	h := Header{KeyID: "000000000000:1234abcd-12ab-34cd-56ef-1234567890ab", Version: 1}
	pt := make([]byte, 1024)
	ec := map[string]string{"a": "1", "b": "2"}
	blob, _ := EncryptSymmetric(k, h, pt, ec)
	if n := testing.AllocsPerRun(50, func() { _, _ = EncryptSymmetric(k, h, pt, ec) }); n > 1 {
		t.Errorf("EncryptSymmetric allocates %v times per call, want 1", n)
	}
	if n := testing.AllocsPerRun(50, func() { _, _ = DecryptSymmetric(k, blob, ec) }); n > 1 {
		t.Errorf("DecryptSymmetric allocates %v times per call, want 1", n)
	}
}

func BenchmarkEncryptSymmetric1KiB(b *testing.B) {
	k := fixedAES(b)
	pt := make([]byte, 1024)
	h := Header{KeyID: "000000000000:1234abcd-12ab-34cd-56ef-1234567890ab", Version: 1}
	ec := map[string]string{"purpose": "bench"}
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncryptSymmetric(k, h, pt, ec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptSymmetric1KiB(b *testing.B) {
	k := fixedAES(b)
	ec := map[string]string{"purpose": "bench"}
	blob, _ := EncryptSymmetric(k, Header{KeyID: "000000000000:1234abcd-12ab-34cd-56ef-1234567890ab", Version: 1}, make([]byte, 1024), ec)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecryptSymmetric(k, blob, ec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptSymmetricSM41KiB(b *testing.B) {
	k := fixedKey(b, SM4, 16)
	pt := make([]byte, 1024)
	h := Header{KeyID: "000000000000:1234abcd-12ab-34cd-56ef-1234567890ab", Version: 1}
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncryptSymmetric(k, h, pt, nil); err != nil {
			b.Fatal(err)
		}
	}
}
