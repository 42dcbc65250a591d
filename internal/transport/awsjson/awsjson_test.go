package awsjson

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/kms"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/svcerr"
)

// fakeVerifier accepts every request, scoped to the region and service in
// the X-Test-Scope header ("region/service").
type fakeVerifier struct{}

func (fakeVerifier) Verify(r *http.Request, _ []byte) (*sigv4.Result, error) {
	if r.Header.Get("Authorization") == "" {
		return nil, svcerr.New(svcerr.MissingAuthToken, "Missing Authentication Token")
	}
	region, service, _ := strings.Cut(r.Header.Get("X-Test-Scope"), "/")
	return &sigv4.Result{AccessKeyID: "AKID", Region: region, Service: service}, nil
}

type fakePrincipals struct{}

func (fakePrincipals) Principal(context.Context, string, string) (auth.Principal, error) {
	return auth.Principal{Type: auth.Root, Account: "000000000000", ARN: "arn:aws:iam::000000000000:root"}, nil
}

type echoIn struct {
	Name  string `json:"Name"`
	Count *int32 `json:"Count"`
	Blob  []byte `json:"Blob"`
}

type echoOut struct {
	Name   string `json:"Name"`
	Region string `json:"Region"`
	Blob   []byte `json:"Blob"`
}

func newTestServer() *Server {
	svc := NewService("TestService", "test",
		Op("Echo", "test:Echo", func(_ context.Context, c *auth.Caller, in *echoIn) (*echoOut, error) {
			return &echoOut{Name: in.Name, Region: c.Region, Blob: in.Blob}, nil
		}),
		Op("Fail", "test:Fail", func(_ context.Context, _ *auth.Caller, in *echoIn) (*echoOut, error) {
			switch in.Name {
			case "internal":
				return nil, svcerr.InternalError(errors.New("disk on fire at /secret/path"))
			case "plain":
				return nil, errors.New("untyped failure with secret detail")
			case "timeout":
				return nil, svcerr.New(svcerr.DependencyTimeout, "slow")
			}
			return nil, svcerr.New(svcerr.Code(in.Name), "client fault")
		}),
	)
	return New(Config{Services: []*Service{svc}, Verifier: fakeVerifier{}, Principals: fakePrincipals{}, Regions: []string{"us-east-1"}})
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, s *Server, target, scope, body string, mutate ...func(*http.Request)) response {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Authorization", "x")
	r.Header.Set("X-Amz-Target", target)
	r.Header.Set("X-Test-Scope", scope)
	for _, m := range mutate {
		m(r)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	var m map[string]any
	json.Unmarshal(w.Body.Bytes(), &m)
	return response{status: w.Code, header: w.Header(), body: m}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	s := newTestServer()
	tests := []struct {
		name, target, scope, body string
		mutate                    func(*http.Request)
		status                    int
		typ                       string
	}{
		{"ok", "TestService.Echo", "us-east-1/test", `{"Name":"x","Blob":"AQID"}`, nil, 200, ""},
		{"empty body is {}", "TestService.Echo", "us-east-1/test", ``, nil, 200, ""},
		{"unknown operation", "TestService.Nope", "us-east-1/test", `{}`, nil, 400, "UnknownOperationException"},
		{"unknown prefix", "Other.Echo", "us-east-1/test", `{}`, nil, 400, "UnknownOperationException"},
		{"no target", "", "us-east-1/test", `{}`, nil, 400, "UnknownOperationException"},
		{"wrong service scope", "TestService.Echo", "us-east-1/kms", `{}`, nil, 400, "InvalidSignatureException"},
		{"region not served", "TestService.Echo", "eu-west-1/test", `{}`, nil, 400, "InvalidSignatureException"},
		{"unsigned", "TestService.Echo", "us-east-1/test", `{}`, func(r *http.Request) { r.Header.Del("Authorization") }, 400, "MissingAuthenticationTokenException"},
		{"GET", "TestService.Echo", "us-east-1/test", ``, func(r *http.Request) { r.Method = http.MethodGet }, 405, "UnknownOperationException"},
		{"other path", "TestService.Echo", "us-east-1/test", `{}`, func(r *http.Request) { r.URL.Path = "/x" }, 404, "UnknownOperationException"},
		{"syntax", "TestService.Echo", "us-east-1/test", `{"Name":`, nil, 400, "SerializationException"},
		{"not an object", "TestService.Echo", "us-east-1/test", `"str"`, nil, 400, "SerializationException"},
		{"wrong type", "TestService.Echo", "us-east-1/test", `{"Count":"x"}`, nil, 400, "SerializationException"},
		{"bad base64", "TestService.Echo", "us-east-1/test", `{"Blob":"@@@"}`, nil, 400, "SerializationException"},
		{"trailing data", "TestService.Echo", "us-east-1/test", `{} {}`, nil, 400, "SerializationException"},
		{"client fault", "TestService.Fail", "us-east-1/test", `{"Name":"NotFoundException"}`, nil, 400, "NotFoundException"},
		{"internal", "TestService.Fail", "us-east-1/test", `{"Name":"internal"}`, nil, 500, "KMSInternalException"},
		{"untyped error", "TestService.Fail", "us-east-1/test", `{"Name":"plain"}`, nil, 500, "KMSInternalException"},
		{"timeout", "TestService.Fail", "us-east-1/test", `{"Name":"timeout"}`, nil, 503, "DependencyTimeoutException"},
		{"too large by length", "TestService.Echo", "us-east-1/test", `{}`, func(r *http.Request) { r.ContentLength = MaxBodyBytes + 1 }, 413, "RequestEntityTooLargeException"},
		{"too large unknown length", "TestService.Echo", "us-east-1/test", ``, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"Name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`))
			r.ContentLength = -1
		}, 413, "RequestEntityTooLargeException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m []func(*http.Request)
			if tc.mutate != nil {
				m = append(m, tc.mutate)
			}
			r := do(t, s, tc.target, tc.scope, tc.body, m...)
			if r.status != tc.status {
				t.Errorf("status = %d, want %d (%v)", r.status, tc.status, r.body)
			}
			if r.header.Get("x-amzn-RequestId") == "" {
				t.Error("no x-amzn-RequestId")
			}
			if tc.typ == "" {
				if r.header.Get("Content-Type") != "application/x-amz-json-1.1" {
					t.Errorf("Content-Type = %q", r.header.Get("Content-Type"))
				}
				return
			}
			if r.body["__type"] != tc.typ || r.header.Get("x-amzn-ErrorType") != tc.typ {
				t.Errorf("__type = %v, x-amzn-ErrorType = %q; want %s", r.body["__type"], r.header.Get("x-amzn-ErrorType"), tc.typ)
			}
			if msg, _ := r.body["message"].(string); strings.Contains(msg, "secret") || strings.Contains(msg, "fire") {
				t.Errorf("internal detail leaked to the client: %q", msg)
			}
		})
	}
}

func TestEchoRoundTrip(t *testing.T) {
	t.Parallel()
	r := do(t, newTestServer(), "TestService.Echo", "us-east-1/test", `{"Name":"n","Blob":"AQID","Unknown":1}`)
	if r.status != 200 || r.body["Name"] != "n" || r.body["Region"] != "us-east-1" || r.body["Blob"] != "AQID" {
		t.Errorf("echo = %d %v", r.status, r.body)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	sealed := false
	s := New(Config{Health: func() Health { return Health{Status: "ok", Sealed: sealed} }})
	for _, want := range []int{200, 503} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/healthz", nil))
		if w.Code != want {
			t.Errorf("healthz (sealed=%v) = %d, want %d", sealed, w.Code, want)
		}
		sealed = true
	}
}

// TestStatusOf pins the one mapping from code to status.
func TestStatusOf(t *testing.T) {
	t.Parallel()
	for code, want := range map[svcerr.Code]int{
		svcerr.NotFound: 400, svcerr.AccessDenied: 400, svcerr.UnrecognizedClient: 400, svcerr.InvalidSignature: 400,
		svcerr.MissingAuthToken: 400, svcerr.Validation: 400, svcerr.Internal: 500, svcerr.KeyUnavailable: 500,
		svcerr.DependencyTimeout: 503, svcerr.RequestEntityTooLarge: 413,
	} {
		if got := statusOf(code); got != want {
			t.Errorf("statusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

// FuzzDecode feeds arbitrary bodies to the decoder of a real operation's
// input: it must never panic, and must fail only with SerializationException.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"KeyId":"alias/x","Plaintext":"AAAA","EncryptionContext":{"a":"b"},"GrantTokens":["t"],"DryRun":true}`,
		`{"Plaintext":5}`, `{"EncryptionContext":[]}`, `[`, `null`, `{"Plaintext":"====="}`, "\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var in kms.EncryptInput
		err := decode(body, &in)
		if err != nil && svcerr.CodeOf(err) != svcerr.Serialization {
			t.Errorf("decode error %v is not a SerializationException", err)
		}
	})
}

// TestKMSOperationActions: every KMS operation is authorized as the IAM
// action of the same name, except ReEncrypt, which AWS splits in two
// (ReEncryptFrom on the source key is the table's; ReEncryptTo is checked
// by the service).
func TestKMSOperationActions(t *testing.T) {
	t.Parallel()
	svc := KMS(kms.New(nil, kms.Config{}))
	for _, name := range []string{"ReplicateKey", "UpdatePrimaryRegion", "RotateKeyOnDemand", "CreateKey"} {
		if _, ok := svc.ops[name]; !ok {
			t.Errorf("%s is not in the operation table", name)
		}
	}
	for name, op := range svc.ops {
		want := "kms:" + name
		if name == "ReEncrypt" {
			want = "kms:ReEncryptFrom"
		}
		if op.Action != want || op.Name != name {
			t.Errorf("operation %s: name %q, action %q, want %q", name, op.Name, op.Action, want)
		}
	}
}

// stalePrincipals fails every lookup the way the identity store does on a
// node past its staleness bound.
type stalePrincipals struct{}

func (stalePrincipals) Principal(context.Context, string, string) (auth.Principal, error) {
	return auth.Principal{}, svcerr.InternalError(storage.ErrStale)
}

// TestServerFaultCode: a retryable server fault met while authenticating
// is answered in the service's own terms: KMS's DependencyTimeoutException
// (503) as it is, Secrets Manager's InternalServiceError (500).
func TestServerFaultCode(t *testing.T) {
	t.Parallel()
	kmsLike := NewService("TestService", "test")
	sm := SecretsManager(nil)
	s := New(Config{Services: []*Service{kmsLike, sm}, Verifier: fakeVerifier{}, Principals: stalePrincipals{}, Regions: []string{"us-east-1"}})
	for _, tc := range []struct {
		target, scope string
		status        int
		typ           string
	}{
		{"TestService.Echo", "us-east-1/test", 503, "DependencyTimeoutException"},
		{"secretsmanager.GetSecretValue", "us-east-1/secretsmanager", 500, "InternalServiceError"},
	} {
		r := do(t, s, tc.target, tc.scope, `{}`)
		if r.status != tc.status || r.body["__type"] != tc.typ {
			t.Errorf("%s: %d %v; want %d %s", tc.target, r.status, r.body["__type"], tc.status, tc.typ)
		}
	}
}
