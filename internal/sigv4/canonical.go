package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// CanonicalRequest returns AWS's canonical request for r:
//
//	METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n PayloadHash
//
// signedHeaders are the lower-case header names, in the order they are
// signed (sorted, as every signer sends them); payloadHash is the hex SHA-256
// of the body or UNSIGNED-PAYLOAD. presigned leaves X-Amz-Signature out of
// the query, as the query-string form requires.
//
// The canonical URI is the path as the client sent it, still percent-encoded
// (r.RequestURI on a server, r.URL.EscapedPath() on a client), with dot
// segments and repeated slashes removed and then URI-encoded once more: the
// "double encoding" AWS and its SDKs use for every service but S3. Header
// values come from r.Header, except host (r.Host, which net/http removes
// from the header map) and content-length (r.ContentLength when the header
// map lacks it, as on a client-side request).
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string, presigned bool) string {
	return string(appendCanonicalRequest(nil, r, canonicalURI(requestPath(r), true), signedHeaders, payloadHash, presigned))
}

// StringToSign returns AWS's string to sign for a canonical request:
// the algorithm, X-Amz-Date, the credential scope and the hex SHA-256 of the
// canonical request, one per line.
func StringToSign(amzDate, credentialScope, canonicalRequest string) string {
	return string(appendStringToSign(nil, amzDate, credentialScope, sha256.Sum256([]byte(canonicalRequest))))
}

// CredentialScope returns "date/region/service/aws4_request", date being
// YYYYMMDD.
func CredentialScope(date, region, service string) string {
	return date + "/" + region + "/" + service + "/" + scopeTerm
}

// DeriveSigningKey runs SigV4's four-HMAC derivation of the signing key for
// one day, region and service: HMAC("AWS4"+secret, date), then region,
// service and "aws4_request" in turn. It is what both key caches save.
func DeriveSigningKey(secret []byte, date, region, service string) []byte {
	k := make([]byte, 0, 4+len(secret))
	k = append(append(k, "AWS4"...), secret...)
	for _, part := range [...]string{date, region, service, scopeTerm} {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(part))
		k = m.Sum(nil)
	}
	return k
}

// Signature returns the hex SigV4 signature of stringToSign under
// signingKey (from DeriveSigningKey).
func Signature(signingKey []byte, stringToSign string) string {
	m := hmac.New(sha256.New, signingKey)
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

func appendStringToSign(b []byte, amzDate, scope string, creqHash [sha256.Size]byte) []byte {
	b = append(b, Algorithm...)
	b = append(b, '\n')
	b = append(b, amzDate...)
	b = append(b, '\n')
	b = append(b, scope...)
	b = append(b, '\n')
	return hex.AppendEncode(b, creqHash[:])
}

// appendCanonicalRequest appends the canonical request to b, with path
// already canonical. Verify and Signer both build through it, so that they
// cannot disagree with each other, and CanonicalRequest, which the AWS test
// suite checks, shows exactly what they hash.
func appendCanonicalRequest(b []byte, r *http.Request, path string, signedHeaders []string, payloadHash string, presigned bool) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, path...)
	b = append(b, '\n')
	b = appendCanonicalQuery(b, r.URL.RawQuery, presigned)
	b = append(b, '\n')
	var lower map[string][]string // built only if a signed header is missing from r.Header
	for _, h := range signedHeaders {
		b = append(b, h...)
		b = append(b, ':')
		var vals []string
		switch strings.ToLower(h) {
		case "host":
			host := r.Host
			if host == "" {
				host = r.URL.Host
			}
			vals = []string{host}
		case "content-length":
			vals = r.Header["Content-Length"]
			if len(vals) == 0 && r.ContentLength > 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			var ok bool
			if vals, ok = r.Header[canonicalHeaderKey(h)]; !ok {
				if lower == nil {
					lower = lowerHeaders(r.Header)
				}
				vals = lower[strings.ToLower(h)]
			}
		}
		for i, v := range vals {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendHeaderValue(b, v)
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')
	for i, h := range signedHeaders {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, h...)
	}
	b = append(b, '\n')
	return append(b, payloadHash...)
}

// commonHeaders spares canonicalHeaderKey an allocation for the names
// aws-sdk-go-v2 signs on every KMS call.
var commonHeaders = map[string]string{
	"content-type":          "Content-Type",
	"x-amz-date":            "X-Amz-Date",
	"x-amz-target":          "X-Amz-Target",
	"x-amz-security-token":  "X-Amz-Security-Token",
	"x-amz-content-sha256":  "X-Amz-Content-Sha256",
	"x-amz-user-agent":      "X-Amz-User-Agent",
	"amz-sdk-invocation-id": "Amz-Sdk-Invocation-Id",
	"amz-sdk-request":       "Amz-Sdk-Request",
	"accept-encoding":       "Accept-Encoding",
}

func canonicalHeaderKey(lowerName string) string {
	if k, ok := commonHeaders[lowerName]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(lowerName)
}

// lowerHeaders indexes h by lower-case name, merging keys that differ only
// in case (possible when a client fills the map directly), as the SDK's
// signer merges them.
func lowerHeaders(h http.Header) map[string][]string {
	m := make(map[string][]string, len(h))
	for k, v := range h {
		l := strings.ToLower(k)
		m[l] = append(m[l], v...)
	}
	return m
}

// appendHeaderValue appends v trimmed, with runs of spaces folded into one,
// exactly as aws-sdk-go-v2 does (it folds spaces, not tabs).
func appendHeaderValue(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// requestPath returns r's path as it was (or will be) sent, still
// percent-encoded: what the client signed. On a server that is the path of
// r.RequestURI, the request line verbatim; r.URL.EscapedPath() would
// re-escape bytes a client sent raw. On a client it is what net/http will
// send: URL.Opaque's path (the SDK's way to pre-escape) or EscapedPath.
func requestPath(r *http.Request) string {
	if r.RequestURI != "" {
		if p, ok := pathOfRequestURI(r.RequestURI); ok {
			return p
		}
	}
	if o := r.URL.Opaque; o != "" {
		o, _, _ = strings.Cut(o, "?")
		o = strings.TrimPrefix(o, "//")
		if i := strings.IndexByte(o, '/'); i >= 0 {
			return o[i:]
		}
		return "/"
	}
	return r.URL.EscapedPath()
}

// pathOfRequestURI returns the path of a request target in origin form
// ("/p?q") or absolute form ("http://h/p?q").
func pathOfRequestURI(uri string) (string, bool) {
	uri, _, _ = strings.Cut(uri, "?")
	if strings.HasPrefix(uri, "/") {
		return uri, true
	}
	if _, rest, ok := strings.Cut(uri, "://"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			return rest[i:], true
		}
		return "/", true
	}
	return "", false
}

// canonicalURI turns an escaped path into the canonical URI: optionally
// normalized (see removeDotSegments), then every byte but unreserved ones
// and '/' percent-encoded, so that an escape like %20 becomes %2520.
func canonicalURI(escapedPath string, normalize bool) string {
	if escapedPath == "" || escapedPath == "/" {
		return "/"
	}
	if normalize {
		escapedPath = removeDotSegments(escapedPath)
	}
	return uriEncode(escapedPath, false)
}

// removeDotSegments removes "." and ".." segments (RFC 3986 5.2.4) and empty
// segments, keeping a leading and a trailing slash, as AWS normalizes paths
// for services other than S3 (the suite's normalize-path vectors).
func removeDotSegments(p string) string {
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	out := make([]string, 0, strings.Count(p, "/")+1)
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	b.Grow(len(p))
	if strings.HasPrefix(p, "/") {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if len(out) > 0 && strings.HasSuffix(p, "/") {
		b.WriteByte('/')
	}
	return b.String()
}

// appendCanonicalQuery appends the canonical query: every parameter
// decoded ('+' being a space, as url.ParseQuery and the SDKs read it),
// re-encoded per RFC 3986, and sorted by name then value. A pair with a
// malformed escape is kept as sent rather than dropped, so that it is still
// covered by the signature.
func appendCanonicalQuery(b []byte, raw string, presigned bool) []byte {
	if raw == "" {
		return b
	}
	type pair struct{ k, v string }
	pairs := make([]pair, 0, strings.Count(raw, "&")+1)
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, v = queryUnescape(k), queryUnescape(v)
		if presigned && k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, pair{uriEncode(k, true), uriEncode(v, true)})
	}
	slices.SortFunc(pairs, func(x, y pair) int {
		if c := strings.Compare(x.k, y.k); c != 0 {
			return c
		}
		return strings.Compare(x.v, y.v)
	})
	for i, p := range pairs {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.k...)
		b = append(b, '=')
		b = append(b, p.v...)
	}
	return b
}

func queryUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// uriEncode percent-encodes, with upper-case hex, every byte outside RFC
// 3986's unreserved set (and '/', unless it is a path), as SigV4 requires.
func uriEncode(s string, encodeSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i], encodeSlash) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c, encodeSlash) {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return string(b)
}

func unreserved(c byte, encodeSlash bool) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !encodeSlash
}
