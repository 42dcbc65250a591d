package httpreq

import (
	"errors"
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBody(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		body   io.Reader
		length int64
		want   error
		n      int
	}{
		{"small", strings.NewReader("abc"), 3, nil, 3},
		{"unknown length", strings.NewReader("abcd"), -1, nil, 4},
		{"exactly the limit", strings.NewReader(strings.Repeat("a", MaxBodyBytes)), -1, nil, MaxBodyBytes},
		{"too large by length", strings.NewReader(""), MaxBodyBytes + 1, ErrTooLarge, 0},
		{"too large by counting", strings.NewReader(strings.Repeat("a", MaxBodyBytes+1)), -1, ErrTooLarge, 0},
		{"read error", iotest.ErrReader(errors.New("gone")), -1, ErrRead, 0},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("POST", "/", tc.body)
		r.ContentLength = tc.length
		b, err := ReadBody(r)
		if !errors.Is(err, tc.want) || len(b) != tc.n {
			t.Errorf("%s: %d bytes, %v; want %d, %v", tc.name, len(b), err, tc.n, tc.want)
		}
	}
}

func TestSourceIPAndRequestID(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/", nil)
	r.RemoteAddr = "[::1]:4567"
	if got := SourceIP(r); got != "::1" {
		t.Errorf("SourceIP = %q", got)
	}
	r.RemoteAddr = "unix"
	if got := SourceIP(r); got != "unix" {
		t.Errorf("SourceIP without port = %q", got)
	}
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := NewRequestID(), NewRequestID()
	if !re.MatchString(a) || a == b {
		t.Errorf("request IDs %q, %q", a, b)
	}
}
