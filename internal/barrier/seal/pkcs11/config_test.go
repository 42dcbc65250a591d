package pkcs11

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	slot := uint(0)
	ok := Config{Module: "/m.so", TokenLabel: "t", PIN: []byte("1"), KeyLabel: "k"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"no module", func(c *Config) { c.Module = "" }, "seal_pkcs11.module"},
		{"no token", func(c *Config) { c.TokenLabel = "" }, "exactly one of"},
		{"token and slot", func(c *Config) { c.Slot = &slot }, "exactly one of"},
		{"no key", func(c *Config) { c.KeyLabel = "" }, "seal_pkcs11.key_label"},
		{"long key", func(c *Config) { c.KeyLabel = strings.Repeat("k", 256) }, "255"},
		{"no pin", func(c *Config) { c.PIN = nil }, "$ARCA_PKCS11_PIN"},
		{"mechanism", func(c *Config) { c.Mechanism = "CKM_AES_CBC" }, "CKM_AES_GCM or CKM_AES_KEY_WRAP_PAD"},
	} {
		c := ok
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want mention of %q", tc.name, err, tc.want)
		}
	}
}

func TestReadPIN(t *testing.T) {
	env := map[string]string{"ARCA_PKCS11_PIN": "1234", "OTHER": "9876"}
	getenv := func(k string) string { return env[k] }
	if pin, src, err := ReadPIN("", "", getenv); err != nil || string(pin) != "1234" || src != "$ARCA_PKCS11_PIN" {
		t.Errorf("default env: %q %q %v", pin, src, err)
	}
	if pin, src, err := ReadPIN("OTHER", "", getenv); err != nil || string(pin) != "9876" || src != "$OTHER" {
		t.Errorf("named env: %q %q %v", pin, src, err)
	}
	if _, _, err := ReadPIN("UNSET", "", getenv); err == nil || !strings.Contains(err.Error(), "$UNSET") {
		t.Errorf("unset env: %v", err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "pin")
	os.WriteFile(f, []byte("5555\n"), 0o600)
	if pin, _, err := ReadPIN("", f, getenv); err != nil || string(pin) != "5555" {
		t.Errorf("file: %q %v", pin, err)
	}
	if _, _, err := ReadPIN("OTHER", f, getenv); err == nil {
		t.Error("both env and file accepted")
	}
	os.Chmod(f, 0o644)
	if _, _, err := ReadPIN("", f, getenv); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable file: %v", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, _, err := ReadPIN("", empty, getenv); err == nil {
		t.Error("empty file accepted")
	}
}

func TestKWPFraming(t *testing.T) {
	hdr := header(mechKWP, "root")
	for n := range 40 {
		pt := bytes.Repeat([]byte{0xA5}, n)
		inner := kwpInner(hdr, pt)
		if len(inner)%8 != 0 {
			t.Fatalf("inner length %d is not a multiple of 8", len(inner))
		}
		got, err := kwpOuter(hdr, inner)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: %v", n, err)
		}
		// Tokens that keep RFC 5649 padding hand back up to 7 more zeros.
		if got, err := kwpOuter(hdr, append(bytes.Clone(inner), make([]byte, 8)...)); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d with extra padding: %v", n, err)
		}
		if _, err := kwpOuter(header(mechKWP, "other"), inner); err == nil {
			t.Fatal("another key's header accepted")
		}
	}
}

// FuzzParseBlob: framing never panics and never accepts a body too short for
// its mechanism.
func FuzzParseBlob(f *testing.F) {
	f.Add(append(header(mechGCM, "root"), make([]byte, 60)...))
	f.Add(append(header(mechKWP, "root"), make([]byte, 56)...))
	f.Add([]byte("AP11\x01\x01\xffk"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bl, err := parseBlob(b)
		if err != nil {
			return
		}
		if !IsWrapped(b) || len(bl.header)+len(bl.body) != len(b) {
			t.Fatal("inconsistent parse")
		}
		if bl.mech == mechGCM && len(bl.body) < gcmIVLen+gcmTagLen {
			t.Fatal("short GCM body accepted")
		}
	})
}
