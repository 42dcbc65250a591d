package sigv4

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/svcerr"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// These tests check Verify against aws-sdk-go-v2, the SDK Arca's users run,
// over real HTTP: a verifier that only agrees with its own signer proves
// nothing, and the transport (net/http) is where Host, Content-Length and
// the path change shape.

// verifyServer answers every request with Verify's verdict: 200 and the
// Result as JSON, or 400 and an AWS JSON error. It is shaped like Arca's
// transport so that the real KMS client can talk to it.
func verifyServer(t *testing.T, ver *Verifier) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		res, err := ver.Verify(r, body)
		if err != nil {
			se := svcerr.As(err)
			if se == nil {
				se = &svcerr.Error{Code: "NotAnSvcerr", Msg: err.Error()}
			}
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]string{"__type": string(se.Code), "message": se.Msg})
			return
		}
		json.NewEncoder(w).Encode(res)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// send does r and returns the server's verdict.
func send(t *testing.T, r *http.Request) (*Result, error) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		var res Result
		if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
			t.Fatal(err)
		}
		return &res, nil
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	return nil, &svcerr.Error{Code: svcerr.Code(e.Type), Msg: e.Message}
}

var sdkCreds = aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: testSecret}

// TestAWSSDKSigner signs requests of many shapes with aws-sdk-go-v2's v4
// signer, sends them over HTTP, and expects Verify to accept each, and to
// refuse each once signed with another secret.
func TestAWSSDKSigner(t *testing.T) {
	t.Parallel()
	srv := verifyServer(t, NewVerifier(lookup{testAKID: testSecret}, Options{}))
	tests := []struct {
		name, method, path, query, body string
		header                          http.Header
		token                           string
	}{
		{name: "KMS call", method: "POST", path: "/", body: testBody,
			header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"TrentService.Encrypt"}}},
		{name: "session token", method: "POST", path: "/", body: testBody, token: "FwoGZXIvYXdzE//+token==",
			header: http.Header{"X-Amz-Target": {"TrentService.ListKeys"}}},
		{name: "GET without body", method: "GET", path: "/"},
		{name: "empty POST", method: "POST", path: "/"},
		{name: "space in path", method: "GET", path: "/a b/c"},
		{name: "UTF-8 in path", method: "GET", path: "/ሴ/ü"},
		{name: "escaped slash in path", method: "GET", path: "/a%2Fb/c%41"},
		{name: "dot segments and slashes, not normalized by the SDK", method: "GET", path: "/a/./b/../c//d/"},
		{name: "reserved characters in path", method: "GET", path: "/a:b@c!$&'()*+,;=d"},
		{name: "query", method: "GET", path: "/", query: "b=2&a=1&a=0&c=x%20y&d=%2B&e=&f&g=a+b&h=%E1%88%B4&i=~-._&j=!*'()"},
		{name: "query and body", method: "POST", path: "/x", query: "Action=List&Version=2014-11-01", body: "a=b&c=d",
			header: http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}},
		{name: "header values needing trimming", method: "POST", path: "/", body: "{}",
			header: http.Header{"X-Custom": {"  a   b   c  "}, "X-Multi": {"one", "two  three"}, "X-Empty": {""}}},
		{name: "many headers", method: "POST", path: "/", body: strings.Repeat("x", 10000),
			header: http.Header{"Amz-Sdk-Invocation-Id": {"5f2d3b4e-1c1a-4a6e-9a63-0e1b2f3c4d5e"}, "Amz-Sdk-Request": {"attempt=1; max=3"},
				"X-Amz-User-Agent": {"aws-sdk-go-v2/1.47.7"}, "Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"TrentService.Decrypt"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, secret := range []string{testSecret, "wrong"} {
				u := srv.URL + tc.path
				if tc.query != "" {
					u += "?" + tc.query
				}
				r, err := http.NewRequest(tc.method, u, strings.NewReader(tc.body))
				if err != nil {
					t.Fatal(err)
				}
				if tc.body == "" {
					r.Body, r.ContentLength = http.NoBody, 0
				}
				for k, v := range tc.header {
					r.Header[k] = v
				}
				creds := sdkCreds
				creds.SecretAccessKey, creds.SessionToken = secret, tc.token
				if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, sha256Hex([]byte(tc.body)), "kms", "us-east-1", time.Now()); err != nil {
					t.Fatal(err)
				}
				res, err := send(t, r)
				if secret != testSecret {
					if code := svcerr.CodeOf(err); code != svcerr.InvalidSignature {
						t.Errorf("signed with the wrong secret: %v, want %s", err, svcerr.InvalidSignature)
					}
					continue
				}
				if err != nil {
					t.Errorf("Verify refused the SDK's signature: %v\nAuthorization: %s", err, r.Header.Get("Authorization"))
					continue
				}
				if res.AccessKeyID != testAKID || res.Region != "us-east-1" || res.Service != "kms" || res.SessionToken != tc.token {
					t.Errorf("Result = %+v", res)
				}
			}
		})
	}
}

// TestAWSSDKPresign checks presigned URLs made by aws-sdk-go-v2.
func TestAWSSDKPresign(t *testing.T) {
	t.Parallel()
	srv := verifyServer(t, NewVerifier(lookup{testAKID: testSecret}, Options{}))
	for _, tc := range []struct {
		name, payload, token string
		expires              string
	}{
		{name: "empty-body hash", payload: sha256Hex(nil)},
		{name: "UNSIGNED-PAYLOAD", payload: UnsignedPayload},
		{name: "X-Amz-Expires and token", payload: UnsignedPayload, expires: "60", token: "tok+en/=="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := http.NewRequest(http.MethodGet, srv.URL+"/?Action=GetCallerIdentity&Version=2011-06-15", nil)
			if tc.expires != "" {
				q := r.URL.Query()
				q.Set("X-Amz-Expires", tc.expires)
				r.URL.RawQuery = q.Encode()
			}
			creds := sdkCreds
			creds.SessionToken = tc.token
			signed, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, tc.payload, "kms", "us-east-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			pr, _ := http.NewRequest(http.MethodGet, signed, nil)
			for k, v := range hdr {
				if !strings.EqualFold(k, "host") {
					pr.Header[k] = v
				}
			}
			res, err := send(t, pr)
			if err != nil {
				t.Fatalf("Verify refused the SDK's presigned URL %s: %v", signed, err)
			}
			if !res.Presigned || res.SessionToken != tc.token {
				t.Errorf("Result = %+v", res)
			}
			u, _ := url.Parse(signed)
			q := u.Query()
			q.Set("Action", "AssumeRole")
			u.RawQuery = q.Encode()
			pr, _ = http.NewRequest(http.MethodGet, u.String(), nil)
			if _, err := send(t, pr); svcerr.CodeOf(err) != svcerr.InvalidSignature {
				t.Errorf("tampered presigned URL: %v", err)
			}
		})
	}
}

// TestAWSSDKKMSClient runs the real KMS client, with its whole middleware
// stack (invocation IDs, retry headers, content length), against Verify.
func TestAWSSDKKMSClient(t *testing.T) {
	t.Parallel()
	srv := verifyServer(t, NewVerifier(lookup{testAKID: testSecret}, Options{}))
	client := func(secret, token string) *kms.Client {
		return kms.New(kms.Options{
			Region:       "eu-west-3",
			BaseEndpoint: aws.String(srv.URL),
			Retryer:      aws.NopRetryer{},
			Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: testAKID, SecretAccessKey: secret, SessionToken: token}, nil
			}),
		})
	}
	ctx := context.Background()
	if _, err := client(testSecret, "").ListKeys(ctx, &kms.ListKeysInput{}); err != nil {
		t.Errorf("ListKeys: %v", err)
	}
	if _, err := client(testSecret, "session-token").Encrypt(ctx, &kms.EncryptInput{
		KeyId: aws.String("alias/test"), Plaintext: []byte("a secret to keep"),
		EncryptionContext: map[string]string{"purpose": "sigv4 test", "unicode": "ሴ ü"},
	}); err != nil && !isDecodeError(err) {
		t.Errorf("Encrypt: %v", err)
	}
	_, err := client("wrong", "").ListKeys(ctx, &kms.ListKeysInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != string(svcerr.InvalidSignature) {
		t.Errorf("ListKeys with the wrong secret: %v, want %s", err, svcerr.InvalidSignature)
	}
}

// isDecodeError reports an error from the KMS client decoding our test
// server's answer (a Result, not an EncryptOutput): the request itself
// verified.
func isDecodeError(err error) bool {
	var apiErr smithy.APIError
	return !errors.As(err, &apiErr)
}

// TestSignerMatchesAWSSDK: for the headers both sign, Signer's
// Authorization header is byte for byte aws-sdk-go-v2's.
func TestSignerMatchesAWSSDK(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"", "session/token+=="} {
		mk := func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, "https://kms.eu-west-3.amazonaws.com/", nil)
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			r.Header.Set("X-Amz-Target", "TrentService.GenerateDataKey")
			return r
		}
		ours, theirs := mk(), mk()
		if err := NewSigner(testAKID, []byte(testSecret), "eu-west-3", "kms").WithSessionToken(token).Sign(ours, []byte(testBody), testNow); err != nil {
			t.Fatal(err)
		}
		creds := sdkCreds
		creds.SessionToken = token
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, theirs, sha256Hex([]byte(testBody)), "kms", "eu-west-3", testNow); err != nil {
			t.Fatal(err)
		}
		if a, b := ours.Header.Get("Authorization"), theirs.Header.Get("Authorization"); a != b {
			t.Errorf("token %q:\nSigner: %s\nSDK:    %s", token, a, b)
		}
	}
}
