package kmscrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"fmt"

	"filippo.io/mldsa"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"

	// Registered so crypto.SHA384 and crypto.SHA512 can hash; sha256 is
	// linked through crypto/rsa anyway.
	_ "crypto/sha256"
	_ "crypto/sha512"
)

// sigHash is the hash a hash-then-sign algorithm applies to a RAW message,
// and so the length a DIGEST message must have.
func sigHash(alg SigningAlgorithm) crypto.Hash {
	switch alg {
	case RSASSAPSSSHA256, RSASSAPKCS1V15SHA256, ECDSASHA256:
		return crypto.SHA256
	case RSASSAPSSSHA384, RSASSAPKCS1V15SHA384, ECDSASHA384:
		return crypto.SHA384
	case RSASSAPSSSHA512, RSASSAPKCS1V15SHA512, ECDSASHA512:
		return crypto.SHA512
	}
	return 0
}

// signInput checks messageType for alg and returns what the algorithm signs:
// for RSA and ECDSA the digest (hashing a RAW message); for Ed25519, SM2DSA
// and ML-DSA the message itself, whose meaning the MessageType selects.
// The returned flag is true when the input is a RAW message.
func signInput(k *Key, alg SigningAlgorithm, message []byte, mt MessageType) (input []byte, raw bool, err error) {
	if err := k.live(); err != nil {
		return nil, false, err
	}
	if !contains(signingAlgorithms(k.spec), alg) {
		return nil, false, fmt.Errorf("%w: %s keys cannot sign with %s", ErrUnsupportedAlgorithm, k.spec, alg)
	}
	if mt == "" {
		mt = MessageRaw
	}
	badType := func() error {
		return fmt.Errorf("%w: %s with MessageType %s", ErrInvalidMessageType, alg, mt)
	}
	wantLen := func(n int) error {
		if len(message) != n {
			return fmt.Errorf("%w: %s %s must be %d bytes, got %d", ErrInvalidDigestLength, alg, mt, n, len(message))
		}
		return nil
	}
	switch alg {
	case Ed25519SHA512:
		if mt != MessageRaw {
			return nil, false, badType()
		}
		return message, true, nil
	case Ed25519PHSHA512:
		if mt != MessageDigest {
			return nil, false, badType()
		}
		return message, false, wantLen(64)
	case SM2DSA:
		switch mt {
		case MessageRaw:
			return message, true, nil
		case MessageDigest:
			return message, false, wantLen(sm3.Size)
		}
		return nil, false, badType()
	case MLDSASHAKE256:
		switch mt {
		case MessageRaw:
			return message, true, nil
		case MessageExternalMu:
			return message, false, wantLen(mldsaMuLen)
		}
		return nil, false, badType()
	}
	h := sigHash(alg)
	switch mt {
	case MessageRaw:
		d := h.New()
		d.Write(message)
		return d.Sum(nil), true, nil
	case MessageDigest:
		return message, false, wantLen(h.Size())
	}
	return nil, false, badType()
}

// Sign signs message with k's private key. messageType is RAW (or empty):
// the algorithm hashes message; DIGEST: message is already the digest and
// must be exactly the hash's length; EXTERNAL_MU: ML-DSA only, message is the
// 64-byte μ. ED25519_SHA_512 takes RAW only and ED25519_PH_SHA_512 DIGEST
// only, as in AWS. Signatures are encoded as AWS returns them: DER (r, s)
// for ECDSA and SM2DSA, the raw bytes for RSA, Ed25519 and ML-DSA.
//
// Sign checks alg against k's spec (ErrUnsupportedAlgorithm) but not the
// key's usage, which is the service's metadata.
func Sign(k *Key, alg SigningAlgorithm, message []byte, messageType MessageType) ([]byte, error) {
	input, raw, err := signInput(k, alg, message, messageType)
	if err != nil {
		return nil, err
	}
	switch priv := k.m.priv.(type) {
	case *rsa.PrivateKey:
		return rsaSign(priv, isPSS(alg), sigHash(alg), input)
	case *ecdsa.PrivateKey:
		return ecdsa.SignASN1(rand.Reader, priv, input)
	case *secp256k1.PrivateKey:
		return secp256k1Sign(priv, input), nil
	case ed25519.PrivateKey:
		return ed25519Sign(priv, alg == Ed25519PHSHA512, input)
	case *sm2.PrivateKey:
		return sm2Sign(priv, raw, input)
	case *mldsa.PrivateKey:
		return mldsaSign(priv, !raw, input)
	}
	return nil, fmt.Errorf("%w: %s keys cannot sign", ErrUnsupportedAlgorithm, k.spec)
}

// Verify checks signature over message as Sign made it, with the same
// algorithm and message type. It returns nil for a valid signature and
// ErrInvalidSignature for any invalid one; other errors mean the request
// itself was wrong (algorithm, message type or digest length).
//
// Verify with EXTERNAL_MU is not supported (ErrInvalidMessageType): neither
// ML-DSA implementation available to Arca exposes verification from μ.
// Signatures made with EXTERNAL_MU verify with RAW over the message μ was
// computed from.
func Verify(k *Key, alg SigningAlgorithm, message []byte, messageType MessageType, signature []byte) error {
	input, raw, err := signInput(k, alg, message, messageType)
	if err != nil {
		return err
	}
	var ok bool
	switch pub := k.m.pubKey.(type) {
	case *rsa.PublicKey:
		ok = rsaVerify(pub, isPSS(alg), sigHash(alg), input, signature)
	case *ecdsa.PublicKey:
		if k.spec == SM2 {
			ok = sm2Verify(pub, raw, input, signature)
		} else {
			ok = ecdsa.VerifyASN1(pub, input, signature)
		}
	case *secp256k1.PublicKey:
		ok = secp256k1Verify(pub, input, signature)
	case ed25519.PublicKey:
		ok = ed25519Verify(pub, alg == Ed25519PHSHA512, input, signature)
	case *mldsa.PublicKey:
		if !raw {
			return fmt.Errorf("%w: Verify with %s is not supported", ErrInvalidMessageType, MessageExternalMu)
		}
		ok = mldsaVerify(pub, input, signature)
	default:
		return fmt.Errorf("%w: %s keys cannot verify", ErrUnsupportedAlgorithm, k.spec)
	}
	if !ok {
		return ErrInvalidSignature
	}
	return nil
}

// isPSS reports whether an RSA signing algorithm is RSASSA-PSS.
func isPSS(alg SigningAlgorithm) bool {
	return alg == RSASSAPSSSHA256 || alg == RSASSAPSSSHA384 || alg == RSASSAPSSSHA512
}
