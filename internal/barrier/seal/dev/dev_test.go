package dev

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var ctx = context.Background()

func TestOpenCreatesThenReuses(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data", "nested")
	s1, created, err := Open(dir)
	if err != nil || !created {
		t.Fatalf("first Open = %v, created=%v; want a new key", err, created)
	}
	if s1.Type() != "dev" {
		t.Errorf("Type() = %q", s1.Type())
	}
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != keyLen {
		t.Errorf("key file mode %04o, %d bytes; want 0600, %d", st.Mode().Perm(), st.Size(), keyLen)
	}
	if d, err := os.Stat(dir); err != nil || d.Mode().Perm() != 0o700 {
		t.Errorf("created data dir mode %04o, %v; want 0700", d.Mode().Perm(), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("data dir holds %d entries; want only the key file (no temp files left)", len(ents))
	}
	wrapped, err := s1.Wrap(ctx, []byte("keyring"))
	if err != nil {
		t.Fatal(err)
	}
	s2, created, err := Open(dir)
	if err != nil || created {
		t.Fatalf("second Open = %v, created=%v; want the existing key", err, created)
	}
	if pt, err := s2.Unwrap(ctx, wrapped); err != nil || string(pt) != "keyring" {
		t.Errorf("Unwrap with the reopened seal = %q, %v", pt, err)
	}
}

func TestConcurrentFirstOpenAgrees(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	seals := make([]*Seal, n)
	var createdCount int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, created, err := Open(dir)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			seals[i] = s
			if created {
				createdCount++
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if createdCount != 1 {
		t.Errorf("%d Opens reported creating the key; want exactly 1", createdCount)
	}
	w, err := seals[0].Wrap(ctx, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seals {
		if _, err := s.Unwrap(ctx, w); err != nil {
			t.Errorf("seal %d has a different key: %v", i, err)
		}
	}
}

func TestWrapUnwrap(t *testing.T) {
	t.Parallel()
	s, _, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte("keyring-bytes"), 10)
	w1, _ := s.Wrap(ctx, secret)
	w2, _ := s.Wrap(ctx, secret)
	if bytes.Equal(w1, w2) {
		t.Error("two Wraps of the same plaintext are identical: nonce reused")
	}
	if bytes.Contains(w1, secret[:16]) {
		t.Error("wrapped output contains the plaintext")
	}
	if len(w1) != 12+len(secret)+16 {
		t.Errorf("wrapped length %d; want nonce+plaintext+tag = %d", len(w1), 12+len(secret)+16)
	}
	if _, err := other.Unwrap(ctx, w1); err == nil {
		t.Error("another seal's key unwrapped the value")
	}
	// A GCM ciphertext under the same key with different AAD must not open.
	nonce := make([]byte, 12)
	if _, err := s.Unwrap(ctx, s.aead.Seal(nonce, nonce, secret, []byte("other aad"))); err == nil {
		t.Error("a ciphertext with different additional data unwrapped")
	}
	for _, n := range []int{0, 5, 12, 27, len(w1) - 1} {
		if pt, err := s.Unwrap(ctx, w1[:n]); err == nil || pt != nil {
			t.Errorf("truncated to %d bytes: %q, %v; want error", n, pt, err)
		}
	}
	for i := range w1 {
		c := bytes.Clone(w1)
		c[i] ^= 0x80
		if pt, err := s.Unwrap(ctx, c); err == nil || pt != nil {
			t.Errorf("byte %d altered: %q, %v; want error", i, pt, err)
		}
	}
	if pt, err := s.Unwrap(ctx, w1); err != nil || !bytes.Equal(pt, secret) {
		t.Errorf("Unwrap = %q, %v", pt, err)
	}
}

func TestOpenRefusesBadKeyFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode os.FileMode
		size int
		want string
	}{
		{"group readable", 0o640, keyLen, "group or others"},
		{"world readable", 0o604, keyLen, "group or others"},
		{"group writable", 0o620, keyLen, "group or others"},
		{"world everything", 0o777, keyLen, "group or others"},
		{"empty", 0o600, 0, "exactly 32"},
		{"short", 0o600, keyLen - 1, "exactly 32"},
		{"long", 0o600, keyLen + 1, "exactly 32"},
		{"hex text instead of raw", 0o600, 2 * keyLen, "exactly 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, FileName)
			if err := os.WriteFile(p, make([]byte, tc.size), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, tc.mode); err != nil { // WriteFile's mode is subject to umask
				t.Fatal(err)
			}
			s, _, err := Open(dir)
			if err == nil || s != nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v; want an error mentioning %q", err, tc.want)
			}
			if st, _ := os.Stat(p); st.Size() != int64(tc.size) {
				t.Error("Open modified a refused key file")
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, FileName), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Open = %v; want not a regular file", err)
		}
	})
}
