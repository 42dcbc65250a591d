package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type mark string

func (m mark) ServeHTTP(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(m)) }

func TestByProtocol(t *testing.T) {
	t.Parallel()
	h := byProtocol{json: mark("json"), query: mark("query")}
	for _, c := range []struct {
		name, method, ctype, target, want string
	}{
		{"IAM SDK", http.MethodPost, "application/x-www-form-urlencoded", "", "query"},
		{"botocore", http.MethodPost, "application/x-www-form-urlencoded; charset=utf-8", "", "query"},
		{"upper case", http.MethodPost, "Application/X-WWW-Form-Urlencoded", "", "query"},
		{"KMS", http.MethodPost, "application/x-amz-json-1.1", "TrentService.Encrypt", "json"},
		{"form with a target", http.MethodPost, "application/x-www-form-urlencoded", "TrentService.Encrypt", "json"},
		{"no content type", http.MethodPost, "", "", "json"},
		{"bad content type", http.MethodPost, "application/x-www-form-urlencoded; =", "", "json"},
		{"GET form", http.MethodGet, "application/x-www-form-urlencoded", "", "json"},
		{"healthz", http.MethodGet, "", "", "json"},
	} {
		r := httptest.NewRequest(c.method, "/", strings.NewReader(""))
		if c.ctype != "" {
			r.Header.Set("Content-Type", c.ctype)
		}
		if c.target != "" {
			r.Header.Set("X-Amz-Target", c.target)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if got := w.Body.String(); got != c.want {
			t.Errorf("%s: routed to %s, want %s", c.name, got, c.want)
		}
	}
}
