package sigv4

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/svcerr"
)

// FuzzVerify feeds Verify arbitrary Authorization headers, X-Amz-Date
// values, query strings (the presigned form), paths and bodies. Verify must
// not panic, must fail only with *svcerr.Error, must not reveal the secret,
// must not change the request, and may succeed only for the signer's key.
// Seeds are in testdata/fuzz/FuzzVerify: a valid header-signed request, a
// valid presigned one, and malformed variants of both.
func FuzzVerify(f *testing.F) {
	valid := kmsRequest(testAKID, testSecret, testNow, testBody)
	f.Add(valid.Header.Get("Authorization"), valid.Header.Get("X-Amz-Date"), "", "/", []byte(testBody))
	ver := testVerifier(Options{})
	f.Fuzz(func(t *testing.T, authz, amzDate, query, path string, body []byte) {
		r := &http.Request{
			Method: http.MethodPost,
			URL:    &url.URL{Path: path, RawQuery: query},
			Host:   "kms.example:4599",
			Header: http.Header{
				"Content-Type": {"application/x-amz-json-1.1"},
				"X-Amz-Target": {"TrentService.ListKeys"},
			},
		}
		if strings.HasPrefix(path, "/") {
			r.RequestURI = path
			if query != "" {
				r.RequestURI += "?" + query
			}
		}
		if authz != "" {
			r.Header.Set("Authorization", authz)
		}
		if amzDate != "" {
			r.Header.Set("X-Amz-Date", amzDate)
		}
		before := r.Clone(r.Context())
		res, err := ver.Verify(r, body)
		if err != nil {
			if svcerr.As(err) == nil {
				t.Fatalf("Verify error is not a *svcerr.Error: %T %v", err, err)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Fatalf("error reveals the secret: %v", err)
			}
		} else if res.AccessKeyID != testAKID {
			t.Fatalf("Verify accepted a signature for %q", res.AccessKeyID)
		}
		if r.Method != before.Method || r.Host != before.Host || r.RequestURI != before.RequestURI ||
			r.URL.String() != before.URL.String() || len(r.Header) != len(before.Header) {
			t.Fatalf("Verify changed the request")
		}
		for k, v := range before.Header {
			if strings.Join(r.Header[k], "\x00") != strings.Join(v, "\x00") {
				t.Fatalf("Verify changed header %s", k)
			}
		}
	})
}

// FuzzSignVerify signs requests of arbitrary path, query, X-Amz-Target
// and body with Signer, carries them through net/http's own writer and
// parser, as between a client and Arca, and expects Verify to accept them.
// It finds any way in which what the client signs and what the server
// sees can drift apart.
func FuzzSignVerify(f *testing.F) {
	f.Add("/", "", "TrentService.ListKeys", []byte(testBody))
	f.Add("/a b/./c/../ሴ//", "b=2&a=1&a=0&c=x%20y&d=%2B&e=&f&g=a+b", "  x   y ", []byte{})
	f.Add("/%2F%zz", "%zz=1&=&&x=%", "\tt\t", []byte("\x00\xff"))
	signer := NewSigner(testAKID, []byte(testSecret), "us-east-1", "kms")
	ver := testVerifier(Options{})
	f.Fuzz(func(t *testing.T, path, query, target string, body []byte) {
		for i := 0; i < len(target); i++ {
			if c := target[i]; c < ' ' && c != '\t' || c == 0x7f {
				t.Skip("net/http does not carry control characters in header values")
			}
		}
		r, err := http.NewRequest(http.MethodPost, "http://kms.example:4599/", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.URL.Path, r.URL.RawQuery = path, query
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", target)
		if err := signer.Sign(r, body, testNow); err != nil {
			t.Fatal(err)
		}
		var wire bytes.Buffer
		if err := r.Write(&wire); err != nil {
			t.Skip("net/http will not send it:", err)
		}
		got, err := http.ReadRequest(bufio.NewReader(&wire))
		if err != nil {
			t.Skip("net/http will not parse it:", err)
		}
		if got.URL.RawQuery != query {
			t.Skip("net/http does not carry the query as written")
		}
		if _, err := ver.Verify(got, body); err != nil {
			t.Errorf("Verify refused a request Signer signed: %v\nsent:\n%q\nclient canonical request:\n%s\nserver canonical request:\n%s",
				err, wire.String(), CanonicalRequest(r, signedList(r), sha256Hex(body), false), CanonicalRequest(got, signedList(r), sha256Hex(body), false))
		}
	})
}

func signedList(r *http.Request) []string {
	return strings.Split(signedHeadersOf(r.Header.Get("Authorization")), ";")
}

// BenchmarkVerify verifies a KMS request, shaped as Arca's server receives
// it from the load tool, with its signing key cached: the hot path.
func BenchmarkVerify(b *testing.B) {
	body := []byte(`{"KeyId":"alias/bench","Plaintext":"AAAAAAAAAAAAAAAAAAAAAA=="}`)
	r := serverRequest(b, body, func(r *http.Request) {
		if err := NewSigner(testAKID, []byte(testSecret), "us-east-1", "kms").Sign(r, body, testNow); err != nil {
			b.Fatal(err)
		}
	})
	benchVerify(b, r, body)
}

// BenchmarkVerifySDKShaped is BenchmarkVerify for the seven headers
// aws-sdk-go-v2 signs on a KMS call.
func BenchmarkVerifySDKShaped(b *testing.B) {
	body := []byte(`{"KeyId":"alias/bench","Plaintext":"AAAAAAAAAAAAAAAAAAAAAA=="}`)
	r := serverRequest(b, body, func(r *http.Request) {
		r.Header.Set("Amz-Sdk-Invocation-Id", "5f2d3b4e-1c1a-4a6e-9a63-0e1b2f3c4d5e")
		r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
		signed := []string{"amz-sdk-invocation-id", "amz-sdk-request", "content-length", "content-type", "host", "x-amz-date", "x-amz-target"}
		r.Header.Set("X-Amz-Date", testNow.Format(TimeFormat))
		r.Header.Set("Authorization", manual(r, testNow.Format(TimeFormat), signed, sha256Hex(body)))
	})
	benchVerify(b, r, body)
}

func benchVerify(b *testing.B, r *http.Request, body []byte) {
	ver := testVerifier(Options{})
	if _, err := ver.Verify(r, body); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ver.Verify(r, body); err != nil {
			b.Fatal(err)
		}
	}
}

// serverRequest signs a KMS Encrypt request with sign and returns it as
// net/http's server parses it.
func serverRequest(b *testing.B, body []byte, sign func(*http.Request)) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://kms.example:4599/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	sign(r)
	var wire bytes.Buffer
	if err := r.Write(&wire); err != nil {
		b.Fatal(err)
	}
	got, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		b.Fatal(err)
	}
	return got
}

// BenchmarkSign signs the load tool's KMS request with a cached key.
func BenchmarkSign(b *testing.B) {
	s := NewSigner(testAKID, []byte(testSecret), "us-east-1", "kms")
	body := []byte(`{"KeyId":"alias/bench","Plaintext":"AAAAAAAAAAAAAAAAAAAAAA=="}`)
	r, _ := http.NewRequest(http.MethodPost, "http://kms.example:4599/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.Encrypt")
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Sign(r, body, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDeriveSigningKey is what each cache saves per request.
func BenchmarkDeriveSigningKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		DeriveSigningKey([]byte(testSecret), "20261122", "us-east-1", "kms")
	}
}
