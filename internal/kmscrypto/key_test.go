package kmscrypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// assertNoMaterial fails if any fmt verb on k (by pointer or by value)
// shows any part of material.
func assertNoMaterial(t *testing.T, k *Key, material []byte) {
	t.Helper()
	var out strings.Builder
	fmt.Fprintf(&out, "%v %+v %#v %s %x %X %q %d", k, k, k, k, k, k, k, k)
	fmt.Fprintf(&out, "%v %+v %#v %x", []*Key{k}, map[string]*Key{"k": k}, struct{ K *Key }{k}, k.String())
	s := strings.ToLower(out.String())
	if len(material) >= 8 {
		for i := 0; i+8 <= len(material); i += 4 {
			frag := material[i : i+8]
			if strings.Contains(s, hex.EncodeToString(frag)) || strings.Contains(out.String(), string(frag)) || strings.Contains(s, strings.Trim(fmt.Sprint(frag), "[]")) {
				t.Fatalf("%s key prints material: %s", k.spec, out.String())
			}
		}
	}
	if !strings.Contains(out.String(), "REDACTED") {
		t.Errorf("%s key output lacks REDACTED: %s", k.spec, out.String())
	}
}

func TestKeyHygiene(t *testing.T) {
	t.Parallel()
	k := fixedAES(t)
	assertNoMaterial(t, k, seqBytes(0, 32))
	if got := k.String(); got != "kmscrypto.Key(SYMMETRIC_DEFAULT, REDACTED)" {
		t.Errorf("String = %q", got)
	}
	k2 := fixedAES(t)
	if !k.Equal(k2) || !k2.Equal(k) {
		t.Error("equal keys compare unequal")
	}
	g := mustGenerate(t, SymmetricDefault)
	if k.Equal(g) || k.Equal(nil) {
		t.Error("different keys compare equal")
	}
	m := k.Marshal()
	if !bytes.Equal(m, seqBytes(0, 32)) {
		t.Errorf("Marshal = %x", m)
	}
	m[0] ^= 0xff
	if !k.Equal(k2) {
		t.Error("Marshal returned the key's own buffer")
	}
	in := seqBytes(0, 32)
	k3, _ := ParseKey(SymmetricDefault, in)
	clear(in)
	if !k3.Equal(k) {
		t.Error("ParseKey did not copy its input")
	}
	k2.Destroy()
	if !bytes.Equal(k2.m.raw, make([]byte, 32)) {
		t.Error("Destroy left material")
	}
	if k2.Equal(k) || k2.Marshal() != nil {
		t.Error("destroyed key still equal or marshals")
	}
	if g.Spec() != SymmetricDefault {
		t.Errorf("Spec = %s", g.Spec())
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := ParseKey(SymmetricDefault, make([]byte, n)); !errors.Is(err, ErrInvalidKeyMaterial) {
			t.Errorf("ParseKey accepted %d bytes: %v", n, err)
		}
	}
	for _, spec := range []KeySpec{"RSA_1024", "", "symmetric_default"} {
		if _, err := Generate(spec); !errors.Is(err, ErrUnsupportedSpec) {
			t.Errorf("Generate(%q): %v", spec, err)
		}
		if _, err := ParseKey(spec, make([]byte, 32)); !errors.Is(err, ErrUnsupportedSpec) {
			t.Errorf("ParseKey(%q): %v", spec, err)
		}
	}
}

func TestRandomBytes(t *testing.T) {
	t.Parallel()
	a, err := RandomBytes(32)
	b, _ := RandomBytes(32)
	if err != nil || len(a) != 32 || bytes.Equal(a, b) {
		t.Errorf("RandomBytes: %x %x %v", a, b, err)
	}
	if z, err := RandomBytes(0); err != nil || len(z) != 0 {
		t.Errorf("RandomBytes(0) = %x, %v", z, err)
	}
	if _, err := RandomBytes(-1); err == nil {
		t.Error("RandomBytes(-1) succeeded")
	}
}
