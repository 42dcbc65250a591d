package kms

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"slices"
	"testing"

	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/svcerr"
)

// TestCreateKeySpecUsageMatrix walks every KeySpec × KeyUsage: the
// combinations kmscrypto allows succeed and report their algorithms, every
// other one is a ValidationException.
func TestCreateKeySpecUsageMatrix(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, spec := range kmscrypto.Specs() {
		allowed := kmscrypto.KeyUsages(spec)
		for _, usage := range allKeyUsages {
			if spec == "RSA_4096" || spec == "RSA_3072" {
				if usage != "SIGN_VERIFY" && slices.Contains(allowed, kmscrypto.KeyUsage(usage)) {
					continue // slow to generate; RSA_2048 covers the path
				}
			}
			out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: string(spec), KeyUsage: usage})
			if !slices.Contains(allowed, kmscrypto.KeyUsage(usage)) {
				wantCode(t, err, svcerr.Validation)
				continue
			}
			if err != nil {
				t.Errorf("CreateKey(%s, %s): %v", spec, usage, err)
				continue
			}
			m := out.KeyMetadata
			if m.KeySpec != string(spec) || m.KeyUsage != usage {
				t.Errorf("%s/%s: metadata %s/%s", spec, usage, m.KeySpec, m.KeyUsage)
			}
			n := len(m.EncryptionAlgorithms) + len(m.SigningAlgorithms) + len(m.MacAlgorithms) + len(m.KeyAgreementAlgorithms)
			if n == 0 {
				t.Errorf("%s/%s: no algorithms reported", spec, usage)
			}
		}
	}
}

func TestSignVerifyEveryAlgorithm(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	msg := []byte("sign me")
	for _, spec := range []string{"RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "SM2", "ML_DSA_44"} {
		out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: spec, KeyUsage: "SIGN_VERIFY"})
		if err != nil {
			t.Fatalf("CreateKey(%s): %v", spec, err)
		}
		m := out.KeyMetadata
		for _, alg := range m.SigningAlgorithms {
			t.Run(spec+"/"+alg, func(t *testing.T) {
				// ED25519_PH_SHA_512 takes only a SHA-512 digest, as in AWS.
				msg, other, mt := msg, []byte("other"), "RAW"
				if alg == "ED25519_PH_SHA_512" {
					d1, d2 := sha512.Sum512(msg), sha512.Sum512(other)
					msg, other, mt = d1[:], d2[:], "DIGEST"
				}
				sig, err := f.s.Sign(f.ctx, f.c, &SignInput{KeyID: m.KeyID, Message: msg, MessageType: mt, SigningAlgorithm: alg})
				if err != nil {
					t.Fatalf("Sign: %v", err)
				}
				v, err := f.s.Verify(f.ctx, f.c, &VerifyInput{KeyID: m.KeyID, Message: msg, MessageType: mt, Signature: sig.Signature, SigningAlgorithm: alg})
				if err != nil || !v.SignatureValid {
					t.Errorf("Verify: %v", err)
				}
				bad := bytes.Clone(sig.Signature)
				bad[len(bad)/2] ^= 1
				_, err = f.s.Verify(f.ctx, f.c, &VerifyInput{KeyID: m.KeyID, Message: msg, MessageType: mt, Signature: bad, SigningAlgorithm: alg})
				wantCode(t, err, svcerr.InvalidSignatureKMS)
				_, err = f.s.Verify(f.ctx, f.c, &VerifyInput{KeyID: m.KeyID, Message: other, MessageType: mt, Signature: sig.Signature, SigningAlgorithm: alg})
				wantCode(t, err, svcerr.InvalidSignatureKMS)
			})
		}
		pk, err := f.s.GetPublicKey(f.ctx, f.c, &GetPublicKeyInput{KeyID: m.KeyID})
		if err != nil || len(pk.PublicKey) == 0 || pk.KeyUsage != "SIGN_VERIFY" || len(pk.SigningAlgorithms) == 0 {
			t.Errorf("GetPublicKey(%s) = %+v, %v", spec, pk, err)
		}
	}
}

func TestSignValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	out, _ := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY"})
	k := out.KeyMetadata.KeyID
	sym := f.createKey(t).KeyID
	digest := sha256.Sum256([]byte("x"))
	tests := []struct {
		name string
		in   SignInput
		code svcerr.Code
	}{
		{"no algorithm", SignInput{KeyID: k, Message: []byte("x")}, svcerr.Validation},
		{"unknown algorithm", SignInput{KeyID: k, Message: []byte("x"), SigningAlgorithm: "MD5"}, svcerr.Validation},
		{"algorithm of another key type", SignInput{KeyID: k, Message: []byte("x"), SigningAlgorithm: "RSASSA_PSS_SHA_256"}, svcerr.InvalidKeyUsage},
		{"wrong curve hash", SignInput{KeyID: k, Message: []byte("x"), SigningAlgorithm: "ECDSA_SHA_384"}, svcerr.InvalidKeyUsage},
		{"digest too short", SignInput{KeyID: k, Message: digest[:31], MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256"}, svcerr.Validation},
		{"message too long", SignInput{KeyID: k, Message: make([]byte, 4097), SigningAlgorithm: "ECDSA_SHA_256"}, svcerr.Validation},
		{"no message", SignInput{KeyID: k, SigningAlgorithm: "ECDSA_SHA_256"}, svcerr.Validation},
		{"bad message type", SignInput{KeyID: k, Message: []byte("x"), MessageType: "HASHED", SigningAlgorithm: "ECDSA_SHA_256"}, svcerr.Validation},
		{"symmetric key", SignInput{KeyID: sym, Message: []byte("x"), SigningAlgorithm: "ECDSA_SHA_256"}, svcerr.InvalidKeyUsage},
		{"dry run", SignInput{KeyID: k, Message: []byte("x"), SigningAlgorithm: "ECDSA_SHA_256", DryRun: true}, svcerr.DryRunOperation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.Sign(f.ctx, f.c, &tc.in)
			wantCode(t, err, tc.code)
		})
	}
	if _, err := f.s.Sign(f.ctx, f.c, &SignInput{KeyID: k, Message: digest[:], MessageType: "DIGEST", SigningAlgorithm: "ECDSA_SHA_256"}); err != nil {
		t.Errorf("Sign DIGEST: %v", err)
	}
	_, err := f.s.GetPublicKey(f.ctx, f.c, &GetPublicKeyInput{KeyID: sym})
	wantCode(t, err, svcerr.UnsupportedOperation)
	_, err = f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: k, Plaintext: []byte("x")})
	wantCode(t, err, svcerr.InvalidKeyUsage)
}

func TestAsymmetricEncryption(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, spec := range []string{"RSA_2048", "SM2"} {
		out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: spec, KeyUsage: "ENCRYPT_DECRYPT"})
		if err != nil {
			t.Fatal(err)
		}
		m := out.KeyMetadata
		for _, alg := range m.EncryptionAlgorithms {
			max, _ := kmscrypto.MaxPlaintextSize(kmscrypto.KeySpec(spec), kmscrypto.EncryptionAlgorithm(alg))
			pt := bytes.Repeat([]byte{7}, max)
			enc, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: pt, EncryptionAlgorithm: alg})
			if err != nil {
				t.Fatalf("%s/%s Encrypt(%d bytes): %v", spec, alg, max, err)
			}
			dec, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{KeyID: m.KeyID, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: alg})
			if err != nil || !bytes.Equal(dec.Plaintext, pt) || dec.EncryptionAlgorithm != alg {
				t.Errorf("%s/%s Decrypt: %v", spec, alg, err)
			}
			_, err = f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: append(pt, 0), EncryptionAlgorithm: alg})
			wantCode(t, err, svcerr.Validation)
			_, err = f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: alg})
			wantCode(t, err, svcerr.InvalidCiphertext)
			_, err = f.s.Decrypt(f.ctx, f.c, &DecryptInput{KeyID: m.KeyID, CiphertextBlob: enc.CiphertextBlob})
			wantCode(t, err, svcerr.InvalidKeyUsage)
		}
		_, err = f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x"), EncryptionAlgorithm: m.EncryptionAlgorithms[0], EncryptionContext: map[string]string{"a": "b"}})
		wantCode(t, err, svcerr.Validation)
	}
}

func TestMacs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, spec := range []string{"HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"} {
		out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: spec, KeyUsage: "GENERATE_VERIFY_MAC"})
		if err != nil {
			t.Fatal(err)
		}
		m := out.KeyMetadata
		alg := m.MacAlgorithms[0]
		mac, err := f.s.GenerateMac(f.ctx, f.c, &GenerateMacInput{KeyID: m.KeyID, Message: []byte("m"), MacAlgorithm: alg})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := f.s.VerifyMac(f.ctx, f.c, &VerifyMacInput{KeyID: m.KeyID, Message: []byte("m"), MacAlgorithm: alg, Mac: mac.Mac}); err != nil || !v.MacValid {
			t.Errorf("%s VerifyMac: %v", spec, err)
		}
		_, err = f.s.VerifyMac(f.ctx, f.c, &VerifyMacInput{KeyID: m.KeyID, Message: []byte("n"), MacAlgorithm: alg, Mac: mac.Mac})
		wantCode(t, err, svcerr.InvalidMacKMS)
		_, err = f.s.VerifyMac(f.ctx, f.c, &VerifyMacInput{KeyID: m.KeyID, Message: []byte("m"), MacAlgorithm: alg, Mac: mac.Mac[:len(mac.Mac)-1]})
		wantCode(t, err, svcerr.InvalidMacKMS)
		other := "HMAC_SHA_256"
		if alg == other {
			other = "HMAC_SHA_512"
		}
		_, err = f.s.GenerateMac(f.ctx, f.c, &GenerateMacInput{KeyID: m.KeyID, Message: []byte("m"), MacAlgorithm: other})
		wantCode(t, err, svcerr.InvalidKeyUsage)
		_, err = f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("x")})
		wantCode(t, err, svcerr.InvalidKeyUsage)
	}
}

func TestDeriveSharedSecret(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: "ECC_NIST_P256", KeyUsage: "KEY_AGREEMENT"})
	if err != nil {
		t.Fatal(err)
	}
	m := out.KeyMetadata
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	peerDER, _ := x509.MarshalPKIXPublicKey(peer.PublicKey())
	got, err := f.s.DeriveSharedSecret(f.ctx, f.c, &DeriveSharedSecretInput{KeyID: m.KeyID, KeyAgreementAlgorithm: "ECDH", PublicKey: peerDER})
	if err != nil {
		t.Fatal(err)
	}
	pk, _ := f.s.GetPublicKey(f.ctx, f.c, &GetPublicKeyInput{KeyID: m.KeyID})
	pub, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := pub.(interface {
		ECDH() (*ecdh.PublicKey, error)
	}).ECDH()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := peer.ECDH(ours)
	if !bytes.Equal(got.SharedSecret, want) {
		t.Error("shared secret differs from the peer's ECDH")
	}
	otherCurve, _ := ecdh.P384().GenerateKey(rand.Reader)
	otherDER, _ := x509.MarshalPKIXPublicKey(otherCurve.PublicKey())
	for _, bad := range [][]byte{otherDER, []byte("not der")} {
		_, err = f.s.DeriveSharedSecret(f.ctx, f.c, &DeriveSharedSecretInput{KeyID: m.KeyID, KeyAgreementAlgorithm: "ECDH", PublicKey: bad})
		wantCode(t, err, svcerr.Validation)
	}
}

func TestDataKeyPairs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	for _, spec := range kmscrypto.KeyPairSpecs() {
		if spec == "RSA_3072" || spec == "RSA_4096" {
			continue // slow to generate; RSA_2048 covers the path
		}
		ec := map[string]string{"purpose": "pair"}
		out, err := f.s.GenerateDataKeyPair(f.ctx, f.c, &GenerateDataKeyPairInput{KeyID: m.KeyID, KeyPairSpec: string(spec), EncryptionContext: ec})
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		dec, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: out.PrivateKeyCiphertextBlob, EncryptionContext: ec})
		if err != nil || !bytes.Equal(dec.Plaintext, out.PrivateKeyPlaintext) {
			t.Errorf("%s: the encrypted private key does not decrypt to the plaintext one: %v", spec, err)
		}
		if len(out.PublicKey) == 0 || out.KeyPairSpec != string(spec) {
			t.Errorf("%s: output %+v", spec, out.KeyPairSpec)
		}
		wp, err := f.s.GenerateDataKeyPairWithoutPlaintext(f.ctx, f.c, &GenerateDataKeyPairInput{KeyID: m.KeyID, KeyPairSpec: string(spec)})
		if err != nil || wp.PrivateKeyPlaintext != nil {
			t.Errorf("%s WithoutPlaintext: %v", spec, err)
		}
	}
	_, err := f.s.GenerateDataKeyPair(f.ctx, f.c, &GenerateDataKeyPairInput{KeyID: m.KeyID, KeyPairSpec: "RSA_1024"})
	wantCode(t, err, svcerr.Validation)
}

// TestSM4Keys: Arca's SM4 extension behaves like SYMMETRIC_DEFAULT.
func TestSM4Keys(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: "SM4"})
	if err != nil {
		t.Fatal(err)
	}
	m := out.KeyMetadata
	ec := map[string]string{"k": "v"}
	enc, err := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("sm4"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(dec.Plaintext) != "sm4" {
		t.Errorf("SM4 round trip: %v", err)
	}
	if _, err := f.s.GenerateDataKey(f.ctx, f.c, &GenerateDataKeyInput{KeyID: m.KeyID, KeySpec: "AES_256"}); err != nil {
		t.Errorf("GenerateDataKey under SM4: %v", err)
	}
	if _, err := f.s.RotateKeyOnDemand(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Errorf("RotateKeyOnDemand on SM4: %v", err)
	}
	if dec, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec}); err != nil || string(dec.Plaintext) != "sm4" {
		t.Errorf("SM4 after rotation: %v", err)
	}
}
