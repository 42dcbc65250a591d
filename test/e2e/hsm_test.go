package e2e

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

const (
	softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"
	hsmPIN        = "84731592"
)

// softHSM is a SoftHSM2 token directory with one initialized token, for
// the PKCS#11 seal.
type softHSM struct {
	conf  string // SOFTHSM2_CONF
	token string
}

// newSoftHSM creates a token in a fresh token directory (Debian packages
// softhsm2 and, for the key checks, opensc).
func newSoftHSM(t *testing.T, token string) *softHSM {
	t.Helper()
	util := requireTool(t, "softhsm2-util", "softhsm2")
	if _, err := os.Stat(softhsmModule); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing (Debian package softhsm2); CI must install it", softhsmModule)
		}
		t.Skipf("%s missing (Debian package softhsm2)", softhsmModule)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	h := &softHSM{conf: filepath.Join(dir, "softhsm2.conf"), token: token}
	os.WriteFile(h.conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
	cmd := exec.Command(util, "--init-token", "--free", "--label", token, "--pin", hsmPIN, "--so-pin", "10293847")
	cmd.Env = append(cleanEnv(), "SOFTHSM2_CONF="+h.conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return h
}

// env is the server environment for the token: where SoftHSM2 keeps it,
// and the PIN (ARCA_PKCS11_PIN, never a flag).
func (h *softHSM) env(pin string) []string {
	return []string{"SOFTHSM2_CONF=" + h.conf, "ARCA_PKCS11_PIN=" + pin}
}

// config writes a YAML config selecting the PKCS#11 seal.
func (h *softHSM) config(t *testing.T, keyLabel, mechanism string, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "arca.yaml")
	body := "seal: pkcs11\nseal_pkcs11:\n  module: " + softhsmModule + "\n  token_label: " + h.token +
		"\n  key_label: " + keyLabel + "\n  mechanism: " + mechanism + "\n" + extra
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// listObjects is pkcs11-tool's view of the token's objects.
func (h *softHSM) listObjects(t *testing.T) string {
	t.Helper()
	tool := requireTool(t, "pkcs11-tool", "opensc")
	cmd := exec.Command(tool, "--module", softhsmModule, "--token-label", h.token, "--login", "--pin", hsmPIN, "--list-objects")
	cmd.Env = append(cleanEnv(), "SOFTHSM2_CONF="+h.conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool --list-objects: %v\n%s", err, out)
	}
	return string(out)
}

// deleteKey deletes the secret key labelled label from the token.
func (h *softHSM) deleteKey(t *testing.T, label string) {
	t.Helper()
	tool := requireTool(t, "pkcs11-tool", "opensc")
	cmd := exec.Command(tool, "--module", softhsmModule, "--token-label", h.token, "--login", "--pin", hsmPIN,
		"--delete-object", "--type", "secrkey", "--label", label)
	cmd.Env = append(cleanEnv(), "SOFTHSM2_CONF="+h.conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pkcs11-tool --delete-object: %v\n%s", err, out)
	}
}

// failStart runs `arca server ARGS` expecting it to exit with an error
// within 60 s, and returns its output.
func failStart(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, arcaBin, append([]string{"server", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = cleanEnv(env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil || ctx.Err() != nil {
		t.Fatalf("arca server %v: want a failed start, got %v (ctx %v)\n%s", args, err, ctx.Err(), out.String())
	}
	return out.String()
}

// TestPKCS11AutoUnseal: `arca operator init --seal pkcs11` creates a
// non-extractable key on a SoftHSM2 token and wraps the root key with it;
// the server unseals itself after kill -9 and restart, and a wrong PIN or
// a missing key stops it at start with a message saying what to fix. Both
// mechanisms.
func TestPKCS11AutoUnseal(t *testing.T) {
	for _, mech := range []string{"CKM_AES_GCM", "CKM_AES_KEY_WRAP_PAD"} {
		t.Run(mech, func(t *testing.T) {
			h := newSoftHSM(t, "arca-e2e")
			conf := h.config(t, "arca-root", mech, "")
			s := startServer(t, serverOpts{sealed: true, args: []string{"--config", conf}, env: h.env(hsmPIN)})
			if code, st := s.health(t); code != http.StatusNotImplemented || st != "uninitialized" {
				t.Fatalf("/healthz before init: %d %s", code, st)
			}
			if err := s.operator(t, nil, "", nil, "init", "--seal", "awskms"); err == nil || !strings.Contains(err.Error(), "pkcs11") {
				t.Fatalf("init --seal awskms on a pkcs11 server: %v", err)
			}
			var in initOut
			if err := s.operator(t, nil, "", &in, "init", "--seal", "pkcs11"); err != nil {
				t.Fatal(err)
			}
			if len(in.UnsealShares) != 0 || !strings.HasPrefix(in.RootAccessKeyID, "AKIA") {
				t.Fatalf("init output: %+v", in)
			}
			// The key is on the token, sensitive and never extractable.
			if objs := h.listObjects(t); !strings.Contains(objs, "arca-root") || !strings.Contains(objs, "never extractable") || !strings.Contains(objs, "sensitive") {
				t.Fatalf("token objects:\n%s", objs)
			}
			c := s.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
			key, err := c.CreateKey(bg(), &kms.CreateKeyInput{})
			mustOK(t, err, "CreateKey")
			plain := []byte("hsm-auto-unseal-e2e-plaintext")
			enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: plain})
			mustOK(t, err, "Encrypt")

			// kill -9, restart: the server unseals itself.
			s.kill()
			s.start()
			if code, st := s.health(t); code != http.StatusOK || st != "ok" {
				t.Fatalf("/healthz after restart: %d %s", code, st)
			}
			c = s.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
			dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			mustOK(t, err, "Decrypt after restart")
			if !bytes.Equal(dec.Plaintext, plain) || aws.ToString(dec.KeyId) != aws.ToString(key.KeyMetadata.Arn) {
				t.Fatalf("Decrypt after restart: %q %s", dec.Plaintext, aws.ToString(dec.KeyId))
			}
			if !strings.Contains(s.logTail(200), "auto-unsealed") {
				t.Error("log does not say the server auto-unsealed")
			}
			// rotate-root wraps the grown keyring with the HSM key; seal,
			// then unseal with no share (the HSM again).
			if err := s.operator(t, &in, "", nil, "rotate-root"); err != nil {
				t.Fatal(err)
			}
			if err := s.operator(t, &in, "", nil, "seal"); err != nil {
				t.Fatal(err)
			}
			if code, st := s.health(t); code != http.StatusServiceUnavailable || st != "sealed" {
				t.Fatalf("/healthz after seal: %d %s", code, st)
			}
			if err := s.operator(t, nil, "", nil, "unseal"); err != nil {
				t.Fatal(err)
			}
			s.restart()
			c = s.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
			dec, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			mustOK(t, err, "Decrypt after rotate-root, seal, unseal and restart")
			if !bytes.Equal(dec.Plaintext, plain) {
				t.Fatalf("Decrypt after rotate-root: %q", dec.Plaintext)
			}
			if err := s.stop(); err != nil {
				t.Fatal(err)
			}
			// Neither the PIN nor the plaintext is in the data dir.
			if found := scanFiles(t, s.dataDir, map[string][]byte{"PIN": []byte(hsmPIN), "plaintext": plain}); len(found) > 0 {
				t.Errorf("found on disk: %v", found)
			}

			// A wrong PIN stops the start with a message naming the fix and
			// never the PIN.
			out := failStart(t, h.env("11112222"), "--data-dir", s.dataDir, "--config", conf)
			if !strings.Contains(out, "PIN") || !strings.Contains(out, "incorrect") || !strings.Contains(out, "$ARCA_PKCS11_PIN") || strings.Contains(out, "11112222") {
				t.Errorf("wrong PIN: server output:\n%s", out)
			}
			// No PIN at all.
			out = failStart(t, []string{"SOFTHSM2_CONF=" + h.conf}, "--data-dir", s.dataDir, "--config", conf)
			if !strings.Contains(out, "ARCA_PKCS11_PIN") {
				t.Errorf("no PIN: server output:\n%s", out)
			}
			// Another key label than the one recorded is a seal migration.
			out = failStart(t, h.env(hsmPIN), "--data-dir", s.dataDir, "--config", h.config(t, "no-such-key", mech, ""))
			if !strings.Contains(out, "key_label=arca-root") || !strings.Contains(out, "--seal-migrate") {
				t.Errorf("changed key label: server output:\n%s", out)
			}
			// A token that is not there.
			bad := filepath.Join(t.TempDir(), "bad.yaml")
			os.WriteFile(bad, []byte(strings.Replace(mustRead(t, conf), "token_label: arca-e2e", "token_label: other-token", 1)), 0o600)
			out = failStart(t, h.env(hsmPIN), "--data-dir", s.dataDir, "--config", bad)
			if !strings.Contains(out, `"other-token"`) || !strings.Contains(out, "softhsm2-util --init-token") {
				t.Errorf("missing token: server output:\n%s", out)
			}
			// The recorded key gone from the token: an error naming it
			// (never a new key, which could not open the data).
			h.deleteKey(t, "arca-root")
			out = failStart(t, h.env(hsmPIN), "--data-dir", s.dataDir, "--config", conf)
			if !strings.Contains(out, `no secret key labelled "arca-root"`) || !strings.Contains(out, "key_label") {
				t.Errorf("missing key: server output:\n%s", out)
			}
			// The PIN never reaches the log of a good run either.
			if b, _ := os.ReadFile(s.logPath); bytes.Contains(b, []byte(hsmPIN)) {
				t.Error("the PIN appears in the server log")
			}
		})
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSealMigration moves one data dir dev → pkcs11 → pkcs11 with a new
// key and mechanism → shamir → pkcs11 → awskms (another Arca) and checks after each step that a ciphertext
// made at the start still decrypts and that a restart without
// --seal-migrate auto-unseals with the new seal; a mismatch without
// --seal-migrate is refused with instructions.
func TestSealMigration(t *testing.T) {
	h := newSoftHSM(t, "arca-migrate")
	dir := filepath.Join(t.TempDir(), "data")

	// 1. A dev server with a key and a ciphertext.
	d := startServer(t, serverOpts{dataDir: dir})
	c := d.client("us-east-1")
	key, err := c.CreateKey(bg(), &kms.CreateKeyInput{})
	mustOK(t, err, "CreateKey")
	plain := []byte("survives every seal migration")
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: plain})
	mustOK(t, err, "Encrypt")
	if err := d.stop(); err != nil {
		t.Fatal(err)
	}
	decrypts := func(s *server, step string) {
		t.Helper()
		dec, err := s.client("us-east-1").Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		mustOK(t, err, "Decrypt after "+step)
		if !bytes.Equal(dec.Plaintext, plain) {
			t.Fatalf("after %s: Decrypt = %q", step, dec.Plaintext)
		}
		if _, err := s.client("us-east-1").Encrypt(bg(), &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: plain}); err != nil {
			t.Fatalf("after %s: Encrypt: %v", step, err)
		}
	}

	// 2. dev → pkcs11: refused without --seal-migrate, done with it.
	conf := h.config(t, "arca-root", "CKM_AES_GCM", "")
	out := failStart(t, h.env(hsmPIN), "--data-dir", dir, "--config", conf)
	if !strings.Contains(out, `sealed with the "dev" seal`) || !strings.Contains(out, "--seal-migrate") {
		t.Fatalf("mismatch without --seal-migrate: server output:\n%s", out)
	}
	s := startServer(t, serverOpts{sealed: true, dataDir: dir, args: []string{"--config", conf, "--seal-migrate"}, env: h.env(hsmPIN)})
	decrypts(s, "dev → pkcs11")
	if !strings.Contains(s.logTail(200), "seal migrated") {
		t.Error("log does not report the migration")
	}
	// Without the flag the next start auto-unseals with the HSM; the dev
	// seal key no longer opens the data.
	s.stop()
	s.args = []string{"server", "--data-dir", dir, "--config", conf}
	s.start()
	decrypts(s, "restart with pkcs11")
	s.stop()
	out = failStart(t, nil, "--dev", "--data-dir", dir)
	if !strings.Contains(out, "pkcs11") {
		t.Errorf("dev start on a pkcs11 data dir: server output:\n%s", out)
	}

	// 3. pkcs11 → pkcs11 with a new key label and the other mechanism.
	conf2 := h.config(t, "arca-root-2", "CKM_AES_KEY_WRAP_PAD", "")
	out = failStart(t, h.env(hsmPIN), "--data-dir", dir, "--config", conf2)
	if !strings.Contains(out, "another key") {
		t.Fatalf("key change without --seal-migrate: server output:\n%s", out)
	}
	s.args = []string{"server", "--data-dir", dir, "--config", conf2, "--seal-migrate"}
	s.start()
	decrypts(s, "pkcs11 key change")
	s.stop()

	// 4. pkcs11 → shamir: the server unseals with the HSM; migrate-seal
	// issues shares, nothing changes until the threshold comes back.
	root := &initOut{RootAccessKeyID: rootAKID, RootSecretAccessKey: rootSecret}
	shamirConf := filepath.Join(t.TempDir(), "shamir.yaml")
	os.WriteFile(shamirConf, []byte(strings.Replace(mustRead(t, conf2), "seal: pkcs11", "seal: shamir", 1)), 0o600)
	s.args = []string{"server", "--data-dir", dir, "--config", shamirConf, "--seal-migrate"}
	s.start()
	decrypts(s, "start of pkcs11 → shamir")
	if err := s.operator(t, nil, "", nil, "migrate-seal", "--key-shares", "3", "--key-threshold", "2"); err == nil {
		t.Fatal("migrate-seal without root credentials accepted")
	}
	var issued struct {
		Nonce        string   `json:"nonce"`
		UnsealShares []string `json:"unseal_shares"`
		Complete     bool     `json:"complete"`
	}
	if err := s.operator(t, root, "", &issued, "migrate-seal", "--key-shares", "3", "--key-threshold", "2"); err != nil || len(issued.UnsealShares) != 3 {
		t.Fatalf("migrate-seal: %+v %v", issued, err)
	}
	// A crash here changes nothing: the HSM still unseals.
	s.kill()
	s.start()
	decrypts(s, "crash after shares were issued")
	var again, done struct {
		Nonce        string   `json:"nonce"`
		UnsealShares []string `json:"unseal_shares"`
		Complete     bool     `json:"complete"`
	}
	if err := s.operator(t, nil, "", nil, "migrate-seal", "--nonce", issued.Nonce, issued.UnsealShares[0]); err == nil {
		t.Fatal("a share from before the restart was accepted")
	}
	if err := s.operator(t, root, "", &again, "migrate-seal", "--key-shares", "3", "--key-threshold", "2"); err != nil {
		t.Fatal(err)
	}
	if err := s.operator(t, nil, "", &done, "migrate-seal", "--nonce", again.Nonce, again.UnsealShares[2]); err != nil || done.Complete {
		t.Fatalf("first share back: %+v %v", done, err)
	}
	if err := s.operator(t, nil, again.UnsealShares[0]+"\n", &done, "migrate-seal", "--nonce", again.Nonce); err != nil || !done.Complete {
		t.Fatalf("second share back: %+v %v", done, err)
	}
	decrypts(s, "pkcs11 → shamir")
	s.stop()
	s.args = []string{"server", "--data-dir", dir, "--config", shamirConf}
	s.start()
	if code, st := s.health(t); code != http.StatusServiceUnavailable || st != "sealed" {
		t.Fatalf("/healthz after restart on shamir: %d %s", code, st)
	}
	s.unseal(t, again.UnsealShares[1], again.UnsealShares[2])
	decrypts(s, "restart with shamir")
	s.stop()

	// 5. shamir → pkcs11: the migration runs when the shares unseal.
	s.args = []string{"server", "--data-dir", dir, "--config", conf2, "--seal-migrate"}
	s.start()
	if code, st := s.health(t); code != http.StatusServiceUnavailable || st != "sealed" {
		t.Fatalf("/healthz at the start of shamir → pkcs11: %d %s", code, st)
	}
	var st sealStatus
	if err := s.operator(t, nil, "", &st, "unseal", again.UnsealShares[0]); err != nil || !st.Sealed || st.Progress != 1 {
		t.Fatalf("first share: %+v %v", st, err)
	}
	// The last share unseals and migrates: the status then describes the
	// new seal (no shares).
	if err := s.operator(t, nil, "", &st, "unseal", again.UnsealShares[1]); err != nil || st.Sealed || st.Threshold != 0 {
		t.Fatalf("last share: %+v %v", st, err)
	}
	decrypts(s, "shamir → pkcs11")
	s.stop()
	s.args = []string{"server", "--data-dir", dir, "--config", conf2}
	s.start()
	decrypts(s, "restart with pkcs11 after shamir")
	s.stop()

	// 6. pkcs11 → awskms: another Arca is the outer KMS. The pkcs11
	// settings stay in the config until the migration is done.
	outer := startServer(t, serverOpts{})
	outerKey, err := outer.client("us-east-1").CreateKey(bg(), &kms.CreateKeyInput{Description: aws.String("arca seal")})
	mustOK(t, err, "outer CreateKey")
	awsConf := filepath.Join(t.TempDir(), "awskms.yaml")
	os.WriteFile(awsConf, []byte(strings.Replace(mustRead(t, conf2), "seal: pkcs11", "seal: awskms", 1)+
		"seal_awskms:\n  endpoint: "+outer.endpoint+"\n  region: us-east-1\n  key_id: "+aws.ToString(outerKey.KeyMetadata.KeyId)+"\n"), 0o600)
	awsEnv := append(h.env(hsmPIN), "ARCA_AWSKMS_ACCESS_KEY_ID="+rootAKID, "ARCA_AWSKMS_SECRET_ACCESS_KEY="+rootSecret)
	s.env = cleanEnv(append([]string{"ARCA_ROOT_ACCESS_KEY_ID=" + rootAKID, "ARCA_ROOT_SECRET_ACCESS_KEY=" + rootSecret}, awsEnv...)...)
	s.args = []string{"server", "--data-dir", dir, "--config", awsConf, "--seal-migrate"}
	s.start()
	decrypts(s, "pkcs11 → awskms")
	s.stop()
	// The HSM is no longer needed: no PIN, no SoftHSM config.
	s.env = cleanEnv("ARCA_ROOT_ACCESS_KEY_ID="+rootAKID, "ARCA_ROOT_SECRET_ACCESS_KEY="+rootSecret,
		"ARCA_AWSKMS_ACCESS_KEY_ID="+rootAKID, "ARCA_AWSKMS_SECRET_ACCESS_KEY="+rootSecret)
	s.args = []string{"server", "--data-dir", dir, "--config", awsConf}
	s.start()
	decrypts(s, "restart with awskms")
	// The outer Arca's Decrypt is what unseals: with the outer key disabled
	// the start fails, saying so.
	s.stop()
	_, err = outer.client("us-east-1").DisableKey(bg(), &kms.DisableKeyInput{KeyId: outerKey.KeyMetadata.KeyId})
	mustOK(t, err, "outer DisableKey")
	out = failStart(t, []string{"ARCA_AWSKMS_ACCESS_KEY_ID=" + rootAKID, "ARCA_AWSKMS_SECRET_ACCESS_KEY=" + rootSecret}, "--data-dir", dir, "--config", awsConf)
	if !strings.Contains(out, "Disabled") {
		t.Errorf("outer key disabled: server output:\n%s", out)
	}
}

// TestAWSKMSAutoUnseal: a second Arca is the outer KMS. `arca operator init
// --seal awskms` wraps the root key through it; the inner server unseals
// itself after kill -9 and restart; with the outer server down the start
// fails saying the endpoint is unreachable.
func TestAWSKMSAutoUnseal(t *testing.T) {
	outer := startServer(t, serverOpts{})
	ok, err := outer.client("us-east-1").CreateKey(bg(), &kms.CreateKeyInput{})
	mustOK(t, err, "outer CreateKey")
	_, err = outer.client("us-east-1").CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/arca-seal"), TargetKeyId: ok.KeyMetadata.KeyId})
	mustOK(t, err, "outer CreateAlias")
	conf := filepath.Join(t.TempDir(), "arca.yaml")
	os.WriteFile(conf, []byte("seal: awskms\nseal_awskms:\n  region: us-east-1\n  key_id: alias/arca-seal\n"), 0o600)
	// The endpoint and credentials from ARCA_AWSKMS_*, as a deployment
	// would keep them out of the file.
	env := []string{"ARCA_AWSKMS_ENDPOINT=" + outer.endpoint, "ARCA_AWSKMS_ACCESS_KEY_ID=" + rootAKID, "ARCA_AWSKMS_SECRET_ACCESS_KEY=" + rootSecret}
	s := startServer(t, serverOpts{sealed: true, args: []string{"--config", conf}, env: env})
	var in initOut
	if err := s.operator(t, nil, "", &in, "init", "--seal", "awskms"); err != nil {
		t.Fatal(err)
	}
	c := s.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	key, err := c.CreateKey(bg(), &kms.CreateKeyInput{})
	mustOK(t, err, "CreateKey")
	plain := []byte("awskms-auto-unseal-e2e")
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: plain})
	mustOK(t, err, "Encrypt")
	s.kill()
	s.start()
	c = s.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	mustOK(t, err, "Decrypt after restart")
	if !bytes.Equal(dec.Plaintext, plain) {
		t.Fatalf("Decrypt after restart: %q", dec.Plaintext)
	}
	s.stop()
	outer.stop()
	out := failStart(t, env, "--data-dir", s.dataDir, "--config", conf)
	if !strings.Contains(out, "unreachable") || !strings.Contains(out, "seal_awskms.endpoint") {
		t.Errorf("outer KMS down: server output:\n%s", out)
	}
}
