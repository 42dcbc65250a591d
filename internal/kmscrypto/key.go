package kmscrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/emmansun/gmsm/sm4"
)

// KeySpec names a key's material type, spelled as AWS KMS's KeySpec enum.
type KeySpec string

// SymmetricDefault is a 256-bit AES-GCM key. The other specs are in spec.go.
const SymmetricDefault KeySpec = "SYMMETRIC_DEFAULT"

const (
	symmetricKeyLen = 32
	sm4KeyLen       = 16
)

// ErrKeyDestroyed is returned by any operation on a Key after Destroy.
var ErrKeyDestroyed = errors.New("kmscrypto: key destroyed")

// Key is the secret material of one key version. It never prints its
// material (every fmt verb and String give "kmscrypto.Key(SPEC, REDACTED)"),
// is compared only in constant time by Equal, and is zeroed by Destroy.
// A Key is safe for concurrent use, except that Destroy must not race with
// other calls.
type Key struct {
	spec KeySpec
	// m sits behind a pointer so that even a Key printed by value (fmt does
	// not call methods on unexported fields) shows an address, never bytes.
	m *material
}

// material is a key's secret state.
type material struct {
	// raw is the persisted form Marshal returns: raw bytes for symmetric
	// and HMAC keys, PKCS#8 DER for RSA, ECC and SM2 keys, the 32-byte seed
	// for ML-DSA.
	raw []byte
	// priv is the parsed private key of an asymmetric spec (*rsa.PrivateKey,
	// *ecdsa.PrivateKey, *secp256k1.PrivateKey, ed25519.PrivateKey,
	// *sm2.PrivateKey or *mldsa.PrivateKey); nil for symmetric specs.
	priv any
	// pubKey is the parsed public key (*rsa.PublicKey, *ecdsa.PublicKey,
	// *secp256k1.PublicKey, ed25519.PublicKey or *mldsa.PublicKey), kept so
	// Verify does not re-derive it per call.
	pubKey any
	// pub is the public key as DER SubjectPublicKeyInfo; nil for symmetric
	// specs.
	pub []byte

	destroyed atomic.Bool

	// aead is the symmetric cipher, built once on first use: the key
	// schedule is the expensive part and the hot path must not redo it.
	once sync.Once
	aead cipher.AEAD
	err  error
}

// Generate makes new material for spec from crypto/rand.
func Generate(spec KeySpec) (*Key, error) {
	raw, err := generateRaw(spec, rand.Reader)
	if err != nil {
		return nil, err
	}
	return load(spec, raw)
}

// generateRaw makes the persisted form of new material for spec.
func generateRaw(spec KeySpec, r io.Reader) ([]byte, error) {
	switch spec {
	case SymmetricDefault:
		return readN(r, symmetricKeyLen)
	case SM4:
		return readN(r, sm4KeyLen)
	case HMAC224, HMAC256, HMAC384, HMAC512:
		return readN(r, hmacParams(spec).keyLen)
	case RSA2048, RSA3072, RSA4096:
		return generateRSA(rsaBits(spec))
	case ECCNistP256, ECCNistP384, ECCNistP521:
		return generateECDSA(spec)
	case ECCSecgP256K1:
		return generateSecp256k1()
	case ECCNistEdwards25519:
		return generateEd25519()
	case SM2:
		return generateSM2()
	case MLDSA44, MLDSA65, MLDSA87:
		return readN(r, mldsaSeedLen)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedSpec, spec)
}

// readN reads n bytes from r.
func readN(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// ParseKey rebuilds a Key from the persisted form Marshal produced (for RSA,
// ECC and SM2 keys, any PKCS#8 DER of the right algorithm and size, such as
// imported key material). It copies material, so the caller may wipe its
// buffer afterwards. Asymmetric keys are re-encoded in Marshal's canonical
// form, so Equal compares keys, not encodings.
func ParseKey(spec KeySpec, material []byte) (*Key, error) {
	if KeyUsages(spec) == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedSpec, spec)
	}
	return load(spec, append([]byte(nil), material...))
}

// load builds a Key of spec from raw, which it owns from then on.
func load(spec KeySpec, raw []byte) (*Key, error) {
	m := &material{raw: raw}
	var err error
	switch spec {
	case SymmetricDefault:
		err = checkLen(spec, raw, symmetricKeyLen, symmetricKeyLen)
	case SM4:
		err = checkLen(spec, raw, sm4KeyLen, sm4KeyLen)
	case HMAC224, HMAC256, HMAC384, HMAC512:
		p := hmacParams(spec)
		err = checkLen(spec, raw, p.minLen, p.maxLen)
	case RSA2048, RSA3072, RSA4096:
		err = loadRSA(m, rsaBits(spec))
	case ECCNistP256, ECCNistP384, ECCNistP521:
		err = loadECDSA(m, spec)
	case ECCSecgP256K1:
		err = loadSecp256k1(m)
	case ECCNistEdwards25519:
		err = loadEd25519(m)
	case SM2:
		err = loadSM2(m)
	case MLDSA44, MLDSA65, MLDSA87:
		err = loadMLDSA(m, spec)
	default:
		err = fmt.Errorf("%w: %q", ErrUnsupportedSpec, spec)
	}
	if err != nil {
		clear(raw)
		if errors.Is(err, ErrUnsupportedSpec) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidKeyMaterial, spec, err)
	}
	return &Key{spec: spec, m: m}, nil
}

// checkLen checks that raw material is min..max bytes.
func checkLen(spec KeySpec, raw []byte, min, max int) error {
	if len(raw) < min || len(raw) > max {
		if min == max {
			return fmt.Errorf("%s material must be %d bytes, got %d", spec, min, len(raw))
		}
		return fmt.Errorf("%s material must be %d..%d bytes, got %d", spec, min, max, len(raw))
	}
	return nil
}

// Spec returns the key's spec.
func (k *Key) Spec() KeySpec { return k.spec }

// Marshal returns the persisted form of the material, a fresh copy the
// caller may wipe: the raw key for SYMMETRIC_DEFAULT (32 bytes), SM4 (16) and
// HMAC specs; PKCS#8 DER for RSA, ECC and SM2; the 32-byte seed for ML-DSA.
// It is only ever handed to the barrier. A destroyed key marshals to nil.
func (k *Key) Marshal() []byte {
	if k.m.destroyed.Load() {
		return nil
	}
	return append([]byte(nil), k.m.raw...)
}

// PublicKeyDER returns the public key as DER SubjectPublicKeyInfo, as
// GetPublicKey returns it. Symmetric and HMAC keys have none
// (ErrUnsupportedSpec).
func (k *Key) PublicKeyDER() ([]byte, error) {
	if err := k.live(); err != nil {
		return nil, err
	}
	if k.m.pub == nil {
		return nil, fmt.Errorf("%w: %s keys have no public key", ErrUnsupportedSpec, k.spec)
	}
	return append([]byte(nil), k.m.pub...), nil
}

// Equal reports, in constant time over the material, whether k and o hold
// the same spec and material. Destroyed and nil keys equal nothing.
func (k *Key) Equal(o *Key) bool {
	if k == nil || o == nil || k.m.destroyed.Load() || o.m.destroyed.Load() {
		return false
	}
	return k.spec == o.spec && subtle.ConstantTimeCompare(k.m.raw, o.m.raw) == 1
}

// Destroy zeroes the material and makes every later operation on k fail
// with ErrKeyDestroyed. It zeroes what it can reach: the persisted form and
// the private scalars of RSA, secp256k1, SM2 and Ed25519 keys. Copies made
// inside the standard library or a dependency (an expanded AES or SM4 key
// schedule, RSA precomputations, crypto/ecdsa's internal scalar, an ML-DSA
// expanded key) cannot be reached; they are dropped for the garbage
// collector.
func (k *Key) Destroy() {
	k.m.destroyed.Store(true)
	clear(k.m.raw)
	zeroPrivate(k.m.priv)
	k.m.priv, k.m.pubKey = nil, nil
	k.m.aead = nil
}

// String returns "kmscrypto.Key(SPEC, REDACTED)", never material.
func (k *Key) String() string {
	if k == nil {
		return "kmscrypto.Key(nil)"
	}
	return "kmscrypto.Key(" + string(k.spec) + ", REDACTED)"
}

// Format prints String whatever the verb or flags (%v, %+v, %#v, %s, %x,
// ...), so material never reaches a log line through fmt.
func (k *Key) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// GoString is String, so %#v redacts too.
func (k *Key) GoString() string { return k.String() }

// live returns ErrKeyDestroyed once k is destroyed.
func (k *Key) live() error {
	if k == nil || k.m == nil {
		return fmt.Errorf("%w: nil key", ErrUnsupportedSpec)
	}
	if k.m.destroyed.Load() {
		return ErrKeyDestroyed
	}
	return nil
}

// blobAEAD returns the blob algorithm byte and the AEAD for a key that can
// make ciphertext blobs, building the AEAD once.
func (k *Key) blobAEAD() (byte, cipher.AEAD, error) {
	if err := k.live(); err != nil {
		return 0, nil, err
	}
	var alg byte
	var build func([]byte) (cipher.Block, error)
	switch k.spec {
	case SymmetricDefault:
		alg, build = algAES256GCM, aes.NewCipher
	case SM4:
		alg, build = algSM4GCM, sm4.NewCipher
	default:
		return 0, nil, fmt.Errorf("%w: %s keys make no symmetric ciphertext", ErrUnsupportedSpec, k.spec)
	}
	k.m.once.Do(func() {
		var b cipher.Block
		if b, k.m.err = build(k.m.raw); k.m.err == nil {
			k.m.aead, k.m.err = cipher.NewGCM(b)
		}
	})
	return alg, k.m.aead, k.m.err
}
