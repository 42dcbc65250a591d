package kmscrypto

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestOpenSSLInterop checks formats and signatures against OpenSSL, an
// implementation sharing no code with Arca's dependencies, where the
// openssl command is installed (3.x: SM2 and secp256k1 support).
func TestOpenSSLInterop(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	if out, err := exec.Command(bin, "version").Output(); err != nil || !bytes.HasPrefix(out, []byte("OpenSSL 3.")) {
		t.Skipf("needs OpenSSL 3.x, have %q", out)
	}
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
		return out
	}
	msg := []byte("arca and openssl")
	digest := sha256.Sum256(msg)
	msgFile, digestFile := file("msg", msg), file("digest", digest[:])

	// Arca signs, OpenSSL verifies.
	for _, c := range []struct {
		spec KeySpec
		alg  SigningAlgorithm
		args []string
	}{
		{ECCSecgP256K1, ECDSASHA256, []string{"pkeyutl", "-verify", "-in", digestFile}},
		{ECCNistP256, ECDSASHA256, []string{"pkeyutl", "-verify", "-in", digestFile}},
		{ECCNistEdwards25519, Ed25519SHA512, []string{"pkeyutl", "-verify", "-rawin", "-in", msgFile}},
		{RSA2048, RSASSAPSSSHA256, []string{"pkeyutl", "-verify", "-in", digestFile, "-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:32"}},
		{RSA2048, RSASSAPKCS1V15SHA256, []string{"pkeyutl", "-verify", "-in", digestFile, "-pkeyopt", "digest:sha256"}},
		{SM2, SM2DSA, []string{"dgst", "-sm3", "-sigopt", "distid:" + SM2UserID, msgFile}},
	} {
		k := testKey(t, c.spec)
		sig, err := Sign(k, c.alg, msg, MessageRaw)
		if err != nil {
			t.Fatal(err)
		}
		pub, sigFile := file(string(c.spec)+".pub", mustPub(t, k)), file(string(c.alg)+".sig", sig)
		args := c.args
		if args[0] == "dgst" {
			args = append(args[:2:2], append([]string{"-verify", pub, "-keyform", "DER", "-signature", sigFile}, args[2:]...)...)
		} else {
			args = append(args, "-pubin", "-keyform", "DER", "-inkey", pub, "-sigfile", sigFile)
		}
		run(args...)
		// OpenSSL reads the PKCS#8 and derives the same public key.
		if der := run("pkey", "-inform", "DER", "-in", file(string(c.spec)+".key", k.Marshal()), "-pubout", "-outform", "DER"); !bytes.Equal(der, mustPub(t, k)) {
			t.Errorf("%s: OpenSSL derives another public key from the PKCS#8", c.spec)
		}
	}

	// OpenSSL makes keys and signatures, Arca reads and verifies them.
	for _, c := range []struct {
		spec    KeySpec
		genArgs []string
		alg     SigningAlgorithm
	}{
		{ECCSecgP256K1, []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"}, ECDSASHA256},
		{SM2, []string{"-algorithm", "SM2"}, SM2DSA},
	} {
		keyFile := filepath.Join(dir, "ossl-"+string(c.spec)+".der")
		run(append(append([]string{"genpkey"}, c.genArgs...), "-out", keyFile+".pem")...)
		// genpkey writes EC keys as SEC 1; KMS imports PKCS#8.
		run("pkcs8", "-topk8", "-nocrypt", "-in", keyFile+".pem", "-outform", "DER", "-out", keyFile)
		der, _ := os.ReadFile(keyFile)
		k, err := ParseKey(c.spec, der)
		if err != nil {
			t.Fatalf("%s: OpenSSL key: %v", c.spec, err)
		}
		var sig []byte
		if c.spec == SM2 {
			sig = run("dgst", "-sm3", "-sign", keyFile, "-keyform", "DER", "-sigopt", "distid:"+SM2UserID, msgFile)
		} else {
			sig = run("pkeyutl", "-sign", "-inkey", keyFile, "-keyform", "DER", "-in", digestFile)
		}
		if err := Verify(k, c.alg, msg, MessageRaw, sig); err != nil {
			t.Errorf("%s: OpenSSL signature: %v", c.spec, err)
		}
	}

	// SM2PKE both ways.
	k := testKey(t, SM2)
	pub, keyFile := file("sm2.pub", mustPub(t, k)), file("sm2.key", k.Marshal())
	ct, err := EncryptAsymmetric(k, SM2PKE, msg)
	if err != nil {
		t.Fatal(err)
	}
	if got := run("pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", keyFile, "-in", file("sm2.ct", ct)); !bytes.Equal(got, msg) {
		t.Errorf("OpenSSL decrypts SM2PKE to %q", got)
	}
	osslCT := run("pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", pub, "-in", msgFile)
	if got, err := DecryptAsymmetric(k, SM2PKE, osslCT); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("OpenSSL SM2PKE ciphertext: %q, %v", got, err)
	}

	// ECDH with an OpenSSL key.
	p256 := testKey(t, ECCNistP256)
	peerKey := filepath.Join(dir, "peer.der")
	run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-outform", "DER", "-out", peerKey)
	peerPub := run("pkey", "-inform", "DER", "-in", peerKey, "-pubout", "-outform", "DER")
	want := run("pkeyutl", "-derive", "-keyform", "DER", "-inkey", peerKey, "-peerform", "DER", "-peerkey", file("p256.pub", mustPub(t, p256)))
	if got, err := DeriveSharedSecret(p256, ECDH, peerPub); err != nil || !bytes.Equal(got, want) {
		t.Errorf("ECDH with OpenSSL: %x, want %x, %v", got, want, err)
	}
}
