package awsquery

import (
	"context"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/iamsvc"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/sts"
	"github.com/arca-kms/arca/internal/svcerr"
)

const (
	testAccount = "111122223333"
	testAKID    = "AKIAAWSQUERYTEST0000"
)

// fakeVerifier accepts every request as signed by testAKID, scoped to the
// service and region in the X-Test-Scope header ("iam/us-east-1" by
// default), or fails with the error in X-Test-Fail.
type fakeVerifier struct{}

func (fakeVerifier) Verify(r *http.Request, _ []byte) (*sigv4.Result, error) {
	if code := r.Header.Get("X-Test-Fail"); code != "" {
		return nil, svcerr.New(svcerr.Code(code), "refused")
	}
	svc, region, _ := strings.Cut(r.Header.Get("X-Test-Scope"), "/")
	if svc == "" {
		svc, region = "iam", "us-east-1"
	}
	return &sigv4.Result{AccessKeyID: testAKID, Service: svc, Region: region}, nil
}

func newTestServer(t testing.TB) *Server {
	t.Helper()
	ids := iam.New(memory.New(), "aws")
	if _, _, err := ids.EnsureRootAccessKey(context.Background(), testAccount, testAKID, []byte("secret")); err != nil {
		t.Fatal(err)
	}
	svc := iamsvc.New(ids, iamsvc.Config{Operator: testAccount})
	stsSvc := sts.New(memory.New(), noRoles{ids}, sts.Config{})
	return New(Config{Services: []*Service{IAM(svc), STS(stsSvc)}, Verifier: fakeVerifier{}, Principals: ids, Regions: []string{"eu-west-1"}})
}

// noRoles is a directory without roles, over the store's policies.
type noRoles struct{ ids *iam.Store }

func (noRoles) Role(context.Context, string, string) (*sts.Role, error) {
	return nil, sts.ErrNoSuchRole
}
func (noRoles) UserID(context.Context, string, string) (string, error) {
	return "", sts.ErrNoSuchUser
}
func (d noRoles) Policies(ctx context.Context, p *auth.Principal) ([]*policy.Policy, *policy.Policy, error) {
	return d.ids.Policies(ctx, p)
}

// expiredPrincipals answers every access key with an expired token.
type expiredPrincipals struct{}

func (expiredPrincipals) Principal(context.Context, string, string) (auth.Principal, error) {
	return auth.Principal{}, svcerr.New(svcerr.ExpiredToken, "The security token included in the request is expired")
}

// TestUnsignedAndPerServiceCodes: AssumeRoleWithWebIdentity is served
// without a signature (and only it); STS names an expired token
// ExpiredTokenException where IAM says ExpiredToken.
func TestUnsignedAndPerServiceCodes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	web := "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::111122223333:role/r&RoleSessionName=ss&WebIdentityToken=abcdefgh"
	decode := func(w *httptest.ResponseRecorder) errorEnvelope {
		var e errorEnvelope
		if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", w.Body, err)
		}
		return e
	}
	// Unsigned: reaches STS (which trusts no issuer here) even though the
	// verifier would refuse.
	w := post(s, web, "X-Test-Fail", string(svcerr.MissingAuthToken))
	if e := decode(w); w.Code != 400 || e.Error.Code != "InvalidIdentityToken" || !strings.Contains(w.Body.String(), STSNamespace) {
		t.Errorf("unsigned AssumeRoleWithWebIdentity: %d %s", w.Code, w.Body)
	}
	// Signed requests always go through the verifier.
	w = post(s, web, "Authorization", "AWS4-HMAC-SHA256 x", "X-Test-Fail", string(svcerr.IncompleteSignature))
	if e := decode(w); e.Error.Code != "IncompleteSignature" {
		t.Errorf("signed AssumeRoleWithWebIdentity with a bad signature: %d %s", w.Code, w.Body)
	}
	// Other operations are never served unsigned.
	for _, body := range []string{"Action=AssumeRole&Version=2011-06-15", "Action=GetCallerIdentity&Version=2011-06-15",
		"Action=AssumeRoleWithWebIdentity&Version=2010-05-08", "Action=ListUsers&Version=2010-05-08", "%zz"} {
		w = post(s, body, "X-Test-Fail", string(svcerr.MissingAuthToken))
		if e := decode(w); w.Code != 403 || e.Error.Code != "MissingAuthenticationToken" {
			t.Errorf("unsigned %s: %d %s", body, w.Code, w.Body)
		}
	}

	ids := iam.New(memory.New(), "aws")
	stsSvc := sts.New(memory.New(), noRoles{ids}, sts.Config{})
	x := New(Config{Services: []*Service{IAM(iamsvc.New(ids, iamsvc.Config{})), STS(stsSvc)}, Verifier: fakeVerifier{},
		Principals: expiredPrincipals{}, Regions: []string{"us-east-1"}})
	for scope, want := range map[string]string{"sts/us-east-1": "ExpiredTokenException", "iam/us-east-1": "ExpiredToken"} {
		w := post(x, "Action=GetCallerIdentity&Version=2011-06-15", "X-Test-Scope", scope)
		if e := decode(w); w.Code != 400 || e.Error.Code != want {
			t.Errorf("%s: expired token: %d %s, want %s", scope, w.Code, w.Body, want)
		}
	}
}

func post(s *Server, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

type errorEnvelope struct {
	XMLName xml.Name
	Error   struct {
		Type, Code, Message string
	}
	RequestID string `xml:"RequestId"`
}

func TestServeEnvelopes(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	w := post(s, "Action=CreateUser&Version=2010-05-08&UserName=bob&Tags.member.1.Key=team&Tags.member.1.Value=x")
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/xml" {
		t.Fatalf("CreateUser: %d %s", w.Code, w.Body)
	}
	var ok struct {
		XMLName xml.Name
		User    struct {
			UserName, Arn string
			Tags          []struct{ Key, Value string } `xml:"Tags>member"`
		} `xml:"CreateUserResult>User"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal(w.Body.Bytes(), &ok); err != nil {
		t.Fatal(err)
	}
	if ok.XMLName.Local != "CreateUserResponse" || ok.XMLName.Space != IAMNamespace || ok.User.UserName != "bob" ||
		ok.User.Arn != "arn:aws:iam::"+testAccount+":user/bob" || len(ok.User.Tags) != 1 ||
		ok.RequestID == "" || ok.RequestID != w.Header().Get("x-amzn-RequestId") {
		t.Errorf("CreateUser envelope: %+v\n%s", ok, w.Body)
	}

	// An operation without output has no Result element.
	w = post(s, "Action=DeleteUser&Version=2010-05-08&UserName=bob")
	if w.Code != 200 || strings.Contains(w.Body.String(), "Result") || !strings.Contains(w.Body.String(), "<DeleteUserResponse") {
		t.Errorf("DeleteUser: %d %s", w.Code, w.Body)
	}
	// An empty list is an empty element, not a missing one.
	w = post(s, "Action=ListUsers&Version=2010-05-08")
	if !strings.Contains(w.Body.String(), "<Users></Users>") || !strings.Contains(w.Body.String(), "<IsTruncated>false</IsTruncated>") {
		t.Errorf("ListUsers: %s", w.Body)
	}
	// STS answers in its own namespace.
	w = post(s, "Action=GetCallerIdentity&Version=2011-06-15", "X-Test-Scope", "sts/eu-west-1")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<GetCallerIdentityResponse xmlns="`+STSNamespace+`"><GetCallerIdentityResult><UserId>`+testAccount) {
		t.Errorf("GetCallerIdentity: %s", w.Body)
	}

	for _, c := range []struct {
		name, body string
		hdr        []string
		status     int
		code, typ  string
		ns         string
	}{
		{"no such entity", "Action=GetUser&UserName=nobody", nil, 404, "NoSuchEntity", "Sender", IAMNamespace},
		{"missing action", "Version=2010-05-08", nil, 400, "MissingAction", "Sender", IAMNamespace},
		{"unknown action", "Action=Nope", nil, 400, "InvalidAction", "Sender", IAMNamespace},
		{"wrong version", "Action=ListUsers&Version=2011-06-15", nil, 400, "InvalidAction", "Sender", IAMNamespace},
		{"bad form", "Action=ListUsers&%zz", nil, 400, "InvalidQueryParameter", "Sender", IAMNamespace},
		{"sts error namespace", "Action=Nope", []string{"X-Test-Scope", "sts/us-east-1"}, 400, "InvalidAction", "Sender", STSNamespace},
		{"region not served", "Action=ListUsers", []string{"X-Test-Scope", "iam/ap-south-1"}, 403, "SignatureDoesNotMatch", "Sender", IAMNamespace},
		{"service not served", "Action=ListUsers", []string{"X-Test-Scope", "kms/us-east-1"}, 403, "SignatureDoesNotMatch", "Sender", IAMNamespace},
		{"unknown key", "Action=ListUsers", []string{"X-Test-Fail", string(svcerr.UnrecognizedClient)}, 403, "InvalidClientTokenId", "Sender", IAMNamespace},
		{"unsigned", "Action=ListUsers", []string{"X-Test-Fail", string(svcerr.MissingAuthToken)}, 403, "MissingAuthenticationToken", "Sender", IAMNamespace},
	} {
		w := post(s, c.body, c.hdr...)
		var e errorEnvelope
		if err := xml.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Errorf("%s: %v: %s", c.name, err, w.Body)
			continue
		}
		if w.Code != c.status || e.Error.Code != c.code || e.Error.Type != c.typ || e.XMLName.Local != "ErrorResponse" ||
			e.XMLName.Space != c.ns || e.RequestID == "" || e.RequestID != w.Header().Get("x-amzn-RequestId") {
			t.Errorf("%s: %d %+v, want %d %s %s in %s", c.name, w.Code, e, c.status, c.code, c.typ, c.ns)
		}
	}
}

func TestServeTransportErrors(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("Action=ListUsers"))
	r.ContentLength = MaxBodyBytes + 1
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized Content-Length: %d", w.Code)
	}
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat("a", MaxBodyBytes+1)))
	r.ContentLength = -1
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized chunked body: %d", w.Code)
	}
	r = httptest.NewRequest(http.MethodPost, "/other", strings.NewReader("Action=ListUsers"))
	w = httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusNotFound {
		t.Errorf("other path: %d", w.Code)
	}
}

// TestWireError pins the one mapping from service codes to Query codes and
// statuses, and checks that no client-fault code maps to a 5xx.
func TestWireError(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in       svcerr.Code
		code     string
		status   int
		receiver bool
	}{
		{svcerr.AccessDenied, "AccessDenied", 403, false},
		{svcerr.NotFound, "NoSuchEntity", 404, false},
		{svcerr.AlreadyExists, "EntityAlreadyExists", 409, false},
		{svcerr.DeleteConflict, "DeleteConflict", 409, false},
		{svcerr.LimitExceeded, "LimitExceeded", 409, false},
		{svcerr.MalformedPolicyDocument, "MalformedPolicyDocument", 400, false},
		{svcerr.Validation, "ValidationError", 400, false},
		{svcerr.InvalidInput, "InvalidInput", 400, false},
		{svcerr.UnrecognizedClient, "InvalidClientTokenId", 403, false},
		{svcerr.InvalidClientTokenID, "InvalidClientTokenId", 403, false},
		{svcerr.InvalidSignature, "SignatureDoesNotMatch", 403, false},
		{svcerr.IncompleteSignature, "IncompleteSignature", 400, false},
		{svcerr.MissingAuthToken, "MissingAuthenticationToken", 403, false},
		{svcerr.ExpiredToken, "ExpiredToken", 400, false},
		{svcerr.InvalidAction, "InvalidAction", 400, false},
		{svcerr.UnknownOperation, "InvalidAction", 400, false},
		{svcerr.MissingAction, "MissingAction", 400, false},
		{svcerr.InvalidQueryParameter, "InvalidQueryParameter", 400, false},
		{svcerr.OptInRequired, "OptInRequired", 403, false},
		{svcerr.ThrottlingException, "Throttling", 400, false},
		{svcerr.RequestEntityTooLarge, "RequestEntityTooLarge", 413, false},
		{svcerr.ServiceUnavailable, "ServiceUnavailable", 503, true},
		{svcerr.Internal, "ServiceFailure", 500, true},
		{svcerr.InternalFailure, "ServiceFailure", 500, true},
		{svcerr.InvalidKeyUsage, "InvalidKeyUsageException", 400, false},
	} {
		code, status, receiver := wireError(c.in, "ServiceFailure")
		if code != c.code || status != c.status || receiver != c.receiver {
			t.Errorf("wireError(%s) = %s %d %v, want %s %d %v", c.in, code, status, receiver, c.code, c.status, c.receiver)
		}
	}
}

// decodeTargets are the input types FuzzDecode decodes into: every shape
// the decoder supports (strings, *int32, lists of strings and structs).
func decodeTargets() []any {
	return []any{&iamsvc.CreateUserInput{}, &iamsvc.ListUsersInput{}, &iamsvc.UntagUserInput{}, &iamsvc.CreateRoleInput{},
		&iamsvc.UpdateAccessKeyInput{}, &input{}}
}

// FuzzDecode checks that no form makes the decoder panic, and that every
// refusal is a client fault.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"Action=CreateUser&UserName=bob&Tags.member.1.Key=k&Tags.member.1.Value=v",
		"TagKeys.member.1=a&TagKeys.member.2=b", "MaxItems=5&Marker=x", "Tags.member.1000.Key=z", "Tags.member.0.Key=z",
		"MaxSessionDuration=3600&Force=true", "Tags=", "%zz", "a=b;c=d",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		form, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		for _, in := range decodeTargets() {
			err := Decode(form, in)
			if err == nil {
				continue
			}
			se := svcerr.As(err)
			if se == nil {
				t.Fatalf("Decode(%q) = %v, not a *svcerr.Error", body, err)
			}
			if _, status, _ := wireError(se.Code, "ServiceFailure"); status >= 500 {
				t.Fatalf("Decode(%q) = %v, a %d", body, err, status)
			}
		}
	})
}

// FuzzServe sends arbitrary bodies through the whole handler and the real
// IAM service: whatever the body, the answer is a well-formed 2xx or 4xx.
func FuzzServe(f *testing.F) {
	for _, s := range []string{
		"Action=CreateUser&Version=2010-05-08&UserName=bob",
		"Action=PutUserPolicy&UserName=bob&PolicyName=p&PolicyDocument=%7B%7D",
		"Action=CreateRole&RoleName=r&AssumeRolePolicyDocument=%7B%22Statement%22%3A%5B%5D%7D&MaxSessionDuration=99",
		"Action=TagUser&UserName=bob&Tags.member.1.Key=a&Tags.member.2.Key=A",
		"Action=ListUsers&MaxItems=0", "Action=ArcaCreateAccount&AccountId=1", "Action=UpdateAccessKey&Status=x",
		"Action=GetUser", "", "Action=%zz",
	} {
		f.Add(s)
	}
	s := newTestServer(f)
	f.Fuzz(func(t *testing.T, body string) {
		w := post(s, body)
		if w.Code >= 500 {
			t.Fatalf("%q: %d %s", body, w.Code, w.Body)
		}
		var v struct{ XMLName xml.Name }
		if err := xml.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatalf("%q: body is not XML: %v", body, err)
		}
	})
}

// TestOpSkipsResultForEmptyOutput checks the Op wrapper's handling of
// outputs without members.
func TestOpSkipsResultForEmptyOutput(t *testing.T) {
	t.Parallel()
	type out struct{}
	op := Op("X", func(context.Context, *auth.Caller, *struct{}) (*out, error) { return &out{}, nil })
	got, err := op.Handle(context.Background(), nil, url.Values{})
	if err != nil || got != nil {
		t.Errorf("Handle = %v, %v; want nil, nil", got, err)
	}
	failing := Op("Y", func(context.Context, *auth.Caller, *struct{ N *int32 }) (*out, error) {
		return nil, errors.New("not reached")
	})
	if _, err := failing.Handle(context.Background(), nil, url.Values{"N": {"x"}}); svcerr.CodeOf(err) != svcerr.Validation {
		t.Errorf("decode error = %v", err)
	}
}
