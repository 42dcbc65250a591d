// Package sigv4 verifies AWS Signature Version 4 on requests Arca receives,
// and signs the requests Arca's own tools send.
//
// Verification accepts both forms AWS accepts: the Authorization header and
// the presigned query string (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
// X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature). It canonicalizes
// requests the way AWS does for services other than S3 (path normalized and
// double-encoded, body always hashed), and it is tested against AWS's
// published test suite (testdata/aws-sig-v4-test-suite) and against requests
// signed by aws-sdk-go-v2's own signer and carried over real HTTP, because a
// verifier that agrees only with its own signer proves nothing.
//
// Failures are *svcerr.Error values with AWS's error codes and messages, so
// SDKs react to them as they do to AWS. They never carry the secret key or
// the signature Arca computed, which would turn error responses into an
// oracle.
//
// Deriving a signing key costs four HMACs; both Verifier and Signer cache
// derived keys so that the hot path costs one HMAC over the string to sign.
//
// The package imports nothing of Arca's except svcerr: signature checks know
// nothing of services, storage or keys, and get secrets only through
// KeyLookup.
package sigv4

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/svcerr"
)

// KeyLookup resolves an access key ID to its secret. Implemented by the IAM
// store.
type KeyLookup interface {
	// LookupSecret returns the secret access key for id, or an error
	// wrapping ErrUnknownAccessKey when there is no such (active) key.
	LookupSecret(ctx context.Context, accessKeyID string) (secret []byte, err error)
}

// ErrUnknownAccessKey is what a KeyLookup returns (possibly wrapped) for an
// access key that does not exist or is not active. Verify turns it into
// UnrecognizedClientException; any other lookup error is an internal fault.
var ErrUnknownAccessKey = errors.New("sigv4: unknown access key")

// Algorithm is the only signing algorithm Arca accepts and produces.
const Algorithm = "AWS4-HMAC-SHA256"

// UnsignedPayload is the payload hash a client sends, in the
// X-Amz-Content-Sha256 header or query parameter, when it did not hash the
// body. Verify honours it only for requests without a body; see Verify.
const UnsignedPayload = "UNSIGNED-PAYLOAD"

// MaxPresignedExpires is the largest X-Amz-Expires AWS accepts: seven days.
const MaxPresignedExpires = 7 * 24 * time.Hour

const (
	// TimeFormat is the ISO 8601 basic format of X-Amz-Date.
	TimeFormat = "20060102T150405Z"
	dateFormat = "20060102"

	defaultMaxSkew = 15 * time.Minute
	scopeTerm      = "aws4_request"
)

// AWS's own messages, so that clients, SDKs and people searching for them
// find what they would find for AWS.
const (
	msgMissingToken = "Missing Authentication Token"
	msgBothForms    = "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."
	msgMismatch     = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgUnknownKey   = "The security token included in the request is invalid."
	msgHostUnsigned = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
	msgContentHash  = "The provided 'x-amz-content-sha256' header does not match what was computed."
)

// Options tune a Verifier. The zero value is AWS's behaviour.
type Options struct {
	// Now is the clock; time.Now when nil. Tests fix it.
	Now func() time.Time
	// MaxSkew is how far X-Amz-Date may be from Now, either way; 15 minutes
	// (AWS's window) when zero or negative.
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
	if v.maxSkew <= 0 {
		v.maxSkew = defaultMaxSkew
	}
	return v
}

// Result is what a verified signature proves.
type Result struct {
	AccessKeyID string
	// Region and Service come from the credential scope; the caller checks
	// that they name itself, as only it knows which it serves.
	Region  string
	Service string
	// SessionToken is X-Amz-Security-Token, if any. It is not validated
	// here (the caller validates it), and, as AWS allows for services other
	// than S3, it need not have been signed.
	SessionToken string
	// SignedAt is X-Amz-Date (or the Date header) as a time.
	SignedAt time.Time
	// Presigned reports the query-string form.
	Presigned bool
}

// authParams is a parsed signature, from either form. Its strings are
// slices of the request's own header or query values.
type authParams struct {
	algorithm     string
	credential    string
	signedHeaders []string
	signature     string
	amzDate       string
	token         string
	presigned     bool
	expires       time.Duration // presigned only; 0 when X-Amz-Expires is absent
	contentSHA    string        // X-Amz-Content-Sha256, if any
}

func incomplete(format string, args ...any) error {
	return svcerr.New(svcerr.IncompleteSignature, format, args...)
}

func invalid(format string, args ...any) error {
	return svcerr.New(svcerr.InvalidSignature, format, args...)
}

// Verify checks the SigV4 signature of r, whose full body has already been
// read into body: r.Body is never read. It accepts the Authorization header
// form and the presigned query-string form, in the order of checks AWS uses,
// so that a request with several faults gets the error AWS would give.
//
// The payload hash is always the SHA-256 of body, as AWS computes it for
// services other than S3. An X-Amz-Content-Sha256 header must agree with it;
// UNSIGNED-PAYLOAD is accepted as the payload hash only when body is empty
// (presigned requests), so that no header can take a body out of the
// signature.
//
// Every failure is a *svcerr.Error. Verify never panics, whatever r holds.
func (v *Verifier) Verify(r *http.Request, body []byte) (*Result, error) {
	if r == nil || r.URL == nil {
		return nil, svcerr.New(svcerr.MissingAuthToken, msgMissingToken)
	}
	a, err := parseAuth(r)
	if err != nil {
		return nil, err
	}
	signedAt, ok := parseAmzDate(a.amzDate)
	if !ok {
		return nil, incomplete("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", a.amzDate)
	}
	if err := v.checkTime(a, signedAt); err != nil {
		return nil, err
	}
	if !signsHost(a.signedHeaders) {
		return nil, invalid(msgHostUnsigned)
	}
	if a.algorithm != Algorithm {
		return nil, incomplete("Unsupported AWS 'algorithm': '%s' (only %s for now).", a.algorithm, Algorithm)
	}
	akid, date, region, service, err := parseCredential(a.credential, a.amzDate)
	if err != nil {
		return nil, err
	}
	if v.lookup == nil {
		return nil, svcerr.InternalError(errors.New("sigv4: Verifier has no KeyLookup"))
	}
	secret, err := v.lookup.LookupSecret(r.Context(), akid)
	switch {
	case errors.Is(err, ErrUnknownAccessKey):
		return nil, svcerr.New(svcerr.UnrecognizedClient, msgUnknownKey)
	case err != nil:
		return nil, svcerr.InternalError(err)
	case len(secret) == 0:
		// An empty secret would make every signature for this key
		// computable by anyone; refuse rather than accept.
		return nil, svcerr.InternalError(errors.New("sigv4: empty secret for access key " + akid))
	}
	// AWS checks the key before the signature, so an unknown key is
	// reported as such whatever else is wrong with the signature.
	if err := checkSignedHeaderList(a.signedHeaders); err != nil {
		return nil, err
	}
	payloads, err := payloadHashes(a, body)
	if err != nil {
		return nil, err
	}
	var want [sha256.Size]byte
	if len(a.signature) != hex.EncodedLen(sha256.Size) {
		return nil, invalid(msgMismatch)
	}
	if _, err := hex.Decode(want[:], []byte(a.signature)); err != nil {
		return nil, invalid(msgMismatch)
	}

	ck := newCacheKey(akid, secret, date, region, service)
	key, cached := v.cache.get(ck)
	if !cached {
		key = DeriveSigningKey(secret, date, region, service)
	}
	scope := CredentialScope(date, region, service)
	if !matches(r, a, scope, key, payloads, want[:]) {
		return nil, invalid(msgMismatch)
	}
	if !cached {
		// Only keys that verified a signature are cached, so that requests
		// from people who do not hold the secret cannot fill the cache.
		v.cache.put(ck, key)
	}
	return &Result{
		AccessKeyID:  akid,
		Region:       region,
		Service:      service,
		SessionToken: a.token,
		SignedAt:     signedAt,
		Presigned:    a.presigned,
	}, nil
}

// matches reports whether want is the signature of r under key for one of
// the request's readings: each payload hash candidate, with the path
// normalized (as AWS and most SDKs sign it) or, when that differs, as sent
// (as aws-sdk-go-v2 signs it, without removing dot segments or repeated
// slashes). Every reading describes the same bytes on the wire, so accepting
// any of them accepts nothing the client did not sign. The usual request
// has a single reading and costs one canonical request and one HMAC.
func matches(r *http.Request, a *authParams, scope string, key []byte, payloads []string, want []byte) bool {
	bp := getBuf()
	defer putBuf(bp)
	raw := requestPath(r)
	paths := [2]string{canonicalURI(raw, true), ""}
	if alt := canonicalURI(raw, false); alt != paths[0] {
		paths[1] = alt
	}
	mac := hmac.New(sha256.New, key)
	var sum [sha256.Size]byte
	used := false
	for _, p := range paths {
		if p == "" {
			continue
		}
		for _, payload := range payloads {
			b := appendCanonicalRequest((*bp)[:0], r, p, a.signedHeaders, payload, a.presigned)
			creqHash := sha256.Sum256(b)
			b = appendStringToSign(b[:0], a.amzDate, scope, creqHash)
			*bp = b
			if used {
				mac.Reset() // only when retrying: a first Reset costs allocations
			}
			used = true
			mac.Write(b)
			if hmac.Equal(mac.Sum(sum[:0]), want) {
				return true
			}
		}
	}
	return false
}

// bufPool holds buffers for canonical requests, which are built for every
// request and would otherwise be the largest allocation of Verify.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf returns b to the pool unless a huge request grew it: the pool
// must not pin megabytes for the sake of one request.
func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		bufPool.Put(b)
	}
}

// parseAuth finds the signature in either form and checks that all its
// parts are there. Like AWS, a request with both forms is refused, and an
// Authorization header that is not AWS4 at all counts as no token.
func parseAuth(r *http.Request) (*authParams, error) {
	authz := first(r.Header["Authorization"])
	var q url.Values
	if r.URL.RawQuery != "" {
		q, _ = url.ParseQuery(r.URL.RawQuery) // a malformed pair is skipped, as the SDKs skip it
	}
	_, presigned := q["X-Amz-Algorithm"]
	switch {
	case authz != "" && presigned:
		return nil, invalid(msgBothForms)
	case presigned:
		return parsePresigned(r, q)
	case !strings.HasPrefix(strings.TrimSpace(authz), "AWS4-"):
		return nil, svcerr.New(svcerr.MissingAuthToken, msgMissingToken)
	}
	return parseHeader(r, authz)
}

// parseHeader parses "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
// Signature=...". AWS separates the parameters by commas and/or spaces and
// insists that each be key=value; so does this.
func parseHeader(r *http.Request, authz string) (*authParams, error) {
	a := &authParams{}
	var rest string
	a.algorithm, rest = nextToken(strings.TrimSpace(authz))
	var haveCred, haveSigned, haveSig bool
	for rest != "" {
		var tok string
		if tok, rest = nextToken(rest); tok == "" {
			continue
		}
		k, val, ok := strings.Cut(tok, "=")
		if !ok {
			return nil, incomplete("'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", tok, authz)
		}
		switch {
		case k == "Credential" && !haveCred:
			a.credential, haveCred = val, true
		case k == "SignedHeaders" && !haveSigned:
			a.signedHeaders, haveSigned = strings.Split(val, ";"), true
		case k == "Signature" && !haveSig:
			a.signature, haveSig = val, true
		}
	}
	a.amzDate = first(r.Header["X-Amz-Date"])
	httpDate := first(r.Header["Date"])

	var msg strings.Builder
	if a.credential == "" {
		msg.WriteString("Authorization header requires 'Credential' parameter. ")
	}
	if a.signature == "" {
		msg.WriteString("Authorization header requires 'Signature' parameter. ")
	}
	if !haveSigned {
		msg.WriteString("Authorization header requires 'SignedHeaders' parameter. ")
	}
	if a.amzDate == "" && httpDate == "" {
		msg.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
	}
	if msg.Len() > 0 {
		msg.WriteString("Authorization=")
		msg.WriteString(authz)
		return nil, incomplete("%s", msg.String())
	}
	if a.amzDate == "" {
		// The Date header may be an HTTP date; the string to sign then
		// carries it in ISO 8601 basic format.
		a.amzDate = httpDate
		if t, err := http.ParseTime(httpDate); err == nil {
			a.amzDate = t.UTC().Format(TimeFormat)
		}
	}
	a.token = first(r.Header["X-Amz-Security-Token"])
	a.contentSHA = first(r.Header["X-Amz-Content-Sha256"])
	return a, nil
}

// nextToken splits s at its first separator of Authorization parameters:
// a space, a tab or a comma.
func nextToken(s string) (tok, rest string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == ' ' || c == '\t' || c == ',' {
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// first returns a header's first value. Reading the map directly with
// canonical names spares Header.Get a canonicalization per lookup;
// net/http's server stores names canonically.
func first(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// parsePresigned reads the query-string form.
func parsePresigned(r *http.Request, q url.Values) (*authParams, error) {
	a := &authParams{
		presigned:  true,
		algorithm:  q.Get("X-Amz-Algorithm"),
		credential: q.Get("X-Amz-Credential"),
		signature:  q.Get("X-Amz-Signature"),
		amzDate:    q.Get("X-Amz-Date"),
		token:      q.Get("X-Amz-Security-Token"),
		contentSHA: q.Get("X-Amz-Content-Sha256"),
	}
	signed := q.Get("X-Amz-SignedHeaders")
	var msg strings.Builder
	for _, p := range [...]struct{ name, val string }{
		{"X-Amz-Algorithm", a.algorithm},
		{"X-Amz-Credential", a.credential},
		{"X-Amz-Signature", a.signature},
		{"X-Amz-SignedHeaders", signed},
		{"X-Amz-Date", a.amzDate},
	} {
		if p.val == "" {
			msg.WriteString("AWS query-string parameters must include '" + p.name + "'. ")
		}
	}
	if msg.Len() > 0 {
		msg.WriteString("Re-examine the query-string parameters.")
		return nil, incomplete("%s", msg.String())
	}
	a.signedHeaders = strings.Split(signed, ";")
	if e, ok := q["X-Amz-Expires"]; ok {
		n, err := strconv.ParseInt(e[0], 10, 64)
		if err != nil || n < 1 || n > int64(MaxPresignedExpires/time.Second) {
			return nil, incomplete("X-Amz-Expires must be an integer number of seconds from 1 to %d; got '%s'.",
				int64(MaxPresignedExpires/time.Second), e[0])
		}
		a.expires = time.Duration(n) * time.Second
	}
	if a.token == "" {
		a.token = first(r.Header["X-Amz-Security-Token"])
	}
	if a.contentSHA == "" {
		a.contentSHA = first(r.Header["X-Amz-Content-Sha256"])
	}
	return a, nil
}

// parseAmzDate parses the ISO 8601 basic format strictly: time.Parse alone
// would accept one-digit fields, and the string to sign uses the text as
// sent, so text and time must agree exactly.
func parseAmzDate(s string) (time.Time, bool) {
	if len(s) != len(TimeFormat) || s[8] != 'T' || s[15] != 'Z' {
		return time.Time{}, false
	}
	for i := 0; i < len(s); i++ {
		if i != 8 && i != 15 && (s[i] < '0' || s[i] > '9') {
			return time.Time{}, false
		}
	}
	t, err := time.Parse(TimeFormat, s)
	return t, err == nil
}

// checkTime enforces the clock window: ±MaxSkew around now, or for a
// presigned request with X-Amz-Expires, from MaxSkew before now to the
// expiry. Messages follow AWS's, e.g. "Signature expired: 20240101T000000Z
// is now earlier than 20240101T000500Z (20240101T002000Z - 15 min.)".
func (v *Verifier) checkTime(a *authParams, signedAt time.Time) error {
	now := v.now().UTC()
	window := v.maxSkew
	if a.presigned && a.expires > 0 {
		window = a.expires
	}
	if earliest := now.Add(-window); signedAt.Before(earliest) {
		return invalid("Signature expired: %s is now earlier than %s (%s - %s)",
			a.amzDate, earliest.Format(TimeFormat), now.Format(TimeFormat), minutes(window))
	}
	if latest := now.Add(v.maxSkew); signedAt.After(latest) {
		return invalid("Signature not yet current: %s is still later than %s (%s + %s)",
			a.amzDate, latest.Format(TimeFormat), now.Format(TimeFormat), minutes(v.maxSkew))
	}
	return nil
}

// minutes renders a window as AWS does ("15 min."), falling back to seconds
// for windows that are not whole minutes (presigned X-Amz-Expires).
func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min."
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + " sec."
}

func signsHost(headers []string) bool {
	for _, h := range headers {
		if strings.EqualFold(h, "host") {
			return true
		}
	}
	return false
}

// checkSignedHeaderList refuses a SignedHeaders list that names a header
// twice, in any mix of cases. No signer produces one, and each repetition
// would copy the header's value into the canonical request again: a 1 MB
// header named a thousand times would make Arca hash a gigabyte. Lists from
// real signers are sorted, which this checks without allocating.
func checkSignedHeaderList(headers []string) error {
	sorted := true
	for i := 1; i < len(headers); i++ {
		if compareFold(headers[i-1], headers[i]) >= 0 {
			sorted = false
			break
		}
	}
	if sorted {
		return nil
	}
	seen := make(map[string]bool, len(headers))
	for _, h := range headers {
		l := strings.ToLower(h)
		if seen[l] {
			return invalid(msgMismatch)
		}
		seen[l] = true
	}
	return nil
}

// compareFold compares ASCII strings as if lower-cased.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		x, y := lower(a[i]), lower(b[i])
		if x != y {
			return int(x) - int(y)
		}
	}
	return len(a) - len(b)
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// parseCredential splits AKID/YYYYMMDD/REGION/SERVICE/aws4_request and
// checks the terminator and the date against X-Amz-Date. Like AWS, it
// ignores trailing slashes and reports every scope fault at once.
func parseCredential(c, amzDate string) (akid, date, region, service string, err error) {
	trimmed := strings.TrimRight(c, "/")
	parts := strings.Split(trimmed, "/")
	if len(parts) != 5 {
		return "", "", "", "", incomplete("Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", trimmed)
	}
	var msg []string
	if parts[4] != scopeTerm {
		msg = append(msg, "Credential should be scoped with a valid terminator: '"+scopeTerm+"', not '"+parts[4]+"'.")
	}
	if parts[1] != amzDate[:len(dateFormat)] {
		msg = append(msg, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+
			parts[1]+"' != '"+amzDate[:len(dateFormat)]+"', from '"+amzDate+"'.")
	}
	if len(msg) > 0 {
		return "", "", "", "", invalid("%s", strings.Join(msg, " "))
	}
	return parts[0], parts[1], parts[2], parts[3], nil
}

// payloadHashes returns the payload hashes the client may have signed: the
// body's SHA-256, and UNSIGNED-PAYLOAD only where it leaves nothing
// unsigned, that is when there is no body.
func payloadHashes(a *authParams, body []byte) ([]string, error) {
	sum := sha256.Sum256(body)
	computed := hex.EncodeToString(sum[:])
	switch h := a.contentSHA; {
	case h == "":
		if a.presigned && len(body) == 0 {
			// aws-sdk-go-v2 presigns the empty body's hash, botocore
			// UNSIGNED-PAYLOAD; neither says which in the request.
			return []string{computed, UnsignedPayload}, nil
		}
		return []string{computed}, nil
	case h == UnsignedPayload:
		if len(body) == 0 {
			return []string{UnsignedPayload}, nil
		}
		// As AWS does outside S3: the body is hashed whatever the header
		// says, so the signature will not match.
		return []string{computed}, nil
	case strings.EqualFold(h, computed):
		return []string{computed}, nil
	default:
		return nil, invalid(msgContentHash)
	}
}
