// Package httpreq holds what every AWS protocol transport does the same way
// before it decodes an operation: read the body under a size limit, name
// the request, find the client's address, and the interfaces through which
// requests are authenticated. Each transport keeps its own wire format and
// its own mapping of these failures to error codes.
package httpreq

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/sigv4"
)

// MaxBodyBytes is the largest request body accepted by any transport.
// Larger bodies are refused before they are read when Content-Length says
// so, and by counting otherwise.
const MaxBodyBytes = 1 << 20

// Body errors.
var (
	// ErrTooLarge: the body exceeds MaxBodyBytes.
	ErrTooLarge = errors.New("httpreq: request body too large")
	// ErrRead: the body could not be read (the client went away, a
	// malformed chunked encoding, ...).
	ErrRead = errors.New("httpreq: request body could not be read")
)

// ReadBody reads the whole body, refusing anything over MaxBodyBytes: by
// Content-Length before reading, and by counting when the length is unknown.
func ReadBody(r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, ErrTooLarge
	}
	n := r.ContentLength
	if n < 0 {
		n = 512
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	if _, err := io.Copy(buf, io.LimitReader(r.Body, MaxBodyBytes+1)); err != nil {
		return nil, ErrRead
	}
	if buf.Len() > MaxBodyBytes {
		return nil, ErrTooLarge
	}
	return buf.Bytes(), nil
}

// SourceIP is the client's address without the port.
func SourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// NewRequestID returns a random UUID-shaped request ID, as AWS's
// x-amzn-RequestId.
func NewRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// Verifier checks SigV4 signatures; *sigv4.Verifier implements it.
type Verifier interface {
	Verify(r *http.Request, body []byte) (*sigv4.Result, error)
}

// Principals maps a verified access key (and session token, for temporary
// credentials) to its principal.
type Principals interface {
	Principal(ctx context.Context, accessKeyID, sessionToken string) (auth.Principal, error)
}
