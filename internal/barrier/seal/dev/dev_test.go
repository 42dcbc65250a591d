package dev

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenCreatesThenReuses(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "data")
	s1, created, err := Open(dir)
	if err != nil || !created {
		t.Fatalf("first Open = %v, created=%v", err, created)
	}
	st, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != keyLen {
		t.Fatalf("key file: %v, mode %v, %d bytes", err, st.Mode().Perm(), st.Size())
	}
	if d, _ := os.Stat(dir); d.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", d.Mode().Perm())
	}
	wrapped, err := s1.Wrap(context.Background(), []byte("keyring"))
	if err != nil {
		t.Fatal(err)
	}
	s2, created, err := Open(dir)
	if err != nil || created {
		t.Fatalf("second Open = %v, created=%v", err, created)
	}
	pt, err := s2.Unwrap(context.Background(), wrapped)
	if err != nil || !bytes.Equal(pt, []byte("keyring")) {
		t.Errorf("Unwrap with the reopened seal = %q, %v", pt, err)
	}
	other, _, _ := Open(t.TempDir())
	if _, err := other.Unwrap(context.Background(), wrapped); err == nil {
		t.Error("another seal unwrapped the value")
	}
	for _, n := range []int{0, 5, len(wrapped) - 1} {
		if _, err := s2.Unwrap(context.Background(), wrapped[:n]); err == nil {
			t.Errorf("truncated to %d unwrapped", n)
		}
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
		{"short", 0o600, keyLen - 1, "exactly"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, FileName)
			if err := os.WriteFile(p, make([]byte, tc.size), tc.mode); err != nil {
				t.Fatal(err)
			}
			os.Chmod(p, tc.mode)
			if _, _, err := Open(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %v, want error mentioning %q", err, tc.want)
			}
		})
	}
}
