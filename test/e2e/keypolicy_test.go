package e2e

// Key policies through the real SDK: PutKeyPolicy, GetKeyPolicy,
// ListKeyPolicies, the lockout safety check, and a key policy that denies
// its own account root.

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

func TestKeyPolicies(t *testing.T) {
	t.Parallel()
	const account = "210987654321"
	s := startServer(t, serverOpts{account: account})
	c := s.client("us-east-1")
	rootARN := "arn:aws:iam::" + account + ":root"

	ck, err := c.CreateKey(bg(), &kms.CreateKeyInput{})
	mustOK(t, err, "CreateKey")
	keyID := aws.ToString(ck.KeyMetadata.KeyId)

	lp, err := c.ListKeyPolicies(bg(), &kms.ListKeyPoliciesInput{KeyId: &keyID})
	mustOK(t, err, "ListKeyPolicies")
	if len(lp.PolicyNames) != 1 || lp.PolicyNames[0] != "default" || lp.Truncated {
		t.Errorf("ListKeyPolicies = %v truncated=%v, want [default]", lp.PolicyNames, lp.Truncated)
	}

	// Keep root's access and deny Decrypt to everyone: root is bound too.
	denyDecrypt := `{"Version":"2012-10-17","Statement":[
	  {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"` + rootARN + `"},"Action":"kms:*","Resource":"*"},
	  {"Sid":"NoDecrypt","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}`
	_, err = c.PutKeyPolicy(bg(), &kms.PutKeyPolicyInput{KeyId: &keyID, Policy: aws.String(denyDecrypt)})
	mustOK(t, err, "PutKeyPolicy")
	gp, err := c.GetKeyPolicy(bg(), &kms.GetKeyPolicyInput{KeyId: &keyID})
	mustOK(t, err, "GetKeyPolicy")
	if aws.ToString(gp.Policy) != denyDecrypt || aws.ToString(gp.PolicyName) != "default" {
		t.Errorf("GetKeyPolicy = %q/%q, want the policy just put", aws.ToString(gp.PolicyName), aws.ToString(gp.Policy))
	}
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("policy")})
	mustOK(t, err, "Encrypt under a policy that allows it")
	_, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	// The KMS model has no AccessDeniedException type; the SDK surfaces
	// the code and message as a generic smithy.APIError.
	wantCode(t, err, "AccessDeniedException", "Decrypt denied by the key policy")
	want := "User: " + rootARN + " is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:us-east-1:" + account +
		":key/" + keyID + " with an explicit deny in a resource-based policy"
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorMessage() != want {
		t.Errorf("AccessDenied message =\n %s\nwant\n %s", ae.ErrorMessage(), want)
	}

	// The lockout safety check: a policy that does not let the caller call
	// PutKeyPolicy again is refused and changes nothing.
	aliceOnly := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + account +
		`:user/alice"},"Action":"kms:*","Resource":"*"}]}`
	_, err = c.PutKeyPolicy(bg(), &kms.PutKeyPolicyInput{KeyId: &keyID, Policy: aws.String(aliceOnly)})
	m := wantErr[*types.MalformedPolicyDocumentException](t, err, "PutKeyPolicy that locks the caller out")
	if m != nil && !strings.Contains(m.ErrorMessage(), "will not allow you to update the key policy in the future") {
		t.Errorf("lockout message = %q", m.ErrorMessage())
	}
	gp, err = c.GetKeyPolicy(bg(), &kms.GetKeyPolicyInput{KeyId: &keyID})
	mustOK(t, err, "GetKeyPolicy after the refused put")
	if aws.ToString(gp.Policy) != denyDecrypt {
		t.Errorf("a refused PutKeyPolicy changed the policy")
	}
	_, err = c.CreateKey(bg(), &kms.CreateKeyInput{Policy: aws.String(aliceOnly)})
	wantErr[*types.MalformedPolicyDocumentException](t, err, "CreateKey with a policy that locks the caller out")

	// Malformed documents carry AWS's reason.
	for _, tc := range []struct{ doc, reason string }{
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, "Missing required field Principal"},
		{`not json`, "Syntax errors in policy."},
	} {
		_, err = c.PutKeyPolicy(bg(), &kms.PutKeyPolicyInput{KeyId: &keyID, Policy: aws.String(tc.doc)})
		m := wantErr[*types.MalformedPolicyDocumentException](t, err, "PutKeyPolicy "+tc.doc)
		if m != nil && m.ErrorMessage() != tc.reason {
			t.Errorf("PutKeyPolicy %s: message %q, want %q", tc.doc, m.ErrorMessage(), tc.reason)
		}
	}
	_, err = c.PutKeyPolicy(bg(), &kms.PutKeyPolicyInput{KeyId: &keyID, Policy: aws.String(strings.Repeat(" ", 32769))})
	wantCode(t, err, "ValidationException", "PutKeyPolicy over 32768 bytes")

	// With the bypass the caller really is locked out, as in AWS.
	_, err = c.PutKeyPolicy(bg(), &kms.PutKeyPolicyInput{KeyId: &keyID, Policy: aws.String(aliceOnly), BypassPolicyLockoutSafetyCheck: true})
	mustOK(t, err, "PutKeyPolicy with BypassPolicyLockoutSafetyCheck")
	_, err = c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: &keyID})
	wantCode(t, err, "AccessDeniedException", "DescribeKey after locking root out")
	_, err = c.PutKeyPolicy(bg(), &kms.PutKeyPolicyInput{KeyId: &keyID, Policy: aws.String(denyDecrypt)})
	wantCode(t, err, "AccessDeniedException", "PutKeyPolicy after locking root out")
}
