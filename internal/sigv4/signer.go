package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"sync/atomic"
	"time"
)

// Signer signs requests for Arca's load tool and clients. It caches the
// signing key of the current day, so signing costs one canonical request
// and one HMAC over the string to sign rather than four more HMACs: the
// load tool measures Arca's CPU, and a general-purpose SDK signer would
// dominate its own. It is safe for concurrent use.
type Signer struct {
	akid, region, service, token string
	secret                       []byte
	key                          atomic.Pointer[dayKey]
}

// dayKey is a derived signing key and the UTC day (YYYYMMDD) it is for.
type dayKey struct {
	date string
	key  []byte
}

// NewSigner returns a Signer for the given credentials and scope. It keeps
// a copy of secret.
func NewSigner(accessKeyID string, secret []byte, region, service string) *Signer {
	return &Signer{akid: accessKeyID, secret: append([]byte(nil), secret...), region: region, service: service}
}

// WithSessionToken makes s send (and sign) X-Amz-Security-Token, for
// temporary credentials, and returns s. Call it before s is shared.
func (s *Signer) WithSessionToken(token string) *Signer {
	s.token = token
	return s
}

// signable are the headers Sign signs when present (host always), in the
// sorted order SigV4 wants.
var signable = [...]string{"content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"}

// Sign sets X-Amz-Date, X-Amz-Security-Token (if the Signer has a token)
// and Authorization on r for body, signed at now. It signs host and
// whichever of content-type, x-amz-date, x-amz-security-token and
// x-amz-target are present, plus the SHA-256 of body; KMS needs no
// X-Amz-Content-Sha256. Signing the same request again replaces the
// previous signature.
func (s *Signer) Sign(r *http.Request, body []byte, now time.Time) error {
	if r == nil || r.URL == nil {
		return errors.New("sigv4: Sign needs a request with a URL")
	}
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	var dateBuf [len(TimeFormat)]byte
	amzDate := string(now.UTC().AppendFormat(dateBuf[:0], TimeFormat))
	r.Header["X-Amz-Date"] = []string{amzDate}
	if s.token != "" {
		r.Header["X-Amz-Security-Token"] = []string{s.token}
	}
	headers := make([]string, 0, len(signable))
	for _, h := range signable {
		if h == "host" || len(r.Header[canonicalHeaderKey(h)]) > 0 {
			headers = append(headers, h)
		}
	}
	sum := sha256.Sum256(body)
	var payload [2 * sha256.Size]byte
	hex.Encode(payload[:], sum[:])

	date := amzDate[:len(dateFormat)]
	scope := CredentialScope(date, s.region, s.service)
	bp := getBuf()
	defer putBuf(bp)
	b := appendCanonicalRequest((*bp)[:0], r, canonicalURI(requestPath(r), true), headers, string(payload[:]), false)
	b = appendStringToSign(b[:0], amzDate, scope, sha256.Sum256(b))
	*bp = b
	m := hmac.New(sha256.New, s.signingKey(date))
	m.Write(b)
	sig := m.Sum(sum[:0])

	authz := make([]byte, 0, 160+len(s.akid)+len(scope))
	authz = append(authz, Algorithm+" Credential="...)
	authz = append(authz, s.akid...)
	authz = append(authz, '/')
	authz = append(authz, scope...)
	authz = append(authz, ", SignedHeaders="...)
	for i, h := range headers {
		if i > 0 {
			authz = append(authz, ';')
		}
		authz = append(authz, h...)
	}
	authz = append(authz, ", Signature="...)
	authz = hex.AppendEncode(authz, sig)
	r.Header["Authorization"] = []string{string(authz)}
	return nil
}

// signingKey returns the key for date, deriving it on the first request of
// each day. Concurrent first requests may each derive it; they agree.
func (s *Signer) signingKey(date string) []byte {
	if k := s.key.Load(); k != nil && k.date == date {
		return k.key
	}
	k := &dayKey{date: date, key: DeriveSigningKey(s.secret, date, s.region, s.service)}
	s.key.Store(k)
	return k.key
}
