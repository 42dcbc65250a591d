package sigv4

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Signer signs requests with a cached signing key, so signing costs one
// HMAC chain over the string to sign rather than four more HMACs. Arca's
// load tool uses it because a general-purpose SDK's signer would dominate
// the CPU it measures. It is safe for concurrent use.
type Signer struct {
	akid, region, service, token string
	secret                       []byte

	mu   sync.Mutex
	date string
	key  []byte
}

// NewSigner returns a Signer for the given credentials and scope.
func NewSigner(accessKeyID string, secret []byte, region, service string) *Signer {
	return &Signer{akid: accessKeyID, secret: append([]byte(nil), secret...), region: region, service: service}
}

// WithSessionToken returns s set to send an X-Amz-Security-Token.
func (s *Signer) WithSessionToken(token string) *Signer { s.token = token; return s }

var signable = []string{"content-type", "host", "x-amz-date", "x-amz-security-token", "x-amz-target"}

// Sign sets X-Amz-Date (and X-Amz-Security-Token) and the Authorization
// header on r for body, signing host and whichever of content-type,
// x-amz-date, x-amz-security-token and x-amz-target are present.
func (s *Signer) Sign(r *http.Request, body []byte, now time.Time) error {
	amzDate := now.UTC().Format(timeFormat)
	r.Header.Set("X-Amz-Date", amzDate)
	if s.token != "" {
		r.Header.Set("X-Amz-Security-Token", s.token)
	}
	headers := make([]string, 0, len(signable))
	for _, h := range signable {
		if h == "host" || r.Header.Get(h) != "" {
			headers = append(headers, h)
		}
	}
	sort.Strings(headers)
	sum := sha256.Sum256(body)
	creq := CanonicalRequest(r, headers, hex.EncodeToString(sum[:]), false)
	date := amzDate[:8]
	sc := scope(date, s.region, s.service)
	sig := hex.EncodeToString(hmacSHA256(s.signingKey(date), StringToSign(amzDate, sc, creq)))
	r.Header.Set("Authorization", Algorithm+" Credential="+s.akid+"/"+sc+", SignedHeaders="+strings.Join(headers, ";")+", Signature="+sig)
	return nil
}

func (s *Signer) signingKey(date string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.date != date {
		s.key, s.date = DeriveSigningKey(s.secret, date, s.region, s.service), date
	}
	return s.key
}
