// Package dev is the development seal: the key that wraps the barrier's
// keyring sits in a file next to the data (dev-seal.key, mode 0600). Anyone
// who can read the data dir can read everything, so it is for development
// only; `arca server --dev` says so loudly at start.
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
	"io/fs"
	"os"
	"path/filepath"

	"github.com/arca-kms/arca/internal/barrier"
)

// FileName is the dev seal key's file name in the data dir.
const FileName = "dev-seal.key"

const keyLen = 32

var aad = []byte("arca dev seal v1")

// Seal wraps with AES-256-GCM under the key file's 32 bytes.
type Seal struct {
	aead cipher.AEAD
}

var _ barrier.Wrapper = (*Seal)(nil)

// Open reads dataDir/dev-seal.key, creating it (and dataDir, 0700) from
// crypto/rand when absent; created reports which. A key file readable by
// group or others, or of the wrong size, is refused.
func Open(dataDir string) (s *Seal, created bool, err error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, err
	}
	p := filepath.Join(dataDir, FileName)
	key, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, keyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, false, err
		}
		// O_EXCL: never overwrite a key another process just created.
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("dev seal: create %s: %w", p, err)
		}
		_, werr := f.Write(key)
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			return nil, false, fmt.Errorf("dev seal: write %s: %w", p, err)
		}
		created = true
	} else if err != nil {
		return nil, false, fmt.Errorf("dev seal: %w", err)
	} else {
		st, err := os.Stat(p)
		if err != nil {
			return nil, false, err
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("dev seal: %s is accessible to group or others (mode %v); chmod 600 it", p, st.Mode().Perm())
		}
	}
	defer clear(key)
	if len(key) != keyLen {
		return nil, false, fmt.Errorf("dev seal: %s must hold exactly %d bytes", p, keyLen)
	}
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

// Type names the seal.
func (s *Seal) Type() string { return "dev" }

// Wrap implements barrier.Wrapper: nonce ‖ AES-256-GCM ciphertext.
func (s *Seal) Wrap(_ context.Context, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// Unwrap implements barrier.Wrapper.
func (s *Seal) Unwrap(_ context.Context, ciphertext []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ciphertext) < n+s.aead.Overhead() {
		return nil, errors.New("dev seal: wrapped value too short")
	}
	pt, err := s.aead.Open(nil, ciphertext[:n], ciphertext[n:], aad)
	if err != nil {
		return nil, errors.New("dev seal: wrong key or corrupted keyring")
	}
	return pt, nil
}
