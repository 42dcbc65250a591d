package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	vshamir "github.com/hashicorp/vault/shamir"
)

// insecureHealthClient polls /healthz of an HTTPS server whose self-signed
// certificate does not exist yet when the poll starts. It sends nothing
// secret.
func insecureHealthClient() *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // readiness poll only
	}}
}

// caFile is the server's self-signed certificate.
func (s *server) caFile() string { return filepath.Join(s.dataDir, "tls", "arca-cert.pem") }

// tlsClient trusts exactly the server's self-signed certificate.
func (s *server) tlsClient() *http.Client {
	pem, err := os.ReadFile(s.caFile())
	if err != nil {
		s.t.Fatalf("reading the server certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		s.t.Fatal("no certificate in " + s.caFile())
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64,
	}}
}

// operator runs `arca operator ARGS... -o json` against s, with root
// credentials in the environment when creds is set, and decodes stdout.
func (s *server) operator(t *testing.T, creds *initOut, stdin string, out any, args ...string) error {
	t.Helper()
	env := cleanEnv("ARCA_ADDR="+s.endpoint, "ARCA_CACERT="+s.caFile())
	if creds != nil {
		env = append(env, "AWS_ACCESS_KEY_ID="+creds.RootAccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.RootSecretAccessKey)
	}
	cmd := exec.Command(arcaBin, append(append([]string{"operator"}, args...), "-o", "json")...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if out != nil && stdout.Len() > 0 {
		if jerr := json.Unmarshal(stdout.Bytes(), out); jerr != nil {
			t.Fatalf("arca operator %v: stdout is not one JSON object: %v\n%s", args, jerr, stdout.String())
		}
	}
	if err != nil {
		return errors.New(strings.TrimSpace(stderr.String()) + " (" + err.Error() + ")")
	}
	return nil
}

type initOut struct {
	UnsealShares        []string `json:"unseal_shares"`
	Threshold           int      `json:"threshold"`
	RootAccessKeyID     string   `json:"root_access_key_id"`
	RootSecretAccessKey string   `json:"root_secret_access_key"`
}

type sealStatus struct {
	Initialized  bool `json:"initialized"`
	Sealed       bool `json:"sealed"`
	Progress     int  `json:"progress"`
	Threshold    int  `json:"threshold"`
	Terms        int  `json:"terms"`
	Reencrypting bool `json:"reencrypting"`
}

// unseal gives each share in turn through `arca operator unseal`, checking
// the progress after each, and expects the last to unseal.
func (s *server) unseal(t *testing.T, shares ...string) {
	t.Helper()
	for i, sh := range shares {
		var st sealStatus
		// Alternate argument and stdin, as operators would.
		var err error
		if i%2 == 0 {
			err = s.operator(t, nil, "", &st, "unseal", sh)
		} else {
			err = s.operator(t, nil, sh+"\n", &st, "unseal")
		}
		if err != nil {
			t.Fatalf("unseal share %d: %v", i+1, err)
		}
		last := i == len(shares)-1
		if st.Sealed == last || (!last && st.Progress != i+1) || st.Threshold != len(shares) {
			t.Fatalf("after share %d of %d: %+v", i+1, len(shares), st)
		}
	}
}

func (s *server) health(t *testing.T) (int, string) {
	t.Helper()
	resp, err := s.tlsClient().Get(s.endpoint + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	json.NewDecoder(resp.Body).Decode(&h)
	return resp.StatusCode, h.Status
}

// wantSealedAPI checks that an API call is refused with 503 and
// KMSInternalException.
func wantSealedAPI(t *testing.T, c *kms.Client) {
	t.Helper()
	_, err := c.ListKeys(bg(), &kms.ListKeysInput{})
	if apiCode(err) != "KMSInternalException" || httpStatus(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "Arca is sealed") {
		t.Fatalf("ListKeys while sealed: %v (status %d); want 503 KMSInternalException \"Arca is sealed\"", err, httpStatus(err))
	}
}

// TestSealLifecycle drives the production seal end to end with the real
// CLI and the AWS SDK over HTTPS: init 5/3, sealed refusal, unseal with 3
// shares, encrypt, seal, unseal with other shares, decrypt, wrong shares,
// rekey, rotate-root under load, backup and restore, and a scan of the data
// dir and the snapshot for the root key and a data key.
func TestSealLifecycle(t *testing.T) {
	s := startServer(t, serverOpts{sealed: true})
	if code, st := s.health(t); code != http.StatusNotImplemented || st != "uninitialized" {
		t.Fatalf("/healthz before init: %d %s", code, st)
	}
	var st sealStatus
	if err := s.operator(t, nil, "", &st, "status"); err == nil || st.Initialized || !st.Sealed {
		t.Fatalf("status before init: %+v, %v (want exit status 2)", st, err)
	}
	if err := s.operator(t, nil, "", nil, "init", "--key-shares", "5", "--key-threshold", "6"); err == nil {
		t.Fatal("init with threshold > shares accepted")
	}
	var in initOut
	if err := s.operator(t, nil, "", &in, "init", "--key-shares", "5", "--key-threshold", "3"); err != nil {
		t.Fatal(err)
	}
	if len(in.UnsealShares) != 5 || in.Threshold != 3 || !strings.HasPrefix(in.RootAccessKeyID, "AKIA") || len(in.RootSecretAccessKey) != 40 {
		t.Fatalf("init output: %+v", in)
	}
	if err := s.operator(t, nil, "", nil, "init", "--key-shares", "1", "--key-threshold", "1"); err == nil {
		t.Fatal("a second init was accepted")
	}
	c := s.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	if _, err := c.ListKeys(bg(), &kms.ListKeysInput{}); err != nil {
		t.Fatalf("ListKeys after init: %v", err)
	}

	// A restart comes up sealed.
	s.restart()
	if code, st := s.health(t); code != http.StatusServiceUnavailable || st != "sealed" {
		t.Fatalf("/healthz after restart: %d %s", code, st)
	}
	c = s.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	wantSealedAPI(t, c)
	if err := s.operator(t, &in, "", nil, "seal"); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("seal while sealed: %v", err)
	}
	s.unseal(t, in.UnsealShares[0], in.UnsealShares[1], in.UnsealShares[2])
	if code, st := s.health(t); code != http.StatusOK || st != "ok" {
		t.Fatalf("/healthz after unseal: %d %s", code, st)
	}

	key, err := c.CreateKey(bg(), &kms.CreateKeyInput{})
	mustOK(t, err, "CreateKey")
	keyID := key.KeyMetadata.KeyId
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("sealed-lifecycle-secret")})
	mustOK(t, err, "Encrypt")
	dk, err := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: keyID, NumberOfBytes: aws.Int32(32)})
	mustOK(t, err, "GenerateDataKey")

	// seal needs root credentials.
	if err := s.operator(t, &initOut{RootAccessKeyID: in.RootAccessKeyID, RootSecretAccessKey: strings.Repeat("x", 40)}, "", nil, "seal"); err == nil {
		t.Fatal("seal with a wrong secret was accepted")
	}
	if err := s.operator(t, &in, "", nil, "seal"); err != nil {
		t.Fatal(err)
	}
	wantSealedAPI(t, c)
	s.unseal(t, in.UnsealShares[4], in.UnsealShares[1], in.UnsealShares[3])
	dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	mustOK(t, err, "Decrypt after seal and unseal")
	if string(dec.Plaintext) != "sealed-lifecycle-secret" {
		t.Fatalf("Decrypt = %q", dec.Plaintext)
	}

	t.Run("WrongShares", func(t *testing.T) {
		mustOK(t, s.operator(t, &in, "", nil, "seal"), "seal")
		bad := forgeShare(t, in.UnsealShares[2])
		if err := s.operator(t, nil, "", nil, "unseal", "not-a-share"); err == nil || !strings.Contains(err.Error(), "ValidationException") {
			t.Errorf("garbage share: %v", err)
		}
		s.operator(t, nil, "", nil, "unseal", in.UnsealShares[0])
		s.operator(t, nil, "", nil, "unseal", in.UnsealShares[1])
		err := s.operator(t, nil, "", nil, "unseal", bad)
		if err == nil || !strings.Contains(err.Error(), "IncorrectUnsealKeysException") {
			t.Fatalf("threshold met with a wrong share: %v", err)
		}
		var st sealStatus
		s.operator(t, nil, "", &st, "status")
		if !st.Sealed || st.Progress != 0 {
			t.Fatalf("after a wrong share: %+v; want sealed with progress reset to 0", st)
		}
		wantSealedAPI(t, c)
		s.unseal(t, in.UnsealShares[0], in.UnsealShares[1], in.UnsealShares[2])
	})

	var newShares []string
	t.Run("Rekey", func(t *testing.T) {
		var rk struct {
			Nonce        string   `json:"nonce"`
			Progress     int      `json:"progress"`
			Threshold    int      `json:"threshold"`
			Complete     bool     `json:"complete"`
			UnsealShares []string `json:"unseal_shares"`
		}
		if err := s.operator(t, nil, "", nil, "rekey", "--key-shares", "3", "--key-threshold", "2"); err == nil {
			t.Fatal("rekey started without credentials")
		}
		mustOK(t, s.operator(t, &in, "", &rk, "rekey", "--key-shares", "3", "--key-threshold", "2"), "rekey init")
		if rk.Nonce == "" || rk.Threshold != 3 {
			t.Fatalf("rekey init: %+v", rk)
		}
		nonce := rk.Nonce
		for i, sh := range []string{in.UnsealShares[3], in.UnsealShares[0], in.UnsealShares[4]} {
			rk = struct {
				Nonce        string   `json:"nonce"`
				Progress     int      `json:"progress"`
				Threshold    int      `json:"threshold"`
				Complete     bool     `json:"complete"`
				UnsealShares []string `json:"unseal_shares"`
			}{}
			mustOK(t, s.operator(t, nil, "", &rk, "rekey", "--nonce", nonce, sh), "rekey update")
			if (i < 2 && (rk.Complete || rk.Progress != i+1)) || (i == 2 && (!rk.Complete || len(rk.UnsealShares) != 3)) {
				t.Fatalf("rekey update %d: %+v", i+1, rk)
			}
		}
		newShares = rk.UnsealShares
		mustOK(t, s.operator(t, &in, "", nil, "seal"), "seal")
		// The new threshold is 2: two old shares meet it and fail.
		s.operator(t, nil, "", nil, "unseal", in.UnsealShares[0])
		if err := s.operator(t, nil, "", nil, "unseal", in.UnsealShares[1]); err == nil || !strings.Contains(err.Error(), "IncorrectUnsealKeysException") {
			t.Fatalf("old shares after rekey: %v; want IncorrectUnsealKeysException", err)
		}
		s.unseal(t, newShares[2], newShares[0])
		_, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		mustOK(t, err, "Decrypt after rekey")

		// Operator actions are audited; the shares given while sealed reach
		// the log with the unseal they led to.
		counts := map[string]int{}
		for _, ev := range auditLines(t, filepath.Join(s.dataDir, "audit")) {
			if ev["eventType"] == "ArcaOperatorAction" {
				counts[ev["eventName"].(string)+"/"+fmt.Sprint(ev["errorCode"])]++
			}
		}
		if counts["Operator:unseal/<nil>"] < 4 || counts["Operator:rekey/update/<nil>"] < 2 || counts["Operator:seal/<nil>"] < 1 ||
			counts["Operator:unseal/Failed"]+counts["Operator:unseal/AccessDenied"] < 1 {
			t.Errorf("operator events in the audit log: %v", counts)
		}
	})
	if newShares == nil {
		t.FailNow()
	}

	t.Run("RotateRootUnderLoad", func(t *testing.T) {
		ctx, cancel := context.WithCancel(bg())
		defer cancel()
		var ok, failed atomic.Int64
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					pt := []byte(strings.Repeat("x", w+i%7+1))
					e, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: keyID, Plaintext: pt})
					if err == nil {
						var d *kms.DecryptOutput
						d, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: e.CiphertextBlob})
						if err == nil && !bytes.Equal(d.Plaintext, pt) {
							err = errors.New("round trip mismatch")
						}
					}
					if err == nil && w == 0 && i%10 == 0 {
						_, err = c.CreateKey(ctx, &kms.CreateKeyInput{}) // new records during re-encryption
					}
					if err != nil && ctx.Err() == nil {
						failed.Add(1)
						t.Errorf("request during rotation: %v", err)
					} else if err == nil {
						ok.Add(1)
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		var rot struct {
			Term uint32 `json:"term"`
		}
		mustOK(t, s.operator(t, &in, "", &rot, "rotate-root"), "rotate-root")
		if rot.Term != 2 {
			t.Errorf("rotate-root term %d, want 2", rot.Term)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			var st sealStatus
			mustOK(t, s.operator(t, nil, "", &st, "status"), "status")
			if st.Terms == 1 && !st.Reencrypting {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("re-encryption did not finish: %+v", st)
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		cancel()
		wg.Wait()
		t.Logf("requests during rotation: %d ok, %d failed", ok.Load(), failed.Load())
		if failed.Load() != 0 || ok.Load() < 20 {
			t.Fatalf("%d failed, %d ok", failed.Load(), ok.Load())
		}
		_, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		mustOK(t, err, "Decrypt of an old ciphertext after rotation")
	})

	t.Run("BackupRestore", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "arca.bak")
		if err := s.operator(t, nil, "", nil, "backup", file); err == nil {
			t.Fatal("backup without credentials accepted")
		}
		mustOK(t, s.operator(t, &in, "", nil, "backup", file), "backup")
		if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("backup file: %v, %v", st, err)
		}
		// Restore onto a new data dir, as on a new machine.
		dir := filepath.Join(t.TempDir(), "restored")
		cmd := exec.Command(arcaBin, "operator", "restore", file, "--data-dir", dir)
		cmd.Env = cleanEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("restore: %v\n%s", err, out)
		}
		if out, err := exec.Command(arcaBin, "operator", "restore", file, "--data-dir", dir).CombinedOutput(); err == nil {
			t.Fatalf("restore onto a non-empty data dir accepted: %s", out)
		}
		r := startServer(t, serverOpts{sealed: true, dataDir: dir})
		rc := r.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
		wantSealedAPI(t, rc)
		r.unseal(t, newShares[1], newShares[2])
		d, err := rc.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		mustOK(t, err, "Decrypt on the restored server")
		if string(d.Plaintext) != "sealed-lifecycle-secret" {
			t.Fatalf("restored Decrypt = %q", d.Plaintext)
		}
		d, err = rc.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
		mustOK(t, err, "Decrypt data key on the restored server")
		if !bytes.Equal(d.Plaintext, dk.Plaintext) {
			t.Fatal("restored data key differs")
		}
		r.stop()

		// Scan: neither the root key (rebuilt from the current shares), nor
		// a share, nor the data key plaintext is anywhere on disk.
		rootKey := combine(t, newShares[:2])
		needles := map[string][]byte{"root key": rootKey, "data key": dk.Plaintext, "plaintext": []byte("sealed-lifecycle-secret")}
		for i, sh := range append(append([]string{}, in.UnsealShares...), newShares...) {
			needles["share "+string(rune('A'+i))] = []byte(sh)
			raw, _ := base64.StdEncoding.DecodeString(sh)
			needles["raw share "+string(rune('A'+i))] = raw
		}
		s.stop()
		for _, dir := range []string{s.dataDir, dir} {
			if found := scanFiles(t, dir, needles); len(found) > 0 {
				t.Errorf("found on disk: %v", found)
			}
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if found := scanBytes(b, needles, file); len(found) > 0 {
			t.Errorf("found in the backup: %v", found)
		}
	})
}

// forgeShare returns a share with the same x coordinate and other bytes.
func forgeShare(t *testing.T, share string) string {
	raw, err := base64.StdEncoding.DecodeString(share)
	if err != nil {
		t.Fatal(err)
	}
	raw[0] ^= 0x5a
	return base64.StdEncoding.EncodeToString(raw)
}

// combine rebuilds the root key from shares with Vault's implementation
// directly (the test imports no Arca package).
func combine(t *testing.T, shares []string) []byte {
	var parts [][]byte
	for _, s := range shares {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, raw)
	}
	key, err := vshamir.Combine(parts)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestTLSPostQuantum: outside dev mode Arca serves HTTPS only, a Go client
// negotiates TLS 1.3 with X25519MLKEM768, TLS 1.1 is refused, plain HTTP
// gets no answer, and the CLI pins the certificate by fingerprint.
func TestTLSPostQuantum(t *testing.T) {
	s := startServer(t, serverOpts{sealed: true})
	resp, err := s.tlsClient().Get(s.endpoint + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 || resp.TLS.CurveID != tls.X25519MLKEM768 {
		t.Fatalf("negotiated %+v; want TLS 1.3 with X25519MLKEM768", resp.TLS)
	}
	pem, _ := os.ReadFile(s.caFile())
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(s.endpoint, "https://"), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10})
	if err == nil {
		conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	conn, err = tls.Dial("tcp", strings.TrimPrefix(s.endpoint, "https://"), &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Errorf("TLS 1.2 handshake: %v", err)
	} else {
		conn.Close()
	}
	if r, err := (&http.Client{Timeout: 3 * time.Second}).Get(strings.Replace(s.endpoint, "https://", "http://", 1) + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode < 400 {
			t.Errorf("plain HTTP answered %d", r.StatusCode)
		}
	}
	// Fingerprint pinning: the right pin works, a wrong one is refused.
	log, _ := os.ReadFile(s.logPath)
	i := bytes.Index(log, []byte("fingerprint: "))
	if i < 0 {
		t.Fatal("the server did not print its certificate fingerprint")
	}
	fp := string(log[i+len("fingerprint: ") : i+len("fingerprint: ")+64])
	run := func(pin string) error {
		cmd := exec.Command(arcaBin, "operator", "status", "--tls-fingerprint", pin)
		cmd.Env = cleanEnv("ARCA_ADDR=" + s.endpoint)
		out, err := cmd.CombinedOutput()
		if err != nil && strings.Contains(string(out), "Initialized:") {
			return nil // exit 2: reached the server, which is uninitialized
		}
		if err != nil {
			return errors.New(string(out))
		}
		return nil
	}
	if err := run(fp); err != nil {
		t.Errorf("status pinned to the right fingerprint: %v", err)
	}
	if err := run(strings.Repeat("ab", 32)); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Errorf("status pinned to a wrong fingerprint: %v", err)
	}
}

// TestInitAgeEncryptedShares: with --age-recipient per share, init prints
// each share encrypted to its operator's age key; decrypted, they unseal.
func TestInitAgeEncryptedShares(t *testing.T) {
	s := startServer(t, serverOpts{sealed: true})
	var ids []*age.X25519Identity
	args := []string{"init", "--key-shares", "3", "--key-threshold", "2"}
	for range 3 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		args = append(args, "--age-recipient", id.Recipient().String())
	}
	if err := s.operator(t, nil, "", nil, "init", "--key-shares", "3", "--key-threshold", "2", "--age-recipient", ids[0].Recipient().String()); err == nil {
		t.Fatal("init with fewer recipients than shares accepted")
	}
	var in initOut
	mustOK(t, s.operator(t, nil, "", &in, args...), "init")
	if len(in.UnsealShares) != 3 {
		t.Fatalf("%d shares", len(in.UnsealShares))
	}
	var plain []string
	for i, enc := range in.UnsealShares {
		if !strings.HasPrefix(enc, "-----BEGIN AGE ENCRYPTED FILE-----") {
			t.Fatalf("share %d is not an armored age file: %.40q", i+1, enc)
		}
		// Only its own recipient opens it.
		if _, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), ids[(i+1)%3]); err == nil {
			t.Fatalf("share %d opened with another operator's key", i+1)
		}
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), ids[i])
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(r)
		plain = append(plain, b.String())
	}
	s.restart()
	s.unseal(t, plain[2], plain[0])
}
