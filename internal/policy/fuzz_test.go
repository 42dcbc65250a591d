package policy

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var fuzzKinds = []Kind{KindResource, KindIdentity, KindTrust, KindSession}

// fuzzPrincipals cover every principal type the matcher distinguishes.
var fuzzPrincipals = []Principal{
	{Type: TypeAccount, Account: "111122223333", ARN: "arn:aws:iam::111122223333:root"},
	{Type: TypeUser, Account: "111122223333", ARN: "arn:aws:iam::111122223333:user/alice"},
	{Type: TypeAssumedRole, Account: "444455556666", ARN: "arn:aws:sts::444455556666:assumed-role/app/s1",
		SourceARN: "arn:aws:iam::444455556666:role/app", PermissionsBoundary: true},
	{Type: TypeFederatedUser, Account: "111122223333", ARN: "arn:aws:sts::111122223333:federated-user/f",
		SourceARN: "arn:aws:iam::111122223333:user/alice"},
	{Type: TypeService, Service: "logs.amazonaws.com"},
	{Type: TypeAnonymous},
}

// FuzzParse: any document either parses or fails with a MalformedError
// carrying AWS's reason; a parsed policy evaluates, decides and lints without
// panicking.
func FuzzParse(f *testing.F) {
	for _, s := range seedDocs(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if len(doc) > 64<<10 {
			return
		}
		for _, kind := range fuzzKinds {
			p, err := ParseWith(doc, Options{Kind: kind})
			if err != nil {
				var me *MalformedError
				if !errors.As(err, &me) || me.Reason == "" || me.Detail == "" {
					t.Fatalf("%s: error %v is not a complete MalformedError", kind, err)
				}
				continue
			}
			c := &Context{}
			c.Set("aws:username", "alice")
			c.SetMulti("aws:TagKeys", []string{"a", "b"})
			for _, pr := range fuzzPrincipals {
				r := Request{Action: "kms:Decrypt", Resource: "arn:aws:kms:us-east-1:111122223333:key/k", Principal: pr, Context: c}
				a, b := p.Evaluate(&r), p.Evaluate(&r)
				if a != b {
					t.Fatalf("Evaluate is not deterministic: %+v vs %+v", a, b)
				}
				if a.Effect != NotApplicable && (a.Statement < 0 || a.Statement >= len(p.Statements) || p.Statements[a.Statement].Sid != a.Sid) {
					t.Fatalf("result names statement %d of %d (sid %q)", a.Statement, len(p.Statements), a.Sid)
				}
				Decide(Inputs{Request: r, KeyPolicy: p, IdentityPolicies: []*Policy{p}, SessionPolicy: p, PermissionsBoundary: p, KeyAccount: "111122223333"})
			}
			for _, f := range Lint(p, kind) {
				if f.ID == "" || f.Statement < 0 || f.Statement >= len(p.Statements) {
					t.Fatalf("bad finding %+v", f)
				}
			}
		}
	})
}

// FuzzEvaluate evaluates a fuzzed policy against fuzzed request values, and
// checks the wildcard matcher against Go's regexp package (RE2, linear time)
// on the fuzzed pattern: same answers, and no input takes long.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte(defaultKeyPolicy), "kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/k", "kms:EncryptionContext:app", "web", "a*b?c")
	f.Add([]byte(typicalIdentityPolicy), "kms:GenerateDataKeyPair", "arn:aws:kms:us-east-1:111122223333:key/k", "aws:SecureTransport", "false", "*${aws:username}*")
	f.Add([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/${aws:username}/*"}}`), "s3:GetObject", "arn:aws:s3:::b/alice/x", "aws:username", "alice", "arn:aws:s3:::b/*/x")
	f.Add([]byte(`{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"ForAllValues:StringLike":{"aws:TagKeys":"*a*a*a*a*a*b"}}}}`), "kms:TagResource", "*", "aws:TagKeys", strings.Repeat("a", 200), strings.Repeat("*a", 40)+"b")
	f.Add([]byte(`{"Statement":{"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"DateLessThan":{"aws:CurrentTime":"2030-01-01"},"NumericLessThan":{"kms:RotationPeriodInDays":"90"}}}}`), "kms:Decrypt", "*", "aws:SourceIp", "10.1.2.3", "????")
	f.Fuzz(func(t *testing.T, doc []byte, action, resource, key, value, pattern string) {
		if len(doc) > 16<<10 || len(resource) > 4096 || len(value) > 4096 || len(pattern) > 4096 {
			return
		}
		start := time.Now()
		c := &Context{}
		c.Set(key, value)
		c.Set("aws:username", value)
		c.SetMulti("aws:TagKeys", []string{value, key})
		for _, kind := range []Kind{KindResource, KindIdentity} {
			p, err := ParseWith(doc, Options{Kind: kind, MaxSize: -1})
			if err != nil {
				continue
			}
			for _, pr := range fuzzPrincipals {
				r := Request{Action: action, Resource: resource, Principal: pr, Context: c}
				p.Evaluate(&r)
				Decide(Inputs{Request: r, KeyPolicy: p, IdentityPolicies: []*Policy{p}, KeyAccount: "111122223333"})
			}
		}

		if utf8.ValidString(pattern) && utf8.ValidString(value) {
			g := compileGlob(pattern, true, false, false)
			got, _ := g.match(value, false, nil)
			if want := globRegexp(pattern).MatchString(value); got != want {
				t.Fatalf("glob %q on %q = %v, regexp says %v", pattern, value, got, want)
			}
		}
		a := compileARN(pattern, true)
		a.match(value, c)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("evaluation took %v", d)
		}
	})
}

// globRegexp is the reference for glob: "*" any run, "?" one character.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

// seedDocs returns every policy document in the JSON vectors.
func seedDocs(tb testing.TB) [][]byte {
	var docs [][]byte
	for _, name := range []string{"valid.json", "evaluate.json", "malformed.json", "lint.json"} {
		var cases []struct {
			Doc     []byte  `json:"-"`
			RawDoc  rawJSON `json:"doc"`
			DocText *string `json:"docText"`
		}
		load(tb, name, &cases)
		for _, c := range cases {
			if c.DocText != nil {
				docs = append(docs, []byte(*c.DocText))
			} else {
				docs = append(docs, c.RawDoc)
			}
		}
	}
	return docs
}

type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}
