package sigv4

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/svcerr"
)

const (
	suiteDir     = "testdata/aws-sig-v4-test-suite/aws-sig-v4-test-suite"
	suiteAKID    = "AKIDEXAMPLE"
	suiteSecret  = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	suiteScope   = "20150830/us-east-1/service/aws4_request"
	suiteAmzDate = "20150830T123600Z"
)

var suiteTime = time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

type lookup map[string]string

func (l lookup) LookupSecret(_ context.Context, id string) ([]byte, error) {
	s, ok := l[id]
	if !ok {
		return nil, ErrUnknownAccessKey
	}
	return []byte(s), nil
}

// parseRaw reads the suite's raw HTTP requests, which net/http cannot: the
// request target may hold spaces and UTF-8, and continuation lines are
// separate values of the header above them.
func parseRaw(t *testing.T, raw []byte) *http.Request {
	t.Helper()
	head, body, _ := bytes.Cut(raw, []byte("\n\n"))
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Scan()
	line := sc.Text()
	method, rest, _ := strings.Cut(line, " ")
	target := rest[:strings.LastIndex(rest, " ")]
	p, q, _ := strings.Cut(target, "?")
	r := &http.Request{Method: method, URL: &url.URL{Path: p, RawQuery: q}, Header: http.Header{}, ContentLength: int64(len(body))}
	var last string
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			continue
		}
		if l[0] == ' ' || l[0] == '\t' {
			r.Header.Add(last, strings.TrimSpace(l))
			continue
		}
		k, v, _ := strings.Cut(l, ":")
		last = k
		if strings.EqualFold(k, "Host") {
			r.Host = v
			continue
		}
		r.Header.Add(k, v)
	}
	r.Body = http.NoBody
	return r
}

type vector struct {
	name, dir string
}

func vectors(t *testing.T) []vector {
	var out []vector
	err := filepath.WalkDir(suiteDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if _, err := os.Stat(filepath.Join(p, d.Name()+".req")); err == nil {
				out = append(out, vector{name: d.Name(), dir: p})
			}
		}
		return nil
	})
	if err != nil || len(out) < 25 {
		t.Fatalf("found %d vectors (%v)", len(out), err)
	}
	return out
}

func read(t *testing.T, v vector, ext string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(v.dir, v.name+ext))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSuite checks every vector of AWS's published test suite: canonical
// request, string to sign and authorization header, and that Verify accepts
// the signed request and rejects it after any change to the signature.
func TestSuite(t *testing.T) {
	t.Parallel()
	for _, v := range vectors(t) {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			authz := strings.TrimSpace(string(read(t, v, ".authz")))
			_, sh, _ := strings.Cut(authz, "SignedHeaders=")
			sh, _, _ = strings.Cut(sh, ",")
			// Two vectors (post-x-www-form-urlencoded and its -parameters
			// variant) are not self-consistent in the published suite: their
			// .sts does not hash their own .creq. Their canonical request is
			// still checked; the steps derived from the inconsistent .sts are
			// skipped, and only for a vector that fails this check.
			req := parseRaw(t, read(t, v, ".req"))
			_, body, _ := bytes.Cut(read(t, v, ".req"), []byte("\n\n"))
			payload, err := payloadHash(req, body, false)
			if err != nil {
				t.Fatal(err)
			}
			creq := CanonicalRequest(req, strings.Split(sh, ";"), payload, false)
			sts := StringToSign(suiteAmzDate, suiteScope, creq)
			wantCreq, wantSTS := string(read(t, v, ".creq")), string(read(t, v, ".sts"))
			// Two published vectors (post-x-www-form-urlencoded and its
			// -parameters variant) are not self-consistent: their .sts does
			// not hash their own .creq. For those, Arca must agree with one of
			// the two files; the later steps run only if it is the .sts.
			if strings.HasSuffix(wantSTS, hexs(sha256sum([]byte(wantCreq)))) {
				if creq != wantCreq {
					t.Errorf("canonical request:\n%s\nwant:\n%s", creq, wantCreq)
				}
				if sts != wantSTS {
					t.Errorf("string to sign:\n%s\nwant:\n%s", sts, wantSTS)
				}
			} else if creq != wantCreq && sts != wantSTS {
				t.Errorf("inconsistent vector: canonical request matches neither .creq nor .sts:\n%s", creq)
			} else if sts != wantSTS {
				t.Skip("published vector's .sts does not hash its .creq; canonical request matched .creq")
			}
			s := NewSigner(suiteAKID, []byte(suiteSecret), "us-east-1", "service")
			sig := hmacSHA256(s.signingKey("20150830"), sts)
			got := Algorithm + " Credential=" + suiteAKID + "/" + suiteScope + ", SignedHeaders=" + sh + ", Signature=" + hexs(sig)
			if got != authz {
				t.Errorf("authorization:\n%s\nwant:\n%s", got, authz)
			}

			ver := NewVerifier(lookup{suiteAKID: suiteSecret}, Options{Now: func() time.Time { return suiteTime }})
			sraw := read(t, v, ".sreq")
			sreq := parseRaw(t, sraw)
			_, sbody, _ := bytes.Cut(sraw, []byte("\n\n"))
			res, err := ver.Verify(sreq, sbody)
			if err != nil {
				t.Fatalf("Verify(signed request): %v", err)
			}
			if res.AccessKeyID != suiteAKID || res.Region != "us-east-1" || res.Service != "service" || !res.SignedAt.Equal(suiteTime) {
				t.Errorf("Result = %+v", res)
			}
			full := sreq.Header.Get("Authorization")
			i := strings.LastIndex(full, "Signature=") + len("Signature=")
			for _, pos := range []int{i, i + 31, len(full) - 1} {
				bad := []byte(full)
				bad[pos] ^= 0x01
				if bad[pos] == full[pos] {
					continue
				}
				sreq.Header.Set("Authorization", string(bad))
				if _, err := ver.Verify(sreq, sbody); svcerr.CodeOf(err) != svcerr.InvalidSignature {
					t.Errorf("signature byte %d changed: %v", pos-i, err)
				}
			}
		})
	}
}

func sha256sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func hexs(b []byte) string {
	const h = "0123456789abcdef"
	out := make([]byte, 0, len(b)*2)
	for _, c := range b {
		out = append(out, h[c>>4], h[c&15])
	}
	return string(out)
}

// signedRequest builds a KMS-shaped request signed at t by Signer.
func signedRequest(t *testing.T, akid, secret string, at time.Time, body string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:4599/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	if err := NewSigner(akid, []byte(secret), "us-east-1", "kms").Sign(r, []byte(body), at); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifyErrors(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ver := NewVerifier(lookup{"AKIDGOOD": "secret"}, Options{Now: func() time.Time { return now }})
	body := `{"Limit":10}`
	tests := []struct {
		name   string
		mutate func(r *http.Request) (*http.Request, string)
		code   svcerr.Code
		msg    string
	}{
		{"valid", func(r *http.Request) (*http.Request, string) { return r, body }, "", ""},
		{"missing", func(r *http.Request) (*http.Request, string) { r.Header.Del("Authorization"); return r, body }, svcerr.MissingAuthToken, "Missing Authentication Token"},
		{"wrong algorithm", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), Algorithm, "AWS4-HMAC-SHA1", 1))
			return r, body
		}, svcerr.IncompleteSignature, "algorithm"},
		{"no signature part", func(r *http.Request) (*http.Request, string) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
			return r, body
		}, svcerr.IncompleteSignature, "'Signature'"},
		{"bad terminator", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "aws4_request", "aws5_request", 1))
			return r, body
		}, svcerr.IncompleteSignature, "terminator"},
		{"unknown key", func(r *http.Request) (*http.Request, string) {
			return signedRequest(t, "AKIDNOPE", "secret", now, body), body
		}, svcerr.UnrecognizedClient, "security token included in the request is invalid"},
		{"wrong secret", func(r *http.Request) (*http.Request, string) {
			return signedRequest(t, "AKIDGOOD", "wrong", now, body), body
		}, svcerr.InvalidSignature, "does not match"},
		{"tampered body", func(r *http.Request) (*http.Request, string) { return r, `{"Limit":11}` }, svcerr.InvalidSignature, "does not match"},
		{"tampered signed header", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("X-Amz-Target", "TrentService.CreateKey")
			return r, body
		}, svcerr.InvalidSignature, "does not match"},
		{"host not signed", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "host;", "", 1))
			return r, body
		}, svcerr.InvalidSignature, "'Host'"},
		{"content sha mismatch", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			return r, body
		}, svcerr.InvalidSignature, "x-amz-content-sha256"},
		{"no date", func(r *http.Request) (*http.Request, string) { r.Header.Del("X-Amz-Date"); return r, body }, svcerr.IncompleteSignature, "X-Amz-Date"},
		{"scope date mismatch", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261122/", "/20261121/", 1))
			return r, body
		}, svcerr.InvalidSignature, "Date in Credential scope"},
		{"14m59s old", func(*http.Request) (*http.Request, string) {
			return signedRequest(t, "AKIDGOOD", "secret", now.Add(-15*time.Minute+time.Second), body), body
		}, "", ""},
		{"15m01s old", func(*http.Request) (*http.Request, string) {
			return signedRequest(t, "AKIDGOOD", "secret", now.Add(-15*time.Minute-time.Second), body), body
		}, svcerr.InvalidSignature, "Signature expired"},
		{"14m59s ahead", func(*http.Request) (*http.Request, string) {
			return signedRequest(t, "AKIDGOOD", "secret", now.Add(15*time.Minute-time.Second), body), body
		}, "", ""},
		{"15m01s ahead", func(*http.Request) (*http.Request, string) {
			return signedRequest(t, "AKIDGOOD", "secret", now.Add(15*time.Minute+time.Second), body), body
		}, svcerr.InvalidSignature, "not yet current"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, b := tc.mutate(signedRequest(t, "AKIDGOOD", "secret", now, body))
			_, err := ver.Verify(r, []byte(b))
			if tc.code == "" {
				if err != nil {
					t.Errorf("Verify = %v, want success", err)
				}
				return
			}
			var se *svcerr.Error
			if !errors.As(err, &se) || se.Code != tc.code || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("Verify = %v, want %s mentioning %q", err, tc.code, tc.msg)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the secret: %v", err)
			}
		})
	}
}

func TestPresigned(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ver := NewVerifier(lookup{"AKIDGOOD": "secret"}, Options{Now: func() time.Time { return now }})
	presign := func(at time.Time, expires string) *http.Request {
		amz := at.Format(timeFormat)
		q := url.Values{}
		q.Set("X-Amz-Algorithm", Algorithm)
		q.Set("X-Amz-Credential", "AKIDGOOD/"+amz[:8]+"/us-east-1/kms/aws4_request")
		q.Set("X-Amz-Date", amz)
		q.Set("X-Amz-Expires", expires)
		q.Set("X-Amz-SignedHeaders", "host")
		r, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:4599/?"+q.Encode(), nil)
		creq := CanonicalRequest(r, []string{"host"}, unsignedPayload, true)
		sig := hexs(hmacSHA256(DeriveSigningKey([]byte("secret"), amz[:8], "us-east-1", "kms"), StringToSign(amz, scope(amz[:8], "us-east-1", "kms"), creq)))
		r.URL.RawQuery += "&X-Amz-Signature=" + sig
		return r
	}
	if _, err := ver.Verify(presign(now.Add(-time.Minute), "300"), nil); err != nil {
		t.Errorf("valid presigned request: %v", err)
	}
	if _, err := ver.Verify(presign(now.Add(-10*time.Minute), "300"), nil); svcerr.CodeOf(err) != svcerr.InvalidSignature {
		t.Errorf("expired presigned request: %v", err)
	}
	if _, err := ver.Verify(presign(now, "604801"), nil); svcerr.CodeOf(err) != svcerr.InvalidSignature {
		t.Errorf("X-Amz-Expires over a week: %v", err)
	}
	r := presign(now, "300")
	r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-Expires=300", "X-Amz-Expires=301", 1)
	if _, err := ver.Verify(r, nil); svcerr.CodeOf(err) != svcerr.InvalidSignature {
		t.Errorf("tampered presigned query: %v", err)
	}
}

// TestKeyCacheFollowsSecret: a cached signing key must not outlive a
// change of the secret behind the access key.
func TestKeyCacheFollowsSecret(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	l := lookup{"AKIDGOOD": "secret"}
	ver := NewVerifier(l, Options{Now: func() time.Time { return now }})
	if _, err := ver.Verify(signedRequest(t, "AKIDGOOD", "secret", now, "{}"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	l["AKIDGOOD"] = "rotated"
	if _, err := ver.Verify(signedRequest(t, "AKIDGOOD", "secret", now, "{}"), []byte("{}")); svcerr.CodeOf(err) != svcerr.InvalidSignature {
		t.Errorf("old secret still accepted after rotation: %v", err)
	}
	if _, err := ver.Verify(signedRequest(t, "AKIDGOOD", "rotated", now, "{}"), []byte("{}")); err != nil {
		t.Errorf("new secret refused: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ver := NewVerifier(lookup{"AKIDGOOD": "secret"}, Options{Now: func() time.Time { return now }})
	f.Add("AWS4-HMAC-SHA256 Credential=AKIDGOOD/20261122/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00", "20261122T120000Z", "", []byte("{}"))
	f.Add("AWS4-HMAC-SHA256 Credential=/, SignedHeaders=, Signature=", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a/b/c/d/aws4_request", []byte{})
	f.Add("", "garbage", "X-Amz-Expires=-1&X-Amz-Signature=x", []byte("x"))
	f.Fuzz(func(t *testing.T, authz, date, query string, body []byte) {
		r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/", RawQuery: query}, Host: "h", Header: http.Header{}}
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Amz-Date", date)
		_, err := ver.Verify(r, body)
		if err != nil && svcerr.As(err) == nil {
			t.Errorf("error is not a *svcerr.Error: %v", err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	ver := NewVerifier(lookup{"AKIDGOOD": "secret"}, Options{})
	body := []byte(`{"KeyId":"alias/x","Plaintext":"AAAA"}`)
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:4599/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	NewSigner("AKIDGOOD", []byte("secret"), "us-east-1", "kms").Sign(r, body, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ver.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign(b *testing.B) {
	s := NewSigner("AKIDGOOD", []byte("secret"), "us-east-1", "kms")
	body := []byte(`{"KeyId":"alias/x","Plaintext":"AAAA"}`)
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:4599/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.Sign(r, body, now)
	}
}
