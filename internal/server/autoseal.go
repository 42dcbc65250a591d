package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal"
	"github.com/arca-kms/arca/internal/barrier/seal/awskms"
	"github.com/arca-kms/arca/internal/barrier/seal/pkcs11"
	"github.com/arca-kms/arca/internal/config"
)

// openAutoSeal is the extension point for auto-unseal seals: for the
// configured seal type it returns the barrier.Wrapper that opens the
// keyring without operators (an HSM over PKCS#11, another KMS), and the
// type name recorded in the seal config. For Shamir (the default) it
// returns a nil Wrapper: operators unseal with shares. create lets the
// PKCS#11 seal generate its key when the token lacks it, which the server
// allows only while the data dir is uninitialized (so `arca operator init`
// finds it); on an initialized data dir a missing key is an error, never a
// new key that could not open the data.
func openAutoSeal(ctx context.Context, cfg config.Config, log *slog.Logger, getenv func(string) string, create bool) (barrier.Wrapper, string, error) {
	switch cfg.Seal {
	case "", seal.TypeShamir:
		return nil, seal.TypeShamir, nil
	case seal.TypePKCS11:
		s, err := openPKCS11(ctx, cfg.SealPKCS11, log, getenv, create)
		if err != nil {
			return nil, "", err
		}
		return s, seal.TypePKCS11, nil
	case seal.TypeAWSKMS:
		s, err := openAWSKMS(ctx, cfg.SealAWSKMS, getenv)
		if err != nil {
			return nil, "", err
		}
		log.Info("awskms seal ready", "key_arn", s.KeyARN())
		return s, seal.TypeAWSKMS, nil
	default:
		return nil, "", fmt.Errorf("seal %q is not available in this build", cfg.Seal)
	}
}

func openPKCS11(ctx context.Context, c config.SealPKCS11, log *slog.Logger, getenv func(string) string, create bool) (*pkcs11.Seal, error) {
	pin, src, err := pkcs11.ReadPIN(c.PINEnv, c.PINFile, getenv)
	if err != nil {
		return nil, err
	}
	defer clear(pin)
	s, created, err := pkcs11.Open(ctx, pkcs11.Config{
		Module: c.Module, TokenLabel: c.TokenLabel, Slot: c.Slot, PIN: pin, PINSource: src,
		KeyLabel: c.KeyLabel, Mechanism: c.Mechanism, CreateKey: create,
	})
	if err != nil {
		return nil, err
	}
	p := s.Params()
	if created {
		log.Info("pkcs11 seal: created a non-extractable AES-256 key on the token", "token", p["token"], "key_label", p["key_label"], "mechanism", p["mechanism"])
	} else {
		log.Info("pkcs11 seal ready", "token", p["token"], "key_label", p["key_label"], "mechanism", p["mechanism"])
	}
	return s, nil
}

func openAWSKMS(ctx context.Context, c config.SealAWSKMS, getenv func(string) string) (*awskms.Seal, error) {
	return awskms.Open(ctx, awskms.Config{Endpoint: c.Endpoint, Region: c.Region, KeyID: c.KeyID}.FromEnv(getenv))
}

// sealParams returns what a seal records about itself in the seal config.
func sealParams(w barrier.Wrapper) map[string]string {
	if p, ok := w.(interface{ Params() map[string]string }); ok {
		return p.Params()
	}
	return nil
}

// keyChanged reports whether the configured seal of the stored type names
// another key (or mechanism) than the one recorded in the seal config, so
// the keyring must be rewrapped. A param missing on either side (an older
// record, a key known only once the seal is open) never counts as changed.
func keyChanged(typ string, stored, now map[string]string) bool {
	var keys []string
	switch typ {
	case seal.TypePKCS11:
		keys = []string{"key_label", "mechanism"}
	case seal.TypeAWSKMS:
		keys = []string{"key_arn"}
	}
	for _, k := range keys {
		if stored[k] != "" && now[k] != "" && stored[k] != now[k] {
			return true
		}
	}
	return false
}

// configuredParams are the seal-config params the configuration implies
// before the seal is opened (the PKCS#11 key label and mechanism; an awskms
// key ARN is known only from the service).
func configuredParams(cfg config.Config) map[string]string {
	if cfg.Seal != seal.TypePKCS11 {
		return nil
	}
	return map[string]string{"key_label": cfg.SealPKCS11.KeyLabel, "mechanism": cmp.Or(cfg.SealPKCS11.Mechanism, pkcs11.MechanismGCM)}
}

// closeSeal releases a seal that holds resources (PKCS#11 sessions).
func closeSeal(w barrier.Wrapper) {
	if c, ok := w.(io.Closer); ok {
		c.Close()
	}
}

// sealConfigFor is the seal-config record of an auto-unseal seal.
func sealConfigFor(typ string, w barrier.Wrapper) seal.Config {
	return seal.Config{Version: 1, Type: typ, Params: maps.Clone(sealParams(w))}
}

var errNoMigrationSource = errors.New("seal migration: the seal the data dir was sealed with cannot be opened")
