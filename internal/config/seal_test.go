package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "seal: pkcs11\nseal_pkcs11:\n  module: /m.so\n  slot: 0\n  key_label: k\n  pin_file: /p\n  mechanism: CKM_AES_KEY_WRAP_PAD\n" +
		"seal_awskms:\n  endpoint: https://kms\n  region: eu-west-1\n  key_id: alias/a\n"
	c, err := load(t, []string{"--config", write(good), "--seal-migrate", "--disable-mlock"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SealPKCS11.Slot == nil || *c.SealPKCS11.Slot != 0 || c.SealPKCS11.Mechanism != "CKM_AES_KEY_WRAP_PAD" || c.SealAWSKMS.KeyID != "alias/a" || !c.SealMigrate || !c.DisableMlock {
		t.Fatalf("parsed %+v", c)
	}
	if c, err := load(t, nil, map[string]string{"ARCA_SEAL_MIGRATE": "true", "ARCA_DISABLE_MLOCK": "1"}); err != nil || !c.SealMigrate || !c.DisableMlock {
		t.Fatalf("env: %+v %v", c, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"seal: pkcs11\n", "seal_pkcs11.module"},
		{"seal: pkcs11\nseal_pkcs11:\n  module: /m.so\n  key_label: k\n", "exactly one of seal_pkcs11.token_label and seal_pkcs11.slot"},
		{"seal: pkcs11\nseal_pkcs11:\n  module: /m.so\n  token_label: t\n", "key_label"},
		{"seal_pkcs11:\n  pin_env: A\n  pin_file: /p\n", "only one of pin_env and pin_file"},
		{"seal_pkcs11:\n  mechanism: CKM_AES_CBC\n", "CKM_AES_GCM or CKM_AES_KEY_WRAP_PAD"},
		{"seal: hsm\n", `seal "hsm"`},
		{"seal_pkcs11:\n  pin: \"1234\"\n", "pin"}, // no PIN field: unknown keys are errors
	} {
		_, err := load(t, []string{"--config", write(tc.yaml)}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want mention of %q", tc.yaml, err, tc.want)
		}
	}
}
