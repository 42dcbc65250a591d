package oidc

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// idp is a JWKS endpoint whose document, status and latency a test changes.
type idp struct {
	srv   *httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	body  []byte
	code  int
	delay time.Duration
}

func newIDP(t *testing.T, body []byte) *idp {
	p := &idp{body: body, code: http.StatusOK}
	p.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.hits.Add(1)
		p.mu.Lock()
		body, code, delay := p.body, p.code, p.delay
		p.mu.Unlock()
		time.Sleep(delay)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) serve(code int, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.code, p.body = code, body
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func urlVerifier(t *testing.T, p *idp, c *clock) *Verifier {
	t.Helper()
	v, err := New([]Issuer{{URL: testIssuer, Audiences: []string{testAud}, JWKSURL: p.srv.URL + "/keys"}},
		Options{Now: c.Now, HTTPClient: p.srv.Client(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// waitHits waits for a background fetch to reach the server.
func waitHits(t *testing.T, p *idp, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.hits.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("server hits = %d, want %d", p.hits.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	k := testKeys()
	c := &clock{now: t0}
	p := newIDP(t, jwks(t, map[string]any{"old": &k.ec.PublicKey}))
	v := urlVerifier(t, p, c)
	ctx := context.Background()

	if _, err := v.Verify(ctx, sign(t, jose.ES256, k.ec, "old", claims(nil))); err != nil {
		t.Fatalf("first token: %v", err)
	}
	// The provider rotates, but within minRefetch of the first fetch an
	// unknown kid must not cause another.
	p.serve(http.StatusOK, jwks(t, map[string]any{"old": &k.ec.PublicKey, "new": &k.rsa.PublicKey}))
	rotated := sign(t, jose.RS256, k.rsa, "new", claims(nil))
	for range 3 {
		if _, err := v.Verify(ctx, rotated); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "Couldn't retrieve verification key") {
			t.Fatalf("rotated token inside the rate limit: err = %v", err)
		}
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("fetches inside the rate limit = %d, want 1", n)
	}
	c.add(minRefetch)
	if _, err := v.Verify(ctx, rotated); err != nil {
		t.Fatalf("rotated token after the rate limit: %v", err)
	}
	if n := p.hits.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
	// A kid the provider never publishes costs at most one fetch per
	// minRefetch, however many tokens name it.
	bogus := sign(t, jose.RS256, k.rsa2, "bogus", claims(nil))
	c.add(minRefetch)
	for range 5 {
		if _, err := v.Verify(ctx, bogus); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("bogus kid: err = %v", err)
		}
	}
	if n := p.hits.Load(); n != 3 {
		t.Errorf("fetches after unknown kids = %d, want 3", n)
	}
	// A known kid with a bad signature is not a rotation: no fetch.
	c.add(minRefetch)
	if _, err := v.Verify(ctx, sign(t, jose.RS256, k.rsa2, "new", claims(nil))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("bad signature: %v", err)
	}
	if n := p.hits.Load(); n != 3 {
		t.Errorf("fetches after a bad signature = %d, want 3", n)
	}
}

func TestSingleFlight(t *testing.T) {
	t.Parallel()
	k := testKeys()
	c := &clock{now: t0}
	p := newIDP(t, jwks(t, map[string]any{"ec": &k.ec.PublicKey}))
	p.delay = 50 * time.Millisecond
	v := urlVerifier(t, p, c)
	tok := sign(t, jose.ES256, k.ec, "ec", claims(nil))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Verify: %v", err)
	}
	if n := p.hits.Load(); n != 1 {
		t.Errorf("fetches = %d, want 1", n)
	}
}

func TestPeriodicRefresh(t *testing.T) {
	t.Parallel()
	k := testKeys()
	c := &clock{now: t0}
	p := newIDP(t, jwks(t, map[string]any{"ec": &k.ec.PublicKey}))
	v := urlVerifier(t, p, c)
	ctx := context.Background()
	tok := func() string {
		return sign(t, jose.ES256, k.ec, "ec", claims(func(m map[string]any) {
			m["iat"], m["nbf"], m["exp"] = c.Now().Unix(), c.Now().Unix(), c.Now().Unix()+300
		}))
	}
	if _, err := v.Verify(ctx, tok()); err != nil {
		t.Fatal(err)
	}
	c.add(refreshAfter - time.Second)
	if _, err := v.Verify(ctx, tok()); err != nil {
		t.Fatal(err)
	}
	if n := p.hits.Load(); n != 1 {
		t.Fatalf("fetches before refreshAfter = %d, want 1", n)
	}
	// Due for refresh: the request is served from the cache and the
	// refresh happens behind it.
	c.add(time.Second)
	p.mu.Lock()
	p.delay = 100 * time.Millisecond
	p.mu.Unlock()
	start := time.Now()
	if _, err := v.Verify(ctx, tok()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= 100*time.Millisecond {
		t.Errorf("Verify waited %v for a periodic refresh", d)
	}
	waitHits(t, p, 2)
}

func TestProviderDown(t *testing.T) {
	t.Parallel()
	k := testKeys()
	ctx := context.Background()

	t.Run("no cache", func(t *testing.T) {
		t.Parallel()
		c := &clock{now: t0}
		p := newIDP(t, nil)
		p.serve(http.StatusServiceUnavailable, []byte("down"))
		v := urlVerifier(t, p, c)
		_, err := v.Verify(ctx, sign(t, jose.ES256, k.ec, "ec", claims(nil)))
		if !errors.Is(err, ErrIDPCommunication) {
			t.Fatalf("err = %v, want ErrIDPCommunication", err)
		}
		if strings.Contains(err.Error(), p.srv.URL) || strings.Contains(err.Error(), "503") {
			t.Errorf("message leaks fetch details: %q", err)
		}
		// Failures are rate limited too.
		v.Verify(ctx, sign(t, jose.ES256, k.ec, "ec", claims(nil)))
		if n := p.hits.Load(); n != 1 {
			t.Errorf("fetches = %d, want 1", n)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		c := &clock{now: t0}
		p := newIDP(t, nil)
		p.srv.Close()
		v := urlVerifier(t, p, c)
		if _, err := v.Verify(ctx, sign(t, jose.ES256, k.ec, "ec", claims(nil))); !errors.Is(err, ErrIDPCommunication) {
			t.Fatalf("err = %v, want ErrIDPCommunication", err)
		}
	})

	t.Run("oversized or invalid set", func(t *testing.T) {
		t.Parallel()
		for _, body := range [][]byte{
			[]byte(`{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`),
			[]byte(`{"keys":[]}`),
			[]byte(`<html>`),
		} {
			c := &clock{now: t0}
			p := newIDP(t, body)
			v := urlVerifier(t, p, c)
			if _, err := v.Verify(ctx, sign(t, jose.ES256, k.ec, "ec", claims(nil))); !errors.Is(err, ErrIDPCommunication) {
				t.Errorf("body %.20q…: err = %v, want ErrIDPCommunication", body, err)
			}
		}
	})

	t.Run("with cache", func(t *testing.T) {
		t.Parallel()
		c := &clock{now: t0}
		p := newIDP(t, jwks(t, map[string]any{"ec": &k.ec.PublicKey}))
		v := urlVerifier(t, p, c)
		tok := func() string {
			return sign(t, jose.ES256, k.ec, "ec", claims(func(m map[string]any) {
				m["iat"], m["nbf"], m["exp"] = c.Now().Unix(), c.Now().Unix(), c.Now().Unix()+300
			}))
		}
		if _, err := v.Verify(ctx, tok()); err != nil {
			t.Fatal(err)
		}
		p.serve(http.StatusInternalServerError, nil)
		c.add(refreshAfter)
		if _, err := v.Verify(ctx, tok()); err != nil {
			t.Fatalf("stale cache while the provider is down: %v", err)
		}
		waitHits(t, p, 2)
		// A forced refetch that fails still leaves the cached set in use.
		c.add(minRefetch)
		if _, err := v.Verify(ctx, sign(t, jose.ES256, k.ec, "unknown", claims(func(m map[string]any) {
			m["iat"], m["nbf"], m["exp"] = c.Now().Unix(), c.Now().Unix(), c.Now().Unix()+300
		}))); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("unknown kid with the provider down: err = %v, want ErrInvalidToken", err)
		}
		if _, err := v.Verify(ctx, tok()); err != nil {
			t.Fatalf("cache after a failed forced refetch: %v", err)
		}
		// Past maxStale the cache is no longer trusted.
		c.add(maxStale)
		if _, err := v.Verify(ctx, tok()); !errors.Is(err, ErrIDPCommunication) {
			t.Fatalf("after maxStale: err = %v, want ErrIDPCommunication", err)
		}
		// And the provider coming back heals it.
		p.serve(http.StatusOK, jwks(t, map[string]any{"ec": &k.ec.PublicKey}))
		c.add(minRefetch)
		if _, err := v.Verify(ctx, tok()); err != nil {
			t.Fatalf("provider back: %v", err)
		}
	})

	t.Run("caller gives up", func(t *testing.T) {
		t.Parallel()
		c := &clock{now: t0}
		p := newIDP(t, jwks(t, map[string]any{"ec": &k.ec.PublicKey}))
		p.delay = 200 * time.Millisecond
		v := urlVerifier(t, p, c)
		cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		tok := sign(t, jose.ES256, k.ec, "ec", claims(nil))
		if _, err := v.Verify(cctx, tok); !errors.Is(err, ErrIDPCommunication) {
			t.Fatalf("err = %v, want ErrIDPCommunication", err)
		}
		// The fetch carried on without the caller; the next caller joins it.
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("after the abandoned wait: %v", err)
		}
		if n := p.hits.Load(); n != 1 {
			t.Errorf("fetches = %d, want 1", n)
		}
	})
}
