//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/storage/memory"
	p11 "github.com/miekg/pkcs11"
)

const (
	softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"
	testPIN       = "1234"
	testSOPIN     = "5678"
)

// Tokens created once for the package (SoftHSM2 reads its token directory
// when the module is initialized, so they exist before any test opens it).
var testTokens = []string{"gcm", "kwp", "pin", "misc", "tool", "restart", "conc", "relabel", "barrier", "recover"}

// softhsmErr is why SoftHSM2 is unusable here, or nil.
var softhsmErr error

func TestMain(m *testing.M) {
	if os.Getenv("ARCA_PKCS11_TEST_CHILD") != "" {
		os.Exit(child())
	}
	dir, err := os.MkdirTemp("", "arca-softhsm")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	softhsmErr = setupSoftHSM(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setupSoftHSM points SOFTHSM2_CONF at a token directory under dir and
// initializes the test tokens in it.
func setupSoftHSM(dir string) error {
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return err
	}
	if _, err := os.Stat(softhsmModule); err != nil {
		return err
	}
	tokDir := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokDir, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokDir + "\nobjectstore.backend = file\nlog.level = ERROR\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return err
	}
	os.Setenv("SOFTHSM2_CONF", conf)
	for _, label := range testTokens {
		out, err := exec.Command(util, "--init-token", "--free", "--label", label, "--pin", testPIN, "--so-pin", testSOPIN).CombinedOutput()
		if err != nil {
			return fmt.Errorf("softhsm2-util --init-token: %v: %s", err, out)
		}
	}
	return nil
}

// requireSoftHSM skips (fails under CI=true) when SoftHSM2 is missing.
func requireSoftHSM(t *testing.T) {
	t.Helper()
	if softhsmErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("SoftHSM2 is not usable (Debian package softhsm2): %v; CI must install it", softhsmErr)
	}
	t.Skipf("SoftHSM2 is not usable (Debian package softhsm2): %v", softhsmErr)
}

func testConfig(token, key, mech string) Config {
	return Config{Module: softhsmModule, TokenLabel: token, PIN: []byte(testPIN), PINSource: "$TEST_PIN", KeyLabel: key, Mechanism: mech}
}

func openT(t *testing.T, cfg Config) *Seal {
	t.Helper()
	s, _, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func randBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	requireSoftHSM(t)
	ctx := context.Background()
	for _, tc := range []struct{ token, mech string }{{"gcm", MechanismGCM}, {"kwp", MechanismKWP}} {
		t.Run(tc.mech, func(t *testing.T) {
			cfg := testConfig(tc.token, "root", tc.mech)
			cfg.CreateKey = true
			s, created, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !created {
				t.Fatal("created = false for a new key")
			}
			// Keyring sizes: one term (45 bytes), several, and one not a
			// multiple of 8 (KWP pads).
			for _, n := range []int{45, 81, 9 + 36*40, 1} {
				pt := randBytes(t, n)
				w, err := s.Wrap(ctx, pt)
				if err != nil {
					t.Fatal(err)
				}
				// Only a run long enough not to occur by chance in random output.
				if n >= 16 && bytes.Contains(w, pt) {
					t.Fatal("wrapped output contains the plaintext")
				}
				if !IsWrapped(w) {
					t.Fatal("IsWrapped = false for own output")
				}
				got, err := s.Unwrap(ctx, w)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatalf("round trip of %d bytes differs: got %d bytes %x want %x", n, len(got), got, pt)
				}
				// Any altered byte of the body fails; header bytes change the
				// label or mechanism, which also fail.
				for _, i := range []int{len(w) - 1, len(w) / 2, 7 + len("root")} {
					bad := bytes.Clone(w)
					bad[i] ^= 0x01
					if got, err := s.Unwrap(ctx, bad); err == nil {
						t.Fatalf("altered byte %d unwrapped (%d bytes)", i, len(got))
					}
				}
				if _, err := s.Unwrap(ctx, w[:len(w)-8]); err == nil {
					t.Fatal("truncated input unwrapped")
				}
			}
			// A second Open finds the existing key and does not create one.
			cfg.CreateKey = true
			s2, created, err := Open(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if created {
				t.Fatal("created = true for an existing key")
			}
		})
	}
}

func TestUnwrapRejectsOtherSeals(t *testing.T) {
	requireSoftHSM(t)
	cfg := testConfig("misc", "k", "")
	cfg.CreateKey = true
	s := openT(t, cfg)
	for _, in := range [][]byte{nil, []byte("AP1"), randBytes(t, 60), append([]byte("AP11\x02\x01\x01k"), randBytes(t, 40)...), append([]byte("AP11\x01\x09\x01k"), randBytes(t, 40)...)} {
		if _, err := s.Unwrap(context.Background(), in); err == nil {
			t.Errorf("Unwrap(%x) succeeded", in)
		}
	}
}

func TestWrongPIN(t *testing.T) {
	requireSoftHSM(t)
	cfg := testConfig("pin", "k", "")
	cfg.CreateKey = true
	openT(t, cfg).Close()
	cfg.PIN = []byte("0000")
	cfg.PINSource = "$ARCA_PKCS11_PIN"
	_, _, err := Open(context.Background(), cfg)
	if !errors.Is(err, ErrPIN) {
		t.Fatalf("err = %v, want ErrPIN", err)
	}
	for _, want := range []string{`token "pin"`, "incorrect", "$ARCA_PKCS11_PIN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "0000") {
		t.Error("error contains the PIN")
	}
}

func TestMissingTokenAndKey(t *testing.T) {
	requireSoftHSM(t)
	ctx := context.Background()
	_, _, err := Open(ctx, testConfig("no-such-token", "k", ""))
	if !errors.Is(err, ErrTokenNotFound) || !strings.Contains(err.Error(), `"no-such-token"`) || !strings.Contains(err.Error(), `"misc"`) {
		t.Errorf("missing token: %v", err)
	}
	slot := uint(424242)
	cfg := testConfig("", "k", "")
	cfg.Slot = &slot
	if _, _, err := Open(ctx, cfg); !errors.Is(err, ErrTokenNotFound) || !strings.Contains(err.Error(), "slot 424242") {
		t.Errorf("missing slot: %v", err)
	}
	_, _, err = Open(ctx, testConfig("misc", "absent-key", ""))
	if !errors.Is(err, ErrKeyNotFound) || !strings.Contains(err.Error(), `"absent-key"`) || !strings.Contains(err.Error(), "key_label") {
		t.Errorf("missing key: %v", err)
	}
	if _, _, err := Open(ctx, Config{Module: "/nonexistent/lib.so", TokenLabel: "x", PIN: []byte("1"), KeyLabel: "k"}); !errors.Is(err, ErrModule) || !strings.Contains(err.Error(), "seal_pkcs11.module") {
		t.Errorf("missing module: %v", err)
	}
}

// TestKeyStaysInHSM: the created key is a sensitive, non-extractable token
// key: its value cannot be read, and it cannot be wrapped out either.
func TestKeyStaysInHSM(t *testing.T) {
	requireSoftHSM(t)
	cfg := testConfig("misc", "stay", MechanismGCM)
	cfg.CreateKey = true
	s := openT(t, cfg)
	ctx := s.mod.ctx
	sess, err := s.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.put(sess, nil)
	h, err := s.findKey(sess, "stay")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ctx.GetAttributeValue(sess.h, h, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if !isRV(err, p11.CKR_ATTRIBUTE_SENSITIVE) {
		t.Fatalf("C_GetAttributeValue(CKA_VALUE) = %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
	attrs, err := ctx.GetAttributeValue(sess.h, h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil), p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_TOKEN, nil), p11.NewAttribute(p11.CKA_NEVER_EXTRACTABLE, nil),
		p11.NewAttribute(p11.CKA_ALWAYS_SENSITIVE, nil),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint]bool{p11.CKA_EXTRACTABLE: false, p11.CKA_SENSITIVE: true, p11.CKA_TOKEN: true, p11.CKA_NEVER_EXTRACTABLE: true, p11.CKA_ALWAYS_SENSITIVE: true}
	for _, a := range attrs {
		if boolAttr(a.Value) != want[a.Type] {
			t.Errorf("attribute %#x = %v, want %v", a.Type, boolAttr(a.Value), want[a.Type])
		}
	}
	// Wrapping it out with another key fails too.
	wk, err := ctx.GenerateKey(sess.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY), p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, 32), p11.NewAttribute(p11.CKA_TOKEN, false), p11.NewAttribute(p11.CKA_WRAP, true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctx.WrapKey(sess.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}, wk, h); err == nil {
		t.Fatal("C_WrapKey exported the seal key")
	}
}

// TestRefusesWeakKeys: Open will not use a key that could leave the HSM or
// may not do what the mechanism needs.
func TestRefusesWeakKeys(t *testing.T) {
	requireSoftHSM(t)
	cfg := testConfig("misc", "admin", "")
	cfg.CreateKey = true
	s := openT(t, cfg)
	sess, err := s.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer s.put(sess, nil)
	gen := func(label string, extra ...*p11.Attribute) {
		tmpl := append([]*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY), p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_TOKEN, true), p11.NewAttribute(p11.CKA_LABEL, label),
		}, extra...)
		if _, err := s.mod.ctx.GenerateKey(sess.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, tmpl); err != nil {
			t.Fatal(err)
		}
	}
	gen("extractable", p11.NewAttribute(p11.CKA_VALUE_LEN, 32), p11.NewAttribute(p11.CKA_EXTRACTABLE, true), p11.NewAttribute(p11.CKA_SENSITIVE, true), p11.NewAttribute(p11.CKA_ENCRYPT, true), p11.NewAttribute(p11.CKA_DECRYPT, true))
	gen("aes128", p11.NewAttribute(p11.CKA_VALUE_LEN, 16), p11.NewAttribute(p11.CKA_EXTRACTABLE, false), p11.NewAttribute(p11.CKA_SENSITIVE, true), p11.NewAttribute(p11.CKA_ENCRYPT, true), p11.NewAttribute(p11.CKA_DECRYPT, true))
	gen("nowrap", p11.NewAttribute(p11.CKA_VALUE_LEN, 32), p11.NewAttribute(p11.CKA_EXTRACTABLE, false), p11.NewAttribute(p11.CKA_SENSITIVE, true), p11.NewAttribute(p11.CKA_ENCRYPT, true), p11.NewAttribute(p11.CKA_DECRYPT, true), p11.NewAttribute(p11.CKA_WRAP, false))
	gen("dup", p11.NewAttribute(p11.CKA_VALUE_LEN, 32))
	gen("dup", p11.NewAttribute(p11.CKA_VALUE_LEN, 32))
	for _, tc := range []struct{ label, mech, want string }{
		{"extractable", MechanismGCM, "extractable"},
		{"aes128", MechanismGCM, "AES-128"},
		{"nowrap", MechanismKWP, "CKA_WRAP"},
		{"dup", MechanismGCM, "more than one"},
	} {
		_, _, err := Open(context.Background(), testConfig("misc", tc.label, tc.mech))
		if !errors.Is(err, ErrKeyUnsuitable) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want ErrKeyUnsuitable mentioning %q", tc.label, err, tc.want)
		}
	}
}

// TestPkcs11ToolKey: a key made by the operator with pkcs11-tool (opensc)
// works with both mechanisms (pkcs11-tool allows encrypt, decrypt, wrap and
// unwrap and makes it never-extractable).
func TestPkcs11ToolKey(t *testing.T) {
	requireSoftHSM(t)
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pkcs11-tool not installed (Debian package opensc); CI must install it")
		}
		t.Skip("pkcs11-tool not installed (Debian package opensc)")
	}
	out, err := exec.Command(tool, "--module", softhsmModule, "--token-label", "tool", "--login", "--pin", testPIN,
		"--keygen", "--key-type", "AES:32", "--label", "opkey", "--sensitive").CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool --keygen: %v\n%s", err, out)
	}
	for _, mech := range []string{MechanismGCM, MechanismKWP} {
		// A fresh module load, so SoftHSM2 sees the key another process made.
		s := openT(t, testConfig("tool", "opkey", mech))
		pt := randBytes(t, 45)
		w, err := s.Wrap(context.Background(), pt)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Unwrap(context.Background(), w); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: unwrap: %v", mech, err)
		}
		s.Close()
	}
}

// TestRestart: a keyring wrapped by one process is unwrapped by another
// (new module load, new sessions, new login).
func TestRestart(t *testing.T) {
	requireSoftHSM(t)
	ctx := context.Background()
	dir := t.TempDir()
	for _, mech := range []string{MechanismGCM, MechanismKWP} {
		cfg := testConfig("restart", "root-"+mech, mech)
		cfg.CreateKey = true
		s, _, err := Open(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		pt := randBytes(t, 81)
		w, err := s.Wrap(ctx, pt)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "wrapped"), w, 0o600)
		os.WriteFile(filepath.Join(dir, "want"), pt, 0o600)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "ARCA_PKCS11_TEST_CHILD="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: unwrapping in a new process: %v\n%s", mech, err, out)
		}
	}
}

// child unwraps dir/wrapped and compares it with dir/want.
func child() int {
	dir := os.Getenv("ARCA_PKCS11_TEST_CHILD")
	w, _ := os.ReadFile(filepath.Join(dir, "wrapped"))
	want, _ := os.ReadFile(filepath.Join(dir, "want"))
	// The key label in the configuration differs on purpose: Unwrap uses
	// the label recorded in the blob.
	cfg := testConfig("restart", "child-other", "")
	cfg.CreateKey = true
	s, _, err := Open(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	got, err := s.Unwrap(context.Background(), w)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !bytes.Equal(got, want) {
		fmt.Fprintln(os.Stderr, "unwrapped keyring differs")
		return 1
	}
	return 0
}

// TestKeyLabelChange: a blob names its key, so a seal configured with a new
// key still unwraps the old blob (the first step of moving to a new key).
func TestKeyLabelChange(t *testing.T) {
	requireSoftHSM(t)
	ctx := context.Background()
	a := testConfig("relabel", "old", "")
	a.CreateKey = true
	sa := openT(t, a)
	pt := randBytes(t, 45)
	w, err := sa.Wrap(ctx, pt)
	if err != nil {
		t.Fatal(err)
	}
	b := testConfig("relabel", "new", MechanismKWP)
	b.CreateKey = true
	sb := openT(t, b)
	if got, err := sb.Unwrap(ctx, w); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("unwrap with the old label recorded: %v", err)
	}
	w2, err := sb.Wrap(ctx, pt)
	if err != nil || !strings.Contains(string(w2[:12]), "new") {
		t.Fatalf("rewrap: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	requireSoftHSM(t)
	for _, mech := range []string{MechanismGCM, MechanismKWP} {
		cfg := testConfig("conc", "c-"+mech, mech)
		cfg.CreateKey = true
		cfg.Sessions = 2
		s := openT(t, cfg)
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for range 16 {
			wg.Go(func() {
				for range 10 {
					pt := make([]byte, 45)
					rand.Read(pt)
					w, err := s.Wrap(context.Background(), pt)
					if err != nil {
						errs <- err
						return
					}
					got, err := s.Unwrap(context.Background(), w)
					if err != nil || !bytes.Equal(got, pt) {
						errs <- fmt.Errorf("unwrap: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if n := len(s.sem); n > 2 {
			t.Fatalf("%d sessions open, limit 2", n)
		}
	}
}

// TestSessionRecovery: a session that goes bad under the pool (closed by
// the token, or the token restarted) is replaced and the call succeeds.
func TestSessionRecovery(t *testing.T) {
	requireSoftHSM(t)
	cfg := testConfig("recover", "r", "")
	cfg.CreateKey = true
	s := openT(t, cfg)
	ctx := context.Background()
	pt := randBytes(t, 45)
	w, err := s.Wrap(ctx, pt)
	if err != nil {
		t.Fatal(err)
	}
	// Close every session behind the seal's back (this also logs out).
	if err := s.mod.ctx.CloseAllSessions(s.slot); err != nil {
		t.Fatal(err)
	}
	got, err := s.Unwrap(ctx, w)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("unwrap after the sessions were closed: %v", err)
	}
}

// TestBarrier: the seal drives a real barrier: initialize, write, then a new
// barrier and a new seal (as after a restart) unseal and read.
func TestBarrier(t *testing.T) {
	requireSoftHSM(t)
	ctx := context.Background()
	cfg := testConfig("barrier", "root", "")
	cfg.CreateKey = true
	s := openT(t, cfg)
	store := memory.New()
	b := barrier.New(store)
	if err := b.Initialize(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "kms/x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Rotate(ctx, s); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	s.Close()

	cfg.CreateKey = false
	s2 := openT(t, cfg)
	b2 := barrier.New(store)
	if err := b2.Unseal(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if v, err := b2.Get(ctx, "kms/x"); err != nil || string(v) != "hello" {
		t.Fatalf("Get = %q, %v", v, err)
	}
}
