// Package shamir is the Shamir seal: the barrier keyring is wrapped with
// AES-256-GCM under a 32-byte root key that is never stored. At init the
// root key is split with Shamir's secret sharing over GF(2^8) into N
// shares, any K of which rebuild it; fewer than K reveal nothing about it.
// Unsealing combines K shares and unwraps the keyring: the GCM tag is the
// authenticated check that the shares were right.
//
// Splitting and combining are HashiCorp Vault's reviewed implementation
// (github.com/hashicorp/vault/shamir, MPL-2.0), used unmodified. It needs a
// threshold of at least 2; for K = 1 every share is the degree-0 polynomial
// (the key itself with an x coordinate), which is what Shamir's scheme gives
// for K = 1 and which Vault's Combine also accepts.
//
// A share is the 32 key-polynomial bytes followed by its x coordinate (33
// bytes), shown to operators as standard base64. Shares may be encrypted to
// an operator's age public key (EncryptShare) so that the printed output is
// useless to anyone else.
//
// It imports only internal/barrier (for the Wrapper contract).
package shamir

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	vshamir "github.com/hashicorp/vault/shamir"

	"github.com/arca-kms/arca/internal/barrier"
)

// KeyLen is the root key's length: an AES-256 key.
const KeyLen = 32

// ShareLen is a share's length in bytes: the key's bytes plus one x byte.
const ShareLen = KeyLen + 1

// aad binds wrapped output to this seal and format version.
var aad = []byte("arca shamir seal v1")

// ErrBadShare is returned for a share that cannot be one: wrong length or
// encoding, x = 0, or the same x as a share already given.
var ErrBadShare = errors.New("shamir: not a valid unseal share")

// NewRootKey returns 32 bytes from crypto/rand.
func NewRootKey() ([]byte, error) {
	k := make([]byte, KeyLen)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// Split splits key into n shares, any k of which rebuild it
// (1 ≤ k ≤ n ≤ 255). The caller clears the shares when done.
func Split(key []byte, n, k int) ([][]byte, error) {
	if k < 1 || n < k || n > 255 {
		return nil, fmt.Errorf("shamir: want 1 <= threshold (%d) <= shares (%d) <= 255", k, n)
	}
	if len(key) == 0 {
		return nil, errors.New("shamir: empty secret")
	}
	if k == 1 {
		out := make([][]byte, n)
		for i := range out {
			out[i] = append(bytes.Clone(key), byte(i+1))
		}
		return out, nil
	}
	return vshamir.Split(key, n, k)
}

// Combine rebuilds the secret from shares. With fewer than the threshold, or
// a wrong share, it returns a wrong secret without error: the caller must
// authenticate the result (Seal.Unwrap does). The caller clears the result.
func Combine(shares [][]byte) ([]byte, error) {
	if len(shares) == 0 {
		return nil, errors.New("shamir: no shares")
	}
	seen := map[byte]bool{}
	for _, s := range shares {
		if len(s) != len(shares[0]) || len(s) < 2 || s[len(s)-1] == 0 || seen[s[len(s)-1]] {
			return nil, ErrBadShare
		}
		seen[s[len(s)-1]] = true
	}
	if len(shares) == 1 {
		return bytes.Clone(shares[0][:len(shares[0])-1]), nil
	}
	return vshamir.Combine(shares)
}

// EncodeShare returns the operator-facing text of a share.
func EncodeShare(share []byte) string { return base64.StdEncoding.EncodeToString(share) }

// DecodeShare parses EncodeShare's text (surrounding space ignored).
func DecodeShare(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ShareLen || b[ShareLen-1] == 0 {
		clear(b)
		return nil, ErrBadShare
	}
	return b, nil
}

// EncryptShare encrypts a share's text to an age public key ("age1...")
// and returns it ASCII-armored; `age -d -i KEYFILE` recovers the text.
func EncryptShare(shareText, recipient string) (string, error) {
	r, err := age.ParseX25519Recipient(strings.TrimSpace(recipient))
	if err != nil {
		return "", fmt.Errorf("shamir: age recipient: %w", err)
	}
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	w, err := age.Encrypt(aw, r)
	if err != nil {
		return "", err
	}
	if _, err := io.WriteString(w, shareText); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	if err := aw.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// CheckRecipient reports whether s is an age X25519 public key.
func CheckRecipient(s string) error {
	_, err := age.ParseX25519Recipient(strings.TrimSpace(s))
	return err
}

// Seal wraps the barrier keyring under the root key. It is safe for
// concurrent use. It keeps only the AES-GCM instance, not the key bytes.
type Seal struct {
	aead cipher.AEAD
}

var _ barrier.Wrapper = (*Seal)(nil)

// New returns the Seal for a 32-byte root key. It does not keep key: the
// caller clears it.
func New(key []byte) (*Seal, error) {
	if len(key) != KeyLen {
		return nil, fmt.Errorf("shamir: root key is %d bytes, want %d", len(key), KeyLen)
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &Seal{aead: aead}, nil
}

// Type names the seal kind.
func (s *Seal) Type() string { return "shamir" }

// Wrap implements barrier.Wrapper: nonce ‖ AES-256-GCM(plaintext).
func (s *Seal) Wrap(_ context.Context, plaintext []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	nonce := make([]byte, n, n+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plaintext, aad), nil
}

// ErrWrongKey is returned by Unwrap when the root key (the combined
// shares) does not open the keyring.
var ErrWrongKey = errors.New("shamir: the unseal shares do not open the keyring (a wrong or mistyped share)")

// Unwrap implements barrier.Wrapper; it fails with ErrWrongKey on a wrong
// root key or any alteration.
func (s *Seal) Unwrap(_ context.Context, ciphertext []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(ciphertext) < n+s.aead.Overhead() {
		return nil, ErrWrongKey
	}
	pt, err := s.aead.Open(nil, ciphertext[:n], ciphertext[n:], aad)
	if err != nil {
		return nil, ErrWrongKey
	}
	return pt, nil
}

// Progress collects unseal (or rekey) shares until the threshold is met.
// It is not safe for concurrent use; the server serializes it.
type Progress struct {
	threshold int
	shares    [][]byte
}

// NewProgress returns an empty collection for threshold shares.
func NewProgress(threshold int) *Progress { return &Progress{threshold: threshold} }

// Threshold is how many shares are needed.
func (p *Progress) Threshold() int { return p.threshold }

// Count is how many distinct shares are held.
func (p *Progress) Count() int { return len(p.shares) }

// Add takes ownership of one decoded share. A share equal to one already
// given is ignored (progress unchanged); one with the same x but other
// bytes, or of another length, is refused with ErrBadShare.
func (p *Progress) Add(share []byte) error {
	if len(share) != ShareLen || share[ShareLen-1] == 0 {
		clear(share)
		return ErrBadShare
	}
	for _, s := range p.shares {
		if s[ShareLen-1] == share[ShareLen-1] {
			same := bytes.Equal(s, share)
			clear(share)
			if same {
				return nil
			}
			return ErrBadShare
		}
	}
	p.shares = append(p.shares, share)
	return nil
}

// Ready reports whether the threshold is met.
func (p *Progress) Ready() bool { return len(p.shares) >= p.threshold }

// Combine rebuilds the root key from the shares held and resets p: whether
// the key is right is for the caller to check. The caller clears the key.
func (p *Progress) Combine() ([]byte, error) {
	defer p.Reset()
	return Combine(p.shares)
}

// Reset forgets (and zeroes) the shares held.
func (p *Progress) Reset() {
	for _, s := range p.shares {
		clear(s)
	}
	p.shares = nil
}
