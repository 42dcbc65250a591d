package e2e

import (
	"context"
	"crypto/hmac"
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
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// verifyArcaSignature checks X-Arca-Signature as docs/FORMATS.md tells a
// webhook author to, written from the documentation alone.
func verifyArcaSignature(key []byte, header string, body []byte) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("no timestamp")
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("stale timestamp")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts + "."))
	m.Write(body)
	if !hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(sig)) {
		return errors.New("bad signature")
	}
	return nil
}

// TestSecretsRotationWebhook rotates an API token through a webhook
// rotator: Arca POSTs each signed step to a local endpoint, which does the
// work by calling Arca's Secrets Manager API with its own credentials, as a
// Lambda rotation function does. The endpoint fails setSecret once; the
// failure is reported and the retry (same version) completes the rotation.
func TestSecretsRotationWebhook(t *testing.T) {
	t.Parallel()
	const key = "e2e-webhook-hmac-key-5d1c0e9a"

	var (
		mu        sync.Mutex
		steps     []string
		failSet   = true
		external  string // the token the "external system" accepts
		c         *sm.Client
		badAuth   int
		hookError error
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := verifyArcaSignature([]byte(key), r.Header.Get("X-Arca-Signature"), body); err != nil {
			mu.Lock()
			badAuth++
			mu.Unlock()
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev struct{ SecretId, ClientRequestToken, Step string }
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		mu.Lock()
		steps = append(steps, ev.Step)
		fail := ev.Step == "setSecret" && failSet
		if fail {
			failSet = false
		}
		mu.Unlock()
		if fail {
			http.Error(w, "external system unavailable", http.StatusServiceUnavailable)
			return
		}
		ctx, id, tok := context.Background(), aws.String(ev.SecretId), aws.String(ev.ClientRequestToken)
		var err error
		switch ev.Step {
		case "createSecret":
			_, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: id, VersionId: tok, VersionStage: aws.String("AWSPENDING")})
			var nf *smtypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				_, err = c.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: id, ClientRequestToken: tok,
					SecretString: aws.String("api-token-" + ev.ClientRequestToken[:8]), VersionStages: []string{"AWSPENDING"}})
			}
		case "setSecret", "testSecret":
			var v *sm.GetSecretValueOutput
			v, err = c.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: id, VersionId: tok, VersionStage: aws.String("AWSPENDING")})
			if err == nil {
				mu.Lock()
				if ev.Step == "setSecret" {
					external = aws.ToString(v.SecretString)
				} else if external != aws.ToString(v.SecretString) {
					err = errors.New("the external system does not accept the pending token")
				}
				mu.Unlock()
			}
		case "finishSecret":
			var d *sm.DescribeSecretOutput
			d, err = c.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: id})
			if err == nil {
				cur := ""
				for v, st := range d.VersionIdsToStages {
					for _, s := range st {
						if s == "AWSCURRENT" {
							cur = v
						}
					}
				}
				if cur != ev.ClientRequestToken {
					_, err = c.UpdateSecretVersionStage(ctx, &sm.UpdateSecretVersionStageInput{SecretId: id,
						VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: tok, RemoveFromVersionId: aws.String(cur)})
				}
			}
		}
		if err != nil {
			mu.Lock()
			hookError = fmt.Errorf("%s: %w", ev.Step, err)
			mu.Unlock()
			http.Error(w, "step failed", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer hook.Close()

	cfg := filepath.Join(t.TempDir(), "arca.yaml")
	yaml := "rotators:\n  - {name: api-token, type: webhook, url: " + hook.URL + "/rotate, hmac_secret_env: ARCA_E2E_HOOK_KEY, timeout: 10s}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{env: []string{"ARCA_CONFIG=" + cfg, "ARCA_E2E_HOOK_KEY=" + key}})
	c = s.smClient("us-east-1", "", "")

	cr, err := c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("api/token"), SecretString: aws.String("api-token-initial")})
	mustOK(t, err, "CreateSecret")
	id := aws.ToString(cr.ARN)
	_, err = c.RotateSecret(bg(), &sm.RotateSecretInput{SecretId: aws.String(id),
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:000000000000:function:api-token"),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}})
	mustOK(t, err, "RotateSecret")

	var fail map[string]any
	for deadline := time.Now().Add(60 * time.Second); fail == nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no ArcaRotationFailure after the webhook's 503")
		}
		fail = rotationFailure(t, s, id)
	}
	if fail["Step"] != "setSecret" || !strings.Contains(fmt.Sprint(fail["Message"]), "503") {
		t.Fatalf("failure %v", fail)
	}
	g, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String(id)})
	mustOK(t, err, "GetSecretValue")
	if aws.ToString(g.SecretString) != "api-token-initial" {
		t.Fatal("AWSCURRENT changed after the failed step")
	}

	advanceClock(t, s, 2*time.Hour) // past the retry's backoff
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		g, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String(id)})
		mustOK(t, err, "GetSecretValue")
		if aws.ToString(g.SecretString) != "api-token-initial" {
			break
		}
		if time.Now().After(deadline) {
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("not rotated after the retry; steps %v, hook error %v", steps, hookError)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if hookError != nil || badAuth != 0 {
		t.Fatalf("hook error %v, %d unauthenticated calls", hookError, badAuth)
	}
	if aws.ToString(g.SecretString) != external || aws.ToString(g.VersionId) != fail["VersionId"] {
		t.Fatalf("AWSCURRENT %q (version %s), external %q, failed version %v", aws.ToString(g.SecretString), aws.ToString(g.VersionId), external, fail["VersionId"])
	}
	want := "createSecret setSecret createSecret setSecret testSecret finishSecret"
	if got := strings.Join(steps, " "); got != want {
		t.Fatalf("steps %q, want %q", got, want)
	}
}
