// Package oidc verifies OpenID Connect web-identity tokens (JWTs) for STS
// AssumeRoleWithWebIdentity: the signature against the issuer's JSON Web Key
// Set, the issuer, the audience, the validity window and the algorithm
// allow-list, with AWS's limits and error classes. A verified Token carries
// the claims and the policy condition keys AWS derives from them
// ("host/path:sub", "host/path:aud", …); deciding whether a role trusts the
// token is the STS layer's job.
//
// JWS and JWK parsing is go-jose's; this package adds the policy around it.
// It imports the standard library and go-jose, and nothing of Arca's.
package oidc

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// MaxTokenLength is the longest WebIdentityToken AWS accepts (the API's
// length constraint is 4 to 20000 characters).
const MaxTokenLength = 20000

// DefaultLeeway is the clock skew tolerated on exp, nbf and iat when
// Options.Leeway is zero. AWS does not document its tolerance; a minute
// absorbs ordinary NTP drift without stretching short-lived tokens much.
const DefaultLeeway = time.Minute

// Limits taken from IAM's CreateOpenIDConnectProvider: a provider URL of at
// most 255 characters and at most 100 client IDs (audiences) of at most 255.
const (
	maxURLLength      = 255
	maxAudiences      = 100
	maxAudienceLength = 255
)

// The errors Verify returns wrap exactly one of these; the STS layer maps them
// to AWS's error codes. The wrapping error's message is safe to send to the
// client: it never contains the token or anything fetched from the network.
var (
	// ErrInvalidToken maps to InvalidIdentityToken: malformed, unsigned or
	// badly signed, unknown issuer, wrong audience, forbidden algorithm,
	// missing or mistyped claims, no verification key.
	ErrInvalidToken = errors.New("oidc: invalid identity token")
	// ErrExpiredToken maps to ExpiredToken: exp has passed (beyond leeway).
	ErrExpiredToken = errors.New("oidc: identity token expired")
	// ErrRejectedClaim maps to IDPRejectedClaim: the token is well formed
	// and signed but a claim says it is not valid yet (nbf or iat in the
	// future beyond leeway).
	ErrRejectedClaim = errors.New("oidc: identity token claim rejected")
	// ErrIDPCommunication maps to IDPCommunicationError: the issuer's key
	// set could not be fetched and no usable cached copy exists.
	ErrIDPCommunication = errors.New("oidc: identity provider unreachable")
)

// verifyError is a client-safe message classified by one of the sentinels.
type verifyError struct {
	kind error
	msg  string
}

func (e *verifyError) Error() string { return e.msg }
func (e *verifyError) Unwrap() error { return e.kind }

func fail(kind error, format string, args ...any) error {
	return &verifyError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Issuer is one trusted OIDC identity provider, as the operator configures it
// (AWS: an IAM OIDC identity provider).
type Issuer struct {
	// URL is the issuer identifier, compared byte for byte with the token's
	// iss claim. It must start with https:// (AWS's rule); a trailing slash
	// is significant.
	URL string
	// Audiences are the accepted client IDs (AWS's ClientIDList): the token
	// is accepted when its azp, or one of its aud values, is listed.
	Audiences []string
	// JWKSFile is a JSON Web Key Set file, read once by New (a changed file
	// takes effect at restart). Exactly one of JWKSFile and JWKSURL is set.
	JWKSFile string
	// JWKSURL is fetched over HTTPS (plain HTTP only to a loopback host),
	// cached, and refetched hourly and when a token names an unknown kid.
	JWKSURL string
	// Algorithms restricts the accepted JWS algorithms; empty means all of
	// RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA. "none" and the
	// HMAC algorithms are never accepted.
	Algorithms []string
}

// Options are the verifier's dependencies; the zero value is usable.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// HTTPClient fetches JWKS URLs; when nil, a client with a 10 s timeout
	// that follows at most 5 redirects and none to plain HTTP.
	HTTPClient *http.Client
	// Leeway is the tolerated clock skew; DefaultLeeway when zero.
	Leeway time.Duration
	// Logger receives key-set fetch failures and skipped keys (never
	// tokens); slog.Default() when nil.
	Logger *slog.Logger
}

// supported is the default and maximal algorithm allow-list: asymmetric
// signatures only, so neither "none" nor an HMAC keyed with a public key (the
// classic algorithm-confusion attack) can ever verify.
var supported = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// Verifier checks tokens against the configured issuers. It is safe for
// concurrent use.
type Verifier struct {
	issuers map[string]*issuer // by exact URL
	now     func() time.Time
	leeway  time.Duration
}

type issuer struct {
	url         string
	providerKey string
	audiences   []string
	algs        []jose.SignatureAlgorithm
	keys        *keySource
}

// New validates the issuers and returns a verifier. Key-set files are loaded
// now, so a broken file fails startup; key-set URLs are fetched on first use,
// so an unreachable provider does not.
func New(issuers []Issuer, opts Options) (*Verifier, error) {
	v := &Verifier{issuers: make(map[string]*issuer, len(issuers)), now: opts.Now, leeway: opts.Leeway}
	if v.now == nil {
		v.now = time.Now
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.leeway < 0 {
		return nil, fmt.Errorf("oidc: leeway %v is negative", v.leeway)
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: fetchTimeout, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// A redirect must not downgrade the key set's transport.
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return checkJWKSURL(req.URL.String())
		}}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	var errs []error
	for i, c := range issuers {
		is, err := newIssuer(c, client, v.now, log)
		if err != nil {
			errs = append(errs, fmt.Errorf("oidc: provider %d (%q): %w", i+1, c.URL, err))
			continue
		}
		if _, dup := v.issuers[is.url]; dup {
			errs = append(errs, fmt.Errorf("oidc: provider %d: %q is configured twice", i+1, c.URL))
			continue
		}
		v.issuers[is.url] = is
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return v, nil
}

func newIssuer(c Issuer, client *http.Client, now func() time.Time, log *slog.Logger) (*issuer, error) {
	key, err := checkIssuerURL(c.URL)
	if err != nil {
		return nil, err
	}
	is := &issuer{url: c.URL, providerKey: key}
	if len(c.Audiences) == 0 || len(c.Audiences) > maxAudiences {
		return nil, fmt.Errorf("want 1 to %d audiences (client IDs), got %d", maxAudiences, len(c.Audiences))
	}
	for _, a := range c.Audiences {
		if a == "" || len(a) > maxAudienceLength {
			return nil, fmt.Errorf("audience %q: want 1 to %d characters", a, maxAudienceLength)
		}
	}
	is.audiences = slices.Clone(c.Audiences)
	if len(c.Algorithms) == 0 {
		is.algs = supported
	}
	for _, a := range c.Algorithms {
		alg := jose.SignatureAlgorithm(a)
		if !slices.Contains(supported, alg) {
			return nil, fmt.Errorf("algorithm %q is not allowed: want one of %s", a, algList(supported))
		}
		if !slices.Contains(is.algs, alg) {
			is.algs = append(is.algs, alg)
		}
	}
	switch {
	case (c.JWKSFile == "") == (c.JWKSURL == ""):
		return nil, errors.New("set exactly one of jwks_file and jwks_url")
	case c.JWKSFile != "":
		is.keys, err = fileKeySource(c.JWKSFile, log)
	default:
		if err = checkJWKSURL(c.JWKSURL); err == nil {
			is.keys = urlKeySource(c.URL, c.JWKSURL, client, now, log)
		}
	}
	if err != nil {
		return nil, err
	}
	return is, nil
}

// checkIssuerURL applies IAM's provider-URL rules and returns the provider
// key: the URL without "https://", which prefixes the condition keys and names
// the provider in its ARN (arn:aws:iam::ACCOUNT:oidc-provider/KEY).
func checkIssuerURL(s string) (string, error) {
	if len(s) > maxURLLength {
		return "", fmt.Errorf("url: longer than %d characters", maxURLLength)
	}
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		return "", errors.New("url: must begin with https://")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#") {
		return "", errors.New("url: want https://host[/path] without credentials, query or fragment")
	}
	return rest, nil
}

func checkJWKSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("jwks_url %q: not an absolute URL", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
	}
	return fmt.Errorf("jwks_url %q: want https:// (http:// only for a loopback host)", s)
}

func algList(algs []jose.SignatureAlgorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// Token is a verified web-identity token.
type Token struct {
	// Issuer is the configured issuer URL, equal to the iss claim (the
	// Provider element of AssumeRoleWithWebIdentity's response).
	Issuer string
	// ProviderKey is Issuer without "https://": the prefix of the condition
	// keys and the name in the provider's ARN.
	ProviderKey string
	// Subject is the sub claim (SubjectFromWebIdentityToken).
	Subject string
	// Audience is the aud claim, always as a list.
	Audience []string
	// AuthorizedParty is the azp claim, or "".
	AuthorizedParty string
	// ClientID is the configured audience that admitted the token: azp when
	// it is configured, otherwise the first configured aud value. It is the
	// Audience element of AssumeRoleWithWebIdentity's response.
	ClientID string
	// IssuedAt and NotBefore are zero when the claim is absent.
	IssuedAt, NotBefore, Expiry time.Time
	// Claims holds every claim of the payload, for condition keys and
	// session tags. Numbers are json.Number.
	Claims map[string]any
}

// ConditionKeys returns the policy condition keys AWS sets for a web-identity
// request, each as a list of values (IAM condition keys can be multivalued):
//
//   - KEY:aud  — azp when present, otherwise the aud values (AWS documents
//     this mapping for accounts.google.com:aud; Arca applies it to every
//     provider so that a role trusts the party the token was issued to);
//   - KEY:oaud — the aud values;
//   - KEY:sub  — sub;
//   - KEY:amr  — amr, when it is a string or a list of strings;
//   - KEY:email — email, when it is a string.
//
// KEY is ProviderKey. Other claims give no condition keys, as in AWS.
func (t *Token) ConditionKeys() map[string][]string {
	p := t.ProviderKey + ":"
	m := map[string][]string{
		p + "oaud": slices.Clone(t.Audience),
		p + "sub":  {t.Subject},
	}
	if t.AuthorizedParty != "" {
		m[p+"aud"] = []string{t.AuthorizedParty}
	} else {
		m[p+"aud"] = slices.Clone(t.Audience)
	}
	if amr, ok := stringList(t.Claims["amr"]); ok {
		m[p+"amr"] = amr
	}
	if email, ok := t.Claims["email"].(string); ok {
		m[p+"email"] = []string{email}
	}
	return m
}

// Verify checks token and returns its claims. Every error wraps one of
// ErrInvalidToken, ErrExpiredToken, ErrRejectedClaim or ErrIDPCommunication,
// and its message is safe to return to the caller.
func (v *Verifier) Verify(ctx context.Context, token string) (*Token, error) {
	if len(token) > MaxTokenLength {
		return nil, fail(ErrInvalidToken, "The web identity token is longer than %d characters", MaxTokenLength)
	}
	// The issuer (and so the algorithm allow-list and the keys) is named
	// inside the payload, so the token is parsed against the union of all
	// allowed algorithms, the issuer read unverified, and everything
	// checked again once the signature holds.
	jws, err := jose.ParseSignedCompact(token, supported)
	if err != nil {
		return nil, fail(ErrInvalidToken, "The web identity token is not a signed JWT in compact serialization with an asymmetric algorithm (%s)", algList(supported))
	}
	unverified, err := decodeClaims(jws.UnsafePayloadWithoutVerification())
	if err != nil {
		return nil, err
	}
	iss, ok := unverified["iss"].(string)
	if !ok || iss == "" {
		return nil, fail(ErrInvalidToken, "The web identity token has no iss claim")
	}
	is := v.issuers[iss]
	if is == nil {
		return nil, fail(ErrInvalidToken, "No OpenIDConnect provider found in your account for %s", clip(iss))
	}
	hdr := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(hdr.Algorithm)
	if !slices.Contains(is.algs, alg) {
		return nil, fail(ErrInvalidToken, "The web identity token's algorithm %s is not allowed for %s (allowed: %s)", alg, is.url, algList(is.algs))
	}
	payload, err := v.verifySignature(ctx, is, jws, hdr.KeyID, alg)
	if err != nil {
		return nil, err
	}
	claims, err := decodeClaims(payload)
	if err != nil {
		return nil, err
	}
	return v.checkClaims(is, claims)
}

// verifySignature tries the keys that fit kid and alg. When none matched
// (rather than a matching key rejecting the signature), the issuer may have
// rotated its keys, so the key set is refetched once, within its rate limit.
func (v *Verifier) verifySignature(ctx context.Context, is *issuer, jws *jose.JSONWebSignature, kid string, alg jose.SignatureAlgorithm) ([]byte, error) {
	for attempt := 0; attempt < 2; attempt++ {
		set, err := is.keys.get(ctx, attempt == 1)
		if err != nil {
			return nil, err
		}
		matched := false
		for _, k := range set.keys {
			if (kid != "" && k.KeyID != kid) || !keyFits(k, alg) {
				continue
			}
			matched = true
			if payload, err := jws.Verify(k); err == nil {
				return payload, nil
			}
		}
		if matched {
			return nil, fail(ErrInvalidToken, "The web identity token's signature is not valid")
		}
		if !is.keys.refreshable() {
			break
		}
	}
	return nil, fail(ErrInvalidToken, "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements")
}

// keyFits reports whether k can verify alg: the right key type and curve, and
// the JWK's own alg, when it names one.
func keyFits(k jose.JSONWebKey, alg jose.SignatureAlgorithm) bool {
	if k.Algorithm != "" && k.Algorithm != string(alg) {
		return false
	}
	switch key := k.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(string(alg), "RS") || strings.HasPrefix(string(alg), "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case jose.ES256:
			return key.Curve == elliptic.P256()
		case jose.ES384:
			return key.Curve == elliptic.P384()
		case jose.ES512:
			return key.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == jose.EdDSA
	}
	return false
}

// decodeClaims parses a JWT payload: one JSON object, numbers kept exact.
func decodeClaims(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var claims map[string]any
	if err := dec.Decode(&claims); err != nil || claims == nil || dec.More() {
		return nil, fail(ErrInvalidToken, "The web identity token's payload is not a JSON object")
	}
	return claims, nil
}

func (v *Verifier) checkClaims(is *issuer, claims map[string]any) (*Token, error) {
	t := &Token{Issuer: is.url, ProviderKey: is.providerKey, Claims: claims}
	if iss, _ := claims["iss"].(string); iss != is.url {
		return nil, fail(ErrInvalidToken, "The web identity token's iss claim does not match its provider")
	}
	var ok bool
	if t.Subject, ok = claims["sub"].(string); !ok || t.Subject == "" {
		return nil, fail(ErrInvalidToken, "The web identity token has no sub claim")
	}
	if t.Audience, ok = stringList(claims["aud"]); !ok || len(t.Audience) == 0 {
		return nil, fail(ErrInvalidToken, "The web identity token has no aud claim (a string or a list of strings)")
	}
	if azp, present := claims["azp"]; present {
		if t.AuthorizedParty, ok = azp.(string); !ok {
			return nil, fail(ErrInvalidToken, "The web identity token's azp claim is not a string")
		}
	}
	var err error
	if t.Expiry, ok, err = numericDate(claims, "exp"); err != nil {
		return nil, err
	} else if !ok {
		return nil, fail(ErrInvalidToken, "The web identity token has no exp claim")
	}
	if t.NotBefore, _, err = numericDate(claims, "nbf"); err != nil {
		return nil, err
	}
	if t.IssuedAt, _, err = numericDate(claims, "iat"); err != nil {
		return nil, err
	}

	now := v.now()
	if !now.Before(t.Expiry.Add(v.leeway)) {
		return nil, fail(ErrExpiredToken, "Token expired: current date/time %d must be before the expiration date/time %d", now.Unix(), t.Expiry.Unix())
	}
	if !t.NotBefore.IsZero() && now.Add(v.leeway).Before(t.NotBefore) {
		return nil, fail(ErrRejectedClaim, "Token is not valid yet: current date/time %d is before the not-before date/time %d", now.Unix(), t.NotBefore.Unix())
	}
	if !t.IssuedAt.IsZero() && now.Add(v.leeway).Before(t.IssuedAt) {
		return nil, fail(ErrRejectedClaim, "Token issued in the future: current date/time %d is before the issued-at date/time %d", now.Unix(), t.IssuedAt.Unix())
	}

	switch {
	case t.AuthorizedParty != "" && slices.Contains(is.audiences, t.AuthorizedParty):
		t.ClientID = t.AuthorizedParty
	default:
		for _, a := range t.Audience {
			if slices.Contains(is.audiences, a) {
				t.ClientID = a
				break
			}
		}
	}
	if t.ClientID == "" {
		return nil, fail(ErrInvalidToken, "Incorrect token audience")
	}
	return t, nil
}

// numericDate reads an RFC 7519 NumericDate (seconds, possibly fractional).
func numericDate(claims map[string]any, name string) (time.Time, bool, error) {
	raw, present := claims[name]
	if !present {
		return time.Time{}, false, nil
	}
	n, ok := raw.(json.Number)
	var f float64
	var err error
	if ok {
		f, err = strconv.ParseFloat(string(n), 64)
	}
	// 253402300799 is 9999-12-31T23:59:59Z: beyond it time arithmetic and
	// the wire formats stop being meaningful.
	if !ok || err != nil || math.IsNaN(f) || f < 0 || f > 253402300799 {
		return time.Time{}, false, fail(ErrInvalidToken, "The web identity token's %s claim is not a NumericDate", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true, nil
}

// stringList accepts a string or a non-empty list of strings.
func stringList(v any) ([]string, bool) {
	switch v := v.(type) {
	case string:
		return []string{v}, true
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, false
			}
			out = append(out, s)
		}
		return out, len(out) > 0
	}
	return nil, false
}

// clip bounds a token-supplied string echoed in a message.
func clip(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
