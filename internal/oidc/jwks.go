package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Key-set caching. The numbers follow common practice (API Gateway caches
// keys for up to an hour and refetches on an unknown kid); AWS does not
// document STS's.
const (
	// refreshAfter is the age at which a fetched set is refetched.
	refreshAfter = time.Hour
	// minRefetch bounds how often one issuer's set is fetched, whatever
	// triggers it: unknown kids cannot make Arca hammer the provider.
	minRefetch = 30 * time.Second
	// maxStale is how long a set stays usable while refetches fail.
	maxStale = 24 * time.Hour
	// fetchTimeout bounds one fetch, independently of any caller.
	fetchTimeout = 10 * time.Second
	// maxJWKSBytes caps a key-set document, file or response.
	maxJWKSBytes = 1 << 20
	// maxKeys caps the keys kept from one set: each unmatched key costs a
	// signature check per token without a kid.
	maxKeys = 100
)

// keySet is an immutable snapshot of an issuer's usable verification keys.
type keySet struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

// keySource hands out an issuer's key set: a fixed one from a file, or one
// fetched from a URL, cached, refreshed behind the requests that use it, and
// fetched by at most one goroutine at a time.
type keySource struct {
	issuer string
	url    string // "" for a file
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	mu          sync.Mutex
	set         *keySet       // last good set; nil before the first success
	lastAttempt time.Time     // start of the last fetch, successful or not
	inflight    chan struct{} // non-nil while a fetch runs; closed when it ends
}

func fileKeySource(path string, log *slog.Logger) (*keySource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jwks_file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks_file: %w", err)
	}
	keys, err := parseJWKS(data, log.With("jwks_file", path))
	if err != nil {
		return nil, fmt.Errorf("jwks_file %s: %w", path, err)
	}
	return &keySource{set: &keySet{keys: keys}}, nil
}

func urlKeySource(issuer, url string, client *http.Client, now func() time.Time, log *slog.Logger) *keySource {
	return &keySource{issuer: issuer, url: url, client: client, now: now, log: log.With("oidc_issuer", issuer, "jwks_url", url)}
}

// refreshable reports whether a forced get would fetch now.
func (s *keySource) refreshable() bool {
	if s.url == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight != nil || s.now().Sub(s.lastAttempt) >= minRefetch
}

// get returns the current key set. It fetches first when there is none, when
// the set is due for refresh, or when force is set (a token named a key the
// set lacks) — each only if the last attempt is minRefetch old — and waits for
// a fetch already running. A failed fetch leaves the previous set in use for
// up to maxStale.
func (s *keySource) get(ctx context.Context, force bool) (*keySet, error) {
	if s.url == "" {
		return s.set, nil
	}
	s.mu.Lock()
	now := s.now()
	wait := s.inflight
	due := s.set == nil || now.Sub(s.set.fetched) >= refreshAfter || force
	if wait == nil && due && now.Sub(s.lastAttempt) >= minRefetch {
		wait = make(chan struct{})
		s.inflight = wait
		s.lastAttempt = now
		go s.fetch(wait)
	}
	// A periodic refresh runs behind requests: a caller with a usable set
	// only waits when it asked for new keys.
	if wait != nil && !force && s.set != nil && now.Sub(s.set.fetched) <= maxStale {
		wait = nil
	}
	s.mu.Unlock()

	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fail(ErrIDPCommunication, "Gave up waiting for the identity provider's keys for %s", s.issuer)
		}
	}
	s.mu.Lock()
	set := s.set
	now = s.now()
	s.mu.Unlock()
	if set == nil || now.Sub(set.fetched) > maxStale {
		return nil, fail(ErrIDPCommunication, "Couldn't retrieve verification keys from the identity provider for %s", s.issuer)
	}
	return set, nil
}

// fetch downloads the set under its own timeout (a caller giving up must not
// abort the fetch others wait for) and installs it on success.
func (s *keySource) fetch(done chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	keys, err := s.download(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.log.Warn("oidc: fetching the key set failed; keeping the cached set if any", "err", err, "cached", s.set != nil)
	} else {
		s.set = &keySet{keys: keys, fetched: s.now()}
	}
	s.inflight = nil
	close(done)
}

func (s *keySource) download(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	return parseJWKS(data, s.log)
}

// parseJWKS keeps the set's public signature keys that Arca can use: RSA of
// at least 2048 bits, ECDSA on P-256/384/521, Ed25519. As RFC 7517 §5 asks,
// keys it cannot use are skipped, not fatal; a set with none is an error.
// Private or symmetric material is never kept.
func parseJWKS(data []byte, log *slog.Logger) ([]jose.JSONWebKey, error) {
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("key set larger than %d bytes", maxJWKSBytes)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("key set is not a JWKS document: %w", err)
	}
	var keys []jose.JSONWebKey
	for i, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			log.Debug("oidc: skipping a key", "index", i, "err", err)
			continue
		}
		pub := k.Public()
		if reason := unusable(pub); reason != "" {
			log.Debug("oidc: skipping a key", "index", i, "kid", k.KeyID, "reason", reason)
			continue
		}
		if len(keys) == maxKeys {
			log.Warn("oidc: key set has too many keys; ignoring the rest", "max", maxKeys)
			break
		}
		keys = append(keys, pub)
	}
	if len(keys) == 0 {
		return nil, errors.New("key set has no usable signature keys")
	}
	return keys, nil
}

func unusable(k jose.JSONWebKey) string {
	if !k.Valid() {
		return "not an asymmetric key"
	}
	if k.Use != "" && k.Use != "sig" {
		return "use is not sig"
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		if key.N.BitLen() < 2048 {
			return "RSA key shorter than 2048 bits"
		}
	case *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return "unsupported key type"
	}
	return ""
}
