package e2e

// IAM users reach KMS exactly as their identity policies, the key policy
// and grants say: the whole chain through the real SDK (IAM over the Query
// protocol, KMS over JSON), with AWS's AccessDenied message shape.

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestKMSAuthorizationForIAMUsers(t *testing.T) {
	t.Parallel()
	srv := startServer(t, serverOpts{})
	admin := srv.iamClient(rootAKID, rootSecret)
	rootKMS := srv.client("us-east-1")

	newUser := func(name string) *kms.Client {
		_, err := admin.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String(name)})
		mustOK(t, err, "CreateUser "+name)
		ak, err := admin.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		mustOK(t, err, "CreateAccessKey "+name)
		return srv.clientWith("us-east-1", aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
	}
	alice, bob, carol := newUser("alice"), newUser("bob"), newUser("carol")
	userARN := func(n string) string { return "arn:aws:iam::" + defaultAccount + ":user/" + n }

	ck, err := rootKMS.CreateKey(bg(), &kms.CreateKeyInput{})
	mustOK(t, err, "CreateKey")
	keyID := aws.ToString(ck.KeyMetadata.KeyId)
	keyARN := aws.ToString(ck.KeyMetadata.Arn)

	// No policy: denied, with AWS's message naming the user and the action.
	_, err = alice.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException", "Encrypt by a user without policies")
	if want := "User: " + userARN("alice") + " is not authorized to perform: kms:Encrypt on resource: " + keyARN +
		" because no identity-based policy allows the kms:Encrypt action"; errMessage(err) != want {
		t.Errorf("message = %q\nwant      %q", errMessage(err), want)
	}

	// An identity policy allowing Encrypt with a condition on the context:
	// the default key policy delegates to it.
	_, err = admin.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("use"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"` + keyARN + `",
		  "Condition":{"StringEquals":{"kms:EncryptionContext:team":"blue"}}}`)})
	mustOK(t, err, "PutUserPolicy alice")
	enc, err := alice.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x"), EncryptionContext: map[string]string{"team": "blue"}})
	mustOK(t, err, "Encrypt by alice within her policy")
	_, err = alice.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"team": "blue"}})
	mustOK(t, err, "Decrypt by alice within her policy")
	_, err = alice.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x"), EncryptionContext: map[string]string{"team": "red"}})
	wantCode(t, err, "AccessDeniedException", "Encrypt by alice outside the condition")
	_, err = alice.CreateKey(bg(), &kms.CreateKeyInput{})
	wantCode(t, err, "AccessDeniedException", "CreateKey by alice")

	// Deleting the policy takes effect at once.
	_, err = admin.DeleteUserPolicy(bg(), &iam.DeleteUserPolicyInput{UserName: aws.String("alice"), PolicyName: aws.String("use")})
	mustOK(t, err, "DeleteUserPolicy")
	_, err = alice.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x"), EncryptionContext: map[string]string{"team": "blue"}})
	wantCode(t, err, "AccessDeniedException", "Encrypt by alice after her policy was deleted")

	// A key policy naming bob grants him directly; carol stays out.
	_, err = rootKMS.PutKeyPolicy(bg(), &kms.PutKeyPolicyInput{KeyId: &keyID, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
	  {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + defaultAccount + `:root"},"Action":"kms:*","Resource":"*"},
	  {"Effect":"Allow","Principal":{"AWS":"` + userARN("bob") + `"},"Action":"kms:Encrypt","Resource":"*"}]}`)})
	mustOK(t, err, "PutKeyPolicy naming bob")
	_, err = bob.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
	mustOK(t, err, "Encrypt by bob, named in the key policy")
	_, err = carol.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException", "Encrypt by carol")

	// A grant lets carol decrypt, and only that.
	g, err := rootKMS.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: &keyID, GranteePrincipal: aws.String(userARN("carol")),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	mustOK(t, err, "CreateGrant to carol")
	plain, err := rootKMS.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("granted")})
	mustOK(t, err, "Encrypt by root")
	dec, err := carol.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: plain.CiphertextBlob, GrantTokens: []string{aws.ToString(g.GrantToken)}})
	mustOK(t, err, "Decrypt by carol through the grant")
	if string(dec.Plaintext) != "granted" {
		t.Errorf("Decrypt = %q", dec.Plaintext)
	}
	_, err = carol.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
	wantCode(t, err, "AccessDeniedException", "Encrypt by carol, not in her grant")
	_, err = rootKMS.RevokeGrant(bg(), &kms.RevokeGrantInput{KeyId: &keyID, GrantId: g.GrantId})
	mustOK(t, err, "RevokeGrant")
	_, err = carol.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: plain.CiphertextBlob})
	wantCode(t, err, "AccessDeniedException", "Decrypt by carol after the grant was revoked")

	// A deactivated access key stops working for KMS too.
	keys, err := admin.ListAccessKeys(bg(), &iam.ListAccessKeysInput{UserName: aws.String("bob")})
	mustOK(t, err, "ListAccessKeys bob")
	_, err = admin.UpdateAccessKey(bg(), &iam.UpdateAccessKeyInput{UserName: aws.String("bob"),
		AccessKeyId: keys.AccessKeyMetadata[0].AccessKeyId, Status: iamtypes.StatusTypeInactive})
	mustOK(t, err, "UpdateAccessKey Inactive")
	_, err = bob.Encrypt(bg(), &kms.EncryptInput{KeyId: &keyID, Plaintext: []byte("x")})
	if err == nil {
		t.Errorf("Encrypt with a deactivated access key succeeded")
	}
}
