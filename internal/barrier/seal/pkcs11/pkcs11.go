//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/arca-kms/arca/internal/barrier"
	p11 "github.com/miekg/pkcs11"
)

// Seal wraps the barrier keyring with an AES key inside a PKCS#11 token.
// It is safe for concurrent use.
type Seal struct {
	cfg  Config
	mech byte
	mod  *module
	slot uint
	pin  []byte // kept to log in again after a token reconnect; cleared by Close

	sem chan struct{} // one token per open session

	idle chan *session // sessions not in use

	mu     sync.Mutex
	closed bool
}

var _ barrier.Wrapper = (*Seal)(nil)

// session is one logged-in session and the key handles found in it.
type session struct {
	h    p11.SessionHandle
	keys map[string]p11.ObjectHandle // by label
}

// module is one loaded and initialized PKCS#11 library, shared by every
// Seal in the process that names the same path: C_Initialize may be called
// only once per process, and C_Finalize must wait for the last user.
type module struct {
	path  string
	ctx   *p11.Ctx
	refs  int
	owned bool // we called C_Initialize, so we call C_Finalize
}

var (
	modMu   sync.Mutex
	modules = map[string]*module{}
)

func loadModule(path string) (*module, error) {
	modMu.Lock()
	defer modMu.Unlock()
	if m := modules[path]; m != nil {
		m.refs++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: cannot read the PKCS#11 module %s: %v; check seal_pkcs11.module (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)", ErrModule, path, err)
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("%w: cannot load %s as a PKCS#11 module (dlopen failed or it lacks C_GetFunctionList); check seal_pkcs11.module", ErrModule, path)
	}
	m := &module{path: path, ctx: ctx, refs: 1, owned: true}
	if err := ctx.Initialize(); err != nil {
		if !isRV(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			ctx.Destroy()
			return nil, fmt.Errorf("%w: C_Initialize of %s failed: %v (for SoftHSM2, check that SOFTHSM2_CONF names a readable config and token directory)", ErrModule, path, err)
		}
		m.owned = false // another part of the process initialized it
	}
	modules[path] = m
	return m, nil
}

func (m *module) release() {
	modMu.Lock()
	defer modMu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(modules, m.path)
	if m.owned {
		m.ctx.Finalize()
	}
	m.ctx.Destroy()
}

// Open loads the module, finds the token, logs in, finds (or, with
// CreateKey, creates) the key and checks it is a non-extractable AES-256 key
// allowed to do what the mechanism needs. created reports a new key.
func Open(ctx context.Context, cfg Config) (_ *Seal, created bool, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, false, err
	}
	mech, _ := cfg.mechCode()
	if cfg.Sessions == 0 {
		cfg.Sessions = 4
	}
	mod, err := loadModule(cfg.Module)
	if err != nil {
		return nil, false, err
	}
	s := &Seal{cfg: cfg, mech: mech, mod: mod, pin: bytes.Clone(cfg.PIN), sem: make(chan struct{}, cfg.Sessions), idle: make(chan *session, cfg.Sessions)}
	s.cfg.PIN = nil
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.slot, err = findSlot(mod.ctx, cfg); err != nil {
		return nil, false, err
	}
	sess, err := s.get(ctx)
	if err != nil {
		return nil, false, err
	}
	defer func() { s.put(sess, err) }()
	h, err := s.findKey(sess, cfg.KeyLabel)
	if errors.Is(err, ErrKeyNotFound) && cfg.CreateKey {
		if h, err = s.createKey(sess); err != nil {
			return nil, false, err
		}
		created = true
	}
	if err != nil {
		return nil, false, err
	}
	if err := s.checkKey(sess, h, cfg.KeyLabel, mech); err != nil {
		return nil, false, err
	}
	return s, created, nil
}

// findSlot returns the slot whose token has the configured label, or the
// configured slot if it holds a token.
func findSlot(ctx *p11.Ctx, cfg Config) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("%w: C_GetSlotList: %v", ErrModule, err)
	}
	var seen []string
	for _, id := range slots {
		ti, err := ctx.GetTokenInfo(id)
		if err != nil {
			continue
		}
		label := trimLabel(ti.Label)
		seen = append(seen, fmt.Sprintf("%q (slot %d)", label, id))
		if cfg.TokenLabel != "" && label == cfg.TokenLabel || cfg.TokenLabel == "" && cfg.Slot != nil && *cfg.Slot == id {
			if ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
				return 0, fmt.Errorf("%w: %s is not initialized; initialize it (SoftHSM2: softhsm2-util --init-token)", ErrTokenNotFound, cfg.tokenName())
			}
			return id, nil
		}
	}
	have := "none"
	if len(seen) > 0 {
		have = fmt.Sprint(seen)
	}
	return 0, fmt.Errorf("%w: %s is not present in module %s (tokens present: %s); check seal_pkcs11.token_label/slot, or create the token (SoftHSM2: softhsm2-util --init-token --free --label LABEL)",
		ErrTokenNotFound, cfg.tokenName(), cfg.Module, have)
}

// get returns a logged-in session, an idle one or a newly opened one,
// waiting while all Sessions are in use.
func (s *Seal) get(ctx context.Context) (*session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case sess := <-s.idle:
		return sess, nil
	default:
	}
	select {
	case sess := <-s.idle:
		return sess, nil
	case s.sem <- struct{}{}:
		if s.isClosed() {
			<-s.sem
			return nil, errClosed
		}
		sess, err := s.open()
		if err != nil {
			<-s.sem
			return nil, err
		}
		return sess, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var errClosed = errors.New("pkcs11 seal: closed")

func (s *Seal) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// open opens a session and logs the user in. Login is per token and
// application, so a second session finds the user logged in already.
func (s *Seal) open() (*session, error) {
	ctx := s.mod.ctx
	h, err := ctx.OpenSession(s.slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		if isRV(err, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_SLOT_ID_INVALID, p11.CKR_DEVICE_REMOVED) {
			return nil, fmt.Errorf("%w: %s went away: %v", ErrTokenNotFound, s.cfg.tokenName(), err)
		}
		return nil, fmt.Errorf("pkcs11 seal: C_OpenSession on %s: %v", s.cfg.tokenName(), err)
	}
	err = ctx.Login(h, p11.CKU_USER, string(s.pin))
	if err != nil && !isRV(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
		ctx.CloseSession(h)
		switch {
		case isRV(err, p11.CKR_PIN_INCORRECT):
			return nil, fmt.Errorf("%w: %s rejected the PIN from %s as incorrect (CKR_PIN_INCORRECT); fix the PIN there (the token may lock itself after repeated failures)", ErrPIN, s.cfg.tokenName(), s.cfg.pinSource())
		case isRV(err, p11.CKR_PIN_LOCKED):
			return nil, fmt.Errorf("%w: the user PIN of %s is locked (CKR_PIN_LOCKED); the token's security officer must unlock or reset it", ErrPIN, s.cfg.tokenName())
		case isRV(err, p11.CKR_PIN_EXPIRED, p11.CKR_PIN_LEN_RANGE, p11.CKR_PIN_INVALID):
			return nil, fmt.Errorf("%w: %s refused the PIN from %s: %v", ErrPIN, s.cfg.tokenName(), s.cfg.pinSource(), err)
		case isRV(err, p11.CKR_USER_PIN_NOT_INITIALIZED):
			return nil, fmt.Errorf("%w: %s has no user PIN yet; initialize it (SoftHSM2: softhsm2-util --init-token sets one)", ErrPIN, s.cfg.tokenName())
		}
		return nil, fmt.Errorf("pkcs11 seal: C_Login to %s: %v", s.cfg.tokenName(), err)
	}
	return &session{h: h, keys: map[string]p11.ObjectHandle{}}, nil
}

// put returns sess to the pool, or closes it when the seal is closed or
// the error that ended its use says the session is no longer good.
func (s *Seal) put(sess *session, err error) {
	if err != nil && sessionBroken(err) || s.isClosed() {
		s.mod.ctx.CloseSession(sess.h)
		<-s.sem
		return
	}
	s.idle <- sess // never blocks: at most cap(s.sem) sessions exist
}

// sessionBroken reports errors after which a session must not be reused.
func sessionBroken(err error) bool {
	return isRV(err, p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_DEVICE_REMOVED,
		p11.CKR_DEVICE_ERROR, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID, p11.CKR_OPERATION_ACTIVE)
}

// do runs fn on a pooled session, retrying once on a fresh session when
// the first fails in a way that says the session (not the input) is bad.
func (s *Seal) do(ctx context.Context, fn func(*session) error) error {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		var sess *session
		if sess, err = s.get(ctx); err != nil {
			return err
		}
		err = fn(sess)
		s.put(sess, err)
		if err == nil || !sessionBroken(err) {
			return err
		}
	}
	return err
}

// findKey returns the handle of the one secret key labelled label.
func (s *Seal) findKey(sess *session, label string) (p11.ObjectHandle, error) {
	if h, ok := sess.keys[label]; ok {
		return h, nil
	}
	ctx := s.mod.ctx
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	if err := ctx.FindObjectsInit(sess.h, tmpl); err != nil {
		return 0, fmt.Errorf("pkcs11 seal: C_FindObjectsInit: %w", err)
	}
	hs, _, err := ctx.FindObjects(sess.h, 2)
	if ferr := ctx.FindObjectsFinal(sess.h); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return 0, fmt.Errorf("pkcs11 seal: C_FindObjects: %w", err)
	}
	switch len(hs) {
	case 0:
		return 0, fmt.Errorf("%w: %s holds no secret key labelled %q; check seal_pkcs11.key_label, or create the key with `arca operator init --seal pkcs11` (or pkcs11-tool --keygen --key-type AES:32 --label %q --sensitive)",
			ErrKeyNotFound, s.cfg.tokenName(), label, label)
	case 1:
		sess.keys[label] = hs[0]
		return hs[0], nil
	}
	return 0, fmt.Errorf("%w: %s holds more than one secret key labelled %q; labels must be unique, delete or relabel the extra key", ErrKeyUnsuitable, s.cfg.tokenName(), label)
}

// keyAttrs are the attributes a key is created with and checked for.
func keyAttrs(mech byte) (use []uint) {
	if mech == mechKWP {
		return []uint{p11.CKA_WRAP, p11.CKA_UNWRAP}
	}
	return []uint{p11.CKA_ENCRYPT, p11.CKA_DECRYPT}
}

// createKey generates a non-extractable, sensitive AES-256 token key with
// the configured label, allowed only what the mechanism needs.
func (s *Seal) createKey(sess *session) (p11.ObjectHandle, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return 0, err
	}
	tmpl := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
		p11.NewAttribute(p11.CKA_LABEL, s.cfg.KeyLabel),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_MODIFIABLE, false),
		p11.NewAttribute(p11.CKA_SIGN, false),
		p11.NewAttribute(p11.CKA_VERIFY, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
	}
	all := []uint{p11.CKA_ENCRYPT, p11.CKA_DECRYPT, p11.CKA_WRAP, p11.CKA_UNWRAP}
	use := keyAttrs(s.mech)
	for _, a := range all {
		tmpl = append(tmpl, p11.NewAttribute(a, a == use[0] || a == use[1]))
	}
	h, err := s.mod.ctx.GenerateKey(sess.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, tmpl)
	if err != nil {
		return 0, fmt.Errorf("pkcs11 seal: cannot create the AES-256 key %q on %s (C_GenerateKey): %v", s.cfg.KeyLabel, s.cfg.tokenName(), err)
	}
	sess.keys[s.cfg.KeyLabel] = h
	return h, nil
}

// checkKey refuses a key that is not AES-256, could leave the token, or may
// not do what the mechanism needs.
func (s *Seal) checkKey(sess *session, h p11.ObjectHandle, label string, mech byte) error {
	use := keyAttrs(mech)
	want := append([]uint{p11.CKA_KEY_TYPE, p11.CKA_VALUE_LEN, p11.CKA_EXTRACTABLE, p11.CKA_SENSITIVE}, use...)
	tmpl := make([]*p11.Attribute, len(want))
	for i, a := range want {
		tmpl[i] = p11.NewAttribute(a, nil)
	}
	got, err := s.mod.ctx.GetAttributeValue(sess.h, h, tmpl)
	if err != nil {
		return fmt.Errorf("pkcs11 seal: reading the attributes of key %q: %w", label, err)
	}
	vals := map[uint][]byte{}
	for _, a := range got {
		vals[a.Type] = a.Value
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: key %q on %s %s; create a suitable key (`arca operator init --seal pkcs11` does, with a new key_label)", ErrKeyUnsuitable, label, s.cfg.tokenName(), why)
	}
	if ulong(vals[p11.CKA_KEY_TYPE]) != p11.CKK_AES {
		return bad("is not an AES key")
	}
	if ulong(vals[p11.CKA_VALUE_LEN]) != 32 {
		return bad(fmt.Sprintf("is AES-%d, not AES-256", ulong(vals[p11.CKA_VALUE_LEN])*8))
	}
	if boolAttr(vals[p11.CKA_EXTRACTABLE]) {
		return bad("is extractable (CKA_EXTRACTABLE true), so it could leave the HSM")
	}
	if !boolAttr(vals[p11.CKA_SENSITIVE]) {
		return bad("is not sensitive (CKA_SENSITIVE false), so its value could be read")
	}
	for _, a := range use {
		if !boolAttr(vals[a]) {
			name := map[uint]string{p11.CKA_ENCRYPT: "CKA_ENCRYPT", p11.CKA_DECRYPT: "CKA_DECRYPT", p11.CKA_WRAP: "CKA_WRAP", p11.CKA_UNWRAP: "CKA_UNWRAP"}[a]
			mechName := MechanismGCM
			if mech == mechKWP {
				mechName = MechanismKWP
			}
			return bad(fmt.Sprintf("lacks %s, which %s needs", name, mechName))
		}
	}
	return nil
}

// Type names the seal kind, for status output and config checks.
func (s *Seal) Type() string { return "pkcs11" }

// Params are the non-secret settings that identify the wrapping key, for
// the seal-config record: token, key_label, mechanism.
func (s *Seal) Params() map[string]string { return s.cfg.params() }

// Wrap implements barrier.Wrapper: the token encrypts (GCM) or wraps (KWP)
// plaintext under the configured key.
func (s *Seal) Wrap(ctx context.Context, plaintext []byte) ([]byte, error) {
	hdr := header(s.mech, s.cfg.KeyLabel)
	var out []byte
	err := s.do(ctx, func(sess *session) error {
		h, err := s.findKey(sess, s.cfg.KeyLabel)
		if err != nil {
			return err
		}
		var body []byte
		if s.mech == mechGCM {
			body, err = s.gcmSeal(sess, h, hdr, plaintext)
		} else {
			body, err = s.kwpWrap(sess, h, hdr, plaintext)
		}
		if err != nil {
			return err
		}
		out = append(hdr, body...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11 seal: wrap with key %q: %w", s.cfg.KeyLabel, err)
	}
	return out, nil
}

// Unwrap implements barrier.Wrapper with the key named in the blob. It fails
// on any alteration and never returns partial plaintext.
func (s *Seal) Unwrap(ctx context.Context, ciphertext []byte) ([]byte, error) {
	b, err := parseBlob(ciphertext)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = s.do(ctx, func(sess *session) error {
		h, err := s.findKey(sess, b.label)
		if err != nil {
			return err
		}
		if b.mech == mechGCM {
			out, err = s.gcmOpen(sess, h, b.header, b.body)
		} else {
			out, err = s.kwpUnwrap(sess, h, b.header, b.body)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("pkcs11 seal: unwrap with key %q: %w", b.label, err)
	}
	return out, nil
}

func (s *Seal) gcmSeal(sess *session, h p11.ObjectHandle, hdr, plaintext []byte) ([]byte, error) {
	iv := make([]byte, gcmIVLen)
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	params := p11.NewGCMParams(iv, append(bytes.Clone(gcmAAD), hdr...), gcmTagLen*8)
	defer params.Free()
	ctx := s.mod.ctx
	if err := ctx.EncryptInit(sess.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, h); err != nil {
		return nil, err
	}
	ct, err := ctx.Encrypt(sess.h, plaintext)
	if err != nil {
		return nil, err
	}
	// Some HSMs choose the IV themselves and write it back.
	if got := params.IV(); len(got) == gcmIVLen {
		iv = got
	}
	if len(ct) != len(plaintext)+gcmTagLen {
		return nil, fmt.Errorf("token returned %d bytes of GCM output for %d bytes of input", len(ct), len(plaintext))
	}
	return append(iv, ct...), nil
}

func (s *Seal) gcmOpen(sess *session, h p11.ObjectHandle, hdr, body []byte) ([]byte, error) {
	params := p11.NewGCMParams(bytes.Clone(body[:gcmIVLen]), append(bytes.Clone(gcmAAD), hdr...), gcmTagLen*8)
	defer params.Free()
	ctx := s.mod.ctx
	if err := ctx.DecryptInit(sess.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, h); err != nil {
		return nil, err
	}
	pt, err := ctx.Decrypt(sess.h, body[gcmIVLen:])
	if err != nil {
		if isRV(err, p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE, p11.CKR_GENERAL_ERROR, p11.CKR_FUNCTION_FAILED) {
			return nil, errors.New("the token could not authenticate the wrapped keyring: it was altered, or the key with this label is not the key that wrapped it")
		}
		return nil, err
	}
	return pt, nil
}

// sessionSecret is the template of the short-lived session objects that
// carry the keyring into and out of C_WrapKey/C_UnwrapKey.
func sessionSecret() []*p11.Attribute {
	return []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, false),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
	}
}

func (s *Seal) kwpWrap(sess *session, h p11.ObjectHandle, hdr, plaintext []byte) ([]byte, error) {
	ctx := s.mod.ctx
	inner := kwpInner(hdr, plaintext)
	defer clear(inner)
	obj, err := ctx.CreateObject(sess.h, append(sessionSecret(), p11.NewAttribute(p11.CKA_VALUE, inner)))
	if err != nil {
		return nil, fmt.Errorf("C_CreateObject (session object for C_WrapKey): %w", err)
	}
	defer ctx.DestroyObject(sess.h, obj)
	return ctx.WrapKey(sess.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}, h, obj)
}

func (s *Seal) kwpUnwrap(sess *session, h p11.ObjectHandle, hdr, body []byte) ([]byte, error) {
	ctx := s.mod.ctx
	obj, err := ctx.UnwrapKey(sess.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}, h, body, sessionSecret())
	if err != nil {
		if isRV(err, p11.CKR_WRAPPED_KEY_INVALID, p11.CKR_WRAPPED_KEY_LEN_RANGE, p11.CKR_GENERAL_ERROR, p11.CKR_FUNCTION_FAILED) {
			return nil, errors.New("the token could not unwrap the wrapped keyring: it was altered, or the key with this label is not the key that wrapped it")
		}
		return nil, err
	}
	defer ctx.DestroyObject(sess.h, obj)
	got, err := ctx.GetAttributeValue(sess.h, obj, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if err != nil {
		return nil, err
	}
	if len(got) != 1 {
		return nil, errors.New("token returned no value for the unwrapped keyring")
	}
	// The library copied C memory into this slice; it is ours to clear.
	defer clear(got[0].Value)
	return kwpOuter(hdr, got[0].Value)
}

// Close closes the idle sessions (the token logs out when the last one
// closes), releases the module and clears the PIN. Call it once Wrap and
// Unwrap calls have returned; it is safe to call more than once.
func (s *Seal) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	for {
		select {
		case sess := <-s.idle:
			s.mod.ctx.CloseSession(sess.h)
			<-s.sem
			continue
		default:
		}
		break
	}
	clear(s.pin)
	s.mod.release()
	return nil
}

// isRV reports whether err is a PKCS#11 return value among rvs.
func isRV(err error, rvs ...uint) bool {
	var e p11.Error
	if !errors.As(err, &e) {
		return false
	}
	for _, rv := range rvs {
		if uint(e) == rv {
			return true
		}
	}
	return false
}

// ulong decodes a CK_ULONG attribute value (native byte order and size).
func ulong(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return 0
}

func boolAttr(b []byte) bool { return len(b) == 1 && b[0] != 0 }
