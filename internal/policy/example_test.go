package policy_test

import (
	"fmt"

	"github.com/arca-kms/arca/internal/policy"
)

func ExampleDecide() {
	keyPolicy, err := policy.Parse([]byte(`{
	  "Version": "2012-10-17",
	  "Statement": [{
	    "Sid": "Enable IAM User Permissions",
	    "Effect": "Allow",
	    "Principal": {"AWS": "111122223333"},
	    "Action": "kms:*",
	    "Resource": "*"
	  }]
	}`))
	if err != nil {
		panic(err)
	}
	rolePolicy, err := policy.ParseWith([]byte(`{
	  "Version": "2012-10-17",
	  "Statement": [{
	    "Effect": "Allow",
	    "Action": "kms:Decrypt",
	    "Resource": "arn:aws:kms:us-east-1:111122223333:key/*",
	    "Condition": {"StringEquals": {"kms:EncryptionContext:app": "web"}}
	  }]
	}`), policy.Options{Kind: policy.KindIdentity})
	if err != nil {
		panic(err)
	}

	caller := policy.Principal{
		Type:      policy.TypeAssumedRole,
		Account:   "111122223333",
		ARN:       "arn:aws:sts::111122223333:assumed-role/web/i-0abc",
		SourceARN: "arn:aws:iam::111122223333:role/web",
	}
	var ctx policy.Context
	ctx.SetPrincipal(caller)
	ctx.Set("kms:EncryptionContext:app", "batch")

	in := policy.Inputs{
		Request: policy.Request{
			Action:    "kms:Decrypt",
			Resource:  "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			Principal: caller,
			Context:   &ctx,
		},
		KeyPolicy:        keyPolicy,
		IdentityPolicies: []*policy.Policy{rolePolicy},
		KeyAccount:       "111122223333",
	}
	d := policy.Decide(in)
	fmt.Println(d.Allowed)
	fmt.Println(d.Message(caller.ARN, in.Request.Action, in.Request.Resource))

	ctx.Set("kms:EncryptionContext:app", "web")
	fmt.Println(policy.Decide(in).Allowed)
	// Output:
	// false
	// User: arn:aws:sts::111122223333:assumed-role/web/i-0abc is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab because no identity-based policy allows the kms:Decrypt action
	// true
}

func ExampleLint() {
	p, err := policy.Parse([]byte(`{"Statement": [{
	  "Sid": "Public",
	  "Effect": "Allow",
	  "Principal": "*",
	  "Action": "kms:Decrypt",
	  "Resource": "*"
	}]}`))
	if err != nil {
		panic(err)
	}
	for _, f := range policy.Lint(p, policy.KindResource, policy.WithAccount("111122223333")) {
		fmt.Println(f.ID, f.Severity, f.Sid)
	}
	// Output:
	// ARCA-POL-001 high Public
	// ARCA-POL-003 medium Public
}

func ExampleParseWith() {
	_, err := policy.ParseWith([]byte(`{
	  "Version": "2012-10-17",
	  "Statement": {"Effect": "Allow", "Principal": "*", "Action": "kms:*", "Resource": "*"}
	}`), policy.Options{Kind: policy.KindIdentity})
	fmt.Println(err.(*policy.MalformedError).Reason)
	// Output:
	// Policy document should not specify a principal.
}
