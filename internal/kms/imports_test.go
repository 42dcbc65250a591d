package kms

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/svcerr"
	"github.com/tink-crypto/tink-go/v2/kwp/subtle"
)

// createExternal makes an Origin EXTERNAL key of spec and usage.
func (f *fixture) createExternal(t *testing.T, spec, usage string) *KeyMetadata {
	t.Helper()
	out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: spec, KeyUsage: usage, Origin: OriginExternal})
	if err != nil {
		t.Fatalf("CreateKey EXTERNAL %s: %v", spec, err)
	}
	return out.KeyMetadata
}

// wrapFor asks for import parameters and wraps material as a customer would.
func (f *fixture) wrapFor(t *testing.T, keyID, alg string, material []byte) (token, wrapped []byte) {
	t.Helper()
	p, err := f.s.GetParametersForImport(f.ctx, f.c, &GetParametersForImportInput{KeyID: keyID, WrappingAlgorithm: alg, WrappingKeySpec: "RSA_2048"})
	if err != nil {
		t.Fatalf("GetParametersForImport: %v", err)
	}
	if p.ParametersValidTo == nil || !p.ParametersValidTo.Equal(f.now.Add(24*time.Hour)) {
		t.Errorf("ParametersValidTo = %v, want now+24h", p.ParametersValidTo)
	}
	pub, err := x509.ParsePKIXPublicKey(p.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rp := pub.(*rsa.PublicKey)
	h := sha256.New()
	if alg == "RSAES_OAEP_SHA_1" || alg == "RSA_AES_KEY_WRAP_SHA_1" {
		h = sha1.New()
	}
	switch alg {
	case "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256":
		wrapped, err = rsa.EncryptOAEP(h, rand.Reader, rp, material, nil)
	default:
		aesKey := make([]byte, 32)
		rand.Read(aesKey)
		var head, tail []byte
		if head, err = rsa.EncryptOAEP(h, rand.Reader, rp, aesKey, nil); err == nil {
			kwp, _ := subtle.NewKWP(aesKey)
			tail, err = kwp.Wrap(material)
		}
		wrapped = append(head, tail...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p.ImportToken, wrapped
}

func (f *fixture) importMaterial(t *testing.T, keyID, alg string, material []byte, validTo time.Time) (*ImportKeyMaterialOutput, error) {
	t.Helper()
	tok, wrapped := f.wrapFor(t, keyID, alg, material)
	in := &ImportKeyMaterialInput{KeyID: keyID, ImportToken: tok, EncryptedKeyMaterial: wrapped, ExpirationModel: expirationDoesNotExpire}
	if !validTo.IsZero() {
		in.ExpirationModel, in.ValidTo = expirationExpires, epoch.New(validTo)
	}
	return f.s.ImportKeyMaterial(f.ctx, f.c, in)
}

func (f *fixture) state(t *testing.T, keyID string) *KeyMetadata {
	t.Helper()
	d, err := f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: keyID})
	if err != nil {
		t.Fatal(err)
	}
	return d.KeyMetadata
}

func TestImportSymmetricLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createExternal(t, "SYMMETRIC_DEFAULT", "")
	if m.KeyState != "PendingImport" || m.Origin != "EXTERNAL" || m.Enabled || m.CurrentKeyMaterialID != "" {
		t.Fatalf("new EXTERNAL key = %+v", m)
	}
	_, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})
	wantCode(t, err, svcerr.InvalidState)

	material := bytes.Repeat([]byte{0xa5}, 32)
	out, err := f.importMaterial(t, m.KeyID, "RSAES_OAEP_SHA_256", material, f.now.Add(10*day))
	if err != nil {
		t.Fatalf("ImportKeyMaterial: %v", err)
	}
	d := f.state(t, m.KeyID)
	if d.KeyState != "Enabled" || d.ExpirationModel != expirationExpires || d.ValidTo == nil || !d.ValidTo.Equal(f.now.Add(10*day)) ||
		d.CurrentKeyMaterialID != out.KeyMaterialID || len(out.KeyMaterialID) != 64 {
		t.Fatalf("after import: %+v (KeyMaterialId %s)", d, out.KeyMaterialID)
	}
	enc, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("imported")})
	if err != nil {
		t.Fatal(err)
	}
	decrypt := func() error {
		_, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		return err
	}
	if err := decrypt(); err != nil {
		t.Fatal(err)
	}

	// Reimporting the same material (to change its expiration) keeps the
	// KeyMaterialId; different material is refused and changes nothing.
	again, err := f.importMaterial(t, m.KeyID, "RSA_AES_KEY_WRAP_SHA_1", material, time.Time{})
	if err != nil || again.KeyMaterialID != out.KeyMaterialID {
		t.Fatalf("reimport same material: %+v, %v", again, err)
	}
	if d := f.state(t, m.KeyID); d.ExpirationModel != expirationDoesNotExpire || d.ValidTo != nil {
		t.Errorf("after reimport without expiry: %+v", d)
	}
	_, err = f.importMaterial(t, m.KeyID, "RSAES_OAEP_SHA_1", bytes.Repeat([]byte{0x5a}, 32), time.Time{})
	wantCode(t, err, svcerr.IncorrectKeyMaterial)
	if err := decrypt(); err != nil {
		t.Fatalf("decrypt after refused import: %v", err)
	}

	// Delete: the key waits for the same material; old ciphertext comes back with it.
	del, err := f.s.DeleteImportedKeyMaterial(f.ctx, f.c, &DeleteImportedKeyMaterialInput{KeyID: m.KeyID})
	if err != nil || del.KeyMaterialID != out.KeyMaterialID {
		t.Fatalf("DeleteImportedKeyMaterial: %+v, %v", del, err)
	}
	if d := f.state(t, m.KeyID); d.KeyState != "PendingImport" || d.ExpirationModel != "" {
		t.Errorf("after delete: %+v", d)
	}
	wantCode(t, decrypt(), svcerr.InvalidState)
	k, _ := f.s.ks.Get(f.ctx, acct, "us-east-1", m.KeyID)
	if _, err := f.s.ks.Material(f.ctx, k, 1); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("material still stored after delete: %v", err)
	}
	_, err = f.importMaterial(t, m.KeyID, "RSAES_OAEP_SHA_256", bytes.Repeat([]byte{0x11}, 32), time.Time{})
	wantCode(t, err, svcerr.IncorrectKeyMaterial)
	if _, err := f.importMaterial(t, m.KeyID, "RSAES_OAEP_SHA_256", material, f.now.Add(day)); err != nil {
		t.Fatal(err)
	}
	if err := decrypt(); err != nil {
		t.Fatalf("decrypt after reimport: %v", err)
	}

	// Expiry: the sweep deletes the material when ValidTo passes, not before.
	f.now = f.now.Add(day - time.Second)
	if rep, _ := f.s.Sweep(f.ctx); rep.Expired != 0 {
		t.Fatalf("sweep before ValidTo expired %d", rep.Expired)
	}
	f.now = f.now.Add(time.Second)
	rep, err := f.s.Sweep(f.ctx)
	if err != nil || rep.Expired != 1 {
		t.Fatalf("sweep at ValidTo = %+v, %v", rep, err)
	}
	if rep, _ := f.s.Sweep(f.ctx); rep.Expired != 0 {
		t.Errorf("second sweep expired again: %+v", rep)
	}
	if d := f.state(t, m.KeyID); d.KeyState != "PendingImport" || d.ValidTo != nil {
		t.Errorf("after expiry: %+v", d)
	}
	wantCode(t, decrypt(), svcerr.InvalidState)
	k, _ = f.s.ks.Get(f.ctx, acct, "us-east-1", m.KeyID)
	if _, err := f.s.ks.Material(f.ctx, k, 1); !errors.Is(err, keystore.ErrNotFound) {
		t.Errorf("material still stored after expiry: %v", err)
	}

	// Cancelling the deletion of a key without material leaves it waiting
	// for material, not Disabled.
	if _, err := f.s.ScheduleKeyDeletion(f.ctx, f.c, &ScheduleKeyDeletionInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.CancelKeyDeletion(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	if d := f.state(t, m.KeyID); d.KeyState != "PendingImport" {
		t.Errorf("cancelled deletion of a key without material: %s, want PendingImport", d.KeyState)
	}

	// Imported material is not rotated.
	_, err = f.s.RotateKeyOnDemand(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.UnsupportedOperation)
	_, err = f.s.EnableKeyRotation(f.ctx, f.c, &EnableKeyRotationInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.UnsupportedOperation)
}

func TestImportHMACKnownAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createExternal(t, "HMAC_256", "GENERATE_VERIFY_MAC")
	material := []byte("0123456789abcdef0123456789abcdef-and-some-more")
	if _, err := f.importMaterial(t, m.KeyID, "RSAES_OAEP_SHA_1", material, time.Time{}); err != nil {
		t.Fatal(err)
	}
	msg := []byte("known answer")
	out, err := f.s.GenerateMac(f.ctx, f.c, &GenerateMacInput{KeyID: m.KeyID, MacAlgorithm: "HMAC_SHA_256", Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	h := hmac.New(sha256.New, material)
	h.Write(msg)
	if !bytes.Equal(out.Mac, h.Sum(nil)) {
		t.Error("GenerateMac with imported material differs from HMAC-SHA256 under that material")
	}
}

func TestImportAsymmetric(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	m := f.createExternal(t, "ECC_NIST_P256", "SIGN_VERIFY")

	// An RSA-OAEP-only algorithm is fine for ECC; a P-384 key is not P-256.
	other, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	otherDER, _ := x509.MarshalPKCS8PrivateKey(other)
	_, err := f.importMaterial(t, m.KeyID, "RSA_AES_KEY_WRAP_SHA_256", otherDER, time.Time{})
	wantCode(t, err, svcerr.IncorrectKeyMaterial)
	if d := f.state(t, m.KeyID); d.KeyState != "PendingImport" {
		t.Fatalf("refused import changed state to %s", d.KeyState)
	}

	if _, err := f.importMaterial(t, m.KeyID, "RSA_AES_KEY_WRAP_SHA_256", der, time.Time{}); err != nil {
		t.Fatal(err)
	}
	pk, err := f.s.GetPublicKey(f.ctx, f.c, &GetPublicKeyInput{KeyID: m.KeyID})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if !bytes.Equal(pk.PublicKey, want) {
		t.Error("GetPublicKey is not the imported key's public key")
	}
	digest := sha256.Sum256([]byte("signed by imported key"))
	sig, err := f.s.Sign(f.ctx, f.c, &SignInput{KeyID: m.KeyID, Message: digest[:], MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256"})
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(&priv.PublicKey, digest[:], sig.Signature) {
		t.Error("signature by the imported key does not verify under the customer's public key")
	}

	// RSA material needs RSA_AES_KEY_WRAP.
	r := f.createExternal(t, "RSA_2048", "SIGN_VERIFY")
	_, err = f.s.GetParametersForImport(f.ctx, f.c, &GetParametersForImportInput{KeyID: r.KeyID, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_4096"})
	wantCode(t, err, svcerr.Validation)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	rder, _ := x509.MarshalPKCS8PrivateKey(rk)
	if _, err := f.importMaterial(t, r.KeyID, "RSA_AES_KEY_WRAP_SHA_1", rder, time.Time{}); err != nil {
		t.Fatal(err)
	}
	pk, _ = f.s.GetPublicKey(f.ctx, f.c, &GetPublicKeyInput{KeyID: r.KeyID})
	want, _ = x509.MarshalPKIXPublicKey(&rk.PublicKey)
	if !bytes.Equal(pk.PublicKey, want) {
		t.Error("GetPublicKey is not the imported RSA key's public key")
	}
}

func TestImportErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createExternal(t, "SYMMETRIC_DEFAULT", "")
	other := f.createExternal(t, "SYMMETRIC_DEFAULT", "")
	generated := f.createKey(t)
	material := bytes.Repeat([]byte{7}, 32)
	tok, wrapped := f.wrapFor(t, m.KeyID, "RSAES_OAEP_SHA_256", material)
	imp := func(mod func(in *ImportKeyMaterialInput)) error {
		in := &ImportKeyMaterialInput{KeyID: m.KeyID, ImportToken: tok, EncryptedKeyMaterial: wrapped, ExpirationModel: expirationDoesNotExpire}
		mod(in)
		_, err := f.s.ImportKeyMaterial(f.ctx, f.c, in)
		return err
	}
	for name, c := range map[string]struct {
		mod  func(in *ImportKeyMaterialInput)
		code svcerr.Code
	}{
		"no token":             {func(in *ImportKeyMaterialInput) { in.ImportToken = nil }, svcerr.Validation},
		"no material":          {func(in *ImportKeyMaterialInput) { in.EncryptedKeyMaterial = nil }, svcerr.Validation},
		"material too long":    {func(in *ImportKeyMaterialInput) { in.EncryptedKeyMaterial = make([]byte, 6145) }, svcerr.Validation},
		"expires without date": {func(in *ImportKeyMaterialInput) { in.ExpirationModel = "" }, svcerr.Validation},
		"date without expiry":  {func(in *ImportKeyMaterialInput) { in.ValidTo = epoch.New(f.now.Add(day)) }, svcerr.Validation},
		"date in the past":     {func(in *ImportKeyMaterialInput) { in.ExpirationModel, in.ValidTo = expirationExpires, epoch.New(f.now) }, svcerr.Validation},
		"date past 365 days": {func(in *ImportKeyMaterialInput) {
			in.ExpirationModel, in.ValidTo = expirationExpires, epoch.New(f.now.Add(366*day))
		}, svcerr.Validation},
		"bad expiration model": {func(in *ImportKeyMaterialInput) { in.ExpirationModel = "SOMETIMES" }, svcerr.Validation},
		"bad import type":      {func(in *ImportKeyMaterialInput) { in.ImportType = "OLD" }, svcerr.Validation},
		"id with new material": {func(in *ImportKeyMaterialInput) {
			in.ImportType, in.KeyMaterialID = importNew, string(bytes.Repeat([]byte("a"), 64))
		}, svcerr.Validation},
		"existing without any": {func(in *ImportKeyMaterialInput) { in.ImportType = importExisting }, svcerr.IncorrectKeyMaterial},
		"garbage token":        {func(in *ImportKeyMaterialInput) { in.ImportToken = []byte("garbage") }, svcerr.InvalidImportToken},
		"unknown token":        {func(in *ImportKeyMaterialInput) { in.ImportToken = append([]byte{1}, make([]byte, 16)...) }, svcerr.InvalidImportToken},
		"other key's token":    {func(in *ImportKeyMaterialInput) { in.KeyID = other.KeyID }, svcerr.InvalidImportToken},
		"corrupt material": {func(in *ImportKeyMaterialInput) {
			in.EncryptedKeyMaterial = append([]byte{wrapped[0] ^ 1}, wrapped[1:]...)
		}, svcerr.InvalidCiphertext},
		"generated key":          {func(in *ImportKeyMaterialInput) { in.KeyID = generated.KeyID }, svcerr.UnsupportedOperation},
		"alias is not accepted":  {func(in *ImportKeyMaterialInput) { in.KeyID = "alias/none" }, svcerr.NotFound},
		"mismatched material id": {func(in *ImportKeyMaterialInput) { in.KeyMaterialID = string(bytes.Repeat([]byte("b"), 64)) }, svcerr.IncorrectKeyMaterial},
	} {
		if err := imp(c.mod); svcerr.CodeOf(err) != c.code {
			t.Errorf("%s: error = %v, want %s", name, err, c.code)
		}
	}
	if d := f.state(t, m.KeyID); d.KeyState != "PendingImport" {
		t.Fatalf("refused imports changed the key: %+v", d)
	}
	// Material of the wrong length unwraps but is not a SYMMETRIC_DEFAULT key.
	tok16, wrapped16 := f.wrapFor(t, m.KeyID, "RSAES_OAEP_SHA_256", make([]byte, 16))
	_, err := f.s.ImportKeyMaterial(f.ctx, f.c, &ImportKeyMaterialInput{KeyID: m.KeyID, ImportToken: tok16, EncryptedKeyMaterial: wrapped16, ExpirationModel: expirationDoesNotExpire})
	wantCode(t, err, svcerr.IncorrectKeyMaterial)

	// The token expires after 24 hours.
	f.now = f.now.Add(24 * time.Hour)
	wantCode(t, imp(func(*ImportKeyMaterialInput) {}), svcerr.ExpiredImportToken)

	for _, c := range []struct {
		alg, spec string
		code      svcerr.Code
	}{
		{"RSAES_PKCS1_V1_5", "RSA_2048", svcerr.Validation},
		{"RSAES_OAEP_SHA_256", "RSA_1024", svcerr.Validation},
		{"AES_WRAP", "RSA_2048", svcerr.Validation},
		{"", "RSA_2048", svcerr.Validation},
		{"SM2PKE", "RSA_2048", svcerr.Validation},
	} {
		_, err := f.s.GetParametersForImport(f.ctx, f.c, &GetParametersForImportInput{KeyID: m.KeyID, WrappingAlgorithm: c.alg, WrappingKeySpec: c.spec})
		wantCode(t, err, c.code)
	}
	_, err = f.s.GetParametersForImport(f.ctx, f.c, &GetParametersForImportInput{KeyID: generated.KeyID, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
	wantCode(t, err, svcerr.UnsupportedOperation)
	_, err = f.s.DeleteImportedKeyMaterial(f.ctx, f.c, &DeleteImportedKeyMaterialInput{KeyID: generated.KeyID})
	wantCode(t, err, svcerr.UnsupportedOperation)
}

func TestImportedMaterialIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	material := bytes.Repeat([]byte{3}, 32)
	a := f.createExternal(t, "SYMMETRIC_DEFAULT", "")
	b := f.createExternal(t, "SYMMETRIC_DEFAULT", "")
	ia, err := f.importMaterial(t, a.KeyID, "RSAES_OAEP_SHA_256", material, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	ib, err := f.importMaterial(t, b.KeyID, "RSAES_OAEP_SHA_256", material, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if ia.KeyMaterialID == ib.KeyMaterialID {
		t.Error("two keys with the same material share a KeyMaterialId")
	}
	if strings.Contains(ia.KeyMaterialID, hex.EncodeToString(material[:8])) {
		t.Error("KeyMaterialId contains the material")
	}
	// A ciphertext under one key does not decrypt under the other, though
	// their material is the same: the blob names its key.
	enc, _ := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: a.KeyID, Plaintext: []byte("a")})
	_, err = f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: enc.CiphertextBlob, KeyID: b.KeyID})
	wantCode(t, err, svcerr.IncorrectKey)
}
