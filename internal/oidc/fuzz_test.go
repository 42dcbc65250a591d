package oidc

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// fuzzKey is fixed so that the seed corpus holds tokens that really verify
// and the fuzzer mutates from accepted inputs, not only rejected ones.
var fuzzKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// FuzzVerify checks that no input panics, that every rejection carries
// exactly one of the package's error classes, and that an accepted token
// satisfies the invariants Verify promises.
func FuzzVerify(f *testing.F) {
	jwksFile := writeJWKS(f, jwks(f, map[string]any{"fuzz": fuzzKey.Public()}))
	v, err := New([]Issuer{{URL: testIssuer, Audiences: []string{testAud}, JWKSFile: jwksFile}},
		Options{Now: func() time.Time { return t0 }, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sign(f, jose.EdDSA, fuzzKey, "fuzz", claims(nil)))
	f.Add(sign(f, jose.EdDSA, fuzzKey, "", claims(func(c map[string]any) { c["aud"] = []string{"x", testAud}; c["azp"] = testAud })))
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := v.Verify(context.Background(), token)
		if err != nil {
			n := 0
			for _, kind := range []error{ErrInvalidToken, ErrExpiredToken, ErrRejectedClaim, ErrIDPCommunication} {
				if errors.Is(err, kind) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("error %v matches %d error classes", err, n)
			}
			return
		}
		if tok.Issuer != testIssuer || tok.Subject == "" || len(tok.Audience) == 0 || tok.ClientID != testAud {
			t.Fatalf("accepted token breaks an invariant: %+v", tok)
		}
		if !slices.Contains(tok.Audience, tok.ClientID) && tok.AuthorizedParty != tok.ClientID {
			t.Fatalf("client ID %q is neither an aud nor the azp", tok.ClientID)
		}
		if !t0.Before(tok.Expiry.Add(DefaultLeeway)) {
			t.Fatalf("accepted an expired token: exp %v", tok.Expiry)
		}
		if len(tok.ConditionKeys()) < 3 {
			t.Fatalf("condition keys missing: %v", tok.ConditionKeys())
		}
	})
}

// TestFuzzSeeds keeps the seed corpus meaningful: the valid_* seeds must be
// accepted (so the fuzzer starts from tokens that pass every check) and the
// others rejected.
func TestFuzzSeeds(t *testing.T) {
	t.Parallel()
	v, err := New([]Issuer{{URL: testIssuer, Audiences: []string{testAud}, JWKSFile: writeJWKS(t, jwks(t, map[string]any{"fuzz": fuzzKey.Public()}))}},
		Options{Now: func() time.Time { return t0 }, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzVerify", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		_, quoted, ok := strings.Cut(strings.TrimSpace(string(raw)), "\nstring(")
		token, uerr := strconv.Unquote(strings.TrimSuffix(quoted, ")"))
		if !ok || uerr != nil {
			t.Fatalf("%s: not a string seed", file)
		}
		_, err = v.Verify(context.Background(), token)
		if valid := strings.HasPrefix(filepath.Base(file), "valid_"); valid != (err == nil) {
			t.Errorf("%s: err = %v", filepath.Base(file), err)
		}
	}
}
