// This file checks every key type Arca supports against independent
// implementations: signatures made by Arca verify with Debian's openssl and
// Go's standard library (gmsm for SM2, circl for ML-DSA) and signatures made
// by other keys do not verify in Arca; RSA-OAEP and SM2 ciphertexts made by
// openssl decrypt in Arca; ECDH secrets match openssl's; data key pairs are
// well-formed PKCS#8 whose public half is the returned public key. It also
// checks the AWS errors for wrong usages and that every enum value of the
// pinned AWS SDK is either supported or documented as unsupported in
// docs/COMPATIBILITY.md. Expected behaviour follows the AWS KMS API
// Reference (https://docs.aws.amazon.com/kms/latest/APIReference/) and the
// developer guide's key spec reference
// (https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html).
package e2e

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// ktMessage is what the signature tests sign.
var ktMessage = []byte("Arca key types end-to-end message: the quick brown fox jumps over the lazy dog\n")

// ktSortedStrings returns the values as sorted strings, for comparing
// algorithm lists as sets.
func ktSortedStrings[T ~string](in []T) []string {
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	slices.Sort(out)
	return out
}

// TestKeyTypesSignatures signs with every signing key spec and algorithm
// (RSA at 2048 bits, plus one RSA_3072 PSS case) and verifies each
// signature with Go's standard library (gmsm for SM2) and the openssl
// command line; a signature made by an openssl-generated key of the same
// type must not verify in Arca.
func TestKeyTypesSignatures(t *testing.T) {
	t.Parallel()
	ossl := ktNewOpenSSL(t)
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	cases := []struct {
		spec types.KeySpec
		// wantAlgs is DescribeKey's SigningAlgorithms per the AWS key spec
		// reference (asymmetric-key-specs.html).
		wantAlgs []types.SigningAlgorithmSpec
		only     []types.SigningAlgorithmSpec // test only these; nil: all
		digest   types.SigningAlgorithmSpec   // also sign a DIGEST with this one
		genpkey  []string                     // openssl genpkey arguments for a foreign key
		goParse  bool                         // Go (stdlib or gmsm) parses the public key
		check    func(t *testing.T, pub any)  // size and curve of the parsed key
		textOID  string                       // what `openssl pkey -text` must print
	}{
		{
			spec: types.KeySpecRsa2048,
			wantAlgs: []types.SigningAlgorithmSpec{
				types.SigningAlgorithmSpecRsassaPssSha256, types.SigningAlgorithmSpecRsassaPssSha384, types.SigningAlgorithmSpecRsassaPssSha512,
				types.SigningAlgorithmSpecRsassaPkcs1V15Sha256, types.SigningAlgorithmSpecRsassaPkcs1V15Sha384, types.SigningAlgorithmSpecRsassaPkcs1V15Sha512,
			},
			digest:  types.SigningAlgorithmSpecRsassaPkcs1V15Sha256,
			genpkey: []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"},
			goParse: true,
			check:   ktWantRSA(2048),
			textOID: "Public-Key: (2048 bit)",
		},
		{
			spec: types.KeySpecRsa3072,
			wantAlgs: []types.SigningAlgorithmSpec{
				types.SigningAlgorithmSpecRsassaPssSha256, types.SigningAlgorithmSpecRsassaPssSha384, types.SigningAlgorithmSpecRsassaPssSha512,
				types.SigningAlgorithmSpecRsassaPkcs1V15Sha256, types.SigningAlgorithmSpecRsassaPkcs1V15Sha384, types.SigningAlgorithmSpecRsassaPkcs1V15Sha512,
			},
			only:    []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecRsassaPssSha384},
			genpkey: []string{"-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"},
			goParse: true,
			check:   ktWantRSA(3072),
			textOID: "Public-Key: (3072 bit)",
		},
		{
			spec:     types.KeySpecEccNistP256,
			wantAlgs: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEcdsaSha256},
			digest:   types.SigningAlgorithmSpecEcdsaSha256,
			genpkey:  []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"},
			goParse:  true,
			check:    ktWantCurve(elliptic.P256()),
			textOID:  "NIST CURVE: P-256",
		},
		{
			spec:     types.KeySpecEccNistP384,
			wantAlgs: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEcdsaSha384},
			genpkey:  []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"},
			goParse:  true,
			check:    ktWantCurve(elliptic.P384()),
			textOID:  "NIST CURVE: P-384",
		},
		{
			spec:     types.KeySpecEccNistP521,
			wantAlgs: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEcdsaSha512},
			genpkey:  []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"},
			goParse:  true,
			check:    ktWantCurve(elliptic.P521()),
			textOID:  "NIST CURVE: P-521",
		},
		{
			// Go's standard library does not know secp256k1: openssl only.
			spec:     types.KeySpecEccSecgP256k1,
			wantAlgs: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEcdsaSha256},
			genpkey:  []string{"-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"},
			textOID:  "ASN1 OID: secp256k1",
		},
		{
			spec:     types.KeySpecEccNistEdwards25519,
			wantAlgs: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecEd25519Sha512, types.SigningAlgorithmSpecEd25519PhSha512},
			genpkey:  []string{"-algorithm", "ED25519"},
			goParse:  true,
			check: func(t *testing.T, pub any) {
				if p, ok := pub.(ed25519.PublicKey); !ok || len(p) != ed25519.PublicKeySize {
					t.Errorf("public key is a %T, want an ed25519.PublicKey", pub)
				}
			},
			textOID: "ED25519 Public-Key",
		},
		{
			spec:     types.KeySpecSm2,
			wantAlgs: []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecSm2dsa},
			genpkey:  []string{"-algorithm", "SM2"},
			goParse:  true,
			textOID:  "ASN1 OID: SM2",
		},
	}

	for _, tc := range cases {
		t.Run(string(tc.spec), func(t *testing.T) {
			if tc.spec == types.KeySpecSm2 && !ossl.supports("SM2") {
				t.Logf("%s has no SM2: the openssl cross-checks of SM2 are skipped", ktOpenSSLVer)
			}
			osslOK := tc.spec != types.KeySpecSm2 || ossl.supports("SM2")
			dir := t.TempDir()
			m := ktCreate(t, c, tc.spec, types.KeyUsageTypeSignVerify)
			if got, want := ktSortedStrings(m.SigningAlgorithms), ktSortedStrings(tc.wantAlgs); !slices.Equal(got, want) {
				t.Errorf("CreateKey SigningAlgorithms = %v, want %v", got, want)
			}
			d := describe(t, c, aws.ToString(m.KeyId))
			if got, want := ktSortedStrings(d.SigningAlgorithms), ktSortedStrings(tc.wantAlgs); !slices.Equal(got, want) {
				t.Errorf("DescribeKey SigningAlgorithms = %v, want %v", got, want)
			}
			gp := ktGetPublicKey(t, c, m.KeyId)
			if gp.KeySpec != tc.spec || gp.KeyUsage != types.KeyUsageTypeSignVerify || aws.ToString(gp.KeyId) != aws.ToString(m.Arn) ||
				!slices.Equal(ktSortedStrings(gp.SigningAlgorithms), ktSortedStrings(d.SigningAlgorithms)) ||
				gp.EncryptionAlgorithms != nil || gp.KeyAgreementAlgorithms != nil {
				t.Errorf("GetPublicKey: KeySpec %s KeyUsage %s KeyId %s SigningAlgorithms %v EncryptionAlgorithms %v KeyAgreementAlgorithms %v",
					gp.KeySpec, gp.KeyUsage, aws.ToString(gp.KeyId), gp.SigningAlgorithms, gp.EncryptionAlgorithms, gp.KeyAgreementAlgorithms)
			}
			pubPath := ktPubPEM(t, dir, "arca_pub.pem", gp.PublicKey)
			msgPath := ktWrite(t, dir, "msg.bin", ktMessage)
			badMsgPath := ktWrite(t, dir, "bad_msg.bin", append([]byte("x"), ktMessage...))

			var pub any
			if tc.goParse {
				var err error
				if pub, err = ktParsePub(tc.spec, gp.PublicKey); err != nil {
					t.Fatalf("parsing GetPublicKey's DER: %v", err)
				}
				if tc.check != nil {
					tc.check(t, pub)
				}
			}
			if osslOK {
				// openssl reads the DER too, and sees the right key type.
				txt := ossl.must("pkey", "-pubin", "-inform", "DER", "-in", ktWrite(t, dir, "arca_pub.der", gp.PublicKey), "-text", "-noout")
				if !strings.Contains(string(txt), tc.textOID) {
					t.Errorf("openssl pkey -text of the public key does not say %q:\n%s", tc.textOID, txt)
				}
			}

			// The foreign key, shared by the algorithms' reverse checks.
			var foreignKey, foreignPub string
			if osslOK {
				foreignKey = filepath.Join(dir, "foreign.pem")
				ossl.must(append(append([]string{"genpkey"}, tc.genpkey...), "-out", foreignKey)...)
				foreignPub = filepath.Join(dir, "foreign_pub.pem")
				ossl.must("pkey", "-in", foreignKey, "-pubout", "-out", foreignPub)
			}

			algs := d.SigningAlgorithms
			if tc.only != nil {
				algs = tc.only
			}
			for _, alg := range algs {
				t.Run(string(alg), func(t *testing.T) {
					k, ok := ktSigKinds[alg]
					if !ok {
						t.Fatalf("no verifier for %s", alg)
					}
					input := k.input(ktMessage)
					sg, err := c.Sign(bg(), &kms.SignInput{KeyId: m.KeyId, Message: input, MessageType: k.messageType(), SigningAlgorithm: alg})
					mustOK(t, err, "Sign")
					if sg.SigningAlgorithm != alg || aws.ToString(sg.KeyId) != aws.ToString(m.Arn) {
						t.Errorf("Sign output: SigningAlgorithm %s KeyId %s", sg.SigningAlgorithm, aws.ToString(sg.KeyId))
					}
					sig := sg.Signature
					sigPath := ktWrite(t, t.TempDir(), "sig.bin", sig)

					// Arca's own Verify: valid, and invalid for another message.
					vr, err := c.Verify(bg(), &kms.VerifyInput{KeyId: m.KeyId, Message: input, MessageType: k.messageType(), Signature: sig, SigningAlgorithm: alg})
					if err != nil || !vr.SignatureValid {
						t.Errorf("Arca Verify of its own signature: %v", err)
					}
					_, err = c.Verify(bg(), &kms.VerifyInput{KeyId: m.KeyId, Message: k.input(append([]byte("x"), ktMessage...)), MessageType: k.messageType(), Signature: sig, SigningAlgorithm: alg})
					wantErr[*types.KMSInvalidSignatureException](t, err, "Verify over another message")

					if tc.goParse {
						if err := k.goVerify(pub, ktMessage, sig); err != nil {
							t.Errorf("Go verification of Arca's %s signature: %v", alg, err)
						}
						if err := k.goVerify(pub, append([]byte("x"), ktMessage...), sig); err == nil {
							t.Errorf("Go verified Arca's %s signature over another message", alg)
						}
					}
					if args := k.opensslVerify(pubPath, sigPath, msgPath); args == nil {
						t.Logf("the openssl command line (%s) cannot verify %s; Go's verification stands alone", ktOpenSSLVer, alg)
					} else if !osslOK {
						t.Logf("openssl cross-check of %s skipped: no SM2 in %s", alg, ktOpenSSLVer)
					} else {
						if _, err := ossl.run(args...); err != nil {
							t.Errorf("openssl verification of Arca's %s signature: %v", alg, err)
						}
						if _, err := ossl.run(k.opensslVerify(pubPath, sigPath, badMsgPath)...); err == nil {
							t.Errorf("openssl verified Arca's %s signature over another message", alg)
						}
					}

					// The reverse: a signature by a key Arca does not hold.
					if !osslOK {
						return
					}
					var foreign []byte
					foreignSig := filepath.Join(t.TempDir(), "foreign_sig.bin")
					if args := k.opensslSign(foreignKey, foreignSig, msgPath); args != nil {
						ossl.must(args...)
						foreign = ktRead(t, foreignSig)
						if _, err := ossl.run(k.opensslVerify(foreignPub, foreignSig, msgPath)...); err != nil {
							t.Fatalf("control: openssl does not verify its own signature: %v", err)
						}
					} else {
						// Ed25519ph: the openssl CLI cannot sign it, Go can,
						// with the key openssl generated.
						priv := ktPEMKey(t, foreignKey)
						foreign, err = priv.Sign(nil, k.prehash(ktMessage), &ed25519.Options{Hash: crypto.SHA512})
						mustOK(t, err, "Ed25519ph signature with the foreign key")
						if err := k.goVerify(priv.Public(), ktMessage, foreign); err != nil {
							t.Fatalf("control: the foreign Ed25519ph signature does not verify: %v", err)
						}
					}
					_, err = c.Verify(bg(), &kms.VerifyInput{KeyId: m.KeyId, Message: input, MessageType: k.messageType(), Signature: foreign, SigningAlgorithm: alg})
					wantErr[*types.KMSInvalidSignatureException](t, err, "Arca Verify of a signature by an openssl-generated key")
				})
			}

			if tc.digest == "" {
				return
			}
			t.Run(string(tc.digest)+" DIGEST", func(t *testing.T) {
				k := ktSigKinds[tc.digest]
				digest := k.digest(ktMessage)
				sg, err := c.Sign(bg(), &kms.SignInput{KeyId: m.KeyId, Message: digest, MessageType: types.MessageTypeDigest, SigningAlgorithm: tc.digest})
				mustOK(t, err, "Sign DIGEST")
				sigPath := ktWrite(t, t.TempDir(), "sig.bin", sg.Signature)
				// A signature over the digest is a signature over the message.
				if err := k.goVerify(pub, ktMessage, sg.Signature); err != nil {
					t.Errorf("Go verification of the DIGEST signature: %v", err)
				}
				if _, err := ossl.run(k.opensslVerify(pubPath, sigPath, msgPath)...); err != nil {
					t.Errorf("openssl verification of the DIGEST signature: %v", err)
				}
				for _, mt := range []struct {
					typ types.MessageType
					msg []byte
				}{{types.MessageTypeDigest, digest}, {types.MessageTypeRaw, ktMessage}} {
					vr, err := c.Verify(bg(), &kms.VerifyInput{KeyId: m.KeyId, Message: mt.msg, MessageType: mt.typ, Signature: sg.Signature, SigningAlgorithm: tc.digest})
					if err != nil || !vr.SignatureValid {
						t.Errorf("Arca Verify %s of the DIGEST signature: %v", mt.typ, err)
					}
				}
				if k.kind == "pkcs1" {
					// PKCS#1 v1.5 is deterministic: RAW and DIGEST give the
					// same bytes.
					raw, err := c.Sign(bg(), &kms.SignInput{KeyId: m.KeyId, Message: ktMessage, MessageType: types.MessageTypeRaw, SigningAlgorithm: tc.digest})
					if err != nil || !bytes.Equal(raw.Signature, sg.Signature) {
						t.Errorf("PKCS#1 v1.5 signature of the message differs from that of its digest (%v)", err)
					}
				}
			})
		})
	}
}

// ktWantRSA checks a parsed public key is RSA of bits with e = 65537.
func ktWantRSA(bits int) func(t *testing.T, pub any) {
	return func(t *testing.T, pub any) {
		t.Helper()
		p, ok := pub.(*rsa.PublicKey)
		if !ok || p.N.BitLen() != bits || p.E != 65537 {
			t.Errorf("public key = %T, want RSA %d bits with e = 65537", pub, bits)
		}
	}
}

// ktWantCurve checks a parsed public key is ECDSA on curve.
func ktWantCurve(curve elliptic.Curve) func(t *testing.T, pub any) {
	return func(t *testing.T, pub any) {
		t.Helper()
		if p, ok := pub.(*ecdsa.PublicKey); !ok || p.Curve != curve {
			t.Errorf("public key = %T, want ECDSA on %s", pub, curve.Params().Name)
		}
	}
}

// ktMLDSA describes one ML-DSA parameter set.
type ktMLDSA struct {
	spec   types.KeySpec
	oid    asn1.ObjectIdentifier // RFC 9881 (id-ml-dsa-44/65/87)
	scheme sign.Scheme
	name   string // OpenSSL's algorithm name
}

// TestKeyTypesMLDSA signs with ML_DSA_44, 65 and 87, checks the public key
// is an RFC 9881 SubjectPublicKeyInfo, and verifies the signatures with
// Cloudflare's circl (and openssl from 3.5 on). AWS KMS signs with pure
// ML-DSA and an empty context (FIPS 204 ML-DSA.Sign, ctx = "").
func TestKeyTypesMLDSA(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	// openssl is optional here: circl is the independent verifier, openssl
	// a second one from OpenSSL 3.5 on.
	var ossl *ktOpenSSL
	if _, err := exec.LookPath("openssl"); err == nil {
		ossl = ktNewOpenSSL(t)
	}
	osslMLDSA := ossl != nil && ossl.supports("ML-DSA-44")
	if !osslMLDSA {
		t.Logf("openssl (%s) has no ML-DSA (it arrived in OpenSSL 3.5): ML-DSA is verified with circl only", ktOpenSSLVer)
	}
	for _, tc := range []ktMLDSA{
		{types.KeySpecMlDsa44, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}, mldsa44.Scheme(), "ML-DSA-44"},
		{types.KeySpecMlDsa65, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18}, mldsa65.Scheme(), "ML-DSA-65"},
		{types.KeySpecMlDsa87, asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 19}, mldsa87.Scheme(), "ML-DSA-87"},
	} {
		t.Run(string(tc.spec), func(t *testing.T) {
			dir := t.TempDir()
			m := ktCreate(t, c, tc.spec, types.KeyUsageTypeSignVerify)
			want := []types.SigningAlgorithmSpec{types.SigningAlgorithmSpecMlDsaShake256}
			if d := describe(t, c, aws.ToString(m.KeyId)); !slices.Equal(d.SigningAlgorithms, want) {
				t.Errorf("DescribeKey SigningAlgorithms = %v, want %v", d.SigningAlgorithms, want)
			}
			gp := ktGetPublicKey(t, c, m.KeyId)
			if gp.KeySpec != tc.spec || !slices.Equal(gp.SigningAlgorithms, want) {
				t.Errorf("GetPublicKey KeySpec %s SigningAlgorithms %v", gp.KeySpec, gp.SigningAlgorithms)
			}
			// RFC 9881 section 4: AlgorithmIdentifier with the parameter
			// set's OID and absent parameters; the BIT STRING is the raw
			// FIPS 204 public key.
			var spki struct {
				Algorithm pkix.AlgorithmIdentifier
				PublicKey asn1.BitString
			}
			rest, err := asn1.Unmarshal(gp.PublicKey, &spki)
			if err != nil || len(rest) != 0 {
				t.Fatalf("GetPublicKey's DER is not a SubjectPublicKeyInfo: %v (%d trailing bytes)", err, len(rest))
			}
			if !spki.Algorithm.Algorithm.Equal(tc.oid) || len(spki.Algorithm.Parameters.FullBytes) != 0 {
				t.Errorf("SPKI algorithm = %v with parameters %x, want %v without parameters", spki.Algorithm.Algorithm, spki.Algorithm.Parameters.FullBytes, tc.oid)
			}
			raw := spki.PublicKey.RightAlign()
			if spki.PublicKey.BitLength%8 != 0 || len(raw) != tc.scheme.PublicKeySize() {
				t.Fatalf("public key is %d bits, want %d bytes", spki.PublicKey.BitLength, tc.scheme.PublicKeySize())
			}
			pk, err := tc.scheme.UnmarshalBinaryPublicKey(raw)
			mustOK(t, err, "circl: parsing the public key")

			sg, err := c.Sign(bg(), &kms.SignInput{KeyId: m.KeyId, Message: ktMessage, MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})
			mustOK(t, err, "Sign")
			if len(sg.Signature) != tc.scheme.SignatureSize() {
				t.Errorf("signature is %d bytes, want %d", len(sg.Signature), tc.scheme.SignatureSize())
			}
			vr, err := c.Verify(bg(), &kms.VerifyInput{KeyId: m.KeyId, Message: ktMessage, Signature: sg.Signature, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})
			if err != nil || !vr.SignatureValid {
				t.Errorf("Arca Verify of its own signature: %v", err)
			}
			_, err = c.Verify(bg(), &kms.VerifyInput{KeyId: m.KeyId, Message: []byte("another message"), Signature: sg.Signature, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})
			wantErr[*types.KMSInvalidSignatureException](t, err, "Verify over another message")

			if !tc.scheme.Verify(pk, ktMessage, sg.Signature, nil) {
				t.Errorf("circl does not verify Arca's signature (pure ML-DSA, empty context)")
			}
			if tc.scheme.Verify(pk, ktMessage, sg.Signature, &sign.SignatureOpts{Context: "arca"}) {
				t.Errorf("circl verifies Arca's signature with a non-empty context")
			}
			if tc.scheme.Verify(pk, []byte("another message"), sg.Signature, nil) {
				t.Errorf("circl verifies Arca's signature over another message")
			}

			t.Run("EXTERNAL_MU", func(t *testing.T) {
				// FIPS 204 Algorithm 7: mu = SHAKE256(tr || M', 64) with
				// tr = SHAKE256(pk, 64) and M' = 0 || len(ctx) || ctx || M.
				tr := sha3.SumSHAKE256(raw, 64)
				mu := sha3.SumSHAKE256(slices.Concat(tr, []byte{0, 0}, ktMessage), 64)
				sg, err := c.Sign(bg(), &kms.SignInput{KeyId: m.KeyId, Message: mu, MessageType: types.MessageTypeExternalMu, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})
				mustOK(t, err, "Sign EXTERNAL_MU")
				if !tc.scheme.Verify(pk, ktMessage, sg.Signature, nil) {
					t.Errorf("circl does not verify the EXTERNAL_MU signature over the message")
				}
			})

			// The reverse: a signature by a key circl generated.
			_, fsk, err := tc.scheme.GenerateKey()
			mustOK(t, err, "circl GenerateKey")
			foreign := tc.scheme.Sign(fsk, ktMessage, nil)
			_, err = c.Verify(bg(), &kms.VerifyInput{KeyId: m.KeyId, Message: ktMessage, Signature: foreign, SigningAlgorithm: types.SigningAlgorithmSpecMlDsaShake256})
			wantErr[*types.KMSInvalidSignatureException](t, err, "Arca Verify of a signature by a circl-generated key")

			if osslMLDSA {
				k := ktSigKinds[types.SigningAlgorithmSpecMlDsaShake256]
				pubPath := ktPubPEM(t, dir, "arca_pub.pem", gp.PublicKey)
				msgPath := ktWrite(t, dir, "msg.bin", ktMessage)
				sigPath := ktWrite(t, dir, "sig.bin", sg.Signature)
				if _, err := ossl.run(k.opensslVerify(pubPath, sigPath, msgPath)...); err != nil {
					t.Errorf("openssl verification of Arca's %s signature: %v", tc.name, err)
				}
			}
		})
	}
}

// TestKeyTypesAsymmetricEncryption encrypts with openssl (and Go) under
// Arca's RSA and SM2 public keys and decrypts in Arca, and checks AWS's
// RSA-OAEP plaintext limits.
func TestKeyTypesAsymmetricEncryption(t *testing.T) {
	t.Parallel()
	ossl := ktNewOpenSSL(t)
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	pt := []byte("a secret only Arca's private key can read")

	t.Run("RSA_2048", func(t *testing.T) {
		dir := t.TempDir()
		m := ktCreate(t, c, types.KeySpecRsa2048, types.KeyUsageTypeEncryptDecrypt)
		want := []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}
		if got := ktSortedStrings(describe(t, c, aws.ToString(m.KeyId)).EncryptionAlgorithms); !slices.Equal(got, want) {
			t.Errorf("DescribeKey EncryptionAlgorithms = %v, want %v", got, want)
		}
		gp := ktGetPublicKey(t, c, m.KeyId)
		if gp.KeyUsage != types.KeyUsageTypeEncryptDecrypt || !slices.Equal(ktSortedStrings(gp.EncryptionAlgorithms), want) || gp.SigningAlgorithms != nil {
			t.Errorf("GetPublicKey KeyUsage %s EncryptionAlgorithms %v SigningAlgorithms %v", gp.KeyUsage, gp.EncryptionAlgorithms, gp.SigningAlgorithms)
		}
		pub, err := x509.ParsePKIXPublicKey(gp.PublicKey)
		mustOK(t, err, "parsing GetPublicKey's DER")
		ktWantRSA(2048)(t, pub)
		rpub, _ := pub.(*rsa.PublicKey)
		pubPath := ktPubPEM(t, dir, "arca_pub.pem", gp.PublicKey)
		ptPath := ktWrite(t, dir, "pt.bin", pt)

		decrypt := func(t *testing.T, alg types.EncryptionAlgorithmSpec, ct []byte, what string) {
			t.Helper()
			out, err := c.Decrypt(bg(), &kms.DecryptInput{KeyId: m.KeyId, EncryptionAlgorithm: alg, CiphertextBlob: ct})
			if err != nil {
				t.Errorf("Arca Decrypt of %s: %v", what, err)
				return
			}
			if !bytes.Equal(out.Plaintext, pt) || out.EncryptionAlgorithm != alg || aws.ToString(out.KeyId) != aws.ToString(m.Arn) {
				t.Errorf("Arca Decrypt of %s: plaintext %q algorithm %s KeyId %s", what, out.Plaintext, out.EncryptionAlgorithm, aws.ToString(out.KeyId))
			}
		}
		for _, tc := range []struct {
			alg types.EncryptionAlgorithmSpec
			md  string
			max int // AWS: RSA_2048 plaintext limit (symm-asymm-choose-key-spec.html)
		}{
			{types.EncryptionAlgorithmSpecRsaesOaepSha1, "sha1", 214},
			{types.EncryptionAlgorithmSpecRsaesOaepSha256, "sha256", 190},
		} {
			t.Run(string(tc.alg), func(t *testing.T) {
				ctPath := filepath.Join(t.TempDir(), "ct.bin")
				ossl.must("pkeyutl", "-encrypt", "-pubin", "-inkey", pubPath, "-in", ptPath, "-out", ctPath,
					"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:"+tc.md, "-pkeyopt", "rsa_mgf1_md:"+tc.md)
				decrypt(t, tc.alg, ktRead(t, ctPath), "openssl's ciphertext")

				var goCT []byte
				if tc.md == "sha1" {
					goCT, err = rsa.EncryptOAEP(sha1.New(), rand.Reader, rpub, pt, nil)
				} else {
					goCT, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, rpub, pt, nil)
				}
				mustOK(t, err, "Go EncryptOAEP")
				decrypt(t, tc.alg, goCT, "Go's ciphertext")

				// Arca's own ciphertext: raw RSA output, 256 bytes.
				enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, EncryptionAlgorithm: tc.alg, Plaintext: pt})
				mustOK(t, err, "Encrypt")
				if len(enc.CiphertextBlob) != 256 || enc.EncryptionAlgorithm != tc.alg {
					t.Errorf("Encrypt: %d-byte ciphertext, algorithm %s; want 256 bytes, %s", len(enc.CiphertextBlob), enc.EncryptionAlgorithm, tc.alg)
				}
				decrypt(t, tc.alg, enc.CiphertextBlob, "Arca's ciphertext")

				// The per-size limit, exactly and one byte over.
				full := bytes.Repeat([]byte{0xa5}, tc.max)
				enc, err = c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, EncryptionAlgorithm: tc.alg, Plaintext: full})
				if err != nil {
					t.Errorf("Encrypt %d bytes (the limit): %v", tc.max, err)
				} else if out, err := c.Decrypt(bg(), &kms.DecryptInput{KeyId: m.KeyId, EncryptionAlgorithm: tc.alg, CiphertextBlob: enc.CiphertextBlob}); err != nil || !bytes.Equal(out.Plaintext, full) {
					t.Errorf("Decrypt of %d bytes (the limit): %v", tc.max, err)
				}
				_, err = c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, EncryptionAlgorithm: tc.alg, Plaintext: make([]byte, tc.max+1)})
				wantCode(t, err, "ValidationException", "Encrypt one byte over the RSA_2048 limit")
			})
		}
	})

	t.Run("SM2", func(t *testing.T) {
		m := ktCreate(t, c, types.KeySpecSm2, types.KeyUsageTypeEncryptDecrypt)
		want := []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecSm2pke}
		if got := describe(t, c, aws.ToString(m.KeyId)).EncryptionAlgorithms; !slices.Equal(got, want) {
			t.Errorf("DescribeKey EncryptionAlgorithms = %v, want %v", got, want)
		}
		gp := ktGetPublicKey(t, c, m.KeyId)
		pub, err := ktParsePub(types.KeySpecSm2, gp.PublicKey)
		mustOK(t, err, "parsing GetPublicKey's DER")
		decrypt := func(ct []byte, what string) {
			t.Helper()
			out, err := c.Decrypt(bg(), &kms.DecryptInput{KeyId: m.KeyId, EncryptionAlgorithm: types.EncryptionAlgorithmSpecSm2pke, CiphertextBlob: ct})
			if err != nil || !bytes.Equal(out.Plaintext, pt) {
				t.Errorf("Arca Decrypt of %s: %v", what, err)
			}
		}
		// gmsm: the ASN.1 C1C3C2 form (GM/T 0009) Arca documents.
		goCT, err := sm2.EncryptASN1(rand.Reader, pub.(*ecdsa.PublicKey), pt)
		mustOK(t, err, "gmsm EncryptASN1")
		decrypt(goCT, "gmsm's ASN.1 ciphertext")
		enc, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, EncryptionAlgorithm: types.EncryptionAlgorithmSpecSm2pke, Plaintext: pt})
		mustOK(t, err, "Encrypt SM2PKE")
		decrypt(enc.CiphertextBlob, "Arca's ciphertext")
		if !ossl.supports("SM2") {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s has no SM2: CI needs an openssl with SM2 (Debian's openssl has it)", ktOpenSSLVer)
			}
			t.Skipf("%s has no SM2: openssl SM2PKE cross-check skipped", ktOpenSSLVer)
		}
		dir := t.TempDir()
		ctPath := filepath.Join(dir, "ct.bin")
		ossl.must("pkeyutl", "-encrypt", "-pubin", "-inkey", ktPubPEM(t, dir, "arca_pub.pem", gp.PublicKey), "-in", ktWrite(t, dir, "pt.bin", pt), "-out", ctPath)
		decrypt(ktRead(t, ctPath), "openssl's SM2 ciphertext")
	})
}

// TestKeyTypesECDH derives shared secrets in Arca with openssl-generated
// peer keys and compares them with openssl's (and Go's) own derivation.
func TestKeyTypesECDH(t *testing.T) {
	t.Parallel()
	ossl := ktNewOpenSSL(t)
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	keys := map[types.KeySpec]*types.KeyMetadata{}
	for _, tc := range []struct {
		spec  types.KeySpec
		curve string // openssl's name
		size  int    // bytes of the shared secret (the x-coordinate)
	}{
		{types.KeySpecEccNistP256, "P-256", 32},
		{types.KeySpecEccNistP384, "P-384", 48},
		{types.KeySpecEccNistP521, "P-521", 66},
	} {
		t.Run(string(tc.spec), func(t *testing.T) {
			dir := t.TempDir()
			m := ktCreate(t, c, tc.spec, types.KeyUsageTypeKeyAgreement)
			keys[tc.spec] = m
			want := []types.KeyAgreementAlgorithmSpec{types.KeyAgreementAlgorithmSpecEcdh}
			if got := describe(t, c, aws.ToString(m.KeyId)).KeyAgreementAlgorithms; !slices.Equal(got, want) {
				t.Errorf("DescribeKey KeyAgreementAlgorithms = %v, want %v", got, want)
			}
			gp := ktGetPublicKey(t, c, m.KeyId)
			if !slices.Equal(gp.KeyAgreementAlgorithms, want) || gp.KeyUsage != types.KeyUsageTypeKeyAgreement {
				t.Errorf("GetPublicKey KeyUsage %s KeyAgreementAlgorithms %v", gp.KeyUsage, gp.KeyAgreementAlgorithms)
			}
			peerKey := filepath.Join(dir, "peer.pem")
			ossl.must("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:"+tc.curve, "-out", peerKey)
			peerDER := ossl.must("pkey", "-in", peerKey, "-pubout", "-outform", "DER")

			out, err := c.DeriveSharedSecret(bg(), &kms.DeriveSharedSecretInput{KeyId: m.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerDER})
			mustOK(t, err, "DeriveSharedSecret")
			if out.KeyAgreementAlgorithm != types.KeyAgreementAlgorithmSpecEcdh || aws.ToString(out.KeyId) != aws.ToString(m.Arn) || out.KeyOrigin != types.OriginTypeAwsKms {
				t.Errorf("DeriveSharedSecret output: algorithm %s KeyId %s KeyOrigin %s", out.KeyAgreementAlgorithm, aws.ToString(out.KeyId), out.KeyOrigin)
			}
			if len(out.SharedSecret) != tc.size || out.CiphertextForRecipient != nil {
				t.Errorf("SharedSecret is %d bytes (CiphertextForRecipient %d bytes), want %d and none", len(out.SharedSecret), len(out.CiphertextForRecipient), tc.size)
			}

			secretPath := filepath.Join(dir, "secret.bin")
			ossl.must("pkeyutl", "-derive", "-inkey", peerKey, "-peerkey", ktPubPEM(t, dir, "arca_pub.pem", gp.PublicKey), "-out", secretPath)
			if got := ktRead(t, secretPath); !bytes.Equal(got, out.SharedSecret) {
				t.Errorf("openssl's shared secret %x\n differs from Arca's %x", got, out.SharedSecret)
			}

			// Go's crypto/ecdh agrees too.
			peer, ok := ktPEMKey(t, peerKey).(*ecdsa.PrivateKey)
			if !ok {
				t.Fatalf("openssl's peer key is not ECDSA")
			}
			arcaPub, err := x509.ParsePKIXPublicKey(gp.PublicKey)
			mustOK(t, err, "parsing GetPublicKey's DER")
			ep, err1 := peer.ECDH()
			ap, err2 := arcaPub.(*ecdsa.PublicKey).ECDH()
			if err1 != nil || err2 != nil {
				t.Fatalf("converting to crypto/ecdh: %v, %v", err1, err2)
			}
			goSecret, err := ep.ECDH(ap)
			if err != nil || !bytes.Equal(goSecret, out.SharedSecret) {
				t.Errorf("Go's shared secret %x (%v)\n differs from Arca's %x", goSecret, err, out.SharedSecret)
			}

			// The same peer gives the same secret; another peer another one.
			again, err := c.DeriveSharedSecret(bg(), &kms.DeriveSharedSecretInput{KeyId: m.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerDER})
			if err != nil || !bytes.Equal(again.SharedSecret, out.SharedSecret) {
				t.Errorf("a second DeriveSharedSecret with the same peer differs (%v)", err)
			}
		})
	}

	t.Run("peer on another curve", func(t *testing.T) {
		p256, p384 := keys[types.KeySpecEccNistP256], keys[types.KeySpecEccNistP384]
		if p256 == nil || p384 == nil {
			t.Fatal("the P-256 or P-384 key was not created")
		}
		k, err := ecdh.P384().GenerateKey(rand.Reader)
		mustOK(t, err, "GenerateKey")
		der, err := x509.MarshalPKIXPublicKey(k.PublicKey())
		mustOK(t, err, "MarshalPKIXPublicKey")
		_, err = c.DeriveSharedSecret(bg(), &kms.DeriveSharedSecretInput{KeyId: p256.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: der})
		wantCode(t, err, "ValidationException", "DeriveSharedSecret on P-256 with a P-384 peer")
		_, err = c.DeriveSharedSecret(bg(), &kms.DeriveSharedSecretInput{KeyId: p384.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: []byte("not a public key")})
		wantCode(t, err, "ValidationException", "DeriveSharedSecret with a malformed peer key")
	})

	t.Run("SM2", func(t *testing.T) {
		// openssl cannot derive with SM2 keys; gmsm's ECDH on the SM2 curve
		// is the independent side.
		m := ktCreate(t, c, types.KeySpecSm2, types.KeyUsageTypeKeyAgreement)
		gp := ktGetPublicKey(t, c, m.KeyId)
		arcaPub, err := ktParsePub(types.KeySpecSm2, gp.PublicKey)
		mustOK(t, err, "parsing GetPublicKey's DER")
		peer, err := sm2.GenerateKey(rand.Reader)
		mustOK(t, err, "sm2.GenerateKey")
		peerDER, err := smx509.MarshalPKIXPublicKey(&peer.PublicKey)
		mustOK(t, err, "MarshalPKIXPublicKey")
		out, err := c.DeriveSharedSecret(bg(), &kms.DeriveSharedSecretInput{KeyId: m.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: peerDER})
		mustOK(t, err, "DeriveSharedSecret")
		ep, err1 := peer.ECDH()
		ap, err2 := sm2.PublicKeyToECDH(arcaPub.(*ecdsa.PublicKey))
		if err1 != nil || err2 != nil {
			t.Fatalf("converting to gmsm/ecdh: %v, %v", err1, err2)
		}
		goSecret, err := ep.ECDH(ap)
		if err != nil || !bytes.Equal(goSecret, out.SharedSecret) {
			t.Errorf("gmsm's shared secret %x (%v)\n differs from Arca's %x", goSecret, err, out.SharedSecret)
		}
	})
}

// TestKeyTypesHMAC round-trips GenerateMac and VerifyMac for every HMAC
// key spec (https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html).
func TestKeyTypesHMAC(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	msg := []byte("message to authenticate")
	var macs [][]byte
	for _, tc := range []struct {
		spec types.KeySpec
		alg  types.MacAlgorithmSpec
		size int
	}{
		{types.KeySpecHmac224, types.MacAlgorithmSpecHmacSha224, 28},
		{types.KeySpecHmac256, types.MacAlgorithmSpecHmacSha256, 32},
		{types.KeySpecHmac384, types.MacAlgorithmSpecHmacSha384, 48},
		{types.KeySpecHmac512, types.MacAlgorithmSpecHmacSha512, 64},
	} {
		t.Run(string(tc.spec), func(t *testing.T) {
			m := ktCreate(t, c, tc.spec, types.KeyUsageTypeGenerateVerifyMac)
			want := []types.MacAlgorithmSpec{tc.alg}
			if d := describe(t, c, aws.ToString(m.KeyId)); !slices.Equal(d.MacAlgorithms, want) || d.KeyUsage != types.KeyUsageTypeGenerateVerifyMac {
				t.Errorf("DescribeKey MacAlgorithms %v KeyUsage %s; want %v GENERATE_VERIFY_MAC", d.MacAlgorithms, d.KeyUsage, want)
			}
			out, err := c.GenerateMac(bg(), &kms.GenerateMacInput{KeyId: m.KeyId, MacAlgorithm: tc.alg, Message: msg})
			mustOK(t, err, "GenerateMac")
			if len(out.Mac) != tc.size || out.MacAlgorithm != tc.alg || aws.ToString(out.KeyId) != aws.ToString(m.Arn) {
				t.Errorf("GenerateMac: %d-byte MAC, algorithm %s, KeyId %s; want %d bytes", len(out.Mac), out.MacAlgorithm, aws.ToString(out.KeyId), tc.size)
			}
			macs = append(macs, out.Mac)
			again, err := c.GenerateMac(bg(), &kms.GenerateMacInput{KeyId: m.KeyId, MacAlgorithm: tc.alg, Message: msg})
			if err != nil || !bytes.Equal(again.Mac, out.Mac) {
				t.Errorf("HMAC is deterministic, but a second GenerateMac differs (%v)", err)
			}
			vm, err := c.VerifyMac(bg(), &kms.VerifyMacInput{KeyId: m.KeyId, MacAlgorithm: tc.alg, Message: msg, Mac: out.Mac})
			if err != nil || !vm.MacValid || vm.MacAlgorithm != tc.alg {
				t.Errorf("VerifyMac of the MAC: %v", err)
			}
			for name, bad := range map[string]struct{ msg, mac []byte }{
				"a flipped bit":   {msg, ktFlip(out.Mac, len(out.Mac)-1)},
				"a truncated MAC": {msg, out.Mac[:len(out.Mac)-1]},
				"another message": {append([]byte("x"), msg...), out.Mac},
			} {
				_, err := c.VerifyMac(bg(), &kms.VerifyMacInput{KeyId: m.KeyId, MacAlgorithm: tc.alg, Message: bad.msg, Mac: bad.mac})
				wantErr[*types.KMSInvalidMacException](t, err, "VerifyMac with "+name)
			}
		})
	}
	for i := range macs {
		for j := range i {
			if bytes.Equal(macs[i][:28], macs[j][:28]) {
				t.Errorf("two HMAC keys gave MACs with the same prefix")
			}
		}
	}
}

// ktFlip returns a copy of b with bit 0 of byte i flipped.
func ktFlip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 1
	return out
}

// TestKeyTypesDataKeyPairs checks GenerateDataKeyPair and its
// WithoutPlaintext variant: PKCS#8 private keys (parsed by Go or gmsm and by
// openssl) whose public half is the returned PublicKey, and whose encrypted
// copy decrypts to the same bytes.
func TestKeyTypesDataKeyPairs(t *testing.T) {
	t.Parallel()
	ossl := ktNewOpenSSL(t)
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	sym := createKey(t, c, nil)
	for _, tc := range []struct {
		spec    types.DataKeyPairSpec
		goParse bool // Go's x509 (gmsm's smx509 for SM2) parses the key
	}{
		{types.DataKeyPairSpecRsa2048, true},
		{types.DataKeyPairSpecEccNistP256, true},
		{types.DataKeyPairSpecEccNistP384, true},
		{types.DataKeyPairSpecEccSecgP256k1, false},
		{types.DataKeyPairSpecSm2, true},
		{types.DataKeyPairSpecEccNistEdwards25519, true},
	} {
		t.Run(string(tc.spec), func(t *testing.T) {
			dir := t.TempDir()
			// checkPair checks a plaintext private key against the public key.
			checkPair := func(t *testing.T, priv, pubDER []byte) {
				t.Helper()
				if tc.goParse {
					var k any
					var err error
					if tc.spec == types.DataKeyPairSpecSm2 {
						k, err = smx509.ParsePKCS8PrivateKey(priv)
					} else {
						k, err = x509.ParsePKCS8PrivateKey(priv)
					}
					if err != nil {
						t.Errorf("the private key is not PKCS#8: %v", err)
					} else {
						pub, err := ktParsePub(types.KeySpec(tc.spec), pubDER)
						mustOK(t, err, "parsing PublicKey")
						type equaler interface{ Equal(crypto.PublicKey) bool }
						if e, ok := k.(crypto.Signer).Public().(equaler); !ok || !e.Equal(pub) {
							t.Errorf("the private key's public key (%T) is not the returned PublicKey (%T)", k.(crypto.Signer).Public(), pub)
						}
					}
				}
				if tc.spec == types.DataKeyPairSpecSm2 && !ossl.supports("SM2") {
					t.Logf("%s has no SM2: openssl cross-check skipped", ktOpenSSLVer)
					return
				}
				privPath := ktWrite(t, dir, "priv.der", priv)
				ossl.must("pkey", "-inform", "DER", "-in", privPath, "-check", "-noout")
				got := ossl.must("pkey", "-inform", "DER", "-in", privPath, "-pubout", "-outform", "DER")
				if !bytes.Equal(got, pubDER) {
					t.Errorf("openssl's public key of the private key\n %x\ndiffers from PublicKey\n %x", got, pubDER)
				}
			}

			out, err := c.GenerateDataKeyPair(bg(), &kms.GenerateDataKeyPairInput{KeyId: sym.KeyId, KeyPairSpec: tc.spec})
			mustOK(t, err, "GenerateDataKeyPair")
			if out.KeyPairSpec != tc.spec || aws.ToString(out.KeyId) != aws.ToString(sym.Arn) || len(out.PrivateKeyPlaintext) == 0 || len(out.PublicKey) == 0 {
				t.Fatalf("GenerateDataKeyPair: KeyPairSpec %s KeyId %s, %d-byte private key, %d-byte public key",
					out.KeyPairSpec, aws.ToString(out.KeyId), len(out.PrivateKeyPlaintext), len(out.PublicKey))
			}
			checkPair(t, out.PrivateKeyPlaintext, out.PublicKey)
			if bytes.Contains(out.PrivateKeyCiphertextBlob, out.PrivateKeyPlaintext) {
				t.Errorf("PrivateKeyCiphertextBlob contains the plaintext private key")
			}
			dec, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob})
			if err != nil || !bytes.Equal(dec.Plaintext, out.PrivateKeyPlaintext) || aws.ToString(dec.KeyId) != aws.ToString(sym.Arn) {
				t.Errorf("Decrypt of PrivateKeyCiphertextBlob does not give PrivateKeyPlaintext back (%v)", err)
			}

			// WithoutPlaintext, through the SDK and raw JSON (the SDK's
			// output type has no PrivateKeyPlaintext field to look at).
			wo, err := c.GenerateDataKeyPairWithoutPlaintext(bg(), &kms.GenerateDataKeyPairWithoutPlaintextInput{KeyId: sym.KeyId, KeyPairSpec: tc.spec})
			mustOK(t, err, "GenerateDataKeyPairWithoutPlaintext")
			if wo.KeyPairSpec != tc.spec || len(wo.PublicKey) == 0 || bytes.Equal(wo.PublicKey, out.PublicKey) {
				t.Errorf("GenerateDataKeyPairWithoutPlaintext: KeyPairSpec %s, %d-byte public key (a new pair each call)", wo.KeyPairSpec, len(wo.PublicKey))
			}
			dec, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: wo.PrivateKeyCiphertextBlob})
			if err != nil {
				t.Errorf("Decrypt of the WithoutPlaintext PrivateKeyCiphertextBlob: %v", err)
			} else {
				checkPair(t, dec.Plaintext, wo.PublicKey)
			}
			body, _ := json.Marshal(map[string]string{"KeyId": aws.ToString(sym.KeyId), "KeyPairSpec": string(tc.spec)})
			r := rawCall(t, s, rawReq{target: "TrentService.GenerateDataKeyPairWithoutPlaintext", body: body})
			var fields map[string]any
			if r.status != 200 || json.Unmarshal(r.body, &fields) != nil {
				t.Fatalf("raw GenerateDataKeyPairWithoutPlaintext: %d %s", r.status, r.body)
			}
			if _, ok := fields["PrivateKeyPlaintext"]; ok {
				t.Errorf("GenerateDataKeyPairWithoutPlaintext returned PrivateKeyPlaintext")
			}
			for _, f := range []string{"PrivateKeyCiphertextBlob", "PublicKey", "KeyId", "KeyPairSpec"} {
				if _, ok := fields[f]; !ok {
					t.Errorf("GenerateDataKeyPairWithoutPlaintext response has no %s", f)
				}
			}
			if pk, _ := fields["PublicKey"].(string); pk != "" {
				if _, err := base64.StdEncoding.DecodeString(pk); err != nil {
					t.Errorf("PublicKey is not base64: %v", err)
				}
			}
		})
	}
}

// TestKeyTypesErrors checks AWS's errors for key specs, usages and
// algorithms that do not go together, and for bad message sizes.
func TestKeyTypesErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	sym := createKey(t, c, nil)
	hmac := ktCreate(t, c, types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac)
	p256 := ktCreate(t, c, types.KeySpecEccNistP256, types.KeyUsageTypeSignVerify)
	ed := ktCreate(t, c, types.KeySpecEccNistEdwards25519, types.KeyUsageTypeSignVerify)
	digest := ktSHA256(ktMessage)

	t.Run("CreateKey", func(t *testing.T) {
		// CreateKey: "KeyUsage ... The default value is ENCRYPT_DECRYPT",
		// which ECC_NIST_P256 keys do not allow.
		_, err := c.CreateKey(bg(), &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256})
		wantCode(t, err, "ValidationException", "CreateKey ECC_NIST_P256 without KeyUsage")
		for _, bad := range []struct {
			spec  types.KeySpec
			usage types.KeyUsageType
		}{
			{types.KeySpecEccNistP256, types.KeyUsageTypeEncryptDecrypt},
			{types.KeySpecHmac256, types.KeyUsageTypeSignVerify},
			{types.KeySpecRsa2048, types.KeyUsageTypeKeyAgreement},
			{types.KeySpecEccSecgP256k1, types.KeyUsageTypeKeyAgreement},
			{types.KeySpecEccNistEdwards25519, types.KeyUsageTypeEncryptDecrypt},
			{types.KeySpecMlDsa44, types.KeyUsageTypeEncryptDecrypt},
			{types.KeySpecSymmetricDefault, types.KeyUsageTypeGenerateVerifyMac},
			{types.KeySpecSm2, types.KeyUsageTypeGenerateVerifyMac},
		} {
			_, err := c.CreateKey(bg(), &kms.CreateKeyInput{KeySpec: bad.spec, KeyUsage: bad.usage})
			wantCode(t, err, "ValidationException", "CreateKey "+string(bad.spec)+" for "+string(bad.usage))
		}
		// CreateKey: "You must set the key usage even though
		// GENERATE_VERIFY_MAC is the only valid key usage value for HMAC
		// KMS keys."
		_, err = c.CreateKey(bg(), &kms.CreateKeyInput{KeySpec: types.KeySpecHmac256})
		wantCode(t, err, "ValidationException", "CreateKey HMAC_256 without KeyUsage")
	})

	t.Run("wrong key usage", func(t *testing.T) {
		// InvalidKeyUsageException: "The KeyUsage value of the KMS key is
		// incompatible with the API operation."
		_, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: hmac.KeyId, Plaintext: []byte("x")})
		wantErr[*types.InvalidKeyUsageException](t, err, "Encrypt with an HMAC key")
		_, err = c.Sign(bg(), &kms.SignInput{KeyId: hmac.KeyId, Message: ktMessage, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		wantErr[*types.InvalidKeyUsageException](t, err, "Sign with an HMAC key")
		_, err = c.GenerateMac(bg(), &kms.GenerateMacInput{KeyId: sym.KeyId, MacAlgorithm: types.MacAlgorithmSpecHmacSha256, Message: ktMessage})
		wantErr[*types.InvalidKeyUsageException](t, err, "GenerateMac with a symmetric encryption key")
		_, err = c.Sign(bg(), &kms.SignInput{KeyId: sym.KeyId, Message: ktMessage, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		wantErr[*types.InvalidKeyUsageException](t, err, "Sign with a symmetric encryption key")
		_, err = c.Encrypt(bg(), &kms.EncryptInput{KeyId: p256.KeyId, Plaintext: []byte("x"), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
		wantErr[*types.InvalidKeyUsageException](t, err, "Encrypt with an ECC signing key")
		_, err = c.DeriveSharedSecret(bg(), &kms.DeriveSharedSecretInput{KeyId: p256.KeyId, KeyAgreementAlgorithm: types.KeyAgreementAlgorithmSpecEcdh, PublicKey: ktP256PeerDER(t)})
		wantErr[*types.InvalidKeyUsageException](t, err, "DeriveSharedSecret with a SIGN_VERIFY key")
		// "The encryption algorithm or signing algorithm specified for the
		// operation is incompatible with the type of key material in the
		// KMS key (KeySpec)."
		_, err = c.Sign(bg(), &kms.SignInput{KeyId: p256.KeyId, Message: ktMessage, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha384})
		wantErr[*types.InvalidKeyUsageException](t, err, "Sign with ECDSA_SHA_384 on a P-256 key")
		_, err = c.Sign(bg(), &kms.SignInput{KeyId: p256.KeyId, Message: ktMessage, SigningAlgorithm: types.SigningAlgorithmSpecRsassaPssSha256})
		wantErr[*types.InvalidKeyUsageException](t, err, "Sign with RSASSA_PSS_SHA_256 on a P-256 key")
	})

	t.Run("GetPublicKey of a symmetric key", func(t *testing.T) {
		_, err := c.GetPublicKey(bg(), &kms.GetPublicKeyInput{KeyId: sym.KeyId})
		wantErr[*types.UnsupportedOperationException](t, err, "GetPublicKey of a symmetric key")
		_, err = c.GetPublicKey(bg(), &kms.GetPublicKeyInput{KeyId: hmac.KeyId})
		wantErr[*types.UnsupportedOperationException](t, err, "GetPublicKey of an HMAC key")
	})

	t.Run("message sizes", func(t *testing.T) {
		// Sign: "When the value of MessageType is DIGEST, the length of the
		// Message value must match the length of hashed messages for the
		// specified signing algorithm."
		_, err := c.Sign(bg(), &kms.SignInput{KeyId: p256.KeyId, Message: digest[:31], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		wantCode(t, err, "ValidationException", "Sign DIGEST of 31 bytes with ECDSA_SHA_256")
		_, err = c.Verify(bg(), &kms.VerifyInput{KeyId: p256.KeyId, Message: append(digest, 0), MessageType: types.MessageTypeDigest, Signature: make([]byte, 70), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		wantCode(t, err, "ValidationException", "Verify DIGEST of 33 bytes with ECDSA_SHA_256")
		// Message: "Length Constraints: Minimum length of 1. Maximum length of 4096."
		_, err = c.Sign(bg(), &kms.SignInput{KeyId: p256.KeyId, Message: make([]byte, 4097), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		wantCode(t, err, "ValidationException", "Sign a 4097-byte message")
		_, err = c.Sign(bg(), &kms.SignInput{KeyId: p256.KeyId, Message: make([]byte, 4096), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
		mustOK(t, err, "Sign a 4096-byte message")
		_, err = c.GenerateMac(bg(), &kms.GenerateMacInput{KeyId: hmac.KeyId, MacAlgorithm: types.MacAlgorithmSpecHmacSha256, Message: make([]byte, 4097)})
		wantCode(t, err, "ValidationException", "GenerateMac of a 4097-byte message")
	})

	t.Run("Ed25519 message types", func(t *testing.T) {
		// AWS: ED25519_SHA_512 takes MessageType RAW only and
		// ED25519_PH_SHA_512 DIGEST only; the other combination is refused
		// (the exact error code is not documented, so any 4xx will do).
		_, err := c.Sign(bg(), &kms.SignInput{KeyId: ed.KeyId, Message: make([]byte, 64), MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEd25519Sha512})
		ktWantRefused(t, err, "Sign ED25519_SHA_512 with MessageType DIGEST")
		_, err = c.Sign(bg(), &kms.SignInput{KeyId: ed.KeyId, Message: ktMessage, MessageType: types.MessageTypeRaw, SigningAlgorithm: types.SigningAlgorithmSpecEd25519PhSha512})
		ktWantRefused(t, err, "Sign ED25519_PH_SHA_512 with MessageType RAW")
	})
}

// ktWantRefused reports an error unless err is a 4xx error.
func ktWantRefused(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded, want an error", what)
		return
	}
	checkClientError(t, err, what)
	t.Logf("%s: %s", what, apiCode(err))
}

// ktP256PeerDER is a fresh P-256 public key as DER SubjectPublicKeyInfo.
func ktP256PeerDER(t *testing.T) []byte {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	mustOK(t, err, "GenerateKey")
	der, err := x509.MarshalPKIXPublicKey(k.PublicKey())
	mustOK(t, err, "MarshalPKIXPublicKey")
	return der
}

// TestKeyTypesSDKEnumCoverage fails when the pinned AWS SDK names a KeySpec,
// KeyUsageType or algorithm that Arca neither accepts nor lists as
// unsupported in docs/COMPATIBILITY.md.
func TestKeyTypesSDKEnumCoverage(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "COMPATIBILITY.md"))
	mustOK(t, err, "reading docs/COMPATIBILITY.md")
	// documentedUnsupported: the value's name and the word "unsupported"
	// on one line.
	documentedUnsupported := func(v string) bool {
		re := regexp.MustCompile(`\b` + regexp.QuoteMeta(v) + `\b`)
		for line := range strings.Lines(string(doc)) {
			if re.MatchString(line) && strings.Contains(strings.ToLower(line), "unsupported") {
				return true
			}
		}
		return false
	}

	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	accepted := map[string]bool{} // "Enum:VALUE"
	for _, spec := range types.KeySpec("").Values() {
		for _, usage := range types.KeyUsageType("").Values() {
			out, err := c.CreateKey(bg(), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
			if err != nil {
				checkClientError(t, err, "CreateKey "+string(spec)+" "+string(usage))
				continue
			}
			m := describe(t, c, aws.ToString(out.KeyMetadata.KeyId))
			if m.KeySpec != spec || m.KeyUsage != usage {
				t.Errorf("CreateKey %s %s made a %s %s key", spec, usage, m.KeySpec, m.KeyUsage)
			}
			accepted["KeySpec:"+string(spec)] = true
			accepted["KeyUsageType:"+string(usage)] = true
			for _, a := range m.SigningAlgorithms {
				accepted["SigningAlgorithmSpec:"+string(a)] = true
			}
			for _, a := range m.EncryptionAlgorithms {
				accepted["EncryptionAlgorithmSpec:"+string(a)] = true
			}
			for _, a := range m.MacAlgorithms {
				accepted["MacAlgorithmSpec:"+string(a)] = true
			}
			for _, a := range m.KeyAgreementAlgorithms {
				accepted["KeyAgreementAlgorithmSpec:"+string(a)] = true
			}
			if strings.HasPrefix(string(spec), "RSA_") && spec != types.KeySpecRsa2048 {
				// RSA_2048 shows every RSA algorithm; one key proves the
				// larger sizes are accepted (and spares key generation).
				break
			}
		}
	}

	check := func(enum string, values []string) {
		for _, v := range values {
			if accepted[enum+":"+v] {
				continue
			}
			if documentedUnsupported(v) {
				t.Logf("%s %s: unsupported, as docs/COMPATIBILITY.md says", enum, v)
				continue
			}
			t.Errorf("%s %s (in aws-sdk-go-v2/service/kms v1.62.4) is neither accepted by Arca nor listed as unsupported in docs/COMPATIBILITY.md", enum, v)
		}
	}
	check("KeySpec", ktSortedStrings(types.KeySpec("").Values()))
	check("KeyUsageType", ktSortedStrings(types.KeyUsageType("").Values()))
	check("SigningAlgorithmSpec", ktSortedStrings(types.SigningAlgorithmSpec("").Values()))
	check("EncryptionAlgorithmSpec", ktSortedStrings(types.EncryptionAlgorithmSpec("").Values()))
	check("MacAlgorithmSpec", ktSortedStrings(types.MacAlgorithmSpec("").Values()))
	check("KeyAgreementAlgorithmSpec", ktSortedStrings(types.KeyAgreementAlgorithmSpec("").Values()))
}
