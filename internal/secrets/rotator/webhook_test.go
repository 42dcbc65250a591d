package rotator_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/secrets/rotator"
)

const hookSecret = "webhook-hmac-secret-0123456789"

// hookServer is a webhook endpoint that verifies each call's signature and
// records the events it accepted.
type hookServer struct {
	*httptest.Server
	mu     sync.Mutex
	events []rotator.WebhookEvent
	status int
	delay  time.Duration
}

func newHookServer(t *testing.T) *hookServer {
	h := &hookServer{status: http.StatusOK}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if err := rotator.Verify([]byte(hookSecret), r.Header.Get(rotator.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var ev rotator.WebhookEvent
		if err := json.Unmarshal(body, &ev); err != nil || r.Header.Get(rotator.StepHeader) != ev.Step {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		status, delay := h.status, h.delay
		if status/100 == 2 {
			h.events = append(h.events, ev)
		}
		h.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, "echo of a secret: hunter2")
	}))
	t.Cleanup(h.Close)
	return h
}

func newHook(t *testing.T, url string, timeout time.Duration) rotator.Rotator {
	t.Helper()
	r, err := rotator.New(rotator.Config{Name: "hook", Type: rotator.TypeWebhook, URL: url, HMACSecret: hookSecret, Timeout: timeout, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWebhookSteps(t *testing.T) {
	h := newHookServer(t)
	r := newHook(t, h.URL+"/rotate", 5*time.Second)
	f := newFakeSecrets()
	steps := []string{rotator.CreateSecret, rotator.SetSecret, rotator.TestSecret, rotator.FinishSecret}
	for _, step := range steps {
		if err := r.Rotate(context.Background(), f, rotator.Request{SecretID: secretID, ClientRequestToken: "tok-1", Step: step}); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	if len(h.events) != 4 {
		t.Fatalf("%d events", len(h.events))
	}
	for i, ev := range h.events {
		if ev.Step != steps[i] || ev.SecretID != secretID || ev.ClientRequestToken != "tok-1" {
			t.Fatalf("event %d = %+v", i, ev)
		}
	}
}

func TestWebhookFailures(t *testing.T) {
	req := rotator.Request{SecretID: secretID, ClientRequestToken: "tok-1", Step: rotator.SetSecret}
	t.Run("status", func(t *testing.T) {
		h := newHookServer(t)
		h.status = http.StatusInternalServerError
		err := newHook(t, h.URL, 5*time.Second).Rotate(context.Background(), nil, req)
		if err == nil || !strings.Contains(err.Error(), "HTTP 500") || strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		h := newHookServer(t)
		r, err := rotator.New(rotator.Config{Name: "hook", Type: rotator.TypeWebhook, URL: h.URL, HMACSecret: "another-secret-of-enough-length", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Rotate(context.Background(), nil, req); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		h := newHookServer(t)
		h.delay = 2 * time.Second
		start := time.Now()
		err := newHook(t, h.URL, 200*time.Millisecond).Rotate(context.Background(), nil, req)
		if err == nil || time.Since(start) > 1500*time.Millisecond {
			t.Fatalf("err = %v after %v", err, time.Since(start))
		}
	})
	t.Run("redirect", func(t *testing.T) {
		h := newHookServer(t)
		redir := httptest.NewServer(http.RedirectHandler(h.URL, http.StatusTemporaryRedirect))
		defer redir.Close()
		err := newHook(t, redir.URL, 5*time.Second).Rotate(context.Background(), nil, req)
		if err == nil || !strings.Contains(err.Error(), "HTTP 307") || len(h.events) != 0 {
			t.Fatalf("err = %v, events %d", err, len(h.events))
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		h := newHookServer(t)
		url := h.URL
		h.Close()
		if err := newHook(t, url, time.Second).Rotate(context.Background(), nil, req); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestSignVerify(t *testing.T) {
	key := []byte(hookSecret)
	body := []byte(`{"SecretId":"s","ClientRequestToken":"t","Step":"createSecret"}`)
	at := time.Unix(1764784800, 0)
	h := rotator.Sign(key, at, body)
	// The documented construction: hex HMAC-SHA256 over "<t>.<body>".
	if h != "t=1764784800,v1="+hmacHex(key, "1764784800."+string(body)) {
		t.Fatalf("header %s", h)
	}
	if err := rotator.Verify(key, h, body, at.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		header string
		body   []byte
		now    time.Time
	}{
		"body":     {h, append([]byte(nil), append(body, ' ')...), at},
		"old":      {h, body, at.Add(6 * time.Minute)},
		"future":   {h, body, at.Add(-6 * time.Minute)},
		"garbage":  {"v1=00", body, at},
		"empty":    {"", body, at},
		"sig":      {"t=1764784800,v1=" + strings.Repeat("0", 64), body, at},
		"other ts": {strings.Replace(h, "t=1764784800", "t=1764784801", 1), body, at},
	} {
		if err := rotator.Verify(key, tc.header, tc.body, tc.now, 5*time.Minute); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestNewValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  rotator.Config
		want string
	}{
		{rotator.Config{Name: "x", Type: "oracle"}, "unknown type"},
		{rotator.Config{Type: rotator.TypePostgres}, "needs a name"},
		{rotator.Config{Name: "x", Type: rotator.TypePostgres, Strategy: "multi"}, "unknown strategy"},
		{rotator.Config{Name: "x", Type: rotator.TypeMySQL, URL: "https://h"}, "for webhook rotators"},
		{rotator.Config{Name: "x", Type: rotator.TypePostgres, Timeout: -time.Second}, "timeout must be positive"},
		{rotator.Config{Name: "x", Type: rotator.TypeWebhook, URL: "http://example.com/", HMACSecret: hookSecret}, "http is allowed only to a loopback"},
		{rotator.Config{Name: "x", Type: rotator.TypeWebhook, URL: "ftp://example.com/", HMACSecret: hookSecret}, "must use https"},
		{rotator.Config{Name: "x", Type: rotator.TypeWebhook, URL: "https://u:p@example.com/", HMACSecret: hookSecret}, "without user information"},
		{rotator.Config{Name: "x", Type: rotator.TypeWebhook, URL: "/relative", HMACSecret: hookSecret}, "absolute"},
		{rotator.Config{Name: "x", Type: rotator.TypeWebhook, URL: "https://example.com/", HMACSecret: "short"}, "at least 16 bytes"},
		{rotator.Config{Name: "x", Type: rotator.TypeWebhook, URL: "https://example.com/", HMACSecret: hookSecret, Strategy: rotator.SingleUser}, "no strategy"},
	} {
		_, err := rotator.New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && tc.cfg.HMACSecret != "" && strings.Contains(err.Error(), tc.cfg.HMACSecret) {
			t.Errorf("error quotes the HMAC secret: %v", err)
		}
	}
	for _, cfg := range []rotator.Config{
		{Name: "a", Type: rotator.TypePostgres},
		{Name: "b", Type: rotator.TypeMySQL, Strategy: rotator.AlternatingUsers},
		{Name: "c", Type: rotator.TypeWebhook, URL: "https://rotate.example.com/hook", HMACSecret: hookSecret},
		{Name: "d", Type: rotator.TypeWebhook, URL: "http://127.0.0.1:8080/", HMACSecret: hookSecret},
		{Name: "e", Type: rotator.TypeWebhook, URL: "http://[::1]:8080/", HMACSecret: hookSecret},
		{Name: "f", Type: rotator.TypeWebhook, URL: "http://localhost:8080/", HMACSecret: hookSecret},
	} {
		if _, err := rotator.New(cfg); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}

func hmacHex(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}
