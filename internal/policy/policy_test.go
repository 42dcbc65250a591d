package policy

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The behaviour tables live in testdata/*.json so they read as AWS scenarios
// and can be shared with other implementations.

func load(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

type jsonPrincipal struct {
	Type      PrincipalType `json:"type"`
	Account   string        `json:"account"`
	ARN       string        `json:"arn"`
	Source    string        `json:"source"`
	Service   string        `json:"service"`
	Federated string        `json:"federated"`
	Boundary  bool          `json:"boundary"`
}

func (p jsonPrincipal) principal() Principal {
	return Principal{Type: p.Type, Account: p.Account, ARN: p.ARN, SourceARN: p.Source,
		Service: p.Service, FederatedProvider: p.Federated, PermissionsBoundary: p.Boundary}
}

// jsonContext maps keys to a string (single-valued) or an array (multivalued).
type jsonContext map[string]json.RawMessage

func (jc jsonContext) context(t *testing.T) *Context {
	t.Helper()
	c := &Context{}
	for k, raw := range jc {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			c.Set(k, s)
			continue
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			t.Fatalf("context key %s: %v", k, err)
		}
		c.SetMulti(k, list)
	}
	return c
}

type jsonRequest struct {
	Action    string        `json:"action"`
	Resource  string        `json:"resource"`
	Principal jsonPrincipal `json:"principal"`
	Context   jsonContext   `json:"context"`
}

func (r jsonRequest) request(t *testing.T) Request {
	return Request{Action: r.Action, Resource: r.Resource, Principal: r.Principal.principal(), Context: r.Context.context(t)}
}

func kindOf(t *testing.T, s string) Kind {
	t.Helper()
	switch s {
	case "", "resource":
		return KindResource
	case "identity":
		return KindIdentity
	case "trust":
		return KindTrust
	case "session":
		return KindSession
	}
	t.Fatalf("unknown kind %q", s)
	return 0
}

func mustParse(t *testing.T, doc []byte, kind Kind) *Policy {
	t.Helper()
	p, err := ParseWith(doc, Options{Kind: kind})
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", kind, err, doc)
	}
	return p
}

func TestConditions(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name      string          `json:"name"`
		Version   string          `json:"version"`
		Condition json.RawMessage `json:"condition"`
		Context   jsonContext     `json:"context"`
		Want      bool            `json:"want"`
	}
	load(t, "conditions.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			version := tc.Version
			if version == "" {
				version = "2012-10-17"
			}
			doc := `{"Version":"` + version + `","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":` + string(tc.Condition) + `}}`
			p, err := ParseWith([]byte(doc), Options{Kind: KindIdentity, MaxSize: -1})
			if err != nil && version == "2008-10-17" {
				p, err = ParseWith([]byte(doc), Options{Kind: KindSession})
			}
			if err != nil {
				t.Fatal(err)
			}
			r := Request{Action: "kms:Encrypt", Resource: "arn:aws:kms:us-east-1:111122223333:key/k", Context: tc.Context.context(t)}
			if got := p.Evaluate(&r).Effect == Allow; got != tc.Want {
				t.Errorf("condition %s with context %v = %v, want %v", tc.Condition, tc.Context, got, tc.Want)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name    string          `json:"name"`
		Kind    string          `json:"kind"`
		Doc     json.RawMessage `json:"doc"`
		Request jsonRequest     `json:"request"`
		Want    string          `json:"want"`
		Sid     *string         `json:"sid"`
	}
	load(t, "evaluate.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			p := mustParse(t, tc.Doc, kindOf(t, tc.Kind))
			r := tc.Request.request(t)
			res := p.Evaluate(&r)
			if res.Effect.String() != tc.Want {
				t.Errorf("Evaluate = %v (statement %d), want %s", res.Effect, res.Statement, tc.Want)
			}
			if tc.Sid != nil && res.Sid != *tc.Sid {
				t.Errorf("Sid = %q, want %q", res.Sid, *tc.Sid)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name    string          `json:"name"`
		Kind    string          `json:"kind"`
		Doc     json.RawMessage `json:"doc"`
		DocText *string         `json:"docText"`
		Reason  string          `json:"reason"`
	}
	load(t, "malformed.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			doc := []byte(tc.Doc)
			if tc.DocText != nil {
				doc = []byte(*tc.DocText)
			}
			p, err := ParseWith(doc, Options{Kind: kindOf(t, tc.Kind)})
			var me *MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("ParseWith = %v, %v; want a MalformedError %q", p, err, tc.Reason)
			}
			if me.Reason != tc.Reason {
				t.Errorf("Reason = %q (%s), want %q", me.Reason, me.Detail, tc.Reason)
			}
			if me.Detail == "" {
				t.Errorf("no Detail for %q", me.Reason)
			}
		})
	}
}

func TestValid(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name string          `json:"name"`
		Kind string          `json:"kind"`
		Doc  json.RawMessage `json:"doc"`
	}
	load(t, "valid.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			mustParse(t, tc.Doc, kindOf(t, tc.Kind))
		})
	}
}

func TestSizeQuotas(t *testing.T) {
	t.Parallel()
	stmt := `{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Principal":{"AWS":"111122223333"}}`
	keyDoc := func(n int) []byte {
		s := strings.Repeat(stmt+",", n)
		return []byte(`{"Statement":[` + s + stmt + `]}`)
	}
	small := keyDoc(10)
	if _, err := Parse(small); err != nil {
		t.Fatal(err)
	}
	big := keyDoc(MaxKeyPolicyBytes / len(stmt))
	var me *MalformedError
	if _, err := Parse(big); !errors.As(err, &me) || !me.TooLarge {
		t.Fatalf("Parse(%d bytes) = %v, want TooLarge", len(big), err)
	}
	if _, err := ParseWith(big, Options{MaxSize: -1}); err != nil {
		t.Fatalf("unlimited: %v", err)
	}

	// IAM does not count white space.
	id := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}`
	padded := []byte(id[:len(id)-1] + strings.Repeat(" \n\t", 3000) + "}")
	if _, err := ParseWith(padded, Options{Kind: KindIdentity}); err != nil {
		t.Fatalf("white space counted: %v", err)
	}
	if got := IAMSize(padded); got != len(id) {
		t.Errorf("IAMSize = %d, want %d", got, len(id))
	}
	long := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:s3:::` + strings.Repeat("b", MaxManagedPolicyChars) + `"}}`
	if _, err := ParseWith([]byte(long), Options{Kind: KindIdentity}); !errors.As(err, &me) || !me.TooLarge || me.Reason != "Cannot exceed quota for PolicySize: 6144" {
		t.Fatalf("identity over quota: %v", err)
	}
	trust := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sts:AssumeRole","Principal":{"AWS":"arn:aws:iam::111122223333:user/` + strings.Repeat("u", MaxTrustPolicyChars) + `"}}}`
	if _, err := ParseWith([]byte(trust), Options{Kind: KindTrust}); !errors.As(err, &me) || me.Reason != "Cannot exceed quota for ACLSizePerRole: 2048" {
		t.Fatalf("trust over quota: %v", err)
	}
	session := `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}` + strings.Repeat(" ", MaxSessionPolicyChars)
	if _, err := ParseWith([]byte(session), Options{Kind: KindSession}); !errors.As(err, &me) || !me.TooLarge {
		t.Fatalf("session over quota: %v", err)
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	var file struct {
		Policies map[string]struct {
			Kind string          `json:"kind"`
			Doc  json.RawMessage `json:"doc"`
		} `json:"policies"`
		Cases []struct {
			Name       string      `json:"name"`
			Decider    string      `json:"decider"`
			Key        string      `json:"key"`
			Identity   []string    `json:"identity"`
			Session    string      `json:"session"`
			Boundary   string      `json:"boundary"`
			KeyAccount string      `json:"keyAccount"`
			Request    jsonRequest `json:"request"`
			Want       struct {
				Allowed  bool   `json:"allowed"`
				Explicit bool   `json:"explicit"`
				Policy   string `json:"policy"`
				Sid      string `json:"sid"`
				Message  string `json:"message"`
			} `json:"want"`
		} `json:"cases"`
	}
	load(t, "decide.json", &file)
	parsed := map[string]*Policy{}
	for name, p := range file.Policies {
		parsed[name] = mustParse(t, p.Doc, kindOf(t, p.Kind))
	}
	get := func(t *testing.T, name string) *Policy {
		if name == "" {
			return nil
		}
		p, ok := parsed[name]
		if !ok {
			t.Fatalf("no policy %q", name)
		}
		return p
	}
	for _, tc := range file.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			in := Inputs{Request: tc.Request.request(t), KeyPolicy: get(t, tc.Key), SessionPolicy: get(t, tc.Session),
				PermissionsBoundary: get(t, tc.Boundary), KeyAccount: tc.KeyAccount}
			if in.KeyAccount == "" {
				in.KeyAccount = "111122223333"
			}
			for _, n := range tc.Identity {
				in.IdentityPolicies = append(in.IdentityPolicies, get(t, n))
			}
			decide := Decide
			if tc.Decider == "identity" {
				decide = DecideIdentity
			}
			d := decide(in)
			if d.Allowed != tc.Want.Allowed || d.ExplicitDeny != tc.Want.Explicit || d.Policy.String() != tc.Want.Policy {
				t.Errorf("Decide = %+v (%s), want allowed=%v explicit=%v policy=%q", d, d.Policy, tc.Want.Allowed, tc.Want.Explicit, tc.Want.Policy)
			}
			if tc.Want.Sid != "" && d.Sid != tc.Want.Sid {
				t.Errorf("Sid = %q, want %q", d.Sid, tc.Want.Sid)
			}
			if tc.Want.Message != "" {
				r := in.Request
				if got := d.Message(r.Principal.ARN, r.Action, r.Resource); got != tc.Want.Message {
					t.Errorf("Message =\n %s\nwant\n %s", got, tc.Want.Message)
				}
			}
		})
	}
}

func TestLint(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name    string          `json:"name"`
		Kind    string          `json:"kind"`
		Account string          `json:"account"`
		Doc     json.RawMessage `json:"doc"`
		Want    []string        `json:"want"`
	}
	load(t, "lint.json", &cases)
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			kind := kindOf(t, tc.Kind)
			p := mustParse(t, tc.Doc, kind)
			var opts []LintOption
			if tc.Account != "" {
				opts = append(opts, WithAccount(tc.Account))
			}
			var got []string
			for _, f := range Lint(p, kind, opts...) {
				got = append(got, f.ID)
				if f.Message == "" || f.Fix == "" || f.Severity == 0 || f.Statement < 0 {
					t.Errorf("incomplete finding %+v", f)
				}
			}
			want := tc.Want
			if want == nil {
				want = []string{}
			}
			if got == nil {
				got = []string{}
			}
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("Lint = %v, want %v", got, want)
			}
		})
	}
}

func TestLintSeverity(t *testing.T) {
	t.Parallel()
	def := mustParse(t, []byte(defaultKeyPolicy), KindResource)
	f := Lint(def, KindResource, WithAccount("111122223333"))
	if len(f) != 1 || f[0].Severity != Info || f[0].Sid != "Enable IAM User Permissions" || f[0].Statement != 0 {
		t.Errorf("default key policy: %+v", f)
	}
	role := mustParse(t, []byte(`{"Statement":{"Sid":"R","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},"Action":"kms:*","Resource":"*"}}`), KindResource)
	if f := Lint(role, KindResource); len(f) != 1 || f[0].Severity != Medium || f[0].Severity.String() != "medium" {
		t.Errorf("kms:* to a role: %+v", f)
	}
}

func TestTrustPolicyAppliesToItsRole(t *testing.T) {
	t.Parallel()
	p := mustParse(t, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"sts:AssumeRole"}]}`), KindTrust)
	req := Request{Action: "sts:AssumeRole", Resource: "arn:aws:iam::111122223333:role/app",
		Principal: Principal{Type: TypeUser, Account: "111122223333", ARN: "arn:aws:iam::111122223333:user/alice"}}
	if r := p.Evaluate(&req); r.Effect != Allow {
		t.Fatalf("trust policy without Resource: %+v, want Allow for its role", r)
	}
	req.Action = "sts:TagSession"
	if r := p.Evaluate(&req); r.Effect == Allow {
		t.Fatalf("trust policy allowed an action it does not name")
	}
}
