package config

import (
	"errors"
	"fmt"
)

// SealPKCS11 is the `seal_pkcs11:` section: the HSM seal's token and key.
// The PIN is never in this file or a flag: it comes from the environment
// variable PINEnv names (ARCA_PKCS11_PIN by default) or the file PINFile.
type SealPKCS11 struct {
	// Module is the PKCS#11 library path.
	Module string `yaml:"module"`
	// TokenLabel selects the token by label; Slot by slot ID (exactly one).
	TokenLabel string `yaml:"token_label"`
	Slot       *uint  `yaml:"slot"`
	// PINEnv names the environment variable holding the user PIN.
	PINEnv string `yaml:"pin_env"`
	// PINFile is a file holding the user PIN (mode 0600 or stricter).
	PINFile string `yaml:"pin_file"`
	// KeyLabel is the CKA_LABEL of the AES-256 key that wraps the keyring.
	KeyLabel string `yaml:"key_label"`
	// Mechanism is CKM_AES_GCM (default) or CKM_AES_KEY_WRAP_PAD.
	Mechanism string `yaml:"mechanism"`
}

// SealAWSKMS is the `seal_awskms:` section: a key in another
// AWS-KMS-compatible service. ARCA_AWSKMS_* variables override it, and
// credentials come only from those variables or the standard AWS chain.
type SealAWSKMS struct {
	// Endpoint is the service URL; empty means AWS KMS in Region.
	Endpoint string `yaml:"endpoint"`
	// Region is the signing region.
	Region string `yaml:"region"`
	// KeyID is the key's ID, ARN or alias.
	KeyID string `yaml:"key_id"`
}

// Seal types the configuration accepts outside dev mode.
var sealTypes = map[string]bool{"": true, "shamir": true, "pkcs11": true, "awskms": true}

func (c Config) validateSeal() []error {
	var errs []error
	if !c.Dev && !sealTypes[c.Seal] {
		errs = append(errs, fmt.Errorf("seal %q: want shamir, pkcs11 or awskms", c.Seal))
	}
	p := c.SealPKCS11
	if c.Seal == "pkcs11" {
		if p.Module == "" {
			errs = append(errs, errors.New("seal pkcs11: seal_pkcs11.module must name the PKCS#11 library (e.g. /usr/lib/softhsm/libsofthsm2.so)"))
		}
		if (p.TokenLabel == "") == (p.Slot == nil) {
			errs = append(errs, errors.New("seal pkcs11: set exactly one of seal_pkcs11.token_label and seal_pkcs11.slot"))
		}
		if p.KeyLabel == "" {
			errs = append(errs, errors.New("seal pkcs11: seal_pkcs11.key_label must be set"))
		}
	}
	if p.PINEnv != "" && p.PINFile != "" {
		errs = append(errs, errors.New("seal_pkcs11: set only one of pin_env and pin_file"))
	}
	switch p.Mechanism {
	case "", "CKM_AES_GCM", "CKM_AES_KEY_WRAP_PAD":
	default:
		errs = append(errs, fmt.Errorf("seal_pkcs11.mechanism %q: want CKM_AES_GCM or CKM_AES_KEY_WRAP_PAD", p.Mechanism))
	}
	return errs
}
