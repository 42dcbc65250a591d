package rotator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Webhook request headers (docs/FORMATS.md, "Webhook rotator requests").
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256>" over
	// "<unix seconds>.<body>" keyed with the rotator's HMAC secret.
	SignatureHeader = "X-Arca-Signature"
	// StepHeader repeats the step, for routing without parsing the body.
	StepHeader = "X-Arca-Rotation-Step"
)

// minHMACSecret is the shortest HMAC secret New accepts, in bytes.
const minHMACSecret = 16

// WebhookEvent is the JSON body of a webhook call: the event an AWS Lambda
// rotation function receives.
type WebhookEvent struct {
	SecretID           string `json:"SecretId"`
	ClientRequestToken string `json:"ClientRequestToken"`
	Step               string `json:"Step"`
}

// webhook calls a user's HTTPS endpoint for each step. The endpoint does the
// step's work itself, calling Arca's Secrets Manager API with its own
// credentials, as a Lambda rotation function does.
type webhook struct {
	name   string
	url    string
	key    []byte
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
}

func newWebhook(cfg Config, timeout time.Duration) (*webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("rotator %q: webhook URL must be an absolute https:// URL without user information or fragment", cfg.Name)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopback(u.Hostname()) {
			return nil, fmt.Errorf("rotator %q: webhook URL must use https (http is allowed only to a loopback address)", cfg.Name)
		}
	default:
		return nil, fmt.Errorf("rotator %q: webhook URL must use https", cfg.Name)
	}
	if len(cfg.HMACSecret) < minHMACSecret {
		return nil, fmt.Errorf("rotator %q: webhook HMAC secret must be at least %d bytes", cfg.Name, minHMACSecret)
	}
	return &webhook{
		name: cfg.Name,
		url:  u.String(),
		key:  []byte(cfg.HMACSecret),
		client: &http.Client{
			Timeout: timeout,
			// A redirect could send the signed request elsewhere: treat it
			// as the endpoint's answer (not 2xx, so a failure).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		now: time.Now,
		log: cfg.Logger,
	}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sign returns the SignatureHeader value for body sent at t, keyed with
// secret: what a webhook endpoint recomputes to verify a call.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a SignatureHeader value against body and secret, and that
// its timestamp is within tolerance of now. Endpoints written in Go can use
// it; docs/FORMATS.md describes the same check for other languages.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
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
	if err != nil || sig == "" {
		return errors.New("rotator: malformed signature header")
	}
	t := time.Unix(sec, 0)
	if d := now.Sub(t); d > tolerance || d < -tolerance {
		return errors.New("rotator: signature timestamp outside tolerance")
	}
	want := Sign(secret, t, body)
	if !hmac.Equal([]byte(want[strings.Index(want, "v1=")+3:]), []byte(sig)) {
		return errors.New("rotator: signature mismatch")
	}
	return nil
}

func (w *webhook) Rotate(ctx context.Context, _ Secrets, req Request) error {
	body, err := json.Marshal(WebhookEvent(req))
	if err != nil {
		return err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("rotator %s: %w", w.name, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("User-Agent", "arca-rotation/1")
	hr.Header.Set(StepHeader, req.Step)
	hr.Header.Set(SignatureHeader, Sign(w.key, w.now(), body))
	w.log.Info("rotation step", "rotator", w.name, "secret", req.SecretID, "token", req.ClientRequestToken, "step", req.Step)
	resp, err := w.client.Do(hr)
	if err != nil {
		return fmt.Errorf("rotator %s: %s for secret %s: %w", w.name, req.Step, req.SecretID, err)
	}
	defer resp.Body.Close()
	// The body is not reported: the endpoint might echo a secret.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("rotator %s: %s for secret %s: webhook answered HTTP %d", w.name, req.Step, req.SecretID, resp.StatusCode)
	}
	return nil
}
