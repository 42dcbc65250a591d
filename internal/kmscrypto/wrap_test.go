package kmscrypto

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"hash"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
	"github.com/tink-crypto/tink-go/v2/kwp/subtle"
)

// customerWrap wraps material the way a customer does for alg under the
// public key of wk, using only public-key operations.
func customerWrap(t *testing.T, wk *Key, alg WrappingAlgorithm, material []byte) []byte {
	t.Helper()
	der, err := wk.PublicKeyDER()
	if err != nil {
		t.Fatal(err)
	}
	// smx509 parses SM2 public keys as well as the x509 kinds.
	pub, err := smx509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	var h func() hash.Hash = sha256.New
	if alg == WrapRSAESOAEPSHA1 || alg == WrapRSAAESKeyWrapSHA1 {
		h = sha1.New
	}
	switch alg {
	case WrapSM2PKE:
		ct, err := sm2.EncryptASN1(rand.Reader, pub.(*ecdsa.PublicKey), material)
		if err != nil {
			t.Fatal(err)
		}
		return ct
	case WrapRSAESOAEPSHA1, WrapRSAESOAEPSHA256:
		ct, err := rsa.EncryptOAEP(h(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	head, err := rsa.EncryptOAEP(h(), rand.Reader, pub.(*rsa.PublicKey), aesKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	kwp, err := subtle.NewKWP(aesKey)
	if err != nil {
		t.Fatal(err)
	}
	tail, err := kwp.Wrap(material)
	if err != nil {
		t.Fatal(err)
	}
	return append(head, tail...)
}

func TestUnwrapKeyMaterial(t *testing.T) {
	t.Parallel()
	rsaWK := testKey(t, RSA2048)
	sm2WK := testKey(t, SM2)
	rsaMaterial := testKey(t, RSA2048).Marshal()
	// testKey shares one key per spec; a second wrapping key must be new.
	otherWK := map[KeySpec]*Key{}
	for _, spec := range []KeySpec{RSA2048, SM2} {
		k, err := Generate(spec)
		if err != nil {
			t.Fatal(err)
		}
		otherWK[spec] = k
	}
	sym := bytes.Repeat([]byte{0x5a}, 32)
	for _, c := range []struct {
		wk       *Key
		alg      WrappingAlgorithm
		material []byte
	}{
		{rsaWK, WrapRSAESOAEPSHA1, sym},
		{rsaWK, WrapRSAESOAEPSHA256, sym},
		{rsaWK, WrapRSAAESKeyWrapSHA1, sym},
		{rsaWK, WrapRSAAESKeyWrapSHA256, sym},
		{rsaWK, WrapRSAAESKeyWrapSHA256, rsaMaterial},
		{sm2WK, WrapSM2PKE, sym},
	} {
		wrapped := customerWrap(t, c.wk, c.alg, c.material)
		got, err := UnwrapKeyMaterial(c.wk, c.alg, wrapped)
		if err != nil || !bytes.Equal(got, c.material) {
			t.Errorf("%s: unwrap = %d bytes, %v; want the material back", c.alg, len(got), err)
		}
		// Every corruption, truncation or mismatch is one opaque error.
		bad := map[string]struct {
			wk  *Key
			alg WrappingAlgorithm
			in  []byte
		}{
			"flipped last byte":  {c.wk, c.alg, flip(wrapped, len(wrapped)-1)},
			"flipped first byte": {c.wk, c.alg, flip(wrapped, 0)},
			"truncated":          {c.wk, c.alg, wrapped[:len(wrapped)-1]},
			"empty":              {c.wk, c.alg, nil},
			"other wrapping key": {otherWK[c.wk.Spec()], c.alg, wrapped},
		}
		if c.alg != WrapSM2PKE {
			other := WrapRSAESOAEPSHA256
			if c.alg == other {
				other = WrapRSAESOAEPSHA1
			}
			bad["other algorithm"] = struct {
				wk  *Key
				alg WrappingAlgorithm
				in  []byte
			}{c.wk, other, wrapped}
		}
		for name, b := range bad {
			if _, err := UnwrapKeyMaterial(b.wk, b.alg, b.in); !errors.Is(err, ErrInvalidCiphertext) {
				t.Errorf("%s, %s: err = %v, want ErrInvalidCiphertext", c.alg, name, err)
			}
		}
	}
	if _, err := UnwrapKeyMaterial(rsaWK, WrapRSAESPKCS1V15, []byte{1}); !errors.Is(err, ErrUnsupportedAlgorithm) {
		t.Errorf("RSAES_PKCS1_V1_5: err = %v, want ErrUnsupportedAlgorithm", err)
	}
}

func TestCheckWrapping(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		target KeySpec
		alg    WrappingAlgorithm
		wrap   KeySpec
		ok     bool
	}{
		{SymmetricDefault, WrapRSAESOAEPSHA256, RSA2048, true},
		{SymmetricDefault, WrapRSAESOAEPSHA1, RSA4096, true},
		{SymmetricDefault, WrapRSAAESKeyWrapSHA256, RSA3072, true},
		{HMAC512, WrapRSAESOAEPSHA256, RSA2048, true},
		{RSA2048, WrapRSAAESKeyWrapSHA1, RSA2048, true},
		{RSA4096, WrapRSAESOAEPSHA256, RSA4096, false}, // RSA needs RSA_AES
		{ECCNistP521, WrapRSAESOAEPSHA256, RSA2048, false},
		{ECCNistP521, WrapRSAESOAEPSHA1, RSA2048, false},
		{ECCNistP521, WrapRSAESOAEPSHA256, RSA3072, true},
		{ECCNistP521, WrapRSAAESKeyWrapSHA256, RSA2048, true},
		{SymmetricDefault, WrapRSAESPKCS1V15, RSA2048, false},
		{SM4, WrapSM2PKE, SM2, true},
		{SM4, WrapSM2PKE, RSA2048, false},
		{SM4, WrapRSAESOAEPSHA256, SM2, false},
		{RSA2048, WrapSM2PKE, SM2, false},
		{SymmetricDefault, WrapRSAESOAEPSHA256, ECCNistP256, false},
		{SymmetricDefault, "AES_GCM", RSA2048, false},
	} {
		err := CheckWrapping(c.target, c.alg, c.wrap)
		if (err == nil) != c.ok {
			t.Errorf("CheckWrapping(%s, %s, %s) = %v, want ok=%v", c.target, c.alg, c.wrap, err, c.ok)
		}
	}
}

// TestUnwrapOpenSSLKeyWrap checks the RSA-AES recipe AWS documents, done by
// OpenSSL: `openssl enc -id-aes256-wrap-pad` (RFC 5649) for the material
// and `pkeyutl` OAEP for the AES key, so the KWP side is checked against an
// implementation other than the one Arca uses.
func TestUnwrapOpenSSLKeyWrap(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed (Debian package openssl); the e2e suite runs this recipe in CI")
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	wk := testKey(t, RSA2048)
	der, _ := wk.PublicKeyDER()
	pubFile := write("wrap.der", der)
	material := testKey(t, ECCNistP384).Marshal()
	aesKey := bytes.Repeat([]byte{0x42}, 32)
	for _, md := range []struct {
		name string
		alg  WrappingAlgorithm
	}{{"sha1", WrapRSAAESKeyWrapSHA1}, {"sha256", WrapRSAAESKeyWrapSHA256}} {
		tail, err := exec.Command(bin, "enc", "-id-aes256-wrap-pad", "-K", "4242424242424242424242424242424242424242424242424242424242424242",
			"-iv", "A65959A6", "-in", write("material.der", material)).Output()
		if err != nil {
			t.Fatalf("openssl enc: %v", err)
		}
		head, err := exec.Command(bin, "pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", pubFile, "-in", write("aes.key", aesKey),
			"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:"+md.name, "-pkeyopt", "rsa_mgf1_md:"+md.name).Output()
		if err != nil {
			t.Fatalf("openssl pkeyutl: %v", err)
		}
		got, err := UnwrapKeyMaterial(wk, md.alg, append(head, tail...))
		if err != nil || !bytes.Equal(got, material) {
			t.Errorf("%s: unwrap of openssl's wrapping = %v; want the material back", md.alg, err)
		}
	}
}
