package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	testIssuer = "https://token.example.com/org"
	testAud    = "sts.amazonaws.com"
)

var t0 = time.Unix(1_800_000_000, 0).UTC()

// testKeys are generated once per test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
} {
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	r2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	e, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, d, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return struct {
		rsa, rsa2 *rsa.PrivateKey
		ec        *ecdsa.PrivateKey
		ed        ed25519.PrivateKey
	}{r, r2, e, d}
})

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// sign makes a compact JWS over claims; kid "" leaves the header out.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any, opts ...func(*jose.SignerOptions)) string {
	t.Helper()
	so := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		so = so.WithHeader("kid", kid)
	}
	for _, o := range opts {
		o(so)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, so)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// jwks renders public keys as a set, kid → key.
func jwks(t testing.TB, keys map[string]any) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for kid, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k, KeyID: kid, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func standardKeys(t testing.TB) map[string]any {
	k := testKeys()
	return map[string]any{"rsa": &k.rsa.PublicKey, "ec": &k.ec.PublicKey, "ed": k.ed.Public()}
}

func writeJWKS(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func claims(mod func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": testIssuer,
		"sub": "repo:arca-kms/arca:ref:refs/heads/main",
		"aud": testAud,
		"iat": t0.Unix() - 10,
		"nbf": t0.Unix() - 10,
		"exp": t0.Unix() + 300,
	}
	if mod != nil {
		mod(c)
	}
	return c
}

func fileVerifier(t testing.TB, is Issuer) *Verifier {
	t.Helper()
	if is.URL == "" {
		is.URL = testIssuer
	}
	if is.Audiences == nil {
		is.Audiences = []string{testAud, "other-client"}
	}
	if is.JWKSFile == "" {
		is.JWKSFile = writeJWKS(t, jwks(t, standardKeys(t)))
	}
	v, err := New([]Issuer{is}, Options{Now: func() time.Time { return t0 }, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	t.Parallel()
	k := testKeys()
	v := fileVerifier(t, Issuer{})
	esOnly := fileVerifier(t, Issuer{Algorithms: []string{"ES256"}})
	leeway := DefaultLeeway
	set := func(name string, val any) func(map[string]any) { return func(c map[string]any) { c[name] = val } }
	del := func(name string) func(map[string]any) { return func(c map[string]any) { delete(c, name) } }
	secs := func(d time.Duration) int64 { return t0.Add(d).Unix() }

	rsaDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	payload := func(c map[string]any) string {
		b, _ := json.Marshal(c)
		return b64(b)
	}

	tests := []struct {
		name  string
		v     *Verifier
		token string
		want  error  // nil: accepted
		msg   string // substring of the error message
	}{
		{"RS256", v, sign(t, jose.RS256, k.rsa, "rsa", claims(nil)), nil, ""},
		{"RS512", v, sign(t, jose.RS512, k.rsa, "rsa", claims(nil)), nil, ""},
		{"PS256", v, sign(t, jose.PS256, k.rsa, "rsa", claims(nil)), nil, ""},
		{"ES256", v, sign(t, jose.ES256, k.ec, "ec", claims(nil)), nil, ""},
		{"EdDSA", v, sign(t, jose.EdDSA, k.ed, "ed", claims(nil)), nil, ""},
		{"no kid tries every fitting key", v, sign(t, jose.ES256, k.ec, "", claims(nil)), nil, ""},
		{"aud list", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("aud", []string{"x", testAud}))), nil, ""},
		{"azp configured, aud not", v, sign(t, jose.RS256, k.rsa, "rsa", claims(func(c map[string]any) { c["aud"] = "backend"; c["azp"] = testAud })), nil, ""},
		{"no iat or nbf", v, sign(t, jose.RS256, k.rsa, "rsa", claims(func(c map[string]any) { delete(c, "iat"); delete(c, "nbf") })), nil, ""},
		{"fractional exp", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("exp", json.Number("1800000300.5")))), nil, ""},

		{"wrong issuer", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("iss", "https://evil.example.com"))), ErrInvalidToken, "No OpenIDConnect provider found in your account for https://evil.example.com"},
		{"issuer trailing slash differs", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("iss", testIssuer+"/"))), ErrInvalidToken, "No OpenIDConnect provider"},
		{"audience mismatch", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("aud", "someone-else"))), ErrInvalidToken, "Incorrect token audience"},
		{"azp not configured, aud not either", v, sign(t, jose.RS256, k.rsa, "rsa", claims(func(c map[string]any) { c["aud"] = "backend"; c["azp"] = "frontend" })), ErrInvalidToken, "Incorrect token audience"},

		{"expired", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("exp", secs(-leeway-time.Second)))), ErrExpiredToken, "Token expired: current date/time 1800000000 must be before the expiration date/time 1799999939"},
		{"expired at exactly exp+leeway", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("exp", secs(-leeway)))), ErrExpiredToken, "Token expired"},
		{"within leeway after exp", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("exp", secs(-leeway+time.Second)))), nil, ""},
		{"nbf beyond leeway", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("nbf", secs(leeway+time.Second)))), ErrRejectedClaim, "not valid yet"},
		{"nbf at leeway", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("nbf", secs(leeway)))), nil, ""},
		{"iat beyond leeway", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("iat", secs(leeway+time.Second)))), ErrRejectedClaim, "issued in the future"},

		{"alg none", v, b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload(claims(nil)) + ".", ErrInvalidToken, "asymmetric"},
		{"HS256 keyed with the RSA public key", v, sign(t, jose.HS256, rsaDER, "rsa", claims(nil)), ErrInvalidToken, "asymmetric"},
		{"HS256 keyed with the JWKS", v, sign(t, jose.HS256, jwks(t, standardKeys(t)), "", claims(nil)), ErrInvalidToken, "asymmetric"},
		{"alg not in provider's list", esOnly, sign(t, jose.RS256, k.rsa, "rsa", claims(nil)), ErrInvalidToken, "algorithm RS256 is not allowed"},
		{"kid names a key of another type", v, sign(t, jose.ES256, k.ec, "rsa", claims(nil)), ErrInvalidToken, "Couldn't retrieve verification key"},
		{"unknown kid", v, sign(t, jose.RS256, k.rsa, "nope", claims(nil)), ErrInvalidToken, "Couldn't retrieve verification key"},
		{"wrong key under a known kid", v, sign(t, jose.RS256, k.rsa2, "rsa", claims(nil)), ErrInvalidToken, "signature is not valid"},
		{"embedded jwk is ignored", v, sign(t, jose.RS256, k.rsa2, "", claims(nil), func(o *jose.SignerOptions) { o.EmbedJWK = true }), ErrInvalidToken, "signature is not valid"},
		{"tampered payload", v, func() string {
			p := strings.Split(sign(t, jose.RS256, k.rsa, "rsa", claims(nil)), ".")
			return p[0] + "." + payload(claims(set("sub", "admin"))) + "." + p[2]
		}(), ErrInvalidToken, "signature is not valid"},

		{"no sub", v, sign(t, jose.RS256, k.rsa, "rsa", claims(del("sub"))), ErrInvalidToken, "no sub claim"},
		{"no aud", v, sign(t, jose.RS256, k.rsa, "rsa", claims(del("aud"))), ErrInvalidToken, "no aud claim"},
		{"aud is a number", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("aud", 7))), ErrInvalidToken, "no aud claim"},
		{"empty aud list", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("aud", []string{}))), ErrInvalidToken, "no aud claim"},
		{"azp not a string", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("azp", 1))), ErrInvalidToken, "azp"},
		{"no exp", v, sign(t, jose.RS256, k.rsa, "rsa", claims(del("exp"))), ErrInvalidToken, "no exp claim"},
		{"exp is a string", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("exp", "tomorrow"))), ErrInvalidToken, "exp claim is not a NumericDate"},
		{"exp is huge", v, sign(t, jose.RS256, k.rsa, "rsa", claims(set("exp", 1e300))), ErrInvalidToken, "NumericDate"},
		{"no iss", v, sign(t, jose.RS256, k.rsa, "rsa", claims(del("iss"))), ErrInvalidToken, "no iss claim"},

		{"oversized", v, strings.Repeat("a", MaxTokenLength+1), ErrInvalidToken, "longer than 20000"},
		{"garbage", v, "not a token", ErrInvalidToken, "compact serialization"},
		{"empty", v, "", ErrInvalidToken, "compact serialization"},
		{"JSON serialization", v, `{"payload":"e30","signatures":[]}`, ErrInvalidToken, "compact serialization"},
		{"payload not an object", v, sign(t, jose.RS256, k.rsa, "rsa", nil), ErrInvalidToken, "not a JSON object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tok, err := tc.v.Verify(context.Background(), tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if tok.Issuer != testIssuer || tok.ProviderKey != "token.example.com/org" || tok.ClientID != testAud {
					t.Errorf("token = %+v", tok)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			for _, other := range []error{ErrInvalidToken, ErrExpiredToken, ErrRejectedClaim, ErrIDPCommunication} {
				if other != tc.want && errors.Is(err, other) {
					t.Errorf("err %v also matches %v", err, other)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q, want it to contain %q", err, tc.msg)
			}
			if parts := strings.Split(tc.token, "."); len(parts) == 3 && len(parts[1]) > 20 && strings.Contains(err.Error(), parts[1]) {
				t.Errorf("message echoes the token: %q", err)
			}
		})
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	k := testKeys()
	v := fileVerifier(t, Issuer{})
	c := claims(func(c map[string]any) {
		c["aud"] = []string{"backend", testAud}
		c["amr"] = []string{"authenticated", "accounts.google.com"}
		c["email"] = "dev@example.com"
		c["https://aws.amazon.com/tags"] = map[string]any{"principal_tags": map[string]any{"team": []string{"kms"}}}
	})
	tok, err := v.Verify(context.Background(), sign(t, jose.ES256, k.ec, "ec", c))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Subject != c["sub"] || !reflect.DeepEqual(tok.Audience, []string{"backend", testAud}) || tok.ClientID != testAud {
		t.Errorf("token = %+v", tok)
	}
	if !tok.Expiry.Equal(t0.Add(300*time.Second)) || !tok.IssuedAt.Equal(t0.Add(-10*time.Second)) || !tok.NotBefore.Equal(tok.IssuedAt) {
		t.Errorf("times: iat %v nbf %v exp %v", tok.IssuedAt, tok.NotBefore, tok.Expiry)
	}
	if _, ok := tok.Claims["https://aws.amazon.com/tags"].(map[string]any); !ok {
		t.Errorf("session-tag claim missing from Claims: %v", tok.Claims)
	}
	want := map[string][]string{
		"token.example.com/org:aud":   {"backend", testAud},
		"token.example.com/org:oaud":  {"backend", testAud},
		"token.example.com/org:sub":   {"repo:arca-kms/arca:ref:refs/heads/main"},
		"token.example.com/org:amr":   {"authenticated", "accounts.google.com"},
		"token.example.com/org:email": {"dev@example.com"},
	}
	if got := tok.ConditionKeys(); !reflect.DeepEqual(got, want) {
		t.Errorf("ConditionKeys = %v, want %v", got, want)
	}

	// With azp, :aud is azp and :oaud keeps aud (AWS's Google mapping).
	tok, err = v.Verify(context.Background(), sign(t, jose.ES256, k.ec, "ec", claims(func(c map[string]any) {
		c["aud"] = "backend"
		c["azp"] = testAud
		c["amr"] = "unauthenticated"
	})))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string][]string{
		"token.example.com/org:aud":  {testAud},
		"token.example.com/org:oaud": {"backend"},
		"token.example.com/org:sub":  {"repo:arca-kms/arca:ref:refs/heads/main"},
		"token.example.com/org:amr":  {"unauthenticated"},
	}
	if got := tok.ConditionKeys(); !reflect.DeepEqual(got, want) {
		t.Errorf("ConditionKeys with azp = %v, want %v", got, want)
	}
	if tok.AuthorizedParty != testAud || tok.ClientID != testAud {
		t.Errorf("azp %q client %q", tok.AuthorizedParty, tok.ClientID)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	good := writeJWKS(t, jwks(t, standardKeys(t)))
	k := testKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	onlyBad := writeJWKS(t, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`))
	onlySmall := writeJWKS(t, jwks(t, map[string]any{"s": &small.PublicKey}))
	ecJWK, err := json.Marshal(jose.JSONWebKey{Key: &k.ec.PublicKey, KeyID: "ec"})
	if err != nil {
		t.Fatal(err)
	}
	mixed := writeJWKS(t, []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"},{"kty":"XYZ"},{"kty":"EC","use":"enc"},`+string(ecJWK)+`]}`))
	base := func(mod func(*Issuer)) []Issuer {
		is := Issuer{URL: testIssuer, Audiences: []string{testAud}, JWKSFile: good}
		mod(&is)
		return []Issuer{is}
	}
	tests := []struct {
		name    string
		issuers []Issuer
		want    string // "" = valid
	}{
		{"file", base(func(*Issuer) {}), ""},
		{"url", base(func(i *Issuer) { i.JWKSFile = ""; i.JWKSURL = "https://idp.example.com/keys" }), ""},
		{"loopback http url", base(func(i *Issuer) { i.JWKSFile = ""; i.JWKSURL = "http://127.0.0.1:8080/keys" }), ""},
		{"skips unusable keys", base(func(i *Issuer) { i.JWKSFile = mixed }), ""},
		{"algorithms", base(func(i *Issuer) { i.Algorithms = []string{"ES256", "EdDSA", "ES256"} }), ""},
		{"none", nil, ""},

		{"http issuer", base(func(i *Issuer) { i.URL = "http://token.example.com" }), "must begin with https://"},
		{"issuer with query", base(func(i *Issuer) { i.URL = "https://token.example.com/?x=1" }), "without credentials, query or fragment"},
		{"issuer without host", base(func(i *Issuer) { i.URL = "https:///path" }), "without credentials"},
		{"issuer too long", base(func(i *Issuer) { i.URL = "https://" + strings.Repeat("a", 250) }), "longer than 255"},
		{"no audiences", base(func(i *Issuer) { i.Audiences = nil }), "want 1 to 100 audiences"},
		{"empty audience", base(func(i *Issuer) { i.Audiences = []string{""} }), "audience"},
		{"both jwks", base(func(i *Issuer) { i.JWKSURL = "https://idp.example.com/keys" }), "exactly one of jwks_file and jwks_url"},
		{"no jwks", base(func(i *Issuer) { i.JWKSFile = "" }), "exactly one of jwks_file and jwks_url"},
		{"http jwks url", base(func(i *Issuer) { i.JWKSFile = ""; i.JWKSURL = "http://idp.example.com/keys" }), "http:// only for a loopback host"},
		{"HS256", base(func(i *Issuer) { i.Algorithms = []string{"HS256"} }), `algorithm "HS256" is not allowed`},
		{"alg none", base(func(i *Issuer) { i.Algorithms = []string{"none"} }), `algorithm "none" is not allowed`},
		{"missing file", base(func(i *Issuer) { i.JWKSFile = "/nonexistent/jwks.json" }), "no such file"},
		{"no usable key", base(func(i *Issuer) { i.JWKSFile = onlyBad }), "no usable signature keys"},
		{"short RSA key", base(func(i *Issuer) { i.JWKSFile = onlySmall }), "no usable signature keys"},
		{"not a JWKS", base(func(i *Issuer) { i.JWKSFile = writeJWKS(t, []byte("[1,2]")) }), "not a JWKS document"},
		{"duplicate issuer", append(base(func(*Issuer) {}), base(func(*Issuer) {})...), "configured twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.issuers, Options{Logger: quiet})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("New: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("New err = %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(nil, Options{Leeway: -time.Second}); err == nil {
		t.Error("negative leeway accepted")
	}
}
