// This file checks the server as a process: acknowledged writes survive a
// graceful restart (SIGTERM) and a crash (SIGKILL); no plaintext, data key
// or root secret reaches the data dir or the log; dev mode writes working
// AWS shared config files; and the server refuses to start without a seal.
package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, &kms.CreateKeyInput{
		Description: aws.String("persist me"),
		Tags:        []types.Tag{{TagKey: aws.String("k"), TagValue: aws.String("v")}},
	})
	mustOK(t, err2(c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/persist"), TargetKeyId: m.KeyId})), "CreateAlias")
	ec := map[string]string{"k": "v"}
	type sealed struct {
		plain []byte
		blob  []byte
		ctx   map[string]string
	}
	var blobs []sealed
	for i, n := range []int{1, 100, 4096} {
		pt := bytes.Repeat([]byte{byte('a' + i)}, n)
		enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: pt, EncryptionContext: ec})
		mustOK(t, err, "Encrypt")
		blobs = append(blobs, sealed{pt, enc.CiphertextBlob, ec})
	}
	dk, err := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: aws.String("alias/persist"), KeySpec: types.DataKeySpecAes256})
	mustOK(t, err, "GenerateDataKey")
	blobs = append(blobs, sealed{dk.Plaintext, dk.CiphertextBlob, nil})
	disabled := createKey(t, c, nil)
	mustOK(t, err2(c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: disabled.KeyId})), "DisableKey")
	doomed := createKey(t, c, nil)
	sd, err := c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: doomed.KeyId, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, err, "ScheduleKeyDeletion")

	if err := s.stop(); err != nil {
		t.Errorf("SIGTERM: arca exited with %v, want status 0 (graceful stop)", err)
	}
	s.start()
	c = s.client("us-east-1")

	for i, b := range blobs {
		dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: b.blob, EncryptionContext: b.ctx})
		if err != nil || !bytes.Equal(dec.Plaintext, b.plain) {
			t.Errorf("ciphertext %d after restart: %v", i, err)
		}
	}
	d := describe(t, c, "alias/persist")
	if aws.ToString(d.KeyId) != aws.ToString(m.KeyId) || aws.ToString(d.Description) != "persist me" || d.KeyState != types.KeyStateEnabled ||
		!d.CreationDate.Equal(*m.CreationDate) {
		t.Errorf("key after restart: %+v", d)
	}
	lt, err := c.ListResourceTags(bg(), &kms.ListResourceTagsInput{KeyId: m.KeyId})
	if err != nil || tagMap(lt.Tags)["k"] != "v" {
		t.Errorf("tags after restart: %v, %v", lt, err)
	}
	if d := describe(t, c, aws.ToString(disabled.KeyId)); d.KeyState != types.KeyStateDisabled {
		t.Errorf("disabled key after restart: %s", d.KeyState)
	}
	d = describe(t, c, aws.ToString(doomed.KeyId))
	if d.KeyState != types.KeyStatePendingDeletion || d.DeletionDate == nil || !d.DeletionDate.Equal(*sd.DeletionDate) {
		t.Errorf("pending deletion after restart: state %s DeletionDate %v, want %v", d.KeyState, d.DeletionDate, sd.DeletionDate)
	}
	if lk, err := c.ListKeys(bg(), &kms.ListKeysInput{}); err != nil || len(lk.Keys) != 3 {
		t.Errorf("ListKeys after restart: %d keys, %v; want 3", len(lk.Keys), err)
	}
}

// TestKill9LosesNoAcknowledgedKey kills the server with SIGKILL during a
// stream of CreateKey calls; every key acknowledged before must exist after.
func TestKill9LosesNoAcknowledgedKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	stop := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				out, err := c.CreateKey(bg(), &kms.CreateKeyInput{Description: aws.String("crash " + string(rune('a'+w)))})
				if err != nil {
					return // the server died under us: that call was never acknowledged
				}
				mu.Lock()
				acked = append(acked, aws.ToString(out.KeyMetadata.KeyId))
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.kill()
	close(stop)
	wg.Wait()
	if len(acked) < 50 {
		t.Fatalf("only %d keys acknowledged within 60s", len(acked))
	}
	s.start()
	c = s.client("us-east-1")
	for _, id := range acked {
		if _, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(id)}); err != nil {
			t.Errorf("acknowledged key %s lost: %v", id, err)
		}
	}
	// The restarted server still works.
	m := createKey(t, c, nil)
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("after crash")})
	mustOK(t, err, "Encrypt after crash")
	if dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil || string(dec.Plaintext) != "after crash" {
		t.Errorf("Decrypt after crash: %v", err)
	}
	t.Logf("%d keys acknowledged before SIGKILL", len(acked))
}

// encodings returns needle under each name, plus its base64, URL-safe
// base64 and hex forms (a plaintext logged from a JSON body would be
// base64), for needles long enough to make a chance match impossible.
func encodings(name string, needle []byte) map[string][]byte {
	m := map[string][]byte{name: needle}
	if len(needle) >= 16 {
		// base64 of a slice aligned to 3 bytes is a substring of the base64
		// of any text containing it at the same alignment; check all three.
		for off := range 3 {
			part := needle[off:]
			part = part[:len(part)/3*3]
			m[name+" (base64@"+string(rune('0'+off))+")"] = []byte(base64.StdEncoding.EncodeToString(part))
			m[name+" (base64url@"+string(rune('0'+off))+")"] = []byte(base64.RawURLEncoding.EncodeToString(part))
		}
		m[name+" (hex)"] = []byte(hex.EncodeToString(needle))
	}
	return m
}

// TestNoKeyMaterialOnDisk collects secrets that must never be persisted in
// the clear (data-key plaintexts, a plaintext given to Encrypt, random
// bytes, the root secret access key) and scans every file of the data dir
// and the server's log (at debug level) for them in raw, base64 and hex form.
func TestNoKeyMaterialOnDisk(t *testing.T) {
	t.Parallel()
	// The most verbose log the server has (ignored if it has no such setting).
	s := startServer(t, serverOpts{env: []string{"ARCA_LOG_LEVEL=debug"}})
	c := s.client("us-east-1")
	m := createKey(t, c, &kms.CreateKeyInput{Description: aws.String("scan target")})
	needles := map[string][]byte{}
	add := func(name string, b []byte) {
		for k, v := range encodings(name, b) {
			needles[k] = v
		}
	}
	marker := []byte("PLAINTEXT-MARKER-7f3a9c0e-never!") // 32 bytes
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: marker, EncryptionContext: map[string]string{"scan": "yes"}})
	mustOK(t, err, "Encrypt")
	add("Encrypt plaintext", marker)
	dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"scan": "yes"}})
	if err != nil || !bytes.Equal(dec.Plaintext, marker) {
		t.Fatalf("Decrypt: %v", err)
	}
	for i := range 20 {
		dk, err := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256})
		mustOK(t, err, "GenerateDataKey")
		add("data key "+string(rune('A'+i)), dk.Plaintext)
		// Decrypting the data key exercises the server's decrypt path too.
		mustOK(t, err2(c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})), "Decrypt data key")
	}
	wp, err := c.GenerateDataKeyWithoutPlaintext(bg(), &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: m.KeyId, NumberOfBytes: aws.Int32(48)})
	mustOK(t, err, "GenerateDataKeyWithoutPlaintext")
	wpDec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: wp.CiphertextBlob})
	mustOK(t, err, "Decrypt")
	add("data key without plaintext", wpDec.Plaintext)
	rnd, err := c.GenerateRandom(bg(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
	mustOK(t, err, "GenerateRandom")
	add("GenerateRandom bytes", rnd.Plaintext)
	_, err = c.ReEncrypt(bg(), &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: map[string]string{"scan": "yes"}, DestinationKeyId: m.KeyId})
	mustOK(t, err, "ReEncrypt")
	if err := s.stop(); err != nil {
		t.Errorf("SIGTERM: %v", err)
	}

	t.Run("data dir", func(t *testing.T) {
		// dev-seal.key holds the dev root key by design; credentials holds
		// the root secret by design (scanned separately below).
		if found := scanFiles(t, s.dataDir, needles, "dev-seal.key"); len(found) > 0 {
			t.Errorf("secrets found on disk:\n%s", strings.Join(found, "\n"))
		}
		secret := encodings("root secret access key", []byte(rootSecret))
		if found := scanFiles(t, s.dataDir, secret, "credentials"); len(found) > 0 {
			t.Errorf("root secret stored outside the dev credentials file:\n%s", strings.Join(found, "\n"))
		}
		seal, err := os.ReadFile(filepath.Join(s.dataDir, "dev-seal.key"))
		if err != nil {
			t.Fatalf("dev-seal.key: %v", err)
		}
		sealNeedles := map[string][]byte{"dev-seal.key contents": bytes.TrimSpace(seal)}
		if raw, err := hex.DecodeString(string(bytes.TrimSpace(seal))); err == nil {
			sealNeedles["dev-seal.key (hex-decoded)"] = raw
		}
		if raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(seal))); err == nil {
			sealNeedles["dev-seal.key (base64-decoded)"] = raw
		}
		if found := scanFiles(t, s.dataDir, sealNeedles, "dev-seal.key"); len(found) > 0 {
			t.Errorf("dev seal key copied into other files:\n%s", strings.Join(found, "\n"))
		}
	})

	t.Run("server log", func(t *testing.T) {
		logb, err := os.ReadFile(s.logPath)
		if err != nil {
			t.Fatal(err)
		}
		if found := scanBytes(logb, needles, "the server log"); len(found) > 0 {
			t.Errorf("secrets in the server log:\n%s", strings.Join(found, "\n"))
		}
		// Dev mode prints the root credentials in its start banner by design;
		// beyond that once per start, the secret must never be logged.
		starts := bytes.Count(logb, []byte("----- harness: starting"))
		if n := bytes.Count(logb, []byte(rootSecret)); n > starts {
			t.Errorf("root secret logged %d times in %d starts", n, starts)
		}
	})
}

func TestDevModeFiles(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{regions: "eu-west-1,us-east-1"})
	for _, f := range []string{"credentials", "config", "dev-seal.key", "arca.db"} {
		st, err := os.Stat(filepath.Join(s.dataDir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if f != "config" && st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is readable by others: mode %v", f, st.Mode().Perm())
		}
	}
	creds, err := os.ReadFile(filepath.Join(s.dataDir, "credentials"))
	if err != nil || !bytes.Contains(creds, []byte("[default]")) ||
		!bytes.Contains(creds, []byte(rootAKID)) || !bytes.Contains(creds, []byte(rootSecret)) {
		t.Errorf("credentials file (err %v) lacks [default] with the root key:\n%s", err, redact(creds))
	}
	conf, err := os.ReadFile(filepath.Join(s.dataDir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	cs := string(conf)
	if !strings.Contains(cs, "[default]") || !iniHas(cs, "region", "eu-west-1") || !iniHas(cs, "endpoint_url", s.endpoint) {
		t.Errorf("config file lacks [default] with region = eu-west-1 (the first --region) and endpoint_url = %s:\n%s", s.endpoint, cs)
	}
	resp, err := http.Get(s.endpoint + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h health
	err = json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || h.Status != "ok" || h.Sealed == nil || *h.Sealed {
		t.Errorf("GET /healthz: %d %+v %v; want 200 {\"status\":\"ok\",\"sealed\":false}", resp.StatusCode, h, err)
	}
	// The AWS CLI using nothing but these two files is TestAWSCLI's job.
}

// iniHas reports whether an ini text has the line "key = value" (spaces
// around = optional).
func iniHas(text, key, value string) bool {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(k) == key && strings.TrimSpace(v) == value {
			return true
		}
	}
	return false
}

// redact hides the root secret in b for test output.
func redact(b []byte) string {
	return strings.ReplaceAll(string(b), rootSecret, "<root secret>")
}

func TestStartupRefusals(t *testing.T) {
	t.Parallel()
	run := func(args ...string) (string, error) {
		cmd := exec.Command(arcaBin, args...)
		cmd.Env = cleanEnv("ARCA_ROOT_ACCESS_KEY_ID="+rootAKID, "ARCA_ROOT_SECRET_ACCESS_KEY="+rootSecret)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
			return string(out), err
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
			return string(out), nil // reported as "started" by the caller
		}
	}
	t.Run("unknown seal outside dev mode", func(t *testing.T) {
		// Without --dev Arca starts sealed (seal_test.go); a seal type this
		// build lacks must refuse to start.
		dir := t.TempDir()
		out, err := run("server", "--data-dir", dir, "--listen", "127.0.0.1:0", "--seal", "bogus")
		if err == nil || !strings.Contains(strings.ToLower(out), "seal") {
			t.Errorf("arca server --seal bogus: err=%v, output:\n%s\nwant a non-zero exit naming the seal", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "dev-seal.key")); err == nil {
			t.Errorf("a refused start wrote dev-seal.key")
		}
	})
	t.Run("data dir in use", func(t *testing.T) {
		// A second server on a live data dir must refuse promptly (bbolt
		// would otherwise block on the file lock), and leave the first alone.
		s := startServer(t, serverOpts{})
		c := s.client("us-east-1")
		m := createKey(t, c, nil)
		out, err := run("server", "--dev", "--data-dir", s.dataDir, "--listen", "127.0.0.1:0")
		if err == nil {
			t.Errorf("second arca on the same data dir: still running after 20s or exited 0; output:\n%s", out)
		}
		if _, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: m.KeyId}); err != nil {
			t.Errorf("first server after the second was refused: %v", err)
		}
	})
	t.Run("malformed account ID", func(t *testing.T) {
		out, err := run("server", "--dev", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--account-id", "12")
		if err == nil || !strings.Contains(strings.ToLower(out), "account") {
			t.Errorf("--account-id 12: err=%v, output:\n%s\nwant a non-zero exit naming the account ID", err, out)
		}
	})
}
