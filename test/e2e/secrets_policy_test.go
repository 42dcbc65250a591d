package e2e

import (
	"encoding/xml"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// newUser creates an IAM user with an access key and, when policy is not
// empty, an inline policy; it returns a Secrets Manager client signing as
// the user.
func newUser(t *testing.T, s *server, name, policy string) *sm.Client {
	t.Helper()
	root := s.iamClient(rootAKID, rootSecret)
	_, err := root.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String(name)})
	mustOK(t, err, "CreateUser "+name)
	k, err := root.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	mustOK(t, err, "CreateAccessKey "+name)
	if policy != "" {
		_, err = root.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String("p"), PolicyDocument: aws.String(policy)})
		mustOK(t, err, "PutUserPolicy "+name)
	}
	return s.smClient("us-east-1", aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey))
}

// TestSecretsResourcePolicies checks authorization with other principals:
// IAM users with and without identity policies, resource policies that
// grant and that deny, kms:Decrypt on a customer key, BlockPublicPolicy,
// and another account.
func TestSecretsResourcePolicies(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.smClient("us-east-1", "", "")
	shared, err := c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("shared"), SecretString: aws.String("shared-value")})
	mustOK(t, err, "CreateSecret shared")
	ck, err := s.client("us-east-1").CreateKey(bg(), &kms.CreateKeyInput{})
	mustOK(t, err, "CreateKey")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("cmk"), SecretString: aws.String("cmk-value"), KmsKeyId: ck.KeyMetadata.Arn})
	mustOK(t, err, "CreateSecret cmk")

	alice := newUser(t, s, "alice", "")
	_, err = alice.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("shared")})
	wantCode(t, err, "AccessDeniedException", "alice without any policy")
	if !strings.Contains(err.Error(), "user/alice is not authorized to perform: secretsmanager:GetSecretValue") {
		t.Errorf("AccessDenied message: %v", err)
	}

	// A resource policy naming alice is enough within the account; the
	// AWS managed key lets her through Secrets Manager.
	grant := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},
	  "Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret"],"Resource":"*"}]}`
	_, err = c.PutResourcePolicy(bg(), &sm.PutResourcePolicyInput{SecretId: aws.String("shared"), ResourcePolicy: aws.String(grant), BlockPublicPolicy: aws.Bool(true)})
	mustOK(t, err, "PutResourcePolicy")
	g, err := alice.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: shared.ARN})
	mustOK(t, err, "alice GetSecretValue via the resource policy")
	if aws.ToString(g.SecretString) != "shared-value" {
		t.Errorf("value %q", aws.ToString(g.SecretString))
	}
	_, err = alice.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("shared"), SecretString: aws.String("x")})
	wantCode(t, err, "AccessDeniedException", "alice PutSecretValue, not granted")
	gp, err := c.GetResourcePolicy(bg(), &sm.GetResourcePolicyInput{SecretId: aws.String("shared")})
	mustOK(t, err, "GetResourcePolicy")
	if aws.ToString(gp.ResourcePolicy) != grant {
		t.Errorf("GetResourcePolicy = %q", aws.ToString(gp.ResourcePolicy))
	}

	// An explicit deny in the resource policy beats bob's identity policy.
	bob := newUser(t, s, "bob", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`)
	_, err = bob.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("shared")})
	mustOK(t, err, "bob DescribeSecret by identity policy")
	deny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},"Action":"secretsmanager:*","Resource":"*"},
	  {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	_, err = c.PutResourcePolicy(bg(), &sm.PutResourcePolicyInput{SecretId: aws.String("shared"), ResourcePolicy: aws.String(deny)})
	mustOK(t, err, "PutResourcePolicy deny bob")
	_, err = bob.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("shared")})
	wantCode(t, err, "AccessDeniedException", "bob after an explicit deny")
	if !strings.Contains(err.Error(), "explicit deny in a resource-based policy") {
		t.Errorf("deny message: %v", err)
	}

	// A customer key with the default key policy: bob also needs kms:Decrypt.
	_, err = bob.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("cmk")})
	wantCode(t, err, "AccessDeniedException", "bob without kms:Decrypt")
	if !strings.Contains(err.Error(), "Access to KMS is not allowed") {
		t.Errorf("KMS denial message: %v", err)
	}
	_, err = s.iamClient(rootAKID, rootSecret).PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("bob"), PolicyName: aws.String("p"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:*","kms:Decrypt"],"Resource":"*"}]}`)})
	mustOK(t, err, "PutUserPolicy bob kms:Decrypt")
	g, err = bob.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("cmk")})
	mustOK(t, err, "bob with kms:Decrypt")
	if aws.ToString(g.SecretString) != "cmk-value" {
		t.Errorf("value %q", aws.ToString(g.SecretString))
	}
	_, err = bob.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("cmk"), SecretString: aws.String("bob-value")})
	wantCode(t, err, "AccessDeniedException", "bob PutSecretValue without kms:GenerateDataKey")

	// Public policies.
	public := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	_, err = c.PutResourcePolicy(bg(), &sm.PutResourcePolicyInput{SecretId: aws.String("shared"), ResourcePolicy: aws.String(public), BlockPublicPolicy: aws.Bool(true)})
	wantErr[*smtypes.PublicPolicyException](t, err, "PutResourcePolicy public with BlockPublicPolicy")
	v, err := c.ValidateResourcePolicy(bg(), &sm.ValidateResourcePolicyInput{ResourcePolicy: aws.String(public)})
	mustOK(t, err, "ValidateResourcePolicy public")
	if v.PolicyValidationPassed || len(v.ValidationErrors) != 1 {
		t.Errorf("ValidateResourcePolicy public = %+v", v)
	}
	v, err = c.ValidateResourcePolicy(bg(), &sm.ValidateResourcePolicyInput{SecretId: aws.String("shared"), ResourcePolicy: aws.String(grant)})
	mustOK(t, err, "ValidateResourcePolicy grant")
	if !v.PolicyValidationPassed {
		t.Errorf("ValidateResourcePolicy grant = %+v", v)
	}
	_, err = c.PutResourcePolicy(bg(), &sm.PutResourcePolicyInput{SecretId: aws.String("shared"), ResourcePolicy: aws.String(`{"Statement":[`)})
	wantErr[*smtypes.MalformedPolicyDocumentException](t, err, "PutResourcePolicy malformed")

	// Another account: nothing without a resource policy; with one, the
	// AWS managed key still keeps it out (as in AWS), a customer key whose
	// policy allows the account lets it in.
	r := queryCall(t, s, "iam", rootAKID, rootSecret, url.Values{"Version": {"2010-05-08"}, "Action": {"ArcaCreateAccount"}, "AccountId": {"111122223333"}})
	var acct arcaAccount
	if err := xml.Unmarshal(r.body, &acct); err != nil || r.status != 200 {
		t.Fatalf("ArcaCreateAccount: %d %s", r.status, r.body)
	}
	other := s.smClient("us-east-1", acct.Result.AccessKey.AccessKeyID, acct.Result.AccessKey.SecretAccessKey)
	_, err = other.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: shared.ARN})
	wantCode(t, err, "AccessDeniedException", "other account, no resource policy grant")
	cross := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	_, err = c.PutResourcePolicy(bg(), &sm.PutResourcePolicyInput{SecretId: aws.String("shared"), ResourcePolicy: aws.String(cross)})
	mustOK(t, err, "PutResourcePolicy cross-account")
	_, err = other.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: shared.ARN})
	wantCode(t, err, "AccessDeniedException", "other account through the AWS managed key")
	if !strings.Contains(err.Error(), "Access to KMS is not allowed") {
		t.Errorf("cross-account managed key message: %v", err)
	}
	_, err = other.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("shared")})
	wantErr[*smtypes.ResourceNotFoundException](t, err, "other account by name finds its own account's secrets")

	_, err = c.DeleteResourcePolicy(bg(), &sm.DeleteResourcePolicyInput{SecretId: aws.String("shared")})
	mustOK(t, err, "DeleteResourcePolicy")
	_, err = alice.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("shared")})
	wantCode(t, err, "AccessDeniedException", "alice after DeleteResourcePolicy")
}
