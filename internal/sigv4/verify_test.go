package sigv4

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/svcerr"
)

const (
	testAKID   = "AKIDGOOD"
	testSecret = "s3cr3t-access-key-for-tests"
	testBody   = `{"Limit":10}`
)

var testNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func testVerifier(opts Options) *Verifier {
	if opts.Now == nil {
		opts.Now = func() time.Time { return testNow }
	}
	return NewVerifier(lookup{testAKID: testSecret}, opts)
}

// kmsRequest is a KMS-shaped request signed by Signer at t, as a server
// receives it (Host in r.Host, RequestURI set).
// It panics on failure, which would be a bug in the test itself.
func kmsRequest(akid, secret string, at time.Time, body string) *http.Request {
	r, err := http.NewRequest(http.MethodPost, "http://kms.example:4599/", strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	if err := NewSigner(akid, []byte(secret), "us-east-1", "kms").Sign(r, []byte(body), at); err != nil {
		panic(err)
	}
	r.RequestURI = "/"
	return r
}

// manual signs r over the given headers with the building blocks, for
// requests Signer would not produce.
func manual(r *http.Request, amzDate string, signed []string, payload string) string {
	scope := CredentialScope(amzDate[:8], "us-east-1", "kms")
	sts := StringToSign(amzDate, scope, CanonicalRequest(r, signed, payload, false))
	return Algorithm + " Credential=" + testAKID + "/" + scope + ", SignedHeaders=" + strings.Join(signed, ";") +
		", Signature=" + Signature(DeriveSigningKey([]byte(testSecret), amzDate[:8], "us-east-1", "kms"), sts)
}

func replaceAuthz(old, new string) func(r *http.Request) (*http.Request, string) {
	return func(r *http.Request) (*http.Request, string) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
		return r, testBody
	}
}

func setHeader(k, v string) func(r *http.Request) (*http.Request, string) {
	return func(r *http.Request) (*http.Request, string) {
		r.Header.Set(k, v)
		return r, testBody
	}
}

func delHeader(k string) func(r *http.Request) (*http.Request, string) {
	return func(r *http.Request) (*http.Request, string) {
		r.Header.Del(k)
		return r, testBody
	}
}

func signedAt(d time.Duration) func(*http.Request) (*http.Request, string) {
	return func(*http.Request) (*http.Request, string) {
		return kmsRequest(testAKID, testSecret, testNow.Add(d), testBody), testBody
	}
}

type failingLookup struct{}

func (failingLookup) LookupSecret(context.Context, string) ([]byte, error) {
	return nil, errors.New("iam store unavailable")
}

func TestVerifyErrors(t *testing.T) {
	t.Parallel()
	emptyHash := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		name   string
		mutate func(r *http.Request) (*http.Request, string)
		code   svcerr.Code // "" means Verify must succeed
		msg    string      // exact message if it has no '…', else a fragment
	}{
		{"valid", func(r *http.Request) (*http.Request, string) { return r, testBody }, "", ""},
		{"missing", delHeader("Authorization"), svcerr.MissingAuthToken, "Missing Authentication Token"},
		{"not AWS4", setHeader("Authorization", "Bearer abc"), svcerr.MissingAuthToken, "Missing Authentication Token"},
		{"both forms", func(r *http.Request) (*http.Request, string) {
			r.URL.RawQuery = "X-Amz-Algorithm=" + Algorithm
			return r, testBody
		}, svcerr.InvalidSignature, "Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' as HTTP header."},
		{"other algorithm", replaceAuthz(Algorithm, "AWS4-HMAC-SHA512"),
			svcerr.IncompleteSignature, "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512' (only AWS4-HMAC-SHA256 for now)."},
		{"no signature part", func(r *http.Request) (*http.Request, string) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:strings.Index(a, ", Signature=")])
			return r, testBody
		}, svcerr.IncompleteSignature, "Authorization header requires 'Signature' parameter. Authorization=AWS4-HMAC-SHA256 Credential=…"},
		{"only algorithm", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", Algorithm)
			r.Header.Del("X-Amz-Date")
			return r, testBody
		}, svcerr.IncompleteSignature, "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
			"Authorization header requires 'SignedHeaders' parameter. Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. " +
			"Authorization=AWS4-HMAC-SHA256"},
		{"no date", delHeader("X-Amz-Date"), svcerr.IncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=…"},
		{"space after Credential=", replaceAuthz("Credential=", "Credential= "),
			svcerr.IncompleteSignature, "'AKIDGOOD/20261122/us-east-1/kms/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization header: 'AWS4-HMAC-SHA256 Credential= AKIDGOOD/…"},
		{"no spaces after commas", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", strings.ReplaceAll(r.Header.Get("Authorization"), ", ", ","))
			return r, testBody
		}, "", ""},
		{"bad date", setHeader("X-Amz-Date", "2026-11-22T12:00:00Z"), svcerr.IncompleteSignature, "Date must be in ISO-8601 'basic format'. Got '2026-11-22T12:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"},
		{"one-digit hour", setHeader("X-Amz-Date", "20261122T9000000Z"), svcerr.IncompleteSignature, "Date must be in ISO-8601 'basic format'. …"},
		{"four-part credential", replaceAuthz("/aws4_request", ""),
			svcerr.IncompleteSignature, "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDGOOD/20261122/us-east-1/kms'"},
		{"trailing slash in credential", replaceAuthz("aws4_request", "aws4_request/"), "", ""},
		{"bad terminator", replaceAuthz("aws4_request", "aws5_request"),
			svcerr.InvalidSignature, "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{"scope date mismatch", replaceAuthz("/20261122/", "/20261121/"),
			svcerr.InvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261121' != '20261122', from '20261122T120000Z'."},
		{"host not signed", replaceAuthz("host;", ""),
			svcerr.InvalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{"unknown key", func(*http.Request) (*http.Request, string) {
			return kmsRequest("AKIDNOPE", testSecret, testNow, testBody), testBody
		}, svcerr.UnrecognizedClient, "The security token included in the request is invalid."},
		{"unknown key beats bad signature", func(*http.Request) (*http.Request, string) {
			r := kmsRequest("AKIDNOPE", testSecret, testNow, testBody)
			r.Header.Set("Authorization", r.Header.Get("Authorization")+"zz")
			return r, testBody
		}, svcerr.UnrecognizedClient, "The security token included in the request is invalid."},
		{"wrong secret", func(*http.Request) (*http.Request, string) {
			return kmsRequest(testAKID, "wrong", testNow, testBody), testBody
		}, svcerr.InvalidSignature, msgMismatch},
		{"tampered body", func(r *http.Request) (*http.Request, string) { return r, `{"Limit":11}` }, svcerr.InvalidSignature, msgMismatch},
		{"empty body", func(r *http.Request) (*http.Request, string) { return r, "" }, svcerr.InvalidSignature, msgMismatch},
		{"tampered signed header", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("X-Amz-Target", "TrentService.ScheduleKeyDeletion")
			return r, testBody
		}, svcerr.InvalidSignature, msgMismatch},
		{"second value of a signed header", func(r *http.Request) (*http.Request, string) {
			r.Header.Add("X-Amz-Target", "TrentService.ScheduleKeyDeletion")
			return r, testBody
		}, svcerr.InvalidSignature, msgMismatch},
		{"tampered host", func(r *http.Request) (*http.Request, string) { r.Host = "other.example:4599"; return r, testBody },
			svcerr.InvalidSignature, msgMismatch},
		{"unsigned header added", setHeader("User-Agent", "x"), "", ""},
		{"short signature", replaceAuthz("Signature=", "Signature=ab"), svcerr.InvalidSignature, msgMismatch},
		{"non-hex signature", func(r *http.Request) (*http.Request, string) {
			a := r.Header.Get("Authorization")
			r.Header.Set("Authorization", a[:len(a)-1]+"g")
			return r, testBody
		}, svcerr.InvalidSignature, msgMismatch},
		{"upper-case signature", func(r *http.Request) (*http.Request, string) {
			a := r.Header.Get("Authorization")
			i := strings.Index(a, "Signature=") + len("Signature=")
			r.Header.Set("Authorization", a[:i]+strings.ToUpper(a[i:]))
			return r, testBody
		}, "", ""},
		{"signed header named twice", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", manual(r, r.Header.Get("X-Amz-Date"), []string{"host", "x-amz-date", "host"}, sha256Hex([]byte(testBody))))
			return r, testBody
		}, svcerr.InvalidSignature, msgMismatch},
		{"signed header named twice, cases differing", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", manual(r, r.Header.Get("X-Amz-Date"), []string{"Host", "X-Amz-Date", "host"}, sha256Hex([]byte(testBody))))
			return r, testBody
		}, svcerr.InvalidSignature, msgMismatch},
		{"signed headers unsorted", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", manual(r, r.Header.Get("X-Amz-Date"), []string{"x-amz-target", "host", "x-amz-date"}, sha256Hex([]byte(testBody))))
			return r, testBody
		}, "", ""},
		{"content sha256 matches", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("X-Amz-Content-Sha256", strings.ToUpper(sha256Hex([]byte(testBody))))
			return r, testBody
		}, "", ""},
		{"content sha256 mismatch", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("0", 64))
			return r, testBody
		}, svcerr.InvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed."},
		{"unsigned payload does not cover a body", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
			r.Header.Set("Authorization", manual(r, r.Header.Get("X-Amz-Date"), []string{"host", "x-amz-content-sha256", "x-amz-date"}, UnsignedPayload))
			return r, `{"Limit":99}`
		}, svcerr.InvalidSignature, msgMismatch},
		{"unsigned payload without body", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
			r.Header.Set("Authorization", manual(r, r.Header.Get("X-Amz-Date"), []string{"host", "x-amz-content-sha256", "x-amz-date"}, UnsignedPayload))
			return r, ""
		}, "", ""},
		{"empty body signed", func(r *http.Request) (*http.Request, string) {
			r.Header.Set("Authorization", manual(r, r.Header.Get("X-Amz-Date"), []string{"host", "x-amz-date"}, emptyHash))
			return r, ""
		}, "", ""},
		{"Date header instead of X-Amz-Date", func(r *http.Request) (*http.Request, string) {
			r.Header.Del("X-Amz-Date")
			r.Header.Set("Date", testNow.Format(http.TimeFormat))
			r.Header.Set("Authorization", manual(r, testNow.Format(TimeFormat), []string{"date", "host"}, sha256Hex([]byte(testBody))))
			return r, testBody
		}, "", ""},
		{"bad Date header", func(r *http.Request) (*http.Request, string) {
			r.Header.Del("X-Amz-Date")
			r.Header.Set("Date", "yesterday")
			return r, testBody
		}, svcerr.IncompleteSignature, "Date must be in ISO-8601 'basic format'. Got 'yesterday'. …"},
		{"exactly 15m old", signedAt(-15 * time.Minute), "", ""},
		{"14m59s old", signedAt(-15*time.Minute + time.Second), "", ""},
		{"15m01s old", signedAt(-15*time.Minute - time.Second), svcerr.InvalidSignature,
			"Signature expired: 20261122T114459Z is now earlier than 20261122T114500Z (20261122T120000Z - 15 min.)"},
		{"exactly 15m ahead", signedAt(15 * time.Minute), "", ""},
		{"14m59s ahead", signedAt(15*time.Minute - time.Second), "", ""},
		{"15m01s ahead", signedAt(15*time.Minute + time.Second), svcerr.InvalidSignature,
			"Signature not yet current: 20261122T121501Z is still later than 20261122T121500Z (20261122T120000Z + 15 min.)"},
		{"a day old", signedAt(-24 * time.Hour), svcerr.InvalidSignature, "Signature expired: 20261121T120000Z is now earlier than …"},
	}
	ver := testVerifier(Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, body := tc.mutate(kmsRequest(testAKID, testSecret, testNow, testBody))
			res, err := ver.Verify(r, []byte(body))
			checkErr(t, err, tc.code, tc.msg)
			if tc.code == "" && err == nil && (res.AccessKeyID != testAKID || res.Region != "us-east-1" || res.Service != "kms" || res.Presigned) {
				t.Errorf("Result = %+v", res)
			}
		})
	}
}

// checkErr checks that err is a *svcerr.Error with code and message msg,
// where "…" in msg stands for anything; code "" means no error. It also
// checks that no error reveals the secret or the expected signature.
func checkErr(t *testing.T, err error, code svcerr.Code, msg string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Errorf("Verify = %v, want success", err)
		}
		return
	}
	se := svcerr.As(err)
	if se == nil {
		t.Errorf("Verify = %v (%T), want *svcerr.Error %s", err, err, code)
		return
	}
	if se.Code != code || !matchMsg(se.Msg, msg) {
		t.Errorf("Verify = %s: %q\nwant     %s: %q", se.Code, se.Msg, code, msg)
	}
	if strings.Contains(se.Error(), testSecret) {
		t.Errorf("error reveals the secret: %v", err)
	}
}

func matchMsg(got, want string) bool {
	parts := strings.Split(want, "…")
	if len(parts) == 1 {
		return got == want
	}
	if !strings.HasPrefix(got, parts[0]) {
		return false
	}
	rest := got[len(parts[0]):]
	for _, p := range parts[1:] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return strings.HasSuffix(got, parts[len(parts)-1])
}

// TestMismatchHidesExpectedSignature: the error for a wrong signature must
// not carry the signature Arca computed, or it would sign for anyone.
func TestMismatchHidesExpectedSignature(t *testing.T) {
	t.Parallel()
	good := kmsRequest(testAKID, testSecret, testNow, testBody)
	bad := kmsRequest(testAKID, "wrong", testNow, testBody)
	_, err := testVerifier(Options{}).Verify(bad, []byte(testBody))
	if err == nil {
		t.Fatal("wrong signature accepted")
	}
	if want := sigOf(good.Header.Get("Authorization")); strings.Contains(fmt.Sprintf("%v %+v", err, err), want) {
		t.Errorf("error reveals the expected signature: %v", err)
	}
}

func TestVerifyLookupFailure(t *testing.T) {
	t.Parallel()
	ver := NewVerifier(failingLookup{}, Options{Now: func() time.Time { return testNow }})
	_, err := ver.Verify(kmsRequest(testAKID, testSecret, testNow, testBody), []byte(testBody))
	se := svcerr.As(err)
	if se == nil || se.Code != svcerr.Internal || strings.Contains(se.Msg, "iam store") {
		t.Errorf("Verify with a failing lookup = %v, want a KMSInternalException that hides the cause", err)
	}
	if err != nil && !strings.Contains(fmt.Sprint(errors.Unwrap(err)), "iam store unavailable") {
		t.Errorf("internal cause lost: %v", errors.Unwrap(err))
	}
}

func TestMaxSkewOption(t *testing.T) {
	t.Parallel()
	ver := testVerifier(Options{MaxSkew: 5 * time.Minute})
	for _, tc := range []struct {
		at   time.Duration
		code svcerr.Code
		msg  string
	}{
		{-5 * time.Minute, "", ""},
		{-5*time.Minute - time.Second, svcerr.InvalidSignature, "Signature expired: 20261122T115459Z is now earlier than 20261122T115500Z (20261122T120000Z - 5 min.)"},
		{5*time.Minute + time.Second, svcerr.InvalidSignature, "Signature not yet current: 20261122T120501Z is still later than 20261122T120500Z (20261122T120000Z + 5 min.)"},
	} {
		_, err := ver.Verify(kmsRequest(testAKID, testSecret, testNow.Add(tc.at), testBody), []byte(testBody))
		checkErr(t, err, tc.code, tc.msg)
	}
}

// presign builds a presigned GET at t with the building blocks; q may
// preset parameters (X-Amz-Expires, X-Amz-Security-Token, ...).
func presign(t *testing.T, at time.Time, secret string, q url.Values, payload string) *http.Request {
	t.Helper()
	amz := at.UTC().Format(TimeFormat)
	if q == nil {
		q = url.Values{}
	}
	q.Set("X-Amz-Algorithm", Algorithm)
	q.Set("X-Amz-Credential", testAKID+"/"+CredentialScope(amz[:8], "us-east-1", "kms"))
	q.Set("X-Amz-Date", amz)
	q.Set("X-Amz-SignedHeaders", "host")
	r, err := http.NewRequest(http.MethodGet, "http://kms.example/?Action=ListKeys&"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sts := StringToSign(amz, CredentialScope(amz[:8], "us-east-1", "kms"), CanonicalRequest(r, []string{"host"}, payload, true))
	r.URL.RawQuery += "&X-Amz-Signature=" + Signature(DeriveSigningKey([]byte(secret), amz[:8], "us-east-1", "kms"), sts)
	r.RequestURI = r.URL.RequestURI()
	return r
}

func TestPresigned(t *testing.T) {
	t.Parallel()
	emptyHash := sha256Hex(nil)
	expires := func(s string) url.Values { return url.Values{"X-Amz-Expires": {s}} }
	tests := []struct {
		name string
		req  func() *http.Request
		body string
		code svcerr.Code
		msg  string
	}{
		{"valid, unsigned payload", func() *http.Request {
			return presign(t, testNow.Add(-time.Minute), testSecret, expires("300"), UnsignedPayload)
		}, "", "", ""},
		{"valid, empty body hash", func() *http.Request { return presign(t, testNow, testSecret, expires("300"), emptyHash) }, "", "", ""},
		{"unsigned payload does not cover a body", func() *http.Request { return presign(t, testNow, testSecret, nil, UnsignedPayload) },
			"x", svcerr.InvalidSignature, msgMismatch},
		{"no X-Amz-Expires, within skew", func() *http.Request {
			return presign(t, testNow.Add(-14*time.Minute), testSecret, nil, UnsignedPayload)
		}, "", "", ""},
		{"no X-Amz-Expires, past skew", func() *http.Request {
			return presign(t, testNow.Add(-16*time.Minute), testSecret, nil, UnsignedPayload)
		},
			"", svcerr.InvalidSignature, "Signature expired: 20261122T114400Z is now earlier than 20261122T114500Z (20261122T120000Z - 15 min.)"},
		{"long X-Amz-Expires", func() *http.Request {
			return presign(t, testNow.Add(-6*24*time.Hour), testSecret, expires("604800"), UnsignedPayload)
		}, "", "", ""},
		{"expired", func() *http.Request {
			return presign(t, testNow.Add(-301*time.Second), testSecret, expires("300"), UnsignedPayload)
		},
			"", svcerr.InvalidSignature, "Signature expired: 20261122T115459Z is now earlier than 20261122T115500Z (20261122T120000Z - 5 min.)"},
		{"expired, odd seconds", func() *http.Request {
			return presign(t, testNow.Add(-2*time.Minute), testSecret, expires("90"), UnsignedPayload)
		},
			"", svcerr.InvalidSignature, "Signature expired: … (20261122T120000Z - 90 sec.)"},
		{"future", func() *http.Request {
			return presign(t, testNow.Add(16*time.Minute), testSecret, expires("3600"), UnsignedPayload)
		},
			"", svcerr.InvalidSignature, "Signature not yet current: …"},
		{"X-Amz-Expires zero", func() *http.Request { return presign(t, testNow, testSecret, expires("0"), UnsignedPayload) },
			"", svcerr.IncompleteSignature, "X-Amz-Expires must be an integer number of seconds from 1 to 604800; got '0'."},
		{"X-Amz-Expires over a week", func() *http.Request { return presign(t, testNow, testSecret, expires("604801"), UnsignedPayload) },
			"", svcerr.IncompleteSignature, "X-Amz-Expires must be … got '604801'."},
		{"X-Amz-Expires not a number", func() *http.Request { return presign(t, testNow, testSecret, expires("1e3"), UnsignedPayload) },
			"", svcerr.IncompleteSignature, "X-Amz-Expires must be … got '1e3'."},
		{"tampered query", func() *http.Request {
			r := presign(t, testNow, testSecret, expires("300"), UnsignedPayload)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "Action=ListKeys", "Action=CreateKey", 1)
			return r
		}, "", svcerr.InvalidSignature, msgMismatch},
		{"wrong secret", func() *http.Request { return presign(t, testNow, "wrong", nil, UnsignedPayload) }, "", svcerr.InvalidSignature, msgMismatch},
		{"session token", func() *http.Request {
			return presign(t, testNow, testSecret, url.Values{"X-Amz-Security-Token": {"tok/en+="}}, UnsignedPayload)
		}, "", "", ""},
		{"missing parts", func() *http.Request {
			r := presign(t, testNow, testSecret, nil, UnsignedPayload)
			q := r.URL.Query()
			q.Del("X-Amz-Signature")
			q.Del("X-Amz-Date")
			r.URL.RawQuery = q.Encode()
			return r
		}, "", svcerr.IncompleteSignature, "AWS query-string parameters must include 'X-Amz-Signature'. AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters."},
		{"host not signed", func() *http.Request {
			r := presign(t, testNow, testSecret, nil, UnsignedPayload)
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date", 1)
			return r
		}, "", svcerr.InvalidSignature, msgHostUnsigned},
	}
	ver := testVerifier(Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.req()
			res, err := ver.Verify(r, []byte(tc.body))
			checkErr(t, err, tc.code, tc.msg)
			if err == nil && (!res.Presigned || res.SessionToken != r.URL.Query().Get("X-Amz-Security-Token")) {
				t.Errorf("Result = %+v", res)
			}
		})
	}
}

// TestKeyCacheFollowsSecret: a cached signing key must not outlive a
// change of the secret behind the access key.
func TestKeyCacheFollowsSecret(t *testing.T) {
	t.Parallel()
	l := lookup{testAKID: testSecret}
	ver := NewVerifier(l, Options{Now: func() time.Time { return testNow }})
	verify := func(secret string) error {
		_, err := ver.Verify(kmsRequest(testAKID, secret, testNow, testBody), []byte(testBody))
		return err
	}
	if err := verify(testSecret); err != nil {
		t.Fatal(err)
	}
	l[testAKID] = "rotated"
	if err := verify(testSecret); svcerr.CodeOf(err) != svcerr.InvalidSignature {
		t.Errorf("old secret still accepted after rotation: %v", err)
	}
	if err := verify("rotated"); err != nil {
		t.Errorf("new secret refused: %v", err)
	}
}

// TestKeyCacheOnlyVerified: failed verifications must not add to the
// cache, so that people without the secret cannot grow it.
func TestKeyCacheOnlyVerified(t *testing.T) {
	t.Parallel()
	ver := testVerifier(Options{})
	for i := range 10 {
		r := kmsRequest(testAKID, "wrong", testNow, testBody)
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/us-east-1/", fmt.Sprintf("/region-%d/", i), 1))
		if _, err := ver.Verify(r, []byte(testBody)); err == nil {
			t.Fatal("bad signature accepted")
		}
	}
	if n := ver.cache.len(); n != 0 {
		t.Errorf("cache holds %d keys after only failures", n)
	}
	if _, err := ver.Verify(kmsRequest(testAKID, testSecret, testNow, testBody), []byte(testBody)); err != nil {
		t.Fatal(err)
	}
	if n := ver.cache.len(); n != 1 {
		t.Errorf("cache holds %d keys after one success, want 1", n)
	}
}

// TestKeyCacheBounded: the cache empties itself rather than grow past
// keyCacheMax.
func TestKeyCacheBounded(t *testing.T) {
	t.Parallel()
	var c keyCache
	for i := range keyCacheMax + 10 {
		c.put(newCacheKey(fmt.Sprint("AKID", i), []byte("s"), "20261122", "r", "s"), []byte("k"))
		if n := c.len(); n > keyCacheMax {
			t.Fatalf("cache grew to %d", n)
		}
	}
	if _, ok := c.get(newCacheKey(fmt.Sprint("AKID", keyCacheMax+9), []byte("s"), "20261122", "r", "s")); !ok {
		t.Error("most recent key not cached")
	}
	if _, ok := c.get(newCacheKey("AKID9", []byte("other"), "20261122", "r", "s")); ok {
		t.Error("key served for a different secret")
	}
}

// TestVerifyConcurrent runs Verify and Sign from many goroutines, for the
// race detector.
func TestVerifyConcurrent(t *testing.T) {
	t.Parallel()
	ver := testVerifier(Options{})
	s := NewSigner(testAKID, []byte(testSecret), "us-east-1", "kms")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				body := fmt.Sprintf(`{"Limit":%d}`, g*100+i)
				r, _ := http.NewRequest(http.MethodPost, "http://kms.example/", strings.NewReader(body))
				r.Header.Set("X-Amz-Target", "TrentService.ListKeys")
				if err := s.Sign(r, []byte(body), testNow.Add(time.Duration(i)*time.Hour)); err != nil {
					t.Error(err)
					return
				}
				v := ver
				if i > 10 {
					v = NewVerifier(lookup{testAKID: testSecret}, Options{Now: func() time.Time { return testNow.Add(time.Duration(i) * time.Hour) }})
				}
				if _, err := v.Verify(r, []byte(body)); (err == nil) != (i <= 0 || i > 10) {
					t.Errorf("goroutine %d request %d: %v", g, i, err)
				}
			}
		})
	}
	wg.Wait()
}

// TestSignerReplacesSignature: signing a request twice (a retry) must
// leave one valid signature, not two.
func TestSignerReplacesSignature(t *testing.T) {
	t.Parallel()
	s := NewSigner(testAKID, []byte(testSecret), "us-east-1", "kms").WithSessionToken("tok")
	r, _ := http.NewRequest(http.MethodPost, "http://kms.example/", strings.NewReader(testBody))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	for i := range 2 {
		if err := s.Sign(r, []byte(testBody), testNow.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(r.Header.Values("Authorization")); n != 1 {
		t.Errorf("%d Authorization headers", n)
	}
	want := "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"
	if a := r.Header.Get("Authorization"); !strings.Contains(a, want) {
		t.Errorf("Authorization = %s, want %s", a, want)
	}
	res, err := testVerifier(Options{}).Verify(r, []byte(testBody))
	if err != nil || res.SessionToken != "tok" || !res.SignedAt.Equal(testNow.Add(time.Minute)) {
		t.Errorf("Verify = %+v, %v", res, err)
	}
	if err := s.Sign(nil, nil, testNow); err == nil {
		t.Error("Sign(nil) succeeded")
	}
}
