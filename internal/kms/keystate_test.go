package kms

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/svcerr"
)

// walkStates is the column order of keyStateWant. It is written out here
// rather than taken from keystate.go so the test states its own expectation.
var walkStates = []keystore.State{
	keystore.Enabled, keystore.Disabled, keystore.PendingDeletion, keystore.PendingImport,
	keystore.PendingReplicaDeletion, keystore.Unavailable, keystore.Creating, keystore.Updating,
}

// keyStateWant is this test's own transcription of AWS's key-state table
// (see keystate.go for the sources and the choices made where AWS is
// silent). It deliberately duplicates keystate.go: a wrong row there makes
// the walk below fail instead of being trusted. One token per state, in
// walkStates order:
//
//	.   allowed        D   DisabledException "is disabled."
//	PD  "is pending deletion."        PR  "is pending replica deletion."
//	NP  "is not pending deletion."    PI  "is pending import."
//	UN  "is unavailable."             CR  "is creating."   UP  "is updating."
//	    (all KMSInvalidStateException)
//	XO  UnsupportedOperationException, origin EXTERNAL
//	XC  UnsupportedOperationException, custom key store
var keyStateWant = map[string]string{
	//                                      Enabled Disabled PendDel PendImp PendRepl Unavail Creating Updating
	ActDescribeKey:                         ".      .        .       .       .        .       .        .",
	ActGetKeyPolicy:                        ".      .        .       .       .        .       .        .",
	ActListResourceTags:                    ".      .        .       .       .        .       .        .",
	ActEnableKey:                           ".      .        PD      PI      PR       .       .        UP",
	ActDisableKey:                          ".      .        PD      PI      PR       .       .        UP",
	ActScheduleKeyDeletion:                 ".      .        PD      .       PR       .       .        UP",
	ActCancelKeyDeletion:                   "NP     NP       .       NP      .        NP      NP       NP",
	ActUpdateKeyDescription:                ".      .        PD      .       PR       .       .        .",
	ActCreateAlias:                         ".      .        PD      .       PR       .       .        .",
	ActUpdateAlias:                         ".      .        PD      .       PR       .       .        .",
	ActTagResource:                         ".      .        PD      .       PR       .       .        .",
	ActUntagResource:                       ".      .        PD      .       PR       .       .        .",
	ActEncrypt:                             ".      D        PD      PI      PR       UN      CR       .",
	ActDecrypt:                             ".      D        PD      PI      PR       UN      CR       .",
	ActReEncryptFrom:                       ".      D        PD      PI      PR       UN      CR       .",
	ActReEncryptTo:                         ".      D        PD      PI      PR       UN      CR       .",
	ActGenerateDataKey:                     ".      D        PD      PI      PR       UN      CR       .",
	ActGenerateDataKeyWithoutPlaintext:     ".      D        PD      PI      PR       UN      CR       .",
	ActGenerateDataKeyPair:                 ".      D        PD      PI      PR       UN      CR       .",
	ActGenerateDataKeyPairWithoutPlaintext: ".      D        PD      PI      PR       UN      CR       .",
	ActSign:                                ".      D        PD      PI      PR       UN      CR       .",
	ActVerify:                              ".      D        PD      PI      PR       UN      CR       .",
	ActGetPublicKey:                        ".      D        PD      PI      PR       UN      CR       .",
	ActGenerateMac:                         ".      D        PD      PI      PR       UN      CR       .",
	ActVerifyMac:                           ".      D        PD      PI      PR       UN      CR       .",
	ActDeriveSharedSecret:                  ".      D        PD      PI      PR       UN      CR       .",
	ActEnableKeyRotation:                   ".      D        PD      XO      PR       XC      .        UP",
	ActDisableKeyRotation:                  ".      D        PD      XO      PR       XC      .        UP",
	ActGetKeyRotationStatus:                ".      .        .       XO      .        XC      .        .",
	ActRotateKeyOnDemand:                   ".      D        PD      XO      PR       XC      .        UP",
	ActListKeyRotations:                    ".      .        .       .       .        XC      .        .",
	ActGetParametersForImport:              ".      .        PD      .       PR       XC      CR       UP",
	ActImportKeyMaterial:                   ".      .        PD      .       PR       XC      CR       UP",
	ActDeleteImportedKeyMaterial:           ".      .        PD      .       PR       XC      CR       UP",
	ActReplicateKey:                        ".      D        PD      PI      PR       XC      CR       UP",
	ActUpdatePrimaryRegion:                 ".      D        PD      PI      PR       XC      CR       UP",
	ActPutKeyPolicy:                        ".      .        .       .       .        .       .        .",
	ActListKeyPolicies:                     ".      .        .       .       .        .       .        .",
	ActCreateGrant:                         ".      D        PD      PI      PR       .       .        .",
	ActListGrants:                          ".      .        .       .       .        .       .        .",
	ActRetireGrant:                         ".      .        .       .       .        .       .        .",
	ActRevokeGrant:                         ".      .        .       .       .        .       .        .",
}

// wantRefusal is the code and message a token stands for; ok is true for ".".
func wantRefusal(t *testing.T, token, keyARN string) (code svcerr.Code, msg string, ok bool) {
	t.Helper()
	switch token {
	case ".":
		return "", "", true
	case "D":
		return svcerr.Disabled, keyARN + " is disabled.", false
	case "PD":
		return svcerr.InvalidState, keyARN + " is pending deletion.", false
	case "PR":
		return svcerr.InvalidState, keyARN + " is pending replica deletion.", false
	case "NP":
		return svcerr.InvalidState, keyARN + " is not pending deletion.", false
	case "PI":
		return svcerr.InvalidState, keyARN + " is pending import.", false
	case "UN":
		return svcerr.InvalidState, keyARN + " is unavailable.", false
	case "CR":
		return svcerr.InvalidState, keyARN + " is creating.", false
	case "UP":
		return svcerr.InvalidState, keyARN + " is updating.", false
	case "XO":
		return svcerr.UnsupportedOperation, keyARN + " origin is EXTERNAL which is not valid for this operation.", false
	case "XC":
		return svcerr.UnsupportedOperation, keyARN + " is in a custom key store, which is not valid for this operation.", false
	}
	t.Fatalf("unknown token %q in keyStateWant", token)
	return "", "", false
}

// wantRow returns action's expected tokens, one per walkStates entry.
func wantRow(t *testing.T, action string) []string {
	t.Helper()
	row, ok := keyStateWant[action]
	if !ok {
		t.Fatalf("keyStateWant has no row for %s", action)
	}
	tokens := strings.Fields(row)
	if len(tokens) != len(walkStates) {
		t.Fatalf("keyStateWant[%s] has %d tokens, want %d", action, len(tokens), len(walkStates))
	}
	return tokens
}

// checkOutcome compares err with the expected token.
func checkOutcome(t *testing.T, what string, err error, token, keyARN string) (refused bool) {
	t.Helper()
	code, msg, ok := wantRefusal(t, token, keyARN)
	if ok {
		if err != nil {
			t.Errorf("%s: %v, want success", what, err)
		}
		return false
	}
	e := svcerr.As(err)
	if e == nil || e.Code != code || e.Msg != msg {
		t.Errorf("%s: %v, want %s: %s", what, err, code, msg)
	}
	return true
}

// keyStateCase is how the walk exercises one operation: the kind of key it
// needs, and a setup that runs while the key is Enabled (making any
// ciphertext, signature or alias the call needs) and returns the call.
type keyStateCase struct {
	spec, usage, origin string
	multiRegion         bool
	setup               func(t *testing.T, f *fixture, m *KeyMetadata) func() error
}

// walkReplicaRegion is where the walk replicates its multi-Region keys.
const walkReplicaRegion = "eu-west-1"

// walkMaterial is the 256-bit material imported into the walk's EXTERNAL keys.
var walkMaterial = bytes.Repeat([]byte{7}, 32)

func keyStateWalk() map[string]keyStateCase {
	sym := func(call func(f *fixture, id string) error) keyStateCase {
		return keyStateCase{setup: func(_ *testing.T, f *fixture, m *KeyMetadata) func() error {
			return func() error { return call(f, m.KeyID) }
		}}
	}
	encrypted := func(t *testing.T, f *fixture, id string) []byte {
		t.Helper()
		out, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: id, Plaintext: []byte("state")})
		if err != nil {
			t.Fatalf("setup Encrypt: %v", err)
		}
		return out.CiphertextBlob
	}
	sign := keyStateCase{spec: "ECC_NIST_P256", usage: UsageSignVerify}
	mac := keyStateCase{spec: "HMAC_256", usage: UsageMac}

	return map[string]keyStateCase{
		ActDescribeKey: sym(func(f *fixture, id string) error {
			_, err := f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: id})
			return err
		}),
		ActGetKeyPolicy: sym(func(f *fixture, id string) error {
			_, err := f.s.GetKeyPolicy(f.ctx, f.c, &GetKeyPolicyInput{KeyID: id})
			return err
		}),
		ActListResourceTags: sym(func(f *fixture, id string) error {
			_, err := f.s.ListResourceTags(f.ctx, f.c, &ListResourceTagsInput{KeyID: id})
			return err
		}),
		ActEnableKey: sym(func(f *fixture, id string) error {
			_, err := f.s.EnableKey(f.ctx, f.c, &KeyIDInput{KeyID: id})
			return err
		}),
		ActDisableKey: sym(func(f *fixture, id string) error {
			_, err := f.s.DisableKey(f.ctx, f.c, &KeyIDInput{KeyID: id})
			return err
		}),
		ActScheduleKeyDeletion: sym(func(f *fixture, id string) error {
			_, err := f.s.ScheduleKeyDeletion(f.ctx, f.c, &ScheduleKeyDeletionInput{KeyID: id, PendingWindowInDays: i32(7)})
			return err
		}),
		ActCancelKeyDeletion: sym(func(f *fixture, id string) error {
			_, err := f.s.CancelKeyDeletion(f.ctx, f.c, &KeyIDInput{KeyID: id})
			return err
		}),
		ActUpdateKeyDescription: sym(func(f *fixture, id string) error {
			d := "changed"
			_, err := f.s.UpdateKeyDescription(f.ctx, f.c, &UpdateKeyDescriptionInput{KeyID: id, Description: &d})
			return err
		}),
		ActCreateAlias: {setup: func(_ *testing.T, f *fixture, m *KeyMetadata) func() error {
			name := "alias/create-" + m.KeyID
			return func() error {
				_, err := f.s.CreateAlias(f.ctx, f.c, &AliasInput{AliasName: name, TargetKeyID: m.KeyID})
				return err
			}
		}},
		ActUpdateAlias: {setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			name := "alias/update-" + m.KeyID
			other := f.createKey(t)
			if _, err := f.s.CreateAlias(f.ctx, f.c, &AliasInput{AliasName: name, TargetKeyID: other.KeyID}); err != nil {
				t.Fatalf("setup CreateAlias: %v", err)
			}
			return func() error {
				_, err := f.s.UpdateAlias(f.ctx, f.c, &AliasInput{AliasName: name, TargetKeyID: m.KeyID})
				return err
			}
		}},
		ActTagResource: sym(func(f *fixture, id string) error {
			_, err := f.s.TagResource(f.ctx, f.c, &TagResourceInput{KeyID: id, Tags: []Tag{{TagKey: "new", TagValue: "v"}}})
			return err
		}),
		ActUntagResource: {setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			if _, err := f.s.TagResource(f.ctx, f.c, &TagResourceInput{KeyID: m.KeyID, Tags: []Tag{{TagKey: "old", TagValue: "v"}}}); err != nil {
				t.Fatalf("setup TagResource: %v", err)
			}
			return func() error {
				_, err := f.s.UntagResource(f.ctx, f.c, &UntagResourceInput{KeyID: m.KeyID, TagKeys: []string{"old"}})
				return err
			}
		}},
		ActEncrypt: sym(func(f *fixture, id string) error {
			_, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: id, Plaintext: []byte("x")})
			return err
		}),
		ActDecrypt: {setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			blob := encrypted(t, f, m.KeyID)
			return func() error {
				_, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: blob})
				return err
			}
		}},
		ActReEncryptFrom: {setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			blob := encrypted(t, f, m.KeyID)
			dst := f.createKey(t)
			return func() error {
				_, err := f.s.ReEncrypt(f.ctx, f.c, &ReEncryptInput{CiphertextBlob: blob, DestinationKeyID: dst.KeyID})
				return err
			}
		}},
		ActReEncryptTo: {setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			src := f.createKey(t)
			blob := encrypted(t, f, src.KeyID)
			return func() error {
				_, err := f.s.ReEncrypt(f.ctx, f.c, &ReEncryptInput{CiphertextBlob: blob, DestinationKeyID: m.KeyID})
				return err
			}
		}},
		ActGenerateDataKey: sym(func(f *fixture, id string) error {
			_, err := f.s.GenerateDataKey(f.ctx, f.c, &GenerateDataKeyInput{KeyID: id, KeySpec: "AES_256"})
			return err
		}),
		ActGenerateDataKeyWithoutPlaintext: sym(func(f *fixture, id string) error {
			_, err := f.s.GenerateDataKeyWithoutPlaintext(f.ctx, f.c, &GenerateDataKeyInput{KeyID: id, KeySpec: "AES_256"})
			return err
		}),
		ActGenerateDataKeyPair: sym(func(f *fixture, id string) error {
			_, err := f.s.GenerateDataKeyPair(f.ctx, f.c, &GenerateDataKeyPairInput{KeyID: id, KeyPairSpec: "ECC_NIST_P256"})
			return err
		}),
		ActGenerateDataKeyPairWithoutPlaintext: sym(func(f *fixture, id string) error {
			_, err := f.s.GenerateDataKeyPairWithoutPlaintext(f.ctx, f.c, &GenerateDataKeyPairInput{KeyID: id, KeyPairSpec: "ECC_NIST_P256"})
			return err
		}),
		ActSign: {spec: sign.spec, usage: sign.usage, setup: func(_ *testing.T, f *fixture, m *KeyMetadata) func() error {
			return func() error {
				_, err := f.s.Sign(f.ctx, f.c, &SignInput{KeyID: m.KeyID, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
				return err
			}
		}},
		ActVerify: {spec: sign.spec, usage: sign.usage, setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			sig, err := f.s.Sign(f.ctx, f.c, &SignInput{KeyID: m.KeyID, Message: []byte("m"), SigningAlgorithm: "ECDSA_SHA_256"})
			if err != nil {
				t.Fatalf("setup Sign: %v", err)
			}
			return func() error {
				_, err := f.s.Verify(f.ctx, f.c, &VerifyInput{KeyID: m.KeyID, Message: []byte("m"), Signature: sig.Signature, SigningAlgorithm: "ECDSA_SHA_256"})
				return err
			}
		}},
		ActGetPublicKey: {spec: sign.spec, usage: sign.usage, setup: func(_ *testing.T, f *fixture, m *KeyMetadata) func() error {
			return func() error {
				_, err := f.s.GetPublicKey(f.ctx, f.c, &GetPublicKeyInput{KeyID: m.KeyID})
				return err
			}
		}},
		ActGenerateMac: {spec: mac.spec, usage: mac.usage, setup: func(_ *testing.T, f *fixture, m *KeyMetadata) func() error {
			return func() error {
				_, err := f.s.GenerateMac(f.ctx, f.c, &GenerateMacInput{KeyID: m.KeyID, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256"})
				return err
			}
		}},
		ActVerifyMac: {spec: mac.spec, usage: mac.usage, setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			out, err := f.s.GenerateMac(f.ctx, f.c, &GenerateMacInput{KeyID: m.KeyID, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256"})
			if err != nil {
				t.Fatalf("setup GenerateMac: %v", err)
			}
			return func() error {
				_, err := f.s.VerifyMac(f.ctx, f.c, &VerifyMacInput{KeyID: m.KeyID, Message: []byte("m"), MacAlgorithm: "HMAC_SHA_256", Mac: out.Mac})
				return err
			}
		}},
		ActDeriveSharedSecret: {spec: "ECC_NIST_P256", usage: UsageKeyAgreement, setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			peer, err := ecdh.P256().GenerateKey(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalPKIXPublicKey(peer.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			return func() error {
				_, err := f.s.DeriveSharedSecret(f.ctx, f.c, &DeriveSharedSecretInput{KeyID: m.KeyID, KeyAgreementAlgorithm: "ECDH", PublicKey: der})
				return err
			}
		}},
		ActEnableKeyRotation: sym(func(f *fixture, id string) error {
			_, err := f.s.EnableKeyRotation(f.ctx, f.c, &EnableKeyRotationInput{KeyID: id, RotationPeriodInDays: i32(90)})
			return err
		}),
		ActDisableKeyRotation: {setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			if _, err := f.s.EnableKeyRotation(f.ctx, f.c, &EnableKeyRotationInput{KeyID: m.KeyID}); err != nil {
				t.Fatalf("setup EnableKeyRotation: %v", err)
			}
			return func() error {
				_, err := f.s.DisableKeyRotation(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
				return err
			}
		}},
		ActGetKeyRotationStatus: sym(func(f *fixture, id string) error {
			_, err := f.s.GetKeyRotationStatus(f.ctx, f.c, &KeyIDInput{KeyID: id})
			return err
		}),
		ActRotateKeyOnDemand: sym(func(f *fixture, id string) error {
			_, err := f.s.RotateKeyOnDemand(f.ctx, f.c, &KeyIDInput{KeyID: id})
			return err
		}),
		ActGetParametersForImport: {origin: OriginExternal, setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			if _, err := f.importMaterial(t, m.KeyID, "RSAES_OAEP_SHA_256", walkMaterial, time.Time{}); err != nil {
				t.Fatalf("setup ImportKeyMaterial: %v", err)
			}
			return func() error {
				_, err := f.s.GetParametersForImport(f.ctx, f.c, &GetParametersForImportInput{KeyID: m.KeyID, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
				return err
			}
		}},
		ActImportKeyMaterial: {origin: OriginExternal, setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			if _, err := f.importMaterial(t, m.KeyID, "RSAES_OAEP_SHA_256", walkMaterial, time.Time{}); err != nil {
				t.Fatalf("setup ImportKeyMaterial: %v", err)
			}
			tok, wrapped := f.wrapFor(t, m.KeyID, "RSAES_OAEP_SHA_256", walkMaterial)
			return func() error {
				_, err := f.s.ImportKeyMaterial(f.ctx, f.c, &ImportKeyMaterialInput{KeyID: m.KeyID, ImportToken: tok, EncryptedKeyMaterial: wrapped, ExpirationModel: expirationDoesNotExpire})
				return err
			}
		}},
		ActDeleteImportedKeyMaterial: {origin: OriginExternal, setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			if _, err := f.importMaterial(t, m.KeyID, "RSAES_OAEP_SHA_256", walkMaterial, time.Time{}); err != nil {
				t.Fatalf("setup ImportKeyMaterial: %v", err)
			}
			return func() error {
				_, err := f.s.DeleteImportedKeyMaterial(f.ctx, f.c, &DeleteImportedKeyMaterialInput{KeyID: m.KeyID})
				return err
			}
		}},
		ActReplicateKey: {multiRegion: true, setup: func(_ *testing.T, f *fixture, m *KeyMetadata) func() error {
			return func() error {
				_, err := f.s.ReplicateKey(f.ctx, f.c, &ReplicateKeyInput{KeyID: m.KeyID, ReplicaRegion: walkReplicaRegion})
				return err
			}
		}},
		ActUpdatePrimaryRegion: {multiRegion: true, setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			if _, err := f.s.ReplicateKey(f.ctx, f.c, &ReplicateKeyInput{KeyID: m.KeyID, ReplicaRegion: walkReplicaRegion}); err != nil {
				t.Fatalf("setup ReplicateKey: %v", err)
			}
			return func() error {
				_, err := f.s.UpdatePrimaryRegion(f.ctx, f.c, &UpdatePrimaryRegionInput{KeyID: m.KeyID, PrimaryRegion: walkReplicaRegion})
				return err
			}
		}},
		ActPutKeyPolicy: sym(func(f *fixture, id string) error {
			_, err := f.s.PutKeyPolicy(f.ctx, f.c, &PutKeyPolicyInput{KeyID: id, Policy: defaultKeyPolicy("aws", f.c.Account)})
			return err
		}),
		ActListKeyPolicies: sym(func(f *fixture, id string) error {
			_, err := f.s.ListKeyPolicies(f.ctx, f.c, &ListKeyPoliciesInput{KeyID: id})
			return err
		}),
		ActCreateGrant: sym(func(f *fixture, id string) error {
			_, err := f.s.CreateGrant(f.ctx, f.c, &CreateGrantInput{KeyID: id, GranteePrincipal: walkGrantee, Operations: []string{"Decrypt"}})
			return err
		}),
		ActListGrants: sym(func(f *fixture, id string) error {
			_, err := f.s.ListGrants(f.ctx, f.c, &ListGrantsInput{KeyID: id})
			return err
		}),
		ActRetireGrant: {setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			g := f.grant(t, m.KeyID)
			return func() error {
				_, err := f.s.RetireGrant(f.ctx, f.c, &RetireGrantInput{GrantToken: g.GrantToken})
				return err
			}
		}},
		ActRevokeGrant: {setup: func(t *testing.T, f *fixture, m *KeyMetadata) func() error {
			g := f.grant(t, m.KeyID)
			return func() error {
				_, err := f.s.RevokeGrant(f.ctx, f.c, &RevokeGrantInput{KeyID: m.KeyID, GrantID: g.GrantID})
				return err
			}
		}},
		ActListKeyRotations: sym(func(f *fixture, id string) error {
			_, err := f.s.ListKeyRotations(f.ctx, f.c, &ListKeyRotationsInput{KeyID: id})
			return err
		}),
	}
}

// putInState moves a key into st directly through the keystore, as nothing
// in Arca produces Creating, Updating, Unavailable or PendingReplicaDeletion
// yet. The other fields the state implies are set as the operations would.
func putInState(t *testing.T, f *fixture, m *KeyMetadata, st keystore.State) *keystore.Key {
	t.Helper()
	k, err := f.s.ks.Update(f.ctx, m.AWSAccountID, f.c.Region, m.KeyID, func(k *keystore.Key) error {
		k.State = st
		switch st {
		case keystore.PendingDeletion:
			k.DeletionDate = f.now.Add(7 * 24 * time.Hour)
			k.PendingWindowInDays = 7
		case keystore.PendingReplicaDeletion:
			k.PendingWindowInDays = 7
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put %s in %s: %v", m.KeyID, st, err)
	}
	return k
}

// worldOf is what a refused call must leave as it was: the key's stored
// metadata and every alias of the account and region.
type worldOf struct {
	key     keystore.Key
	aliases []keystore.Alias
	grants  []string
}

// String shows what the walk's operations can change; the policy and
// creation date are left out to keep a failure readable (DeepEqual still
// compares them).
func (w worldOf) String() string {
	k := w.key
	return fmt.Sprintf("state=%s description=%q tags=%v versions=%d current=%d rotation=%dd next=%s deletion=%s window=%d aliases=%v",
		k.State, k.Description, k.Tags, len(k.Versions), k.Current, k.RotationPeriodInDays,
		k.NextRotation.Format(time.RFC3339), k.DeletionDate.Format(time.RFC3339), k.PendingWindowInDays, w.aliases) +
		fmt.Sprintf(" grants=%v", w.grants)
}

func snapshot(t *testing.T, f *fixture, m *KeyMetadata) worldOf {
	t.Helper()
	k, err := f.s.ks.Get(f.ctx, m.AWSAccountID, f.c.Region, m.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	as, err := f.s.ks.ListAliases(f.ctx, m.AWSAccountID, f.c.Region, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	w := worldOf{key: *k.Clone()}
	for _, a := range as {
		w.aliases = append(w.aliases, *a)
	}
	gs, err := f.s.ks.Grants(f.ctx, m.AWSAccountID, f.c.Region, m.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range gs.All() {
		w.grants = append(w.grants, g.ID)
	}
	return w
}

// TestKeyStateTable walks every operation that exists × every key state
// through the Service, with otherwise valid input, and checks the outcome
// against keyStateWant; a refused call must change nothing.
func TestKeyStateTable(t *testing.T) {
	t.Parallel()
	walk := keyStateWalk()
	actions := make([]string, 0, len(walk))
	for a := range walk {
		actions = append(actions, a)
	}
	slices.Sort(actions)
	for _, action := range actions {
		tc := walk[action]
		t.Run(strings.TrimPrefix(action, "kms:"), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			want := wantRow(t, action)
			for i, st := range walkStates {
				in := &CreateKeyInput{KeySpec: tc.spec, KeyUsage: tc.usage, Origin: tc.origin, MultiRegion: tc.multiRegion}
				out, err := f.s.CreateKey(f.ctx, f.c, in)
				if err != nil {
					t.Fatalf("CreateKey: %v", err)
				}
				m := out.KeyMetadata
				call := tc.setup(t, f, m)
				putInState(t, f, m, st)
				before := snapshot(t, f, m)
				err = call()
				if checkOutcome(t, fmt.Sprintf("%s on a %s key", action, st), err, want[i], m.Arn) {
					if after := snapshot(t, f, m); !reflect.DeepEqual(before, after) {
						t.Errorf("%s on a %s key was refused but changed the key or its aliases:\nbefore %s\nafter  %s", action, st, before, after)
					}
				}
			}
		})
	}
}

// TestKeyStateTableCovered: every row of the table is walked through its
// operation, every walked or expected operation has a
// row, so a row cannot be added without being exercised.
func TestKeyStateTableCovered(t *testing.T) {
	t.Parallel()
	walk := keyStateWalk()
	inTable := map[string]bool{}
	for _, r := range keyStateTable {
		if inTable[r.action] {
			t.Errorf("%s has two rows", r.action)
		}
		inTable[r.action] = true
		_, walked := walk[r.action]
		if !walked {
			t.Errorf("%s has a row but no case in keyStateWalk", r.action)
		}
		if _, ok := keyStateWant[r.action]; !ok {
			t.Errorf("%s has a row but no expectation in keyStateWant", r.action)
		}
	}
	for a := range walk {
		if !inTable[a] {
			t.Errorf("keyStateWalk exercises %s, which has no row", a)
		}
	}
	for a := range keyStateWant {
		if !inTable[a] {
			t.Errorf("keyStateWant expects %s, which has no row", a)
		}
	}
}

// TestKeyStateRowLookup keeps the lookup switch, the state columns and the
// table in step, and every cell decided.
func TestKeyStateRowLookup(t *testing.T) {
	t.Parallel()
	for i, r := range keyStateTable {
		if got, ok := keyStateRow(r.action); !ok || got != i {
			t.Errorf("keyStateRow(%s) = %d, %v; want %d", r.action, got, ok, i)
		}
		for c, v := range r.cells {
			if v == vUnset || v > vCustomKeyStore {
				t.Errorf("%s × %s: no verdict", r.action, stateCols[c])
			}
		}
	}
	if _, ok := keyStateRow("kms:CreateKey"); ok {
		t.Error("keyStateRow found a row for CreateKey, which takes no key")
	}
	if !slices.Equal(stateCols[:], walkStates) {
		t.Errorf("table columns %v, want %v", stateCols, walkStates)
	}
	for c, st := range stateCols {
		if got, ok := stateColOf(st); !ok || got != stateCol(c) {
			t.Errorf("stateColOf(%s) = %d, %v; want %d", st, got, ok, c)
		}
	}
}

// TestKeyStateFailsClosed: an action without a row and a state AWS does not
// define are refused, never allowed.
func TestKeyStateFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	k, err := f.s.ks.Get(f.ctx, acct, f.c.Region, m.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, f.s.checkKeyState(k, "kms:NoSuchOperation"), svcerr.Internal)
	odd := k.Clone()
	odd.State = "Frozen"
	wantCode(t, f.s.checkKeyState(odd, ActDescribeKey), svcerr.InvalidState)
}

// TestKeyStateSideEffects covers what the allowed cells do beyond not
// failing: EnableKey and DisableKey keep an Unavailable or Creating key's
// state, CancelKeyDeletion of a primary key waiting for its replicas
// disables it, and a key pending deletion reports rotation off until the
// deletion is cancelled.
func TestKeyStateSideEffects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	state := func(m *KeyMetadata) keystore.State {
		t.Helper()
		k, err := f.s.ks.Get(f.ctx, acct, f.c.Region, m.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		return k.State
	}
	for _, st := range []keystore.State{keystore.Unavailable, keystore.Creating} {
		m := f.createKey(t)
		putInState(t, f, m, st)
		if _, err := f.s.DisableKey(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil || state(m) != st {
			t.Errorf("DisableKey on a %s key: %v, state %s", st, err, state(m))
		}
		if _, err := f.s.EnableKey(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil || state(m) != st {
			t.Errorf("EnableKey on a %s key: %v, state %s", st, err, state(m))
		}
	}

	m := f.createKey(t)
	putInState(t, f, m, keystore.PendingReplicaDeletion)
	if _, err := f.s.CancelKeyDeletion(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil || state(m) != keystore.Disabled {
		t.Errorf("CancelKeyDeletion of a PendingReplicaDeletion key: %v, state %s", err, state(m))
	}

	m = f.createKey(t)
	if _, err := f.s.EnableKeyRotation(f.ctx, f.c, &EnableKeyRotationInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.ScheduleKeyDeletion(f.ctx, f.c, &ScheduleKeyDeletionInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	st, err := f.s.GetKeyRotationStatus(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	if err != nil || st.KeyRotationEnabled || st.RotationPeriodInDays != nil || st.NextRotationDate != nil {
		t.Errorf("GetKeyRotationStatus while pending deletion = %+v, %v; want rotation off", st, err)
	}
	if _, err := f.s.CancelKeyDeletion(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	st, err = f.s.GetKeyRotationStatus(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	if err != nil || !st.KeyRotationEnabled || st.RotationPeriodInDays == nil || *st.RotationPeriodInDays != 365 {
		t.Errorf("GetKeyRotationStatus after cancelling the deletion = %+v, %v; want the original schedule", st, err)
	}
}

// BenchmarkCheckKeyState measures the check on Encrypt's path: it must not
// allocate when the key is usable.
func BenchmarkCheckKeyState(b *testing.B) {
	s := New(nil, Config{})
	k := &keystore.Key{ID: "1234abcd-12ab-34cd-56ef-1234567890ab", Account: acct, Region: "us-east-1", State: keystore.Enabled}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.checkKeyState(k, ActEncrypt); err != nil {
			b.Fatal(err)
		}
	}
}
