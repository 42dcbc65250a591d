// Package barrier is the one place where Arca encrypts what it persists.
// Every value written through a Barrier is sealed with AES-256-GCM under the
// current term of the keyring; storage only ever sees sealed bytes.
//
// Sealed value format, version 1:
//
//	0x01 | term (uint32 big-endian) | nonce (12 random bytes) | ciphertext ‖ 16-byte tag
//
// The AAD is the 5 header bytes followed by the storage path, so a value
// that is altered in any byte, or moved to another path, fails to open.
//
// The keyring (term → 32-byte key) is itself stored at "core/keyring",
// wrapped by a seal (the Wrapper). Rotating adds a term; old terms stay to
// read old values. Rewrapping changes the seal without touching values.
//
// It imports only internal/storage.
package barrier

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/arca-kms/arca/internal/storage"
)

// Wrapper protects the keyring at rest. Seals implement it. Unwrap must fail,
// not return garbage, under a wrong key.
type Wrapper interface {
	Wrap(ctx context.Context, plaintext []byte) ([]byte, error)
	Unwrap(ctx context.Context, ciphertext []byte) ([]byte, error)
}

// Sentinel errors callers branch on.
var (
	ErrSealed             = errors.New("barrier: sealed")
	ErrNotInitialized     = errors.New("barrier: not initialized")
	ErrAlreadyInitialized = errors.New("barrier: already initialized")
	// ErrCorrupt: a stored value failed to authenticate.
	ErrCorrupt = errors.New("barrier: value failed authentication")
	// ErrReserved: the path belongs to the barrier itself.
	ErrReserved = errors.New("barrier: reserved path")
)

const (
	keyringPath  = "core/keyring"
	valueVersion = 0x01
	headerLen    = 5
	nonceLen     = 12
	keyLen       = 32
	// keyringVersion prefixes the keyring's binary encoding.
	keyringVersion = 0x01
)

// keyring is an immutable snapshot of the barrier's keys.
type keyring struct {
	active uint32
	keys   map[uint32][]byte
	aeads  map[uint32]cipher.AEAD
}

func (kr *keyring) destroy() {
	for _, k := range kr.keys {
		clear(k)
	}
}

// Barrier encrypts values on their way to storage. It is safe for
// concurrent use and implements storage.Backend.
type Barrier struct {
	b      storage.Backend
	mu     sync.RWMutex // guards kr and closed
	kr     *keyring     // nil while sealed
	closed bool
}

var _ storage.Backend = (*Barrier)(nil)

// New returns a sealed Barrier over backend.
func New(backend storage.Backend) *Barrier { return &Barrier{b: backend} }

// Initialized reports whether a keyring exists in storage.
func (b *Barrier) Initialized(ctx context.Context) (bool, error) {
	_, err := b.b.Get(ctx, keyringPath)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Initialize creates a keyring with one fresh key (term 1), stores it
// wrapped by w, and leaves the barrier unsealed.
func (b *Barrier) Initialize(ctx context.Context, w Wrapper) error {
	key := make([]byte, keyLen)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	kr, err := newKeyring(1, map[uint32][]byte{1: key})
	if err != nil {
		return err
	}
	enc := encodeKeyring(kr)
	defer clear(enc)
	wrapped, err := w.Wrap(ctx, enc)
	if err != nil {
		return fmt.Errorf("barrier: wrap keyring: %w", err)
	}
	err = b.b.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, keyringPath); err == nil {
			return ErrAlreadyInitialized
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return tx.Put(ctx, keyringPath, wrapped)
	})
	if err != nil {
		kr.destroy()
		return err
	}
	b.install(kr)
	return nil
}

// Unseal loads the keyring and unwraps it with w. On a wrong wrapper it
// returns an error and stays sealed.
func (b *Barrier) Unseal(ctx context.Context, w Wrapper) error {
	wrapped, err := b.b.Get(ctx, keyringPath)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotInitialized
	}
	if err != nil {
		return err
	}
	enc, err := w.Unwrap(ctx, wrapped)
	if err != nil {
		return fmt.Errorf("barrier: unwrap keyring: %w", err)
	}
	defer clear(enc)
	kr, err := decodeKeyring(enc)
	if err != nil {
		return err
	}
	b.install(kr)
	return nil
}

func (b *Barrier) install(kr *keyring) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kr != nil {
		b.kr.destroy()
	}
	b.kr = kr
}

// Seal zeroes the keyring in memory; afterwards every data call returns
// ErrSealed until Unseal.
func (b *Barrier) Seal() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kr != nil {
		b.kr.destroy()
		b.kr = nil
	}
}

// Sealed reports whether the barrier is sealed.
func (b *Barrier) Sealed() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.kr == nil
}

// Rotate adds a new keyring term that encrypts all new writes; values
// written under older terms still open. It returns the new term.
func (b *Barrier) Rotate(ctx context.Context, w Wrapper) (uint32, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kr == nil {
		return 0, ErrSealed
	}
	key := make([]byte, keyLen)
	if _, err := rand.Read(key); err != nil {
		return 0, err
	}
	keys := make(map[uint32][]byte, len(b.kr.keys)+1)
	for t, k := range b.kr.keys {
		keys[t] = append([]byte(nil), k...)
	}
	term := b.kr.active + 1
	keys[term] = key
	kr, err := newKeyring(term, keys)
	if err != nil {
		return 0, err
	}
	if err := b.storeKeyring(ctx, w, kr); err != nil {
		kr.destroy()
		return 0, err
	}
	b.kr.destroy()
	b.kr = kr
	return term, nil
}

// Rewrap stores the keyring wrapped by a different Wrapper, for rekeying or
// moving to another seal. Values are untouched.
func (b *Barrier) Rewrap(ctx context.Context, w Wrapper) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.kr == nil {
		return ErrSealed
	}
	return b.storeKeyring(ctx, w, b.kr)
}

func (b *Barrier) storeKeyring(ctx context.Context, w Wrapper, kr *keyring) error {
	enc := encodeKeyring(kr)
	defer clear(enc)
	wrapped, err := w.Wrap(ctx, enc)
	if err != nil {
		return fmt.Errorf("barrier: wrap keyring: %w", err)
	}
	return b.b.Put(ctx, keyringPath, wrapped)
}

func newKeyring(active uint32, keys map[uint32][]byte) (*keyring, error) {
	kr := &keyring{active: active, keys: keys, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	for t, k := range keys {
		blk, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		if kr.aeads[t], err = cipher.NewGCM(blk); err != nil {
			return nil, err
		}
	}
	if _, ok := keys[active]; !ok {
		return nil, errors.New("barrier: keyring lacks its active term")
	}
	return kr, nil
}

// encodeKeyring: version | active term | count | (term | 32-byte key)*,
// integers uint32 big-endian. Binary, so key bytes never pass through strings.
func encodeKeyring(kr *keyring) []byte {
	out := make([]byte, 0, 9+len(kr.keys)*(4+keyLen))
	out = append(out, keyringVersion)
	out = binary.BigEndian.AppendUint32(out, kr.active)
	out = binary.BigEndian.AppendUint32(out, uint32(len(kr.keys)))
	for t, k := range kr.keys {
		out = binary.BigEndian.AppendUint32(out, t)
		out = append(out, k...)
	}
	return out
}

func decodeKeyring(b []byte) (*keyring, error) {
	bad := errors.New("barrier: malformed keyring")
	if len(b) < 9 || b[0] != keyringVersion {
		return nil, bad
	}
	active := binary.BigEndian.Uint32(b[1:])
	n := binary.BigEndian.Uint32(b[5:])
	rest := b[9:]
	if uint64(len(rest)) != uint64(n)*(4+keyLen) {
		return nil, bad
	}
	keys := make(map[uint32][]byte, n)
	for range n {
		keys[binary.BigEndian.Uint32(rest)] = append([]byte(nil), rest[4:4+keyLen]...)
		rest = rest[4+keyLen:]
	}
	return newKeyring(active, keys)
}

func (b *Barrier) snapshot() (*keyring, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, storage.ErrClosed
	}
	if b.kr == nil {
		return nil, ErrSealed
	}
	return b.kr, nil
}

func checkPath(path string) error {
	if path == keyringPath {
		return ErrReserved
	}
	return nil
}

func seal(kr *keyring, path string, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerLen+nonceLen, headerLen+nonceLen+len(plaintext)+16)
	out[0] = valueVersion
	binary.BigEndian.PutUint32(out[1:], kr.active)
	if _, err := rand.Read(out[headerLen:]); err != nil {
		return nil, err
	}
	aad := make([]byte, 0, headerLen+len(path))
	aad = append(append(aad, out[:headerLen]...), path...)
	return kr.aeads[kr.active].Seal(out, out[headerLen:], plaintext, aad), nil
}

func open(kr *keyring, path string, sealed []byte) ([]byte, error) {
	if len(sealed) < headerLen+nonceLen+16 || sealed[0] != valueVersion {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, path)
	}
	aead, ok := kr.aeads[binary.BigEndian.Uint32(sealed[1:])]
	if !ok {
		return nil, fmt.Errorf("%w: %s: unknown term", ErrCorrupt, path)
	}
	aad := make([]byte, 0, headerLen+len(path))
	aad = append(append(aad, sealed[:headerLen]...), path...)
	pt, err := aead.Open(nil, sealed[headerLen:headerLen+nonceLen], sealed[headerLen+nonceLen:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, path)
	}
	return pt, nil
}

// Get implements storage.Reader.
func (b *Barrier) Get(ctx context.Context, path string) ([]byte, error) {
	return (&tx{b: b, r: b.b, w: b.b}).Get(ctx, path)
}

// List implements storage.Reader. The keyring is never listed.
func (b *Barrier) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	return (&tx{b: b, r: b.b, w: b.b}).List(ctx, prefix, after, limit)
}

// Put implements storage.Writer.
func (b *Barrier) Put(ctx context.Context, path string, value []byte) error {
	return (&tx{b: b, r: b.b, w: b.b}).Put(ctx, path, value)
}

// Delete implements storage.Writer.
func (b *Barrier) Delete(ctx context.Context, path string) error {
	return (&tx{b: b, r: b.b, w: b.b}).Delete(ctx, path)
}

// Update implements storage.Backend: fn sees and writes plaintext, storage
// sees sealed values, all in one storage transaction.
func (b *Barrier) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	if _, err := b.snapshot(); err != nil {
		return err
	}
	return b.b.Update(ctx, func(stx storage.Tx) error {
		return fn(&tx{b: b, r: stx, w: stx})
	})
}

// Close implements storage.Backend; it seals the barrier and closes storage.
func (b *Barrier) Close() error {
	b.Seal()
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return b.b.Close()
}

// tx seals and opens values around a storage reader and writer.
type tx struct {
	b *Barrier
	r storage.Reader
	w storage.Writer
}

func (t *tx) Get(ctx context.Context, path string) ([]byte, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	kr, err := t.b.snapshot()
	if err != nil {
		return nil, err
	}
	sealed, err := t.r.Get(ctx, path)
	if err != nil {
		return nil, err
	}
	return open(kr, path, sealed)
}

func (t *tx) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	kr, err := t.b.snapshot()
	if err != nil {
		return nil, err
	}
	ents, err := t.r.List(ctx, prefix, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]storage.Entry, 0, len(ents))
	skipped := false
	for _, e := range ents {
		if e.Key == keyringPath {
			skipped = true
			continue
		}
		pt, err := open(kr, e.Key, e.Value)
		if err != nil {
			return nil, err
		}
		out = append(out, storage.Entry{Key: e.Key, Value: pt})
	}
	if skipped && limit > 0 && len(ents) == limit {
		// The skipped keyring cost a full page one entry: fetch the rest.
		more, err := t.List(ctx, prefix, ents[len(ents)-1].Key, limit-len(out))
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

func (t *tx) Put(ctx context.Context, path string, value []byte) error {
	if err := checkPath(path); err != nil {
		return err
	}
	kr, err := t.b.snapshot()
	if err != nil {
		return err
	}
	sealed, err := seal(kr, path, value)
	if err != nil {
		return err
	}
	return t.w.Put(ctx, path, sealed)
}

func (t *tx) Delete(ctx context.Context, path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	if _, err := t.b.snapshot(); err != nil {
		return err
	}
	return t.w.Delete(ctx, path)
}
