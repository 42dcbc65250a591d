// Package sigv4 verifies AWS Signature Version 4 on incoming requests
// (Authorization header and presigned query forms) and signs outgoing ones
// cheaply for Arca's own tools. There is no library for the server side of
// SigV4, so this follows AWS's specification and is tested against AWS's
// published test suite (testdata/aws-sig-v4-test-suite) and against
// requests signed by aws-sdk-go-v2.
//
// Errors are *svcerr.Error with AWS's codes and messages; they never carry
// the secret or the signature Arca computed. It imports only svcerr.
package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/svcerr"
)

// KeyLookup resolves an access key ID to its secret.
type KeyLookup interface {
	// LookupSecret returns the secret access key for id, or an error
	// wrapping ErrUnknownAccessKey when there is no such active key.
	LookupSecret(ctx context.Context, accessKeyID string) (secret []byte, err error)
}

// ErrUnknownAccessKey is what KeyLookup returns for an unknown access key.
var ErrUnknownAccessKey = errors.New("sigv4: unknown access key")

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

const (
	timeFormat      = "20060102T150405Z"
	dateFormat      = "20060102"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	maxPresignedTTL = 7 * 24 * time.Hour
	msgMismatch     = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgUnknownKey   = "The security token included in the request is invalid."
)

// Options tune a Verifier.
type Options struct {
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// MaxSkew is the allowed clock difference (15 minutes by default, as AWS).
	MaxSkew time.Duration
}

// Verifier checks SigV4 signatures. It is safe for concurrent use.
type Verifier struct {
	lookup  KeyLookup
	now     func() time.Time
	maxSkew time.Duration
	cache   keyCache
}

// NewVerifier returns a Verifier that finds secrets through lookup.
func NewVerifier(lookup KeyLookup, opts Options) *Verifier {
	v := &Verifier{lookup: lookup, now: opts.Now, maxSkew: opts.MaxSkew}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxSkew == 0 {
		v.maxSkew = 15 * time.Minute
	}
	return v
}

// Result is what a verified signature proves.
type Result struct {
	AccessKeyID string
	// Region and Service are the credential scope's.
	Region  string
	Service string
	// SessionToken is X-Amz-Security-Token, if any; the caller validates it.
	SessionToken string
	SignedAt     time.Time
}

// signed is a parsed signature, from either form.
type signed struct {
	akid, date, region, service string
	signedHeaders               []string
	signature                   string
	amzDate                     string
	presigned                   bool
	expires                     time.Duration
	token                       string
}

func incomplete(format string, args ...any) error {
	return svcerr.New(svcerr.IncompleteSignature, format, args...)
}

func invalid(format string, args ...any) error {
	return svcerr.New(svcerr.InvalidSignature, format, args...)
}

// Verify checks the signature of r, whose body has already been read into
// body (r.Body is not touched). Failures are *svcerr.Error.
func (v *Verifier) Verify(r *http.Request, body []byte) (*Result, error) {
	s, err := parse(r)
	if err != nil {
		return nil, err
	}
	t, err := time.Parse(timeFormat, s.amzDate)
	if err != nil {
		return nil, incomplete("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s.amzDate)
	}
	if s.date != s.amzDate[:8] {
		return nil, invalid("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", s.date, s.amzDate[:8], s.amzDate)
	}
	now := v.now().UTC()
	if s.presigned {
		if now.After(t.Add(s.expires)) {
			return nil, invalid("Signature expired: %s is now earlier than %s (%s + %s.)", t.Add(s.expires).Format(timeFormat), now.Format(timeFormat), s.amzDate, s.expires)
		}
		if t.After(now.Add(v.maxSkew)) {
			return nil, invalid("Signature not yet current: %s is still later than %s (%s + 15 min.)", s.amzDate, now.Add(v.maxSkew).Format(timeFormat), now.Format(timeFormat))
		}
	} else {
		if t.Before(now.Add(-v.maxSkew)) {
			return nil, invalid("Signature expired: %s is now earlier than %s (%s - 15 min.)", s.amzDate, now.Add(-v.maxSkew).Format(timeFormat), now.Format(timeFormat))
		}
		if t.After(now.Add(v.maxSkew)) {
			return nil, invalid("Signature not yet current: %s is still later than %s (%s + 15 min.)", s.amzDate, now.Add(v.maxSkew).Format(timeFormat), now.Format(timeFormat))
		}
	}
	payload, err := payloadHash(r, body, s.presigned)
	if err != nil {
		return nil, err
	}
	secret, err := v.lookup.LookupSecret(r.Context(), s.akid)
	if errors.Is(err, ErrUnknownAccessKey) {
		return nil, svcerr.New(svcerr.UnrecognizedClient, msgUnknownKey)
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	creq := CanonicalRequest(r, s.signedHeaders, payload, s.presigned)
	sts := StringToSign(s.amzDate, scope(s.date, s.region, s.service), creq)
	key := v.cache.get(s.akid, secret, s.date, s.region, s.service)
	want := hex.EncodeToString(hmacSHA256(key, sts))
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(s.signature))) != 1 {
		return nil, invalid(msgMismatch)
	}
	return &Result{AccessKeyID: s.akid, Region: s.region, Service: s.service, SessionToken: s.token, SignedAt: t}, nil
}

func parse(r *http.Request) (*signed, error) {
	if authz := r.Header.Get("Authorization"); authz != "" {
		return parseHeader(r, authz)
	}
	q := r.URL.Query()
	if q.Has("X-Amz-Algorithm") || q.Has("X-Amz-Signature") || q.Has("X-Amz-Credential") {
		return parsePresigned(q)
	}
	return nil, svcerr.New(svcerr.MissingAuthToken, "Missing Authentication Token")
}

func parseHeader(r *http.Request, authz string) (*signed, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(authz), " ")
	if alg != Algorithm {
		return nil, incomplete("Unsupported AWS 'algorithm': '%s'. Only %s is supported.", alg, Algorithm)
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok {
			params[k] = val
		}
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return nil, incomplete("%s", strings.Join(missing, " "))
	}
	s := &signed{signature: params["Signature"], signedHeaders: strings.Split(params["SignedHeaders"], ";")}
	if err := s.parseCredential(params["Credential"]); err != nil {
		return nil, err
	}
	s.amzDate = r.Header.Get("X-Amz-Date")
	if s.amzDate == "" {
		if d := r.Header.Get("Date"); d != "" {
			t, err := http.ParseTime(d)
			if err != nil {
				return nil, incomplete("Date header is not a valid HTTP date.")
			}
			s.amzDate = t.UTC().Format(timeFormat)
		}
	}
	if s.amzDate == "" {
		return nil, incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	s.token = r.Header.Get("X-Amz-Security-Token")
	return s, s.checkSignedHeaders()
}

func parsePresigned(q url.Values) (*signed, error) {
	if alg := q.Get("X-Amz-Algorithm"); alg != Algorithm {
		return nil, incomplete("Unsupported AWS 'algorithm': '%s'. Only %s is supported.", alg, Algorithm)
	}
	var missing []string
	for _, k := range []string{"X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"} {
		if q.Get(k) == "" {
			missing = append(missing, "AWS query-string parameters must include '"+k+"'.")
		}
	}
	if len(missing) > 0 {
		return nil, incomplete("%s Re-examine the query-string parameters.", strings.Join(missing, " "))
	}
	s := &signed{presigned: true, signature: q.Get("X-Amz-Signature"), amzDate: q.Get("X-Amz-Date"),
		signedHeaders: strings.Split(q.Get("X-Amz-SignedHeaders"), ";"), token: q.Get("X-Amz-Security-Token"), expires: 15 * time.Minute}
	if e := q.Get("X-Amz-Expires"); e != "" {
		n, err := strconv.Atoi(e)
		if err != nil || n < 1 || time.Duration(n)*time.Second > maxPresignedTTL {
			return nil, invalid("X-Amz-Expires must be an integer between 1 and 604800 seconds.")
		}
		s.expires = time.Duration(n) * time.Second
	}
	if err := s.parseCredential(q.Get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	return s, s.checkSignedHeaders()
}

// parseCredential splits AKID/DATE/REGION/SERVICE/aws4_request.
func (s *signed) parseCredential(c string) error {
	parts := strings.Split(c, "/")
	if len(parts) != 5 {
		return incomplete("Credential should have exactly 5 slash-separated parts, not %d.", len(parts))
	}
	if parts[4] != "aws4_request" {
		return incomplete("Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", parts[4])
	}
	if parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return incomplete("Credential has an empty part.")
	}
	if len(parts[1]) != 8 {
		return incomplete("Credential date must be YYYYMMDD, not '%s'.", parts[1])
	}
	s.akid, s.date, s.region, s.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func (s *signed) checkSignedHeaders() error {
	for _, h := range s.signedHeaders {
		if h == "host" {
			return nil
		}
	}
	return invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
}

// payloadHash returns the hash to put in the canonical request: the
// X-Amz-Content-Sha256 header when it says UNSIGNED-PAYLOAD, otherwise the
// SHA-256 of the body, which must match the header when both exist.
func payloadHash(r *http.Request, body []byte, presigned bool) (string, error) {
	h := r.Header.Get("X-Amz-Content-Sha256")
	if h == unsignedPayload || (h == "" && presigned) {
		return unsignedPayload, nil
	}
	sum := sha256.Sum256(body)
	computed := hex.EncodeToString(sum[:])
	if h != "" && !strings.EqualFold(h, computed) {
		return "", invalid("The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return computed, nil
}

func scope(date, region, service string) string {
	return date + "/" + region + "/" + service + "/aws4_request"
}

// StringToSign is AWS's string to sign for a canonical request.
func StringToSign(amzDate, credentialScope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	return Algorithm + "\n" + amzDate + "\n" + credentialScope + "\n" + hex.EncodeToString(sum[:])
}

// DeriveSigningKey runs the four-HMAC derivation of the signing key.
func DeriveSigningKey(secret []byte, date, region, service string) []byte {
	k := hmacSHA256(append([]byte("AWS4"), secret...), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// CanonicalRequest builds AWS's canonical request for r over signedHeaders
// (lower-case names). For the presigned form the signature parameter is
// left out of the query.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string, presigned bool) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonicalURI(r.URL.Path))
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.URL.RawQuery, presigned))
	b.WriteByte('\n')
	for _, h := range signedHeaders {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signedHeaders, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}

// canonicalURI normalizes the decoded path (dot segments and repeated
// slashes removed, a trailing slash kept) and URI-encodes each segment.
func canonicalURI(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	clean := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return encode(clean, false)
}

func canonicalQuery(raw string, presigned bool) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err1 := url.QueryUnescape(k)
		dv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			dk, dv = k, v
		}
		if presigned && dk == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, kv{encode(dk, true), encode(dv, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// encode is RFC 3986 percent-encoding of everything but unreserved
// characters (and '/' unless encodeSlash).
func encode(s string, encodeSlash bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') ||
			c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// headerValue is the canonical value of header h: all its values trimmed,
// inner runs of spaces folded, joined by commas.
func headerValue(r *http.Request, h string) string {
	var vals []string
	switch h {
	case "host":
		host := r.Host
		if host == "" {
			host = r.URL.Host
		}
		vals = []string{host}
	case "content-length":
		vals = r.Header.Values("Content-Length")
		if len(vals) == 0 && r.ContentLength >= 0 && (r.ContentLength > 0 || r.Method == http.MethodPost || r.Method == http.MethodPut) {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(h)
	}
	for i, v := range vals {
		vals[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(vals, ",")
}

// keyCache memoizes derived signing keys per (access key, scope), checked
// against a digest of the secret so a changed secret is never served an old
// key. It is bounded: when full it is cleared (a new day does that anyway).
type keyCache struct {
	mu sync.RWMutex
	m  map[string]cachedKey
}

type cachedKey struct {
	secretSum [32]byte
	key       []byte
}

const keyCacheMax = 4096

func (c *keyCache) get(akid string, secret []byte, date, region, service string) []byte {
	id := akid + "/" + scope(date, region, service)
	sum := sha256.Sum256(secret)
	c.mu.RLock()
	e, ok := c.m[id]
	c.mu.RUnlock()
	if ok && subtle.ConstantTimeCompare(e.secretSum[:], sum[:]) == 1 {
		return e.key
	}
	key := DeriveSigningKey(secret, date, region, service)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= keyCacheMax {
		c.m = make(map[string]cachedKey)
	}
	c.m[id] = cachedKey{secretSum: sum, key: key}
	return key
}
