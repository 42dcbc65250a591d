// Package seal holds what every seal shares: the seal-config record, which
// says how the barrier keyring is wrapped (Shamir shares held by operators,
// or an auto-unseal seal such as an HSM) and is stored unencrypted at
// barrier.SealConfigPath because it is not secret and is needed while
// sealed. The seals themselves are subpackages: dev, shamir, and the
// auto-unseal seals (pkcs11, awskms).
//
// It imports only internal/storage (for its not-found error).
package seal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/arca-kms/arca/internal/storage"
)

// Seal types.
const (
	// TypeShamir: the keyring is wrapped by a root key that exists only as
	// Shamir shares held by operators; unsealing needs Threshold of them.
	TypeShamir = "shamir"
	// TypeDev: the development seal (a key file in the data dir).
	TypeDev = "dev"
	// TypePKCS11 and TypeAWSKMS are auto-unseal seals: the keyring is
	// wrapped by a key in an HSM or another KMS, and Arca unseals itself.
	TypePKCS11 = "pkcs11"
	TypeAWSKMS = "awskms"
)

// MaxShares is the most Shamir shares (and the highest threshold): shares
// are points of polynomials over GF(2^8) with distinct non-zero x.
const MaxShares = 255

// Config is the seal-config record.
type Config struct {
	// Version of this record's format: 1.
	Version int `json:"version"`
	// Type is the seal that wraps the stored keyring (Type* constants).
	Type string `json:"type"`
	// Shares and Threshold describe the Shamir split (TypeShamir only; for
	// an auto-unseal seal they are zero, or describe recovery shares if a
	// seal adds them).
	Shares    int `json:"shares,omitempty"`
	Threshold int `json:"threshold,omitempty"`
	// Params are a seal's non-secret settings worth recording with the
	// data (for example an HSM key label), so a mismatch with the running
	// configuration is noticed. Never secrets: this record is not encrypted.
	Params map[string]string `json:"params,omitempty"`
}

// ErrNoConfig means storage holds no seal-config record.
var ErrNoConfig = errors.New("seal: no seal config stored")

// Validate checks the record's shape.
func (c Config) Validate() error {
	if c.Version != 1 {
		return fmt.Errorf("seal config: unknown version %d", c.Version)
	}
	switch c.Type {
	case TypeShamir:
		return CheckSplit(c.Shares, c.Threshold)
	case TypeDev, TypePKCS11, TypeAWSKMS:
		return nil
	case "":
		return errors.New("seal config: type is empty")
	default:
		return fmt.Errorf("seal config: unknown seal type %q", c.Type)
	}
}

// CheckSplit checks 1 ≤ threshold ≤ shares ≤ MaxShares.
func CheckSplit(shares, threshold int) error {
	if threshold < 1 || shares < threshold || shares > MaxShares {
		return fmt.Errorf("want 1 <= key threshold (%d) <= key shares (%d) <= %d", threshold, shares, MaxShares)
	}
	return nil
}

// Encode returns the record's stored form (JSON).
func (c Config) Encode() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// Decode parses a stored record.
func Decode(b []byte) (Config, error) {
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return Config{}, fmt.Errorf("seal config: %w", err)
	}
	return c, c.Validate()
}

// Source is what Load reads: *barrier.Barrier.
type Source interface {
	SealConfig(ctx context.Context) ([]byte, error)
}

// Load reads and decodes the stored record; ErrNoConfig when there is none.
func Load(ctx context.Context, src Source) (Config, error) {
	b, err := src.SealConfig(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return Config{}, ErrNoConfig
	}
	if err != nil {
		return Config{}, err
	}
	return Decode(b)
}
