package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/arca-kms/arca/internal/secrets/rotator"
)

// hookRotation is a webhook rotation endpoint written the way AWS's
// single-user Lambda template is: each step calls Arca's Secrets Manager
// API with its own (root) credentials. Its "database" is one password in
// memory; while down is set, setSecret fails as a database that cannot be
// reached would.
type hookRotation struct {
	t      *testing.T
	key    []byte
	sm     *sm.Client
	mu     sync.Mutex
	db     string
	down   bool
	steps  []string
	badSig int
}

func (h *hookRotation) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if err := rotator.Verify(h.key, r.Header.Get(rotator.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		h.mu.Lock()
		h.badSig++
		h.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev rotator.WebhookEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.steps = append(h.steps, ev.Step)
	h.mu.Unlock()
	if err := h.step(r.Context(), ev); err != nil {
		http.Error(w, "step failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *hookRotation) step(ctx context.Context, ev rotator.WebhookEvent) error {
	pending := func() (string, error) {
		g, err := h.sm.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: &ev.SecretID, VersionId: &ev.ClientRequestToken, VersionStage: aws.String("AWSPENDING")})
		if err != nil {
			return "", err
		}
		return aws.ToString(g.SecretString), nil
	}
	switch ev.Step {
	case rotator.CreateSecret:
		if _, err := pending(); err == nil {
			return nil
		}
		pw, err := h.sm.GetRandomPassword(ctx, &sm.GetRandomPasswordInput{PasswordLength: aws.Int64(30), ExcludeCharacters: aws.String(`"\`)})
		if err != nil {
			return err
		}
		_, err = h.sm.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: &ev.SecretID, ClientRequestToken: &ev.ClientRequestToken,
			SecretString: aws.String(`{"password":"` + aws.ToString(pw.RandomPassword) + `"}`), VersionStages: []string{"AWSPENDING"}})
		return err
	case rotator.SetSecret:
		v, err := pending()
		if err != nil {
			return err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.down {
			return errors.New("database unreachable")
		}
		h.db = v
	case rotator.TestSecret:
		v, err := pending()
		if err != nil {
			return err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.db != v {
			return errors.New("login with the pending password failed")
		}
	case rotator.FinishSecret:
		d, err := h.sm.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: &ev.SecretID})
		if err != nil {
			return err
		}
		cur := ""
		for id, st := range d.VersionIdsToStages {
			for _, s := range st {
				if s == "AWSCURRENT" {
					cur = id
				}
			}
		}
		if cur == ev.ClientRequestToken {
			return nil
		}
		_, err = h.sm.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: &ev.SecretID, VersionStage: aws.String("AWSCURRENT"),
			MoveToVersionId: &ev.ClientRequestToken, RemoveFromVersionId: &cur})
		return err
	}
	return nil
}

// rawSM calls a Secrets Manager operation with a root-signed request and
// returns the response body: for members the SDK does not know
// (ArcaRotationFailure).
func rawSM(t *testing.T, s *server, op, body string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.endpoint+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager."+op)
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: rootAKID, SecretAccessKey: rootSecret}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "secretsmanager", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", op, resp.StatusCode, b)
	}
	return b
}

func currentVersion(t *testing.T, c *sm.Client, id string) (string, map[string][]string) {
	t.Helper()
	d, err := c.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String(id)})
	mustOK(t, err, "DescribeSecret")
	for v, st := range d.VersionIdsToStages {
		for _, s := range st {
			if s == "AWSCURRENT" {
				return v, d.VersionIdsToStages
			}
		}
	}
	return "", d.VersionIdsToStages
}

// TestSecretsRotationScheduled rotates a secret through a webhook rotator: an
// immediate rotation, a scheduled one on the moved clock whose setSecret
// fails (AWSCURRENT untouched, AWSPENDING kept, the failure recorded and
// logged), and its retry after the backoff with the same version ID.
func TestSecretsRotationScheduled(t *testing.T) {
	t.Parallel()
	hook := &hookRotation{t: t, key: []byte("webhook-hmac-key-for-e2e-0123456789")}
	hs := httptest.NewServer(hook)
	defer hs.Close()
	cfgPath := filepath.Join(t.TempDir(), "arca.yaml")
	cfg := fmt.Sprintf("rotators:\n  - name: hook\n    type: webhook\n    url: %s\n    hmac_secret_env: E2E_HOOK_HMAC\n    timeout: 10s\n", hs.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{env: []string{"ARCA_CONFIG=" + cfgPath, "E2E_HOOK_HMAC=" + string(hook.key)}})
	c := s.smClient("us-east-1", "", "")
	hook.sm = c
	const initial = `{"password":"initial-pw-5d0c7a"}`
	_, err := c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("rot"), SecretString: aws.String(initial)})
	mustOK(t, err, "CreateSecret")
	hook.db = initial

	_, err = c.RotateSecret(bg(), &sm.RotateSecretInput{SecretId: aws.String("rot"), RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:000000000000:function:nope")})
	wantErr[*smtypes.InvalidRequestException](t, err, "RotateSecret with an unconfigured rotator")
	rs, err := c.RotateSecret(bg(), &sm.RotateSecretInput{SecretId: aws.String("rot"),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:000000000000:function:hook"),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(7)}})
	mustOK(t, err, "RotateSecret")
	deadline := time.Now().Add(20 * time.Second)
	for {
		if cur, _ := currentVersion(t, c, "rot"); cur == aws.ToString(rs.VersionId) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rotation did not finish; webhook saw %v", hook.steps)
		}
		time.Sleep(50 * time.Millisecond)
	}
	g, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("rot")})
	mustOK(t, err, "GetSecretValue after rotation")
	first := aws.ToString(g.SecretString)
	hook.mu.Lock()
	if first == initial || hook.db != first || strings.Join(hook.steps, ",") != "createSecret,setSecret,testSecret,finishSecret" {
		t.Errorf("after rotation: value changed %v, db has it %v, steps %v", first != initial, hook.db == first, hook.steps)
	}
	hook.mu.Unlock()
	g, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("rot"), VersionStage: aws.String("AWSPREVIOUS")})
	mustOK(t, err, "AWSPREVIOUS")
	if aws.ToString(g.SecretString) != initial {
		t.Errorf("AWSPREVIOUS is not the initial value")
	}
	d, err := c.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("rot")})
	mustOK(t, err, "DescribeSecret")
	if !aws.ToBool(d.RotationEnabled) || d.LastRotatedDate == nil || d.NextRotationDate == nil ||
		aws.ToString(d.RotationLambdaARN) != "arn:aws:lambda:us-east-1:000000000000:function:hook" ||
		aws.ToInt64(d.RotationRules.AutomaticallyAfterDays) != 7 {
		t.Errorf("DescribeSecret after rotation = %+v", d)
	}

	// The database goes down; the scheduled rotation fails at setSecret.
	hook.mu.Lock()
	hook.down = true
	hook.steps = nil
	hook.mu.Unlock()
	advanceClock(t, s, 8*24*time.Hour)
	cur, stages := currentVersion(t, c, "rot")
	if cur != aws.ToString(rs.VersionId) {
		t.Fatalf("AWSCURRENT moved although setSecret failed: %v", stages)
	}
	var pendingID string
	for id, st := range stages {
		for _, x := range st {
			if x == "AWSPENDING" && id != cur {
				pendingID = id
			}
		}
	}
	if pendingID == "" {
		t.Fatalf("no AWSPENDING version kept after the failure: %v", stages)
	}
	var desc struct {
		ArcaRotationFailure struct {
			Step      string
			Attempts  int
			VersionID string `json:"VersionId"`
		}
	}
	json.Unmarshal(rawSM(t, s, "DescribeSecret", `{"SecretId":"rot"}`), &desc)
	if f := desc.ArcaRotationFailure; f.Step != "setSecret" || f.Attempts != 1 || f.VersionID != pendingID {
		t.Errorf("ArcaRotationFailure = %+v", f)
	}
	if logb, _ := os.ReadFile(s.logPath); !bytes.Contains(logb, []byte("secret rotation failed")) {
		t.Errorf("no log line for the failed rotation")
	}
	g, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("rot")})
	mustOK(t, err, "GetSecretValue during the outage")
	if aws.ToString(g.SecretString) != first {
		t.Errorf("AWSCURRENT changed during the outage")
	}

	// The database is back; after the backoff the retry completes the same
	// version.
	hook.mu.Lock()
	hook.down = false
	hook.mu.Unlock()
	advanceClock(t, s, 2*time.Minute)
	if cur, stages := currentVersion(t, c, "rot"); cur != pendingID {
		t.Fatalf("after the retry AWSCURRENT is %s, want the pending %s (%v)", cur, pendingID, stages)
	}
	g, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("rot")})
	mustOK(t, err, "GetSecretValue after the retry")
	hook.mu.Lock()
	if aws.ToString(g.SecretString) != hook.db || hook.badSig != 0 {
		t.Errorf("after the retry the database and AWSCURRENT differ, or bad signatures: %d", hook.badSig)
	}
	needles := map[string][]byte{"initial": []byte("initial-pw-5d0c7a"), "first": []byte(first[13 : len(first)-2]), "db": []byte(hook.db[13 : len(hook.db)-2])}
	hook.mu.Unlock()
	var after map[string]json.RawMessage
	json.Unmarshal(rawSM(t, s, "DescribeSecret", `{"SecretId":"rot"}`), &after)
	if _, ok := after["ArcaRotationFailure"]; ok || after["ARN"] == nil {
		t.Errorf("failure still reported after success: %s", after["ArcaRotationFailure"])
	}

	_, err = c.CancelRotateSecret(bg(), &sm.CancelRotateSecretInput{SecretId: aws.String("rot")})
	mustOK(t, err, "CancelRotateSecret")
	d, _ = c.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("rot")})
	if aws.ToBool(d.RotationEnabled) {
		t.Errorf("rotation still enabled after CancelRotateSecret")
	}

	if found := scanFiles(t, s.dataDir, needles, "dev-seal.key"); len(found) > 0 {
		t.Errorf("secret values on disk: %v", found)
	}
	logb, _ := os.ReadFile(s.logPath)
	if found := scanBytes(logb, needles, "the server log"); len(found) > 0 {
		t.Errorf("secret values in the log: %v", found)
	}
}
