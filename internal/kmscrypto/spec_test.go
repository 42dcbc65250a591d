package kmscrypto

import (
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// TestSpecsMatchSDK checks every name here against the enums of the AWS SDK
// the e2e tests use, so a typo cannot reach the wire.
func TestSpecsMatchSDK(t *testing.T) {
	t.Parallel()
	mlkem := func(s string) bool { return s == "ML_KEM_512" || s == "ML_KEM_768" || s == "ML_KEM_1024" }
	sdkSpecs := types.KeySpecSymmetricDefault.Values()
	for _, s := range Specs() {
		if s != SM4 && !slices.Contains(sdkSpecs, types.KeySpec(s)) {
			t.Errorf("spec %s is not in the SDK", s)
		}
	}
	for _, s := range sdkSpecs {
		if KeyUsages(KeySpec(s)) == nil && !mlkem(string(s)) {
			t.Errorf("SDK spec %s is not supported", s)
		}
	}
	for _, s := range types.DataKeyPairSpecRsa2048.Values() {
		if !slices.Contains(KeyPairSpecs(), KeySpec(s)) && !mlkem(string(s)) {
			t.Errorf("SDK data key pair spec %s is not supported", s)
		}
	}
	var signing []SigningAlgorithm
	var encryption []EncryptionAlgorithm
	var macs []MacAlgorithm
	usages := map[KeyUsage]bool{}
	for _, spec := range Specs() {
		for _, u := range KeyUsages(spec) {
			usages[u] = true
			a, err := AlgorithmsFor(spec, u)
			if err != nil {
				t.Fatalf("AlgorithmsFor(%s, %s): %v", spec, u, err)
			}
			signing = append(signing, a.SigningAlgorithms...)
			encryption = append(encryption, a.EncryptionAlgorithms...)
			macs = append(macs, a.MacAlgorithms...)
			if len(a.SigningAlgorithms)+len(a.EncryptionAlgorithms)+len(a.MacAlgorithms)+len(a.KeyAgreementAlgorithms) == 0 {
				t.Errorf("%s %s: no algorithms", spec, u)
			}
		}
	}
	for _, v := range types.SigningAlgorithmSpecEcdsaSha256.Values() {
		if !slices.Contains(signing, SigningAlgorithm(v)) {
			t.Errorf("SDK signing algorithm %s not offered by any spec", v)
		}
	}
	for _, v := range types.EncryptionAlgorithmSpecSm2pke.Values() {
		if !slices.Contains(encryption, EncryptionAlgorithm(v)) {
			t.Errorf("SDK encryption algorithm %s not offered by any spec", v)
		}
	}
	for _, v := range types.MacAlgorithmSpecHmacSha256.Values() {
		if !slices.Contains(macs, MacAlgorithm(v)) {
			t.Errorf("SDK MAC algorithm %s not offered by any spec", v)
		}
	}
	for _, v := range types.KeyUsageTypeSignVerify.Values() {
		if !usages[KeyUsage(v)] && v != types.KeyUsageTypeEncapsulateDecapsulate {
			t.Errorf("SDK key usage %s not used by any spec", v)
		}
	}
	for _, v := range types.MessageTypeRaw.Values() {
		if !slices.Contains([]MessageType{MessageRaw, MessageDigest, MessageExternalMu}, MessageType(v)) {
			t.Errorf("SDK message type %s unknown", v)
		}
	}
	if string(ECDH) != string(types.KeyAgreementAlgorithmSpecEcdh) {
		t.Error("ECDH spelled differently")
	}

	// A few rows of the tables, as AWS's DescribeKey shows them.
	if got, _ := AlgorithmsFor(RSA2048, UsageEncryptDecrypt); !slices.Equal(got.EncryptionAlgorithms, []EncryptionAlgorithm{RSAESOAEPSHA1, RSAESOAEPSHA256}) || got.SigningAlgorithms != nil {
		t.Errorf("RSA_2048 ENCRYPT_DECRYPT: %+v", got)
	}
	if got, _ := AlgorithmsFor(ECCNistP384, UsageSignVerify); !slices.Equal(got.SigningAlgorithms, []SigningAlgorithm{ECDSASHA384}) {
		t.Errorf("ECC_NIST_P384 SIGN_VERIFY: %+v", got)
	}
	if got, _ := AlgorithmsFor(SM2, UsageKeyAgreement); !slices.Equal(got.KeyAgreementAlgorithms, []KeyAgreementAlgorithm{ECDH}) {
		t.Errorf("SM2 KEY_AGREEMENT: %+v", got)
	}
	if got, _ := AlgorithmsFor(HMAC384, UsageGenerateVerifyMac); !slices.Equal(got.MacAlgorithms, []MacAlgorithm{HMACSHA384}) {
		t.Errorf("HMAC_384: %+v", got)
	}
	if _, err := AlgorithmsFor(ECCSecgP256K1, UsageKeyAgreement); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("secp256k1 KEY_AGREEMENT: %v", err)
	}
	if _, err := AlgorithmsFor(ECCNistEdwards25519, UsageKeyAgreement); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("Ed25519 KEY_AGREEMENT: %v", err)
	}
	if _, err := AlgorithmsFor("RSA_1024", UsageSignVerify); !errors.Is(err, ErrUnsupportedSpec) {
		t.Errorf("RSA_1024: %v", err)
	}
	if !slices.Equal(KeyUsages(SymmetricDefault), []KeyUsage{UsageEncryptDecrypt}) || IsAsymmetric(SymmetricDefault) || !IsAsymmetric(MLDSA87) || IsAsymmetric("bogus") {
		t.Error("KeyUsages/IsAsymmetric")
	}
	// The returned slices are copies: callers cannot corrupt the tables.
	a, _ := AlgorithmsFor(ECCNistP256, UsageSignVerify)
	a.SigningAlgorithms[0] = "X"
	if b, _ := AlgorithmsFor(ECCNistP256, UsageSignVerify); b.SigningAlgorithms[0] != ECDSASHA256 {
		t.Error("AlgorithmsFor returned a shared slice")
	}
	Specs()[0] = "X"
	if Specs()[0] != SymmetricDefault {
		t.Error("Specs returned a shared slice")
	}
}
