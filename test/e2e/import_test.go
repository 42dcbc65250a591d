package e2e

// Imported key material (BYOK), the way a customer does it: material made
// and wrapped by the openssl CLI (RSAES-OAEP with pkeyutl; the RSA-AES key
// wrap recipe AWS documents: `openssl enc -id-aes256-wrap-pad` for the
// material, OAEP for the AES key), imported through aws-sdk-go-v2, and
// checked through known-answer paths that do not trust Arca: a blob opened
// with the standard library's AES-GCM, an HMAC computed by openssl, an
// ECDSA signature verified by openssl.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// importer wraps material with openssl for one key.
type importer struct {
	t    *testing.T
	c    *kms.Client
	ossl *ktOpenSSL
}

// wrap gets import parameters for alg and a 2048-bit wrapping key, and
// wraps the material file with openssl as AWS's documentation shows.
func (im *importer) wrap(keyID *string, alg types.AlgorithmSpec, materialFile string) (token []byte, wrapped []byte) {
	t := im.t
	t.Helper()
	p, err := im.c.GetParametersForImport(bg(), &kms.GetParametersForImportInput{
		KeyId: keyID, WrappingAlgorithm: alg, WrappingKeySpec: types.WrappingKeySpecRsa2048,
	})
	mustOK(t, err, "GetParametersForImport")
	if p.ParametersValidTo == nil || time.Until(*p.ParametersValidTo) < 23*time.Hour {
		t.Errorf("ParametersValidTo = %v, want about 24 hours ahead", p.ParametersValidTo)
	}
	dir := t.TempDir()
	pub := ktWrite(t, dir, "wrapping-public.der", p.PublicKey)
	md := "sha256"
	if alg == types.AlgorithmSpecRsaesOaepSha1 || alg == types.AlgorithmSpecRsaAesKeyWrapSha1 {
		md = "sha1"
	}
	oaep := func(in, out string) {
		im.ossl.must("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", pub, "-in", in, "-out", out,
			"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:"+md, "-pkeyopt", "rsa_mgf1_md:"+md)
	}
	switch alg {
	case types.AlgorithmSpecRsaesOaepSha1, types.AlgorithmSpecRsaesOaepSha256:
		out := filepath.Join(dir, "wrapped.bin")
		oaep(materialFile, out)
		return p.ImportToken, ktRead(t, out)
	}
	aesKey := filepath.Join(dir, "aes.key")
	im.ossl.must("rand", "-out", aesKey, "32")
	wrappedMaterial, wrappedKey := filepath.Join(dir, "material.wrapped"), filepath.Join(dir, "aes.wrapped")
	im.ossl.must("enc", "-id-aes256-wrap-pad", "-K", hex.EncodeToString(ktRead(t, aesKey)), "-iv", "A65959A6",
		"-in", materialFile, "-out", wrappedMaterial)
	oaep(aesKey, wrappedKey)
	return p.ImportToken, append(ktRead(t, wrappedKey), ktRead(t, wrappedMaterial)...)
}

// importFile wraps and imports the material in materialFile.
func (im *importer) importFile(keyID *string, alg types.AlgorithmSpec, materialFile string, validTo *time.Time) (*kms.ImportKeyMaterialOutput, error) {
	im.t.Helper()
	tok, wrapped := im.wrap(keyID, alg, materialFile)
	in := &kms.ImportKeyMaterialInput{KeyId: keyID, ImportToken: tok, EncryptedKeyMaterial: wrapped,
		ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire}
	if validTo != nil {
		in.ExpirationModel, in.ValidTo = types.ExpirationModelTypeKeyMaterialExpires, validTo
	}
	return im.c.ImportKeyMaterial(bg(), in)
}

// openBlob decrypts an Arca ciphertext blob with the standard library's
// AES-GCM and the material, following docs/FORMATS.md: header [0, 21+L) plus
// the canonical encryption context is the AAD.
func openBlob(t *testing.T, material, blob []byte, ec map[string]string) []byte {
	t.Helper()
	if len(blob) < 5 || blob[0] != 1 || blob[1] != 0xA7 || blob[2] != 0xCA || blob[3] != 1 {
		t.Fatalf("blob header % x is not an AES-256-GCM v1 blob", blob[:min(5, len(blob))])
	}
	l := int(blob[4])
	hdr := 21 + l
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	aad := append([]byte(nil), blob[:hdr]...)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(keys)))
	for _, k := range keys {
		aad = binary.BigEndian.AppendUint32(aad, uint32(len(k)))
		aad = append(aad, k...)
		aad = binary.BigEndian.AppendUint32(aad, uint32(len(ec[k])))
		aad = append(aad, ec[k]...)
	}
	b, err := aes.NewCipher(material)
	mustOK(t, err, "aes.NewCipher")
	g, err := cipher.NewGCM(b)
	mustOK(t, err, "cipher.NewGCM")
	pt, err := g.Open(nil, blob[9+l:hdr], blob[hdr:], aad)
	mustOK(t, err, "local AES-GCM open of Arca's blob")
	return pt
}

func TestImportKeyMaterial(t *testing.T) {
	t.Parallel()
	ossl := ktNewOpenSSL(t)
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	im := &importer{t: t, c: c, ossl: ossl}
	dir := t.TempDir()

	// Symmetric: openssl makes 32 bytes, wraps them with RSAES-OAEP-SHA-256.
	materialFile := filepath.Join(dir, "symmetric.bin")
	ossl.must("rand", "-out", materialFile, "32")
	material := ktRead(t, materialFile)
	k := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	if k.KeyState != types.KeyStatePendingImport || k.Origin != types.OriginTypeExternal {
		t.Fatalf("EXTERNAL key: state %s origin %s", k.KeyState, k.Origin)
	}
	_, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
	wantErr[*types.KMSInvalidStateException](t, err, "Encrypt before import")
	validTo := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	imp, err := im.importFile(k.KeyId, types.AlgorithmSpecRsaesOaepSha256, materialFile, &validTo)
	mustOK(t, err, "ImportKeyMaterial (RSAES_OAEP_SHA_256)")
	d := describe(t, c, *k.KeyId)
	if d.KeyState != types.KeyStateEnabled || d.ExpirationModel != types.ExpirationModelTypeKeyMaterialExpires ||
		d.ValidTo == nil || !d.ValidTo.Equal(validTo) || aws.ToString(d.CurrentKeyMaterialId) != aws.ToString(imp.KeyMaterialId) {
		t.Errorf("after import: state %s, model %s, ValidTo %v (want %v), material %s / %s", d.KeyState, d.ExpirationModel,
			d.ValidTo, validTo, aws.ToString(d.CurrentKeyMaterialId), aws.ToString(imp.KeyMaterialId))
	}
	ec := map[string]string{"purpose": "byok", "tenant": "7"}
	enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("known answer"), EncryptionContext: ec})
	mustOK(t, err, "Encrypt")
	if got := openBlob(t, material, enc.CiphertextBlob, ec); string(got) != "known answer" {
		t.Errorf("local AES-GCM with the imported material opened %q", got)
	}

	// Different material is refused; the same material reimports.
	otherFile := filepath.Join(dir, "other.bin")
	ossl.must("rand", "-out", otherFile, "32")
	_, err = im.importFile(k.KeyId, types.AlgorithmSpecRsaAesKeyWrapSha256, otherFile, nil)
	wantErr[*types.IncorrectKeyMaterialException](t, err, "import of different material")
	again, err := im.importFile(k.KeyId, types.AlgorithmSpecRsaAesKeyWrapSha1, materialFile, nil)
	mustOK(t, err, "reimport of the same material (RSA_AES_KEY_WRAP_SHA_1)")
	if aws.ToString(again.KeyMaterialId) != aws.ToString(imp.KeyMaterialId) {
		t.Errorf("reimport changed KeyMaterialId %s → %s", aws.ToString(imp.KeyMaterialId), aws.ToString(again.KeyMaterialId))
	}

	// Delete, then reimport: old ciphertexts come back.
	_, err = c.DeleteImportedKeyMaterial(bg(), &kms.DeleteImportedKeyMaterialInput{KeyId: k.KeyId})
	mustOK(t, err, "DeleteImportedKeyMaterial")
	if d := describe(t, c, *k.KeyId); d.KeyState != types.KeyStatePendingImport {
		t.Errorf("after DeleteImportedKeyMaterial: %s", d.KeyState)
	}
	_, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantErr[*types.KMSInvalidStateException](t, err, "Decrypt without material")
	soon := time.Now().Add(30 * time.Hour)
	_, err = im.importFile(k.KeyId, types.AlgorithmSpecRsaesOaepSha1, materialFile, &soon)
	mustOK(t, err, "reimport after delete (RSAES_OAEP_SHA_1)")
	dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	mustOK(t, err, "Decrypt after reimport")
	if string(dec.Plaintext) != "known answer" {
		t.Errorf("Decrypt after reimport = %q", dec.Plaintext)
	}

	// HMAC: GenerateMac equals openssl's HMAC under the same material,
	// imported with the RSA-AES key wrap recipe.
	hmacFile := filepath.Join(dir, "hmac.bin")
	ossl.must("rand", "-out", hmacFile, "48")
	hk := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal, KeySpec: types.KeySpecHmac384, KeyUsage: types.KeyUsageTypeGenerateVerifyMac})
	_, err = im.importFile(hk.KeyId, types.AlgorithmSpecRsaAesKeyWrapSha256, hmacFile, nil)
	mustOK(t, err, "ImportKeyMaterial HMAC_384 (RSA_AES_KEY_WRAP_SHA_256)")
	msg := []byte("mac me, twice")
	mac, err := c.GenerateMac(bg(), &kms.GenerateMacInput{KeyId: hk.KeyId, MacAlgorithm: types.MacAlgorithmSpecHmacSha384, Message: msg})
	mustOK(t, err, "GenerateMac")
	want := ossl.must("dgst", "-sha384", "-mac", "HMAC", "-macopt", "hexkey:"+hex.EncodeToString(ktRead(t, hmacFile)), "-binary", ktWrite(t, dir, "msg", msg))
	if !bytes.Equal(mac.Mac, want) {
		t.Errorf("GenerateMac = %x, openssl dgst -hmac = %x", mac.Mac, want)
	}

	// ECC: openssl's P-256 key as PKCS#8; Arca's signature verifies with openssl.
	pemKey := filepath.Join(dir, "ec.pem")
	ossl.must("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", pemKey)
	derKey := filepath.Join(dir, "ec.p8.der")
	ossl.must("pkcs8", "-topk8", "-nocrypt", "-in", pemKey, "-outform", "DER", "-out", derKey)
	pubPEM := filepath.Join(dir, "ec.pub.pem")
	ossl.must("pkey", "-in", pemKey, "-pubout", "-out", pubPEM)
	ek := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal, KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify})
	_, err = im.importFile(ek.KeyId, types.AlgorithmSpecRsaAesKeyWrapSha1, derKey, nil)
	mustOK(t, err, "ImportKeyMaterial ECC_NIST_P256 (RSA_AES_KEY_WRAP_SHA_1)")
	signed := []byte("signed with my own key")
	sig, err := c.Sign(bg(), &kms.SignInput{KeyId: ek.KeyId, Message: signed, MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	mustOK(t, err, "Sign")
	ossl.must("dgst", "-sha256", "-verify", pubPEM, "-signature", ktWrite(t, dir, "sig", sig.Signature), ktWrite(t, dir, "signed", signed))

	// RSA material must use RSA_AES_KEY_WRAP.
	rk := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal, KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
	_, err = c.GetParametersForImport(bg(), &kms.GetParametersForImportInput{KeyId: rk.KeyId, WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa4096})
	wantCode(t, err, "ValidationException", "RSAES_OAEP for RSA material")

	// Tokens expire after 24 hours; material after ValidTo (the scheduler).
	tok, wrapped := im.wrap(k.KeyId, types.AlgorithmSpecRsaesOaepSha256, materialFile)
	advanceClock(t, s, 25*time.Hour)
	_, err = c.ImportKeyMaterial(bg(), &kms.ImportKeyMaterialInput{KeyId: k.KeyId, ImportToken: tok, EncryptedKeyMaterial: wrapped,
		ExpirationModel: types.ExpirationModelTypeKeyMaterialDoesNotExpire})
	wantErr[*types.ExpiredImportTokenException](t, err, "import with a 25-hour-old token")
	advanceClock(t, s, 6*time.Hour)
	if d := describe(t, c, *k.KeyId); d.KeyState != types.KeyStatePendingImport || d.ValidTo != nil {
		t.Errorf("after ValidTo: state %s, ValidTo %v; want PendingImport and none", d.KeyState, d.ValidTo)
	}
	_, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	wantErr[*types.KMSInvalidStateException](t, err, "Decrypt after the material expired")

	// Key material is sacred: neither the imported material nor anything
	// wrapped with it is in the data directory in the clear.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{"symmetric material": material, "HMAC material": ktRead(t, hmacFile), "EC PKCS#8": ktRead(t, derKey)}
	if found := scanFiles(t, s.dataDir, needles); len(found) > 0 {
		t.Errorf("imported key material stored in the clear: %v", found)
	}
	if b, err := os.ReadFile(s.logPath); err == nil {
		if found := scanBytes(b, needles, "server log"); len(found) > 0 {
			t.Errorf("imported key material logged: %v", found)
		}
	}
}
