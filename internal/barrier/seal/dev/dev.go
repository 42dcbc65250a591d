// Package dev is the development seal.
//
// WARNING — FOR DEVELOPMENT ONLY. The key that wraps the barrier keyring is
// kept in a plain file, dev-seal.key, in the data dir right next to the
// database it protects. Anyone who can read the data dir (or a backup of
// it) can decrypt everything Arca stores. The dev seal exists so that
// `arca server --dev` works with no setup; production must use a seal whose
// key lives elsewhere (shamir, pkcs11, awskms).
//
// The key file holds exactly 32 raw bytes from crypto/rand, mode 0600; Open
// refuses a key file of any other size or with any group/other permission
// bits. Wrapped output is nonce (12 bytes) ‖ AES-256-GCM ciphertext ‖ tag,
// with the additional data "arca dev seal v1".
//
// Losing dev-seal.key makes an existing data dir unreadable for good: Open
// then creates a new key and reports created=true, which the caller must
// treat as fatal when the barrier is already initialized.
//
// It imports only internal/barrier (for the Wrapper contract).
package dev

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/arca-kms/arca/internal/barrier"
)

// FileName is the dev seal key's file name inside the data dir.
const FileName = "dev-seal.key"

const keyLen = 32

// aad binds wrapped output to this seal and format version.
var aad = []byte("arca dev seal v1")

// Seal wraps the barrier keyring with AES-256-GCM under the key file's 32
// bytes. It is safe for concurrent use.
type Seal struct {
	aead cipher.AEAD
}

var _ barrier.Wrapper = (*Seal)(nil)

// Open loads the dev seal key from dataDir/dev-seal.key. When the file does
// not exist it creates it (and dataDir, mode 0700, if missing) with 32 bytes
// from crypto/rand, mode 0600, and reports created=true. A key file that is
// not a regular file, is not exactly 32 bytes, or is accessible to group or
// others is refused with an error saying so.
func Open(dataDir string) (s *Seal, created bool, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("dev seal: data dir: %w", err)
	}
	p := filepath.Join(dataDir, FileName)
	key, err := readKey(p)
	if errors.Is(err, fs.ErrNotExist) {
		if created, err = createKey(dataDir, p); err != nil {
			return nil, false, err
		}
		// Read back what is on disk: another process may have won the race
		// to create it.
		key, err = readKey(p)
	}
	if err != nil {
		return nil, false, err
	}
	defer clear(key)
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, false, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, false, err
	}
	return &Seal{aead: aead}, created, nil
}

// readKey reads and checks the key file; checks and read use one open file,
// so the file checked is the file read.
func readKey(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("dev seal: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("dev seal: %w", err)
	}
	switch {
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("dev seal: %s is not a regular file", p)
	case st.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("dev seal: %s is accessible to group or others (mode %04o); it must be 0600 (chmod 600 %s)",
			p, st.Mode().Perm(), p)
	case st.Size() != keyLen:
		return nil, fmt.Errorf("dev seal: %s holds %d bytes; a dev seal key is exactly %d raw bytes", p, st.Size(), keyLen)
	}
	key := make([]byte, keyLen)
	if _, err := io.ReadFull(f, key); err != nil {
		clear(key)
		return nil, fmt.Errorf("dev seal: read %s: %w", p, err)
	}
	return key, nil
}

// createKey writes a fresh key to a temporary file, fsyncs it, and links it
// into place, so p never exists half-written (a crash mid-write would
// otherwise leave a short key file and a data dir that cannot start) and an
// existing key is never replaced. It reports false when another process
// created p first.
func createKey(dir, p string) (bool, error) {
	key := make([]byte, keyLen)
	defer clear(key)
	if _, err := rand.Read(key); err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(dir, "."+FileName+".*") // mode 0600
	if err != nil {
		return false, fmt.Errorf("dev seal: create key: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(key)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return false, fmt.Errorf("dev seal: write key: %w", err)
	}
	if err := os.Link(tmp.Name(), p); errors.Is(err, fs.ErrExist) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("dev seal: create key: %w", err)
	}
	// Make the new directory entry durable too (best effort: not every
	// platform can fsync a directory).
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return true, nil
}

// Type names the seal kind, for status output and config checks.
func (s *Seal) Type() string { return "dev" }

// Wrap implements barrier.Wrapper: nonce ‖ AES-256-GCM(plaintext).
func (s *Seal) Wrap(_ context.Context, plaintext []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	nonce := make([]byte, n, n+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Unwrap implements barrier.Wrapper. It fails on a wrong key or any
// alteration, and never returns partial plaintext.
func (s *Seal) Unwrap(_ context.Context, ciphertext []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ciphertext) < n+s.aead.Overhead() {
		return nil, errors.New("dev seal: wrapped keyring too short")
	}
	pt, err := s.aead.Open(nil, ciphertext[:n], ciphertext[n:], aad)
	if err != nil {
		return nil, errors.New("dev seal: cannot unwrap the keyring: wrong dev-seal.key or corrupted data")
	}
	return pt, nil
}
