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
	"encoding/pem"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygenerated"
	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	primtypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/primitives/awscryptographyprimitivessmithygeneratedtypes"
	"github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygenerated"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// esdkMu serialises the tests that use the Encryption SDK: its Go release
// is not safe for concurrent use in one process (the Dafny runtime writes to
// shared global sequences; the race detector reports it:
// aws/aws-encryption-sdk#902), so two such tests never run at once. Other
// tests still run beside them.
var esdkMu sync.Mutex

// TestEncryptionSDK encrypts a message under a multi-keyring of two Arca
// keys (the generator calls GenerateDataKey, the child Encrypt), decrypts it
// with each key's keyring alone, and checks that a tampered message, a wrong
// encryption context and a disabled key are refused.
func TestEncryptionSDK(t *testing.T) {
	t.Parallel()
	esdkMu.Lock()
	defer esdkMu.Unlock()
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

// TestEncryptionSDKOtherKeyrings covers the SDK's other AWS KMS keyrings: a
// discovery keyring (Decrypt with the key ARN read from the message, limited
// to an account and partition), the RSA keyring (encrypts locally under the
// key's public key from GetPublicKey, decrypts with KMS Decrypt
// RSAES_OAEP_SHA_256), and the ECDH keyring (DeriveSharedSecret between two
// Arca KEY_AGREEMENT keys).
func TestEncryptionSDKOtherKeyrings(t *testing.T) {
	t.Parallel()
	esdkMu.Lock()
	defer esdkMu.Unlock()
	s := startServer(t, serverOpts{})
	ctx := bg()
	c := s.client("us-east-1")
	newKey := func(in *kms.CreateKeyInput) string {
		t.Helper()
		k, err := c.CreateKey(ctx, in)
		mustOK(t, err, "CreateKey "+string(in.KeySpec))
		return *k.KeyMetadata.Arn
	}
	publicKey := func(arn string) []byte {
		t.Helper()
		out, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &arn})
		mustOK(t, err, "GetPublicKey")
		return out.PublicKey
	}
	mpl, err := awscryptographymaterialproviderssmithygenerated.NewClient(mpltypes.MaterialProvidersConfig{})
	mustOK(t, err, "material providers client")
	esdk, err := awscryptographyencryptionsdksmithygenerated.NewClient(esdktypes.AwsEncryptionSdkConfig{})
	mustOK(t, err, "encryption SDK client")
	ec := map[string]string{"purpose": "esdk-e2e-keyrings"}
	roundTrip := func(name string, encKR, decKR mpltypes.IKeyring, suite *mpltypes.ESDKAlgorithmSuiteId) []byte {
		t.Helper()
		pt := []byte("esdk-e2e " + name + " plaintext 2b7d")
		enc, err := esdk.Encrypt(ctx, esdktypes.EncryptInput{Plaintext: pt, EncryptionContext: ec, Keyring: encKR, AlgorithmSuiteId: suite})
		if err != nil {
			t.Errorf("%s: Encrypt: %v", name, err)
			return nil
		}
		out, err := esdk.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: enc.Ciphertext, Keyring: decKR, EncryptionContext: ec})
		if err != nil {
			t.Errorf("%s: Decrypt: %v", name, err)
		} else if !bytes.Equal(out.Plaintext, pt) {
			t.Errorf("%s: Decrypt = %q; want %q", name, out.Plaintext, pt)
		}
		return enc.Ciphertext
	}

	// Discovery: any key of account 000000000000 in partition aws; a filter
	// naming another account refuses the same message.
	symARN := newKey(&kms.CreateKeyInput{})
	symKR, err := mpl.CreateAwsKmsKeyring(ctx, mpltypes.CreateAwsKmsKeyringInput{KmsClient: c, KmsKeyId: symARN})
	mustOK(t, err, "CreateAwsKmsKeyring")
	discovery := func(account string) mpltypes.IKeyring {
		kr, err := mpl.CreateAwsKmsDiscoveryKeyring(ctx, mpltypes.CreateAwsKmsDiscoveryKeyringInput{KmsClient: c,
			DiscoveryFilter: &mpltypes.DiscoveryFilter{AccountIds: []string{account}, Partition: "aws"}})
		mustOK(t, err, "CreateAwsKmsDiscoveryKeyring")
		return kr
	}
	msg := roundTrip("discovery", symKR, discovery(defaultAccount), nil)
	if msg != nil {
		if _, err := esdk.Decrypt(ctx, esdktypes.DecryptInput{Ciphertext: msg, Keyring: discovery("111111111111"), EncryptionContext: ec}); err == nil {
			t.Error("a discovery keyring filtered to another account decrypted the message")
		}
	}

	// RSA: the keyring takes the public key as PEM; the suite must not sign.
	rsaARN := newKey(&kms.CreateKeyInput{KeySpec: kmstypes.KeySpecRsa2048, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt})
	rsaKR, err := mpl.CreateAwsKmsRsaKeyring(ctx, mpltypes.CreateAwsKmsRsaKeyringInput{KmsClient: c, KmsKeyId: rsaARN,
		EncryptionAlgorithm: kmstypes.EncryptionAlgorithmSpecRsaesOaepSha256,
		PublicKey:           pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: publicKey(rsaARN)})})
	mustOK(t, err, "CreateAwsKmsRsaKeyring")
	noSigning := mpltypes.ESDKAlgorithmSuiteIdAlgAes256GcmHkdfSha512CommitKey
	roundTrip("RSA", rsaKR, rsaKR, &noSigning)

	// ECDH: the sender's Arca key and the recipient's public key encrypt;
	// the recipient's Arca key alone decrypts (public-key discovery).
	ecdhKey := func() string {
		return newKey(&kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeKeyAgreement})
	}
	senderARN, recipientARN := ecdhKey(), ecdhKey()
	senderKR, err := mpl.CreateAwsKmsEcdhKeyring(ctx, mpltypes.CreateAwsKmsEcdhKeyringInput{KmsClient: c, CurveSpec: primtypes.ECDHCurveSpecEccNistP256,
		KeyAgreementScheme: &mpltypes.KmsEcdhStaticConfigurationsMemberKmsPrivateKeyToStaticPublicKey{Value: mpltypes.KmsPrivateKeyToStaticPublicKeyInput{
			SenderKmsIdentifier: senderARN, SenderPublicKey: publicKey(senderARN), RecipientPublicKey: publicKey(recipientARN)}}})
	mustOK(t, err, "CreateAwsKmsEcdhKeyring (sender)")
	recipientKR, err := mpl.CreateAwsKmsEcdhKeyring(ctx, mpltypes.CreateAwsKmsEcdhKeyringInput{KmsClient: c, CurveSpec: primtypes.ECDHCurveSpecEccNistP256,
		KeyAgreementScheme: &mpltypes.KmsEcdhStaticConfigurationsMemberKmsPublicKeyDiscovery{Value: mpltypes.KmsPublicKeyDiscoveryInput{
			RecipientKmsIdentifier: recipientARN}}})
	mustOK(t, err, "CreateAwsKmsEcdhKeyring (recipient)")
	roundTrip("ECDH", senderKR, recipientKR, nil)

	// Asymmetric Decrypt takes no encryption context; the keyring binds it
	// into the wrapped key instead.
	wantAudit(t, s, rsaARN, "Decrypt", nil)
	for _, arn := range []string{senderARN, recipientARN} {
		wantAudit(t, s, arn, "DeriveSharedSecret", nil)
	}
}
