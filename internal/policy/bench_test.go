package policy

import "testing"

// defaultKeyPolicy is the key policy KMS gives a key created without one.
const defaultKeyPolicy = `{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
      "Action": "kms:*",
      "Resource": "*"
    }
  ]
}`

// typicalIdentityPolicy lets a role use keys only for its application's
// encryption context.
const typicalIdentityPolicy = `{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "UseAppKeys",
      "Effect": "Allow",
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*"],
      "Resource": "arn:aws:kms:us-east-1:111122223333:key/*",
      "Condition": {"StringEquals": {"kms:EncryptionContext:app": "web"}}
    },
    {
      "Sid": "DenyInsecure",
      "Effect": "Deny",
      "Action": "kms:*",
      "Resource": "*",
      "Condition": {"Bool": {"aws:SecureTransport": "false"}}
    }
  ]
}`

func typicalInputs(b testing.TB) (Inputs, *Context) {
	kp, err := Parse([]byte(defaultKeyPolicy))
	if err != nil {
		b.Fatal(err)
	}
	ip, err := ParseWith([]byte(typicalIdentityPolicy), Options{Kind: KindIdentity})
	if err != nil {
		b.Fatal(err)
	}
	c := &Context{}
	in := Inputs{
		Request: Request{
			Action:   "kms:Decrypt",
			Resource: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			Principal: Principal{Type: TypeAssumedRole, Account: "111122223333",
				ARN:       "arn:aws:sts::111122223333:assumed-role/web/i-0abc",
				SourceARN: "arn:aws:iam::111122223333:role/web"},
			Context: c,
		},
		KeyPolicy:        kp,
		IdentityPolicies: []*Policy{ip},
		KeyAccount:       "111122223333",
	}
	return in, c
}

// fillContext builds the condition keys a KMS Decrypt request carries.
func fillContext(c *Context, p *Principal) {
	c.Reset()
	c.SetPrincipal(*p)
	c.Set("aws:SourceIp", "203.0.113.7")
	c.Set("aws:userid", "AROAEXAMPLEID:i-0abc")
	c.Set("aws:CurrentTime", "2026-01-01T00:00:00Z")
	c.SetBool("aws:SecureTransport", true)
	c.Set("kms:CallerAccount", "111122223333")
	c.Set("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
	c.Set("kms:KeySpec", "SYMMETRIC_DEFAULT")
	c.Set("kms:KeyUsage", "ENCRYPT_DECRYPT")
	c.Set("kms:KeyOrigin", "AWS_KMS")
	c.Set("kms:EncryptionContext:app", "web")
	c.Set("kms:EncryptionContext:tenant", "42")
}

// BenchmarkDecideTypical: AWS's default key policy plus one identity policy
// with an encryption-context condition, the context rebuilt per request as a
// server would (reusing the Context's storage).
func BenchmarkDecideTypical(b *testing.B) {
	in, c := typicalInputs(b)
	fillContext(c, &in.Request.Principal)
	if d := Decide(in); !d.Allowed {
		b.Fatalf("not allowed: %+v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		fillContext(c, &in.Request.Principal)
		if d := Decide(in); !d.Allowed {
			b.Fatal("denied")
		}
	}
}

// BenchmarkParseTypical measures parsing the typical identity policy. Parsing
// runs when a policy is stored or enters a cache, not per request.
func BenchmarkParseTypical(b *testing.B) {
	doc := []byte(typicalIdentityPolicy)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseWith(doc, Options{Kind: KindIdentity}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecideTypicalAllocs(t *testing.T) {
	in, c := typicalInputs(t)
	fillContext(c, &in.Request.Principal)
	allocs := testing.AllocsPerRun(100, func() {
		fillContext(c, &in.Request.Principal)
		if !Decide(in).Allowed {
			t.Fatal("denied")
		}
	})
	if allocs != 0 {
		t.Errorf("Decide allocates %v times per request", allocs)
	}
}
