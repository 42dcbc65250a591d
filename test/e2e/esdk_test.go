// This file drives Arca with the AWS Encryption SDK for Go
// (github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk) and its AWS
// KMS keyrings from the AWS Cryptographic Material Providers Library. The
// keyrings take a *kms.Client, so they get the harness's client pointing at
// Arca: changing only the endpoint.
//
// The SDK is a dependency of the module itself (imported only here) rather
// than a program built at test time: its go.mod requires aws-sdk-go-v2 core
// v1.41.7, below our pin of v1.47.7, so it adds no upgrade, and an ordinary
// import is built once with the test binary, needs no module proxy at test
// time and keeps the test a few seconds long.
package e2e

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	"github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// TestEncryptionSDK encrypts a message under a multi-keyring of two Arca
// keys (the generator calls GenerateDataKey, the child Encrypt), decrypts it
// with each key's keyring alone, and checks that a tampered message, a wrong
// encryption context and a disabled key are refused.
func TestEncryptionSDK(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	ctx := bg()
	c := s.client("us-east-1")
	var arns [2]string
	for i := range arns {
		k, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("esdk e2e")})
		mustOK(t, err, "CreateKey")
		arns[i] = *k.KeyMetadata.Arn
	}

	mpl, err := awscryptographymaterialproviderssmithygenerated.NewClient(mpltypes.MaterialProvidersConfig{})
	mustOK(t, err, "material providers client")
	keyring := func(arn string) mpltypes.IKeyring {
		t.Helper()
		kr, err := mpl.CreateAwsKmsKeyring(ctx, mpltypes.CreateAwsKmsKeyringInput{KmsClient: c, KmsKeyId: arn})
		mustOK(t, err, "CreateAwsKmsKeyring")
		return kr
	}
	kr1, kr2 := keyring(arns[0]), keyring(arns[1])
	multi, err := mpl.CreateMultiKeyring(ctx, mpltypes.CreateMultiKeyringInput{Generator: kr1, ChildKeyrings: []mpltypes.IKeyring{kr2}})
	mustOK(t, err, "CreateMultiKeyring")

	// The default commitment policy: require key commitment on both sides.
	esdk, err := awscryptographyencryptionsdksmithygenerated.NewClient(esdktypes.AwsEncryptionSdkConfig{})
	mustOK(t, err, "encryption SDK client")

	pt := []byte("esdk-e2e plaintext that must round-trip 6c0e91")
	ec := map[string]string{"purpose": "esdk-e2e", "tenant": "acme"}
	enc, err := esdk.Encrypt(ctx, esdktypes.EncryptInput{Plaintext: pt, EncryptionContext: ec, Keyring: multi})
	mustOK(t, err, "Encrypt with the multi-keyring")
	if bytes.Contains(enc.Ciphertext, pt) {
		t.Fatal("the encrypted message contains the plaintext")
	}

	decrypt := func(kr mpltypes.IKeyring, msg []byte, ec map[string]string) (*esdktypes.DecryptOutput, error) {
		return esdk.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: msg, Keyring: kr, EncryptionContext: ec})
	}
	for i, kr := range []mpltypes.IKeyring{kr1, kr2, multi} {
		out, err := decrypt(kr, enc.Ciphertext, ec)
		if err != nil {
			t.Errorf("Decrypt with keyring %d: %v", i, err)
			continue
		}
		if !bytes.Equal(out.Plaintext, pt) {
			t.Errorf("Decrypt with keyring %d: %q; want %q", i, out.Plaintext, pt)
		}
		for k, v := range ec {
			if out.EncryptionContext[k] != v {
				t.Errorf("Decrypt with keyring %d: encryption context %v lacks %s=%s", i, out.EncryptionContext, k, v)
			}
		}
	}

	// A message the SDK must refuse: one bit flipped near its end (the
	// body or the signature), and a context that is not the one it was
	// encrypted under.
	bad := bytes.Clone(enc.Ciphertext)
	bad[len(bad)-40] ^= 0x01
	if _, err := decrypt(kr1, bad, ec); err == nil {
		t.Error("a tampered message decrypted")
	}
	if _, err := decrypt(kr1, enc.Ciphertext, map[string]string{"purpose": "other"}); err == nil {
		t.Error("a message decrypted under the wrong encryption context")
	}

	// With the generator's key disabled the second key alone still
	// decrypts, and the first key's keyring gets Arca's DisabledException.
	_, err = c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &arns[0]})
	mustOK(t, err, "DisableKey")
	if out, err := decrypt(kr2, enc.Ciphertext, ec); err != nil || !bytes.Equal(out.Plaintext, pt) {
		t.Errorf("Decrypt with the second key alone, first disabled: %v", err)
	}
	if _, err := decrypt(kr1, enc.Ciphertext, ec); err == nil {
		t.Error("Decrypt with a disabled key succeeded")
	} else if !strings.Contains(err.Error(), "DisabledException") {
		t.Errorf("Decrypt with a disabled key: %v; want it to carry KMS's DisabledException", err)
	}

	// Arca's audit log has the SDK's calls, with the encryption context.
	wantAudit(t, s, arns[0], "GenerateDataKey", ec)
	wantAudit(t, s, arns[0], "Decrypt", ec)
	wantAudit(t, s, arns[1], "Encrypt", ec)
	wantAudit(t, s, arns[1], "Decrypt", ec)
}

// wantAudit reports an error unless LookupEvents finds a successful event
// named name on the key whose request parameters carry every pair of ec.
func wantAudit(t *testing.T, s *server, keyARN, name string, ec map[string]string) {
	t.Helper()
	ct := s.cloudTrailClient(rootAKID, rootSecret)
	p := cloudtrail.NewLookupEventsPaginator(ct, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: &keyARN}}})
	var seen []string
	for p.HasMorePages() {
		page, err := p.NextPage(bg())
		mustOK(t, err, "LookupEvents")
		for _, e := range page.Events {
			seen = append(seen, *e.EventName)
			if *e.EventName != name {
				continue
			}
			var ev struct {
				ErrorCode         string `json:"errorCode"`
				RequestParameters struct {
					EncryptionContext map[string]string `json:"encryptionContext"`
				} `json:"requestParameters"`
			}
			if err := json.Unmarshal([]byte(*e.CloudTrailEvent), &ev); err != nil {
				t.Fatalf("CloudTrailEvent is not JSON: %v", err)
			}
			if ev.ErrorCode != "" {
				continue
			}
			match := true
			for k, v := range ec {
				if ev.RequestParameters.EncryptionContext[k] != v {
					match = false
				}
			}
			if match {
				return
			}
		}
	}
	t.Errorf("audit: no successful %s on %s with encryption context %v (events: %v)", name, keyARN, ec, seen)
}
