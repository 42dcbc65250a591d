// Package pkcs11 is the HSM seal: the barrier keyring is wrapped by a
// non-extractable, sensitive AES-256 key that lives in a PKCS#11 token
// (a hardware security module, a cloud HSM, SoftHSM2 in tests) and never
// leaves it. Arca asks the token to wrap the keyring when it is created or
// rewrapped, and to unwrap it at every start, so a server with this seal
// unseals itself without an operator.
//
// # Mechanisms
//
// CKM_AES_GCM (the default): C_Encrypt/C_Decrypt with a 12-byte IV from
// crypto/rand, a 128-bit tag, and additional data that binds the blob's
// header (format, mechanism, key label). The key needs CKA_ENCRYPT and
// CKA_DECRYPT.
//
// CKM_AES_KEY_WRAP_PAD (RFC 5649): the keyring is put into the token as a
// short-lived session object (CKK_GENERIC_SECRET, CKA_TOKEN false) and
// C_WrapKey wraps it; unwrapping is C_UnwrapKey into another session object
// whose value is read back and which is destroyed at once. This is how
// tokens that only offer key wrap (not encryption) with this mechanism are
// used. The key needs CKA_WRAP and CKA_UNWRAP.
//
// # Wrapped format (version 1)
//
//	"AP11" | 0x01 | mechanism (1 = GCM, 2 = KWP) | label length (1 byte) | key label
//	GCM:  IV (12 bytes) | ciphertext ‖ tag
//	KWP:  the C_WrapKey output
//
// The key label in the blob is the key that wrapped it: Unwrap uses that
// key, so changing key_label in the configuration and rewrapping (seal
// migration) moves to a new HSM key while the old one still opens the
// stored keyring until then.
//
// # Concurrency
//
// A Seal keeps a small pool of logged-in sessions (PKCS#11 sessions must not
// be used by two threads at once; the module itself is initialized with
// CKF_OS_LOCKING_OK). A session that reports itself invalid (token removed,
// HSM restarted, logged out) is closed and the call is retried once on a new
// session, which logs in again.
//
// The package needs cgo (miekg/pkcs11 loads the module with dlopen). Built
// without cgo, Open returns an error saying so; everything else still builds.
package pkcs11

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Mechanism names accepted in the configuration.
const (
	MechanismGCM = "CKM_AES_GCM"
	MechanismKWP = "CKM_AES_KEY_WRAP_PAD"
)

// DefaultPINEnv is the environment variable the PIN is read from when the
// configuration names neither pin_env nor pin_file.
const DefaultPINEnv = "ARCA_PKCS11_PIN"

// Errors callers (and tests) can tell apart. Every error Open returns wraps
// one of these when it is one of these cases, with a message that says what
// to fix.
var (
	// ErrModule: the PKCS#11 module could not be loaded or initialized.
	ErrModule = errors.New("pkcs11 seal: module")
	// ErrTokenNotFound: no token has the configured label or slot.
	ErrTokenNotFound = errors.New("pkcs11 seal: token not found")
	// ErrPIN: the token refused the PIN (incorrect, locked, expired).
	ErrPIN = errors.New("pkcs11 seal: PIN refused")
	// ErrKeyNotFound: the token holds no AES key with the label.
	ErrKeyNotFound = errors.New("pkcs11 seal: key not found")
	// ErrKeyUnsuitable: the key exists but is not a non-extractable AES-256
	// key allowed to do what the mechanism needs.
	ErrKeyUnsuitable = errors.New("pkcs11 seal: key unsuitable")
	// ErrNoCgo: this binary was built without cgo and cannot load modules.
	ErrNoCgo = errors.New("pkcs11 seal: this arca binary was built without cgo (CGO_ENABLED=0 or no C compiler) and cannot load a PKCS#11 module; rebuild it with cgo")
)

// Config says which token and key the seal uses.
type Config struct {
	// Module is the path of the PKCS#11 library, e.g.
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// TokenLabel selects the token by label. Exactly one of TokenLabel and
	// Slot is set.
	TokenLabel string
	// Slot selects the token by slot ID when TokenLabel is empty.
	Slot *uint
	// PIN is the user PIN (read with ReadPIN; never from a flag). Open copies
	// it; the caller should clear its copy.
	PIN []byte
	// PINSource names where the PIN came from (e.g. "$ARCA_PKCS11_PIN"), for
	// error messages; never the PIN itself.
	PINSource string
	// KeyLabel is the CKA_LABEL of the AES key that wraps the keyring.
	KeyLabel string
	// Mechanism is MechanismGCM (default when empty) or MechanismKWP.
	Mechanism string
	// CreateKey makes Open generate the key on the token when it is absent
	// (operator init): AES-256, CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true,
	// CKA_EXTRACTABLE false. Otherwise a missing key is an error.
	CreateKey bool
	// Sessions bounds the concurrent sessions the seal opens (default 4).
	Sessions int
}

// mechanism codes in the wrapped format.
const (
	mechGCM byte = 1
	mechKWP byte = 2
)

func (c Config) mechCode() (byte, error) {
	switch c.Mechanism {
	case "", MechanismGCM:
		return mechGCM, nil
	case MechanismKWP:
		return mechKWP, nil
	}
	return 0, fmt.Errorf("pkcs11 seal: mechanism %q is not supported: use %s or %s", c.Mechanism, MechanismGCM, MechanismKWP)
}

// Validate checks the configuration without touching the module.
func (c Config) Validate() error {
	var errs []error
	if c.Module == "" {
		errs = append(errs, errors.New("pkcs11 seal: no module: set seal_pkcs11.module to the PKCS#11 library path (e.g. /usr/lib/softhsm/libsofthsm2.so)"))
	}
	if (c.TokenLabel == "") == (c.Slot == nil) {
		errs = append(errs, errors.New("pkcs11 seal: set exactly one of seal_pkcs11.token_label and seal_pkcs11.slot"))
	}
	if c.KeyLabel == "" {
		errs = append(errs, errors.New("pkcs11 seal: no key label: set seal_pkcs11.key_label"))
	} else if len(c.KeyLabel) > 255 {
		errs = append(errs, errors.New("pkcs11 seal: key_label is longer than 255 bytes"))
	}
	if len(c.PIN) == 0 {
		src := c.PINSource
		if src == "" {
			src = "$" + DefaultPINEnv
		}
		errs = append(errs, fmt.Errorf("pkcs11 seal: no PIN: set it in %s (or name another variable with seal_pkcs11.pin_env, or a file with seal_pkcs11.pin_file)", src))
	}
	if _, err := c.mechCode(); err != nil {
		errs = append(errs, err)
	}
	if c.Sessions < 0 {
		errs = append(errs, errors.New("pkcs11 seal: sessions must not be negative"))
	}
	return errors.Join(errs...)
}

func (c Config) params() map[string]string {
	tok := c.TokenLabel
	if tok == "" && c.Slot != nil {
		tok = fmt.Sprintf("slot %d", *c.Slot)
	}
	mech := c.Mechanism
	if mech == "" {
		mech = MechanismGCM
	}
	return map[string]string{"token": tok, "key_label": c.KeyLabel, "mechanism": mech}
}

// tokenName describes the configured token for messages.
func (c Config) tokenName() string {
	if c.TokenLabel != "" {
		return fmt.Sprintf("token %q", c.TokenLabel)
	}
	if c.Slot != nil {
		return fmt.Sprintf("the token in slot %d", *c.Slot)
	}
	return "the token"
}

func (c Config) pinSource() string {
	if c.PINSource != "" {
		return c.PINSource
	}
	return "$" + DefaultPINEnv
}

// ReadPIN returns the PIN and a description of where it came from: from the
// file pinFile when set (one trailing newline removed; the file must not be
// readable by group or others), otherwise from the environment variable
// pinEnv (DefaultPINEnv when empty). Setting both is an error. The PIN is
// never taken from a command-line flag, where other users could see it.
func ReadPIN(pinEnv, pinFile string, getenv func(string) string) (pin []byte, source string, err error) {
	if pinFile != "" && pinEnv != "" {
		return nil, "", errors.New("pkcs11 seal: set only one of seal_pkcs11.pin_env and seal_pkcs11.pin_file")
	}
	if pinFile != "" {
		source = "pin_file " + pinFile
		st, err := os.Stat(pinFile)
		if err != nil {
			return nil, source, fmt.Errorf("pkcs11 seal: PIN file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			return nil, source, fmt.Errorf("pkcs11 seal: PIN file %s is accessible to group or others (mode %04o); chmod 600 it", pinFile, st.Mode().Perm())
		}
		b, err := os.ReadFile(pinFile)
		if err != nil {
			return nil, source, fmt.Errorf("pkcs11 seal: PIN file: %w", err)
		}
		pin := bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
		out := bytes.Clone(pin)
		clear(b)
		if len(out) == 0 {
			return nil, source, fmt.Errorf("pkcs11 seal: PIN file %s is empty", pinFile)
		}
		return out, source, nil
	}
	if pinEnv == "" {
		pinEnv = DefaultPINEnv
	}
	source = "$" + pinEnv
	v := getenv(pinEnv)
	if v == "" {
		return nil, source, fmt.Errorf("pkcs11 seal: no PIN: set %s (or name another variable with seal_pkcs11.pin_env, or a file with seal_pkcs11.pin_file)", source)
	}
	return []byte(v), source, nil
}

// Wrapped-format constants.
const (
	magic     = "AP11"
	version   = 0x01
	gcmIVLen  = 12
	gcmTagLen = 16
)

// gcmAAD is prefixed to the blob header to form GCM's additional data.
var gcmAAD = []byte("arca pkcs11 seal v1")

// header encodes the blob header for mechanism mech and key label.
func header(mech byte, label string) []byte {
	h := make([]byte, 0, len(magic)+3+len(label))
	h = append(h, magic...)
	h = append(h, version, mech, byte(len(label)))
	return append(h, label...)
}

// blob is a parsed wrapped keyring.
type blob struct {
	mech   byte
	label  string
	header []byte // the bytes covered as header
	body   []byte // GCM: IV ‖ ciphertext ‖ tag; KWP: wrapped bytes
}

var errNotOurs = errors.New("pkcs11 seal: the stored keyring was not wrapped by a pkcs11 seal (it is another seal's; migrate the seal instead)")

// parseBlob splits a wrapped keyring; it checks framing only.
func parseBlob(b []byte) (blob, error) {
	if len(b) < len(magic)+3 || string(b[:len(magic)]) != magic {
		return blob{}, errNotOurs
	}
	if b[4] != version {
		return blob{}, fmt.Errorf("pkcs11 seal: wrapped keyring has unknown format version %d", b[4])
	}
	mech, n := b[5], int(b[6])
	if len(b) < 7+n {
		return blob{}, errors.New("pkcs11 seal: wrapped keyring is truncated")
	}
	out := blob{mech: mech, label: string(b[7 : 7+n]), header: b[:7+n], body: b[7+n:]}
	switch mech {
	case mechGCM:
		if len(out.body) < gcmIVLen+gcmTagLen {
			return blob{}, errors.New("pkcs11 seal: wrapped keyring is truncated")
		}
	case mechKWP:
		if len(out.body) < 16 || len(out.body)%8 != 0 {
			return blob{}, errors.New("pkcs11 seal: wrapped keyring is truncated")
		}
	default:
		return blob{}, fmt.Errorf("pkcs11 seal: wrapped keyring names unknown mechanism %d", mech)
	}
	return out, nil
}

// IsWrapped reports whether b looks like this seal's output (by its magic),
// so a server can tell which seal wrapped a stored keyring.
func IsWrapped(b []byte) bool { return len(b) >= len(magic) && string(b[:len(magic)]) == magic }

// trimLabel removes the blank padding PKCS#11 puts after token labels.
func trimLabel(s string) string { return strings.TrimRight(s, " \x00") }

// kwpInner frames plaintext for key wrap: the blob header (KWP has no
// additional data, so the header is bound inside), the length, the
// plaintext, and zeros to a multiple of 8 bytes. Tokens differ in whether
// C_UnwrapKey strips RFC 5649 padding from a generic secret (SoftHSM2 does
// not), so Arca pads itself and the mechanism never has to.
func kwpInner(hdr, plaintext []byte) []byte {
	n := len(hdr) + 4 + len(plaintext)
	inner := make([]byte, 0, (n+7)/8*8)
	inner = append(inner, hdr...)
	inner = binary.BigEndian.AppendUint32(inner, uint32(len(plaintext)))
	inner = append(inner, plaintext...)
	return inner[:cap(inner)]
}

// kwpOuter reverses kwpInner, checking the header and the padding.
func kwpOuter(hdr, inner []byte) ([]byte, error) {
	bad := errors.New("the unwrapped keyring is not framed as this seal frames it (altered, or another key's)")
	if len(inner) < len(hdr)+4 || !bytes.Equal(inner[:len(hdr)], hdr) {
		return nil, bad
	}
	rest := inner[len(hdr):]
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) || len(rest)-int(n) >= 8+8 {
		return nil, bad
	}
	for _, c := range rest[n:] {
		if c != 0 {
			return nil, bad
		}
	}
	return bytes.Clone(rest[:n]), nil
}
