// This file checks that acknowledged writes survive a restart and kill -9,
// that no key material reaches the data dir or the log, and how the server
// starts and refuses to start.
package e2e

import (
	"bytes"
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
	m := createKey(t, c, &kms.CreateKeyInput{Description: aws.String("persist me")})
	if _, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/persist"), TargetKeyId: m.KeyId}); err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"k": "v"}
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("before restart"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	doomed := createKey(t, c, nil)
	sd, err := c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: doomed.KeyId, PendingWindowInDays: aws.Int32(7)})
	if err != nil {
		t.Fatal(err)
	}
	s.restart()
	c = s.client("us-east-1")
	dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "before restart" {
		t.Fatalf("Decrypt after restart: %v", err)
	}
	d, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String("alias/persist")})
	if err != nil || aws.ToString(d.KeyMetadata.Description) != "persist me" {
		t.Errorf("alias/description after restart: %v", err)
	}
	d, err = c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: doomed.KeyId})
	if err != nil || d.KeyMetadata.KeyState != types.KeyStatePendingDeletion || !d.KeyMetadata.DeletionDate.Equal(*sd.DeletionDate) {
		t.Errorf("pending deletion after restart: %+v, %v", d, err)
	}
}

// TestKill9LosesNoAcknowledgedKey kills the server with SIGKILL during a
// stream of CreateKey calls; every key acknowledged before must exist after.
func TestKill9LosesNoAcknowledgedKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	var mu sync.Mutex
	var acked []string
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				out, err := c.CreateKey(bg(), &kms.CreateKeyInput{})
				if err != nil {
					return // the server died under us: that request was never acknowledged
				}
				mu.Lock()
				acked = append(acked, aws.ToString(out.KeyMetadata.KeyId))
				mu.Unlock()
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 50 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.kill()
	close(stop)
	wg.Wait()
	if len(acked) < 50 {
		t.Fatalf("only %d keys acknowledged before the deadline", len(acked))
	}
	s.start()
	c = s.client("us-east-1")
	for _, id := range acked {
		if _, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(id)}); err != nil {
			t.Errorf("acknowledged key %s lost: %v", id, err)
		}
	}
}

// TestNoKeyMaterialOnDisk collects plaintexts that must never be persisted
// (data keys, encrypted plaintexts) and scans every file of the data dir,
// and the server's log, for them.
func TestNoKeyMaterialOnDisk(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	needles := map[string][]byte{}
	marker := []byte("PLAINTEXT-MARKER-7f3a9c0e-never-on-disk!")
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: marker})
	if err != nil {
		t.Fatal(err)
	}
	needles["encrypted plaintext"] = marker
	for i := range 20 {
		dk, err := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256})
		if err != nil {
			t.Fatal(err)
		}
		needles["data key "+string(rune('a'+i))] = dk.Plaintext
	}
	rnd, err := c.GenerateRandom(bg(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(32)})
	if err != nil {
		t.Fatal(err)
	}
	needles["random bytes"] = rnd.Plaintext
	if _, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob}); err != nil {
		t.Fatal(err)
	}
	s.stop()
	if found := scanFiles(t, s.dataDir, needles); len(found) > 0 {
		t.Errorf("plaintext found on disk: %v", found)
	}
	logb, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range needles {
		if bytes.Contains(logb, n) {
			t.Errorf("%s found in the server log", name)
		}
	}
	// The dev seal key must not appear in the database either.
	sealKey, err := os.ReadFile(filepath.Join(s.dataDir, "dev-seal.key"))
	if err != nil {
		t.Fatal(err)
	}
	if found := scanFiles(t, s.dataDir, map[string][]byte{"dev seal key": sealKey}, "dev-seal.key"); len(found) > 0 {
		t.Errorf("dev seal key found: %v", found)
	}
}

func TestDevFilesAndProductionRefusal(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	creds, err := os.ReadFile(filepath.Join(s.dataDir, "credentials"))
	if err != nil || !strings.Contains(string(creds), testAKID) || !strings.Contains(string(creds), testSecret) {
		t.Errorf("credentials file: %v", err)
	}
	conf, err := os.ReadFile(filepath.Join(s.dataDir, "config"))
	if err != nil || !strings.Contains(string(conf), "endpoint_url = "+s.endpoint) || !strings.Contains(string(conf), "region = us-east-1") {
		t.Errorf("config file = %q, %v", conf, err)
	}
	for _, f := range []string{"credentials", "config", "dev-seal.key", "arca.db"} {
		st, err := os.Stat(filepath.Join(s.dataDir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, st.Mode().Perm(), err)
		}
	}
	if logb, _ := os.ReadFile(s.logPath); !bytes.Contains(logb, []byte("DEVELOPMENT MODE")) {
		t.Error("dev mode did not warn at start")
	}

	out, err := exec.Command(arcaBin, "server", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "seal") {
		t.Errorf("server without --dev: err=%v output=%s", err, out)
	}
	out, err = exec.Command(arcaBin, "server", "--dev", "--account-id", "12").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "account_id") {
		t.Errorf("bad --account-id: err=%v output=%s", err, out)
	}
}
