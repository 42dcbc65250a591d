// This file holds the helpers of keytypes_test.go: the openssl command
// line as an independent verifier, temporary files, PEM conversion and the
// per-algorithm verification with Go's standard library (and gmsm for SM2).
package e2e

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// ktSM2UID is the SM2 distinguishing ID AWS KMS (and Arca) sign with.
const ktSM2UID = "1234567812345678"

// ktOpenSSL runs Debian's openssl command line for one test.
type ktOpenSSL struct {
	t   *testing.T
	bin string
}

// ktOpenSSLInfo is what `openssl version` and `openssl list` report; it is
// asked for once per test process.
var (
	ktOpenSSLOnce sync.Once
	ktOpenSSLVer  string
	ktOpenSSLList string // public key and signature algorithms, lower case
)

// ktNewOpenSSL returns the openssl tool (skipping the test when it is not
// installed, failing under CI=true) and logs its version.
func ktNewOpenSSL(t *testing.T) *ktOpenSSL {
	t.Helper()
	o := &ktOpenSSL{t: t, bin: requireTool(t, "openssl", "openssl")}
	ktOpenSSLOnce.Do(func() {
		v, err := o.run("version")
		ktOpenSSLVer = strings.TrimSpace(string(v))
		if err != nil {
			ktOpenSSLVer = "unknown (" + err.Error() + ")"
		}
		pk, _ := o.run("list", "-public-key-algorithms")
		sa, _ := o.run("list", "-signature-algorithms")
		ktOpenSSLList = strings.ToLower(string(pk) + string(sa))
	})
	t.Logf("openssl version: %s", ktOpenSSLVer)
	return o
}

// supports reports whether `openssl list` names the algorithm (case-insensitive).
func (o *ktOpenSSL) supports(name string) bool {
	return strings.Contains(ktOpenSSLList, strings.ToLower(name))
}

// run runs openssl with args and returns its combined output.
func (o *ktOpenSSL) run(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.bin, args...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out, nil
}

// must runs openssl and fails the test at once when it fails.
func (o *ktOpenSSL) must(args ...string) []byte {
	o.t.Helper()
	out, err := o.run(args...)
	if err != nil {
		o.t.Fatal(err)
	}
	return out
}

// ktWrite writes b to name in dir and returns the path.
func ktWrite(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ktRead reads a file written by openssl.
func ktRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ktPubPEM writes a DER SubjectPublicKeyInfo as a PEM "PUBLIC KEY" file.
func ktPubPEM(t *testing.T, dir, name string, der []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := pem.Encode(&buf, &pem.Block{Type: "PUBLIC KEY", Bytes: der}); err != nil {
		t.Fatal(err)
	}
	return ktWrite(t, dir, name, buf.Bytes())
}

// ktPEMKey parses the PKCS#8 PEM private key openssl genpkey wrote.
func ktPEMKey(t *testing.T, p string) crypto.Signer {
	t.Helper()
	blk, _ := pem.Decode(ktRead(t, p))
	if blk == nil {
		t.Fatalf("%s: no PEM block", p)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return k.(crypto.Signer)
}

// ktGetPublicKey calls GetPublicKey and fails the test on error.
func ktGetPublicKey(t *testing.T, c *kms.Client, keyID *string) *kms.GetPublicKeyOutput {
	t.Helper()
	out, err := c.GetPublicKey(bg(), &kms.GetPublicKeyInput{KeyId: keyID})
	mustOK(t, err, "GetPublicKey")
	return out
}

// ktCreate creates a key of spec and usage and fails the test on error.
func ktCreate(t *testing.T, c *kms.Client, spec types.KeySpec, usage types.KeyUsageType) *types.KeyMetadata {
	t.Helper()
	out, err := c.CreateKey(bg(), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage, Description: aws.String("keytypes e2e")})
	mustOK(t, err, fmt.Sprintf("CreateKey %s %s", spec, usage))
	return out.KeyMetadata
}

// ktSigKind is the family of a signing algorithm, with the hash applied to
// the message (0 for Ed25519 and ML-DSA, which hash internally, and for
// SM2DSA, whose SM3 hash is not a crypto.Hash).
type ktSigKind struct {
	kind string // ecdsa, pkcs1, pss, ed25519, ed25519ph, sm2, mldsa
	hash crypto.Hash
}

// ktSigKinds covers every SigningAlgorithmSpec of the pinned SDK.
var ktSigKinds = map[types.SigningAlgorithmSpec]ktSigKind{
	types.SigningAlgorithmSpecRsassaPssSha256:      {"pss", crypto.SHA256},
	types.SigningAlgorithmSpecRsassaPssSha384:      {"pss", crypto.SHA384},
	types.SigningAlgorithmSpecRsassaPssSha512:      {"pss", crypto.SHA512},
	types.SigningAlgorithmSpecRsassaPkcs1V15Sha256: {"pkcs1", crypto.SHA256},
	types.SigningAlgorithmSpecRsassaPkcs1V15Sha384: {"pkcs1", crypto.SHA384},
	types.SigningAlgorithmSpecRsassaPkcs1V15Sha512: {"pkcs1", crypto.SHA512},
	types.SigningAlgorithmSpecEcdsaSha256:          {"ecdsa", crypto.SHA256},
	types.SigningAlgorithmSpecEcdsaSha384:          {"ecdsa", crypto.SHA384},
	types.SigningAlgorithmSpecEcdsaSha512:          {"ecdsa", crypto.SHA512},
	types.SigningAlgorithmSpecEd25519Sha512:        {"ed25519", 0},
	types.SigningAlgorithmSpecEd25519PhSha512:      {"ed25519ph", crypto.SHA512},
	types.SigningAlgorithmSpecSm2dsa:               {"sm2", 0},
	types.SigningAlgorithmSpecMlDsaShake256:        {"mldsa", 0},
}

// digest hashes msg with the algorithm's hash (SHA-512 for Ed25519ph).
func (k ktSigKind) digest(msg []byte) []byte {
	h := k.hash.New()
	h.Write(msg)
	return h.Sum(nil)
}

// prehash is, for Ed25519ph, PH(M) of RFC 8032 section 5.1 over what the
// caller sends with MessageType DIGEST (the SHA-512 digest of msg): AWS's
// Sign reference, MessageType: "When you specify the ED25519_PH_SHA_512
// signing algorithm with MessageType:DIGEST, KMS still performs the SHA-512
// prehash described in Step 1 of Section 7.8.1 in FIPS 186-5. This means the
// input is hashed twice: once by you and once by KMS."
func (k ktSigKind) prehash(msg []byte) []byte {
	return k.digest(k.input(msg))
}

// messageType is the MessageType a RAW-style call uses: Ed25519ph only
// takes DIGEST in AWS KMS, everything else RAW.
func (k ktSigKind) messageType() types.MessageType {
	if k.kind == "ed25519ph" {
		return types.MessageTypeDigest
	}
	return types.MessageTypeRaw
}

// input is what is sent as Message with messageType.
func (k ktSigKind) input(msg []byte) []byte {
	if k.kind == "ed25519ph" {
		return k.digest(msg)
	}
	return msg
}

// ktDgstFlag is openssl dgst's flag for h.
func ktDgstFlag(h crypto.Hash) string {
	switch h {
	case crypto.SHA256:
		return "-sha256"
	case crypto.SHA384:
		return "-sha384"
	case crypto.SHA512:
		return "-sha512"
	}
	panic(fmt.Sprintf("no openssl dgst flag for %v", h))
}

// opensslVerify returns the openssl arguments that verify sig over msg
// (files) with pub (PEM), or nil when the openssl CLI cannot (Ed25519ph).
func (k ktSigKind) opensslVerify(pub, sig, msg string) []string {
	switch k.kind {
	case "ecdsa", "pkcs1":
		return []string{"dgst", ktDgstFlag(k.hash), "-verify", pub, "-signature", sig, msg}
	case "pss":
		return []string{"dgst", ktDgstFlag(k.hash), "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", "-verify", pub, "-signature", sig, msg}
	case "ed25519", "mldsa":
		return []string{"pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", msg, "-sigfile", sig}
	case "sm2":
		return []string{"pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3", "-pkeyopt", "distid:" + ktSM2UID, "-in", msg, "-sigfile", sig}
	}
	return nil
}

// opensslSign returns the openssl arguments that sign msg with key (PEM)
// into sig, or nil when the openssl CLI cannot (Ed25519ph).
func (k ktSigKind) opensslSign(key, sig, msg string) []string {
	switch k.kind {
	case "ecdsa", "pkcs1":
		return []string{"dgst", ktDgstFlag(k.hash), "-sign", key, "-out", sig, msg}
	case "pss":
		return []string{"dgst", ktDgstFlag(k.hash), "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest", "-sign", key, "-out", sig, msg}
	case "ed25519":
		return []string{"pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", msg, "-out", sig}
	case "sm2":
		return []string{"pkeyutl", "-sign", "-inkey", key, "-rawin", "-digest", "sm3", "-pkeyopt", "distid:" + ktSM2UID, "-in", msg, "-out", sig}
	}
	return nil
}

// ktParsePub parses a DER SubjectPublicKeyInfo with Go's x509, or with
// gmsm's smx509 for SM2 (the standard library does not know the curve).
func ktParsePub(spec types.KeySpec, der []byte) (any, error) {
	if spec == types.KeySpecSm2 {
		pub, err := smx509.ParsePKIXPublicKey(der)
		if err == nil && !sm2.IsSM2PublicKey(pub) {
			err = fmt.Errorf("smx509 parsed a %T that is not on the SM2 curve", pub)
		}
		return pub, err
	}
	return x509.ParsePKIXPublicKey(der)
}

// goVerify verifies sig over msg (the message, not its digest) with the
// standard library (gmsm for SM2); nil means valid.
func (k ktSigKind) goVerify(pub any, msg, sig []byte) error {
	bad := errors.New("signature does not verify")
	wrongKey := fmt.Errorf("public key is a %T", pub)
	switch k.kind {
	case "ecdsa":
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return wrongKey
		}
		if !ecdsa.VerifyASN1(p, k.digest(msg), sig) {
			return bad
		}
	case "pkcs1":
		p, ok := pub.(*rsa.PublicKey)
		if !ok {
			return wrongKey
		}
		return rsa.VerifyPKCS1v15(p, k.hash, k.digest(msg), sig)
	case "pss":
		p, ok := pub.(*rsa.PublicKey)
		if !ok {
			return wrongKey
		}
		// AWS KMS: RSASSA-PSS with MGF1 of the same hash and a salt as
		// long as the digest.
		return rsa.VerifyPSS(p, k.hash, k.digest(msg), sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "ed25519":
		p, ok := pub.(ed25519.PublicKey)
		if !ok {
			return wrongKey
		}
		if !ed25519.Verify(p, msg, sig) {
			return bad
		}
	case "ed25519ph":
		p, ok := pub.(ed25519.PublicKey)
		if !ok {
			return wrongKey
		}
		return ed25519.VerifyWithOptions(p, k.prehash(msg), sig, &ed25519.Options{Hash: crypto.SHA512})
	case "sm2":
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return wrongKey
		}
		if !sm2.VerifyASN1WithSM2(p, []byte(ktSM2UID), msg, sig) {
			return bad
		}
	default:
		return fmt.Errorf("no Go verifier for %s", k.kind)
	}
	return nil
}

// ktSHA256 is a shorthand.
func ktSHA256(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
