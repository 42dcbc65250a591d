// Package barrier is the one place where Arca encrypts what it persists.
// A Barrier wraps a storage.Backend and is itself a storage.Backend: every
// value written through it is sealed with AES-256-GCM before storage sees
// it, and opened (authenticated) on the way back. Storage is untrusted; it
// only ever holds sealed values.
//
// # Sealed value format (version 1)
//
//	offset  size  field
//	0       1     version, 0x01
//	1       4     keyring term, uint32 big-endian
//	5       12    nonce, from crypto/rand
//	17      n+16  AES-256-GCM ciphertext of the n-byte plaintext, then the tag
//
// The GCM additional data is the 5 header bytes followed by the storage
// path, so a value altered in any byte (header included), truncated, or
// moved to another path fails to open with an error wrapping ErrCorrupt;
// the plaintext is never returned. Nonces are random, so each term should
// seal fewer than 2^32 values (the GCM random-nonce bound); Rotate starts a
// new term.
//
// # Keyring
//
// The keyring maps terms (1, 2, ...) to 32-byte AES keys; the highest term
// is active and seals all new writes, older terms still open old values.
// It is stored at the reserved path "core/keyring", wrapped by a Wrapper
// (the seal), in this binary encoding before wrapping:
//
//	version 0x01 | active term uint32 | count uint32 | count × (term uint32 | 32-byte key)
//
// (integers big-endian, entries in ascending term order). Key bytes never
// pass through strings, JSON, logs or error messages. "core/keyring" and
// everything under "core/keyring/" are refused to callers (ErrReserved) and
// never listed, so nothing can read or clobber the keyring through the
// barrier; other "core/..." paths are ordinary sealed paths, except
// SealConfigPath (below).
//
// # Seal configuration
//
// SealConfigPath holds the seal-config record: which seal wraps the keyring
// and, for Shamir, how many shares and what threshold. It is not secret and
// must be readable while sealed (to show unseal progress), so it is stored
// unencrypted beside the keyring, written in the same transaction as the
// keyring by InitializeWithSealConfig and RewrapWithSealConfig, read with
// SealConfig, and reserved like the keyring. Its encoding belongs to the
// caller (internal/barrier/seal).
//
// # Rotation and re-encryption
//
// Rotate adds a term; Reencrypt (run in the background after it) re-seals
// every value still sealed under an older term and then drops the older
// terms from the keyring, so an old key lives exactly until no value needs
// it.
//
// # Several processes on one store
//
// A backend that implements storage.Watcher is shared with other Arca
// processes, each with its own Barrier, any of which may rotate. Beside the
// keyring, at termsPath ("core/keyring/terms", reserved), every keyring
// write also stores, unencrypted and in the same transaction, which terms
// the keyring holds:
//
//	version 0x01 | active term uint32 | count uint32 | count × term uint32
//
// Over a shared backend every write transaction first reads that record
// and compares it with the terms of the keyring it seals under; when they
// differ (another process rotated, or pruned a term) the transaction is
// abandoned, the keyring is reloaded (Refresh) and the transaction re-run.
// Storage transactions are serializable, so no value is ever committed
// under a term that the stored keyring no longer holds, nor under an old
// term once a newer one is stored. A read that meets a term newer than the
// live keyring's reloads it once and retries. A change that only rewraps
// the keyring (a rekey or seal migration by another process) leaves the
// terms as they are, so this process goes on with the keyring it holds; if
// a later rotation needs a reload that its wrapper can no longer open,
// Refresh fails with ErrKeyringUnreadable and the process should seal.
//
// # Lifecycle and concurrency
//
// A new Barrier is sealed. Initialize (first run) or Unseal (later runs)
// loads the keyring; Seal zeroes the key bytes and every data call then
// returns ErrSealed. A Barrier is safe for concurrent use: data calls take
// a lock-free snapshot of the keyring (an atomic pointer), the operations
// that rewrite the stored keyring are serialized, and Seal never waits on
// a Wrapper (which may be a slow HSM or network KMS). Caveat: Seal zeroes
// the raw key bytes, but the AES key schedules inside crypto/cipher cannot
// be wiped from Go; they become garbage once no call in flight uses them.
//
// It imports only internal/storage.
package barrier

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/storage"
)

// Wrapper protects the barrier keyring at rest. Seals implement it (dev now;
// shamir, pkcs11, awskms later). Wrap's output is opaque to the barrier.
// Unwrap must fail (not return garbage) on a wrong key or altered input.
type Wrapper interface {
	// Wrap encrypts and authenticates plaintext (the encoded keyring).
	Wrap(ctx context.Context, plaintext []byte) ([]byte, error)
	// Unwrap reverses Wrap, or fails.
	Unwrap(ctx context.Context, ciphertext []byte) ([]byte, error)
}

// sealedError is ErrSealed's type.
type sealedError struct{}

func (sealedError) Error() string { return "barrier: sealed" }

// Sealed reports that the barrier is sealed (see svcerr.InternalError).
func (sealedError) Sealed() bool { return true }

// unreadableError is ErrKeyringUnreadable's type.
type unreadableError struct{}

func (unreadableError) Error() string {
	return "barrier: the keyring stored by another node cannot be opened with this node's seal"
}

// Sealed reports that this node must be unsealed again (svcerr.InternalError).
func (unreadableError) Sealed() bool { return true }

var (
	// ErrSealed is returned by every data call while the keyring is not
	// loaded (before Initialize or Unseal, and after Seal). Its Sealed
	// method lets the service layer answer a request that was in flight
	// when the server was sealed with a retryable 503, not a 500.
	ErrSealed error = sealedError{}
	// ErrNotInitialized is returned by Unseal when storage holds no keyring.
	ErrNotInitialized = errors.New("barrier: not initialized")
	// ErrAlreadyInitialized is returned by Initialize when storage already
	// holds a keyring; Initialize never overwrites one.
	ErrAlreadyInitialized = errors.New("barrier: already initialized")
	// ErrCorrupt is returned (wrapped, with the path) when a stored value
	// fails to open: altered, truncated, moved from another path, or sealed
	// under a term this keyring does not hold.
	ErrCorrupt = errors.New("barrier: value failed authentication")
	// ErrReserved is returned (wrapped) for paths the barrier keeps for
	// itself: "core/keyring" and everything under "core/keyring/".
	ErrReserved = errors.New("barrier: reserved path")
	// ErrKeyringUnreadable is returned (wrapped) by Refresh when another
	// process stored a keyring with new terms that this barrier's wrapper
	// cannot open: that process rekeyed or migrated the seal, then
	// rotated. This process can no longer follow and must be unsealed
	// again with the current seal; it reports Sealed() like ErrSealed, so
	// a request that meets it is answered as retryable elsewhere.
	ErrKeyringUnreadable error = unreadableError{}
)

// SealConfigPath is where the seal-config record is stored, unencrypted.
const SealConfigPath = "core/seal-config"

const (
	keyringPath    = "core/keyring"
	termsPath      = "core/keyring/terms"
	termsVersion   = 0x01
	valueVersion   = 0x01
	headerLen      = 5 // version + term
	nonceLen       = 12
	tagLen         = 16
	overhead       = headerLen + nonceLen + tagLen
	keyLen         = 32
	keyringVersion = 0x01
	keyringHeader  = 9 // version + active + count
	keyringEntry   = 4 + keyLen
)

// errWrapperRoundTrip means a Wrapper could not unwrap what it had just
// wrapped; storing its output would lock Arca out of its own data.
var errWrapperRoundTrip = errors.New("barrier: the wrapper cannot unwrap its own output; keyring not stored")

// errKeyringChanged means the stored keyring is not the one this barrier
// last read or wrote (another process rotated or rewrapped it); overwriting
// it could drop a term that values are sealed under.
var errKeyringChanged = errors.New("barrier: the stored keyring changed since it was loaded; unseal again")

// errStaleTerms means a write transaction over a shared backend found the
// stored keyring's terms differ from those it was sealing under.
var errStaleTerms = errors.New("barrier: the keyring's terms changed in storage")

// errNewerTerm marks a value sealed under a term newer than the live
// keyring's: over a shared backend, another process rotated.
var errNewerTerm = errors.New("newer than this keyring")

// staleRetries bounds how often a write re-runs after reloading the keyring.
const staleRetries = 5

// reserved reports whether path belongs to the barrier itself.
func reserved(path string) bool {
	return path == keyringPath || strings.HasPrefix(path, keyringPath+"/") || path == SealConfigPath
}

// keyring is an immutable set of keys and their cached AEADs. Its key bytes
// are only read under Barrier.krMu while it is installed, because Seal
// zeroes them; data calls use only the AEADs.
type keyring struct {
	active uint32
	keys   map[uint32][]byte
	aeads  map[uint32]cipher.AEAD
	// terms is the encoded terms record of this keyring (see termsPath).
	terms []byte
	// writers counts writes in flight that seal under this keyring, so
	// Reencrypt can wait until no write sealed under an older term is still
	// to commit.
	writers atomic.Int64
}

// newKeyring takes ownership of keys and builds one AEAD per term, so no
// data call ever rebuilds a cipher.
func newKeyring(active uint32, keys map[uint32][]byte) (*keyring, error) {
	kr := &keyring{active: active, keys: keys, aeads: make(map[uint32]cipher.AEAD, len(keys))}
	kr.terms = encodeTerms(active, keys)
	if _, ok := keys[active]; !ok {
		kr.destroy()
		return nil, errors.New("barrier: keyring lacks its active term")
	}
	for t, k := range keys {
		if t == 0 || len(k) != keyLen {
			kr.destroy()
			return nil, errors.New("barrier: malformed keyring")
		}
		blk, err := aes.NewCipher(k)
		if err != nil {
			kr.destroy()
			return nil, err
		}
		if kr.aeads[t], err = cipher.NewGCM(blk); err != nil {
			kr.destroy()
			return nil, err
		}
	}
	return kr, nil
}

// destroy zeroes the key bytes.
func (kr *keyring) destroy() {
	for _, k := range kr.keys {
		clear(k)
	}
}

func randomKey() ([]byte, error) {
	k := make([]byte, keyLen)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	return k, nil
}

// encode returns the keyring's binary encoding (see the package doc). The
// caller must clear it when done.
func (kr *keyring) encode() []byte {
	terms := make([]uint32, 0, len(kr.keys))
	for t := range kr.keys {
		terms = append(terms, t)
	}
	slices.Sort(terms)
	out := make([]byte, 0, keyringHeader+len(terms)*keyringEntry)
	out = append(out, keyringVersion)
	out = binary.BigEndian.AppendUint32(out, kr.active)
	out = binary.BigEndian.AppendUint32(out, uint32(len(terms)))
	for _, t := range terms {
		out = binary.BigEndian.AppendUint32(out, t)
		out = append(out, kr.keys[t]...)
	}
	return out
}

// encodeTerms returns the terms record of a keyring (see termsPath).
func encodeTerms(active uint32, keys map[uint32][]byte) []byte {
	terms := make([]uint32, 0, len(keys))
	for t := range keys {
		terms = append(terms, t)
	}
	slices.Sort(terms)
	out := make([]byte, 0, keyringHeader+4*len(terms))
	out = append(out, termsVersion)
	out = binary.BigEndian.AppendUint32(out, active)
	out = binary.BigEndian.AppendUint32(out, uint32(len(terms)))
	for _, t := range terms {
		out = binary.BigEndian.AppendUint32(out, t)
	}
	return out
}

// decodeKeyring parses encode's output; it copies the key bytes, so the
// caller may clear b.
func decodeKeyring(b []byte) (*keyring, error) {
	bad := errors.New("barrier: malformed keyring")
	if len(b) < keyringHeader || b[0] != keyringVersion {
		return nil, bad
	}
	active := binary.BigEndian.Uint32(b[1:])
	n := binary.BigEndian.Uint32(b[5:])
	rest := b[keyringHeader:]
	if n == 0 || uint64(len(rest)) != uint64(n)*keyringEntry {
		return nil, bad
	}
	keys := make(map[uint32][]byte, n)
	for ; len(rest) > 0; rest = rest[keyringEntry:] {
		t := binary.BigEndian.Uint32(rest)
		if _, dup := keys[t]; dup {
			(&keyring{keys: keys}).destroy()
			return nil, bad
		}
		keys[t] = bytes.Clone(rest[4:keyringEntry])
	}
	return newKeyring(active, keys)
}

// withNewTerm returns a copy of kr plus a fresh key as the new active term.
// Call it with Barrier.krMu held, while kr is installed.
func (kr *keyring) withNewTerm() (*keyring, error) {
	var top uint32
	keys := make(map[uint32][]byte, len(kr.keys)+1)
	for t, k := range kr.keys {
		top = max(top, t)
		keys[t] = bytes.Clone(k)
	}
	if top == math.MaxUint32 {
		(&keyring{keys: keys}).destroy()
		return nil, errors.New("barrier: keyring terms exhausted")
	}
	k, err := randomKey()
	if err != nil {
		(&keyring{keys: keys}).destroy()
		return nil, err
	}
	keys[top+1] = k
	return newKeyring(top+1, keys)
}

type wrapperBox struct{ w Wrapper }

// Barrier encrypts values on their way to storage and implements
// storage.Backend over plaintext. It is safe for concurrent use.
type Barrier struct {
	backend storage.Backend
	kr      atomic.Pointer[keyring] // nil while sealed
	closed  atomic.Bool
	// shared is set when other processes write to the same backend (it
	// implements storage.Watcher): writes then check the stored terms.
	shared bool

	// krMu orders installing and destroying keyrings against reading their
	// key bytes. It is held briefly and never across I/O.
	krMu sync.Mutex

	// opMu serializes the calls that read or write the stored keyring
	// (Initialize, Unseal, Rotate, Rewrap), which call the Wrapper and
	// storage. Seal does not take it.
	opMu sync.Mutex
	// stored is the wrapped keyring as last read or written; guarded by opMu.
	stored []byte
	// wrapper is the Wrapper that last opened or stored the keyring (set
	// under opMu, cleared by Seal), which Reencrypt wraps the pruned
	// keyring with: so a rekey or seal migration that ran meanwhile is
	// never undone.
	wrapper atomic.Pointer[wrapperBox]
	// retired are keyrings replaced by a newer one that writes may still be
	// sealing under; guarded by krMu. Reencrypt waits for their writers.
	retired []*keyring
}

var _ storage.Backend = (*Barrier)(nil)

// New returns a sealed Barrier over backend. The Barrier owns backend and
// closes it on Close.
// A backend that implements storage.Watcher is taken to be shared with
// other processes (see "Several processes on one store").
func New(backend storage.Backend) *Barrier {
	_, shared := backend.(storage.Watcher)
	return &Barrier{backend: backend, shared: shared}
}

// Initialized reports whether storage holds a keyring.
func (b *Barrier) Initialized(ctx context.Context) (bool, error) {
	_, err := b.backend.Get(ctx, keyringPath)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil
}

// Initialize creates a fresh keyring (term 1: 32 random bytes from
// crypto/rand), stores it wrapped by w, and leaves the barrier unsealed. It
// returns ErrAlreadyInitialized, changing nothing, if a keyring exists.
func (b *Barrier) Initialize(ctx context.Context, w Wrapper) error {
	return b.InitializeWithSealConfig(ctx, w, nil)
}

// InitializeWithSealConfig is Initialize that also stores sealConfig
// (unencrypted, at SealConfigPath) in the same transaction as the keyring;
// a nil sealConfig leaves that path alone.
func (b *Barrier) InitializeWithSealConfig(ctx context.Context, w Wrapper, sealConfig []byte) error {
	b.opMu.Lock()
	defer b.opMu.Unlock()
	key, err := randomKey()
	if err != nil {
		return err
	}
	kr, err := newKeyring(1, map[uint32][]byte{1: key})
	if err != nil {
		return err
	}
	enc := kr.encode()
	defer clear(enc)
	wrapped, err := wrap(ctx, w, enc)
	if err != nil {
		kr.destroy()
		return err
	}
	err = b.backend.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, keyringPath); err == nil {
			return ErrAlreadyInitialized
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if sealConfig != nil {
			if err := tx.Put(ctx, SealConfigPath, sealConfig); err != nil {
				return err
			}
		}
		if err := tx.Put(ctx, termsPath, kr.terms); err != nil {
			return err
		}
		return tx.Put(ctx, keyringPath, wrapped)
	})
	if err != nil {
		kr.destroy()
		return err
	}
	b.stored = wrapped
	b.wrapper.Store(&wrapperBox{w})
	return b.install(kr)
}

// Unseal loads the keyring from storage and unwraps it with w. With a wrong
// wrapper it returns an error and the barrier stays as it was (sealed, if
// it was). Unsealing an unsealed barrier reloads the keyring.
func (b *Barrier) Unseal(ctx context.Context, w Wrapper) error {
	b.opMu.Lock()
	defer b.opMu.Unlock()
	wrapped, err := b.backend.Get(ctx, keyringPath)
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
	if err := b.ensureTerms(ctx, wrapped, kr); err != nil {
		kr.destroy()
		return err
	}
	b.stored = wrapped
	b.wrapper.Store(&wrapperBox{w})
	return b.install(kr)
}

// ensureTerms stores kr's terms record if storage lacks it (a keyring
// written before the record existed, or restored from such a backup),
// provided the stored keyring is still wrapped, the one kr came from.
func (b *Barrier) ensureTerms(ctx context.Context, wrapped []byte, kr *keyring) error {
	cur, err := b.backend.Get(ctx, termsPath)
	if err == nil && bytes.Equal(cur, kr.terms) {
		return nil
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return b.backend.Update(ctx, func(tx storage.Tx) error {
		stored, err := tx.Get(ctx, keyringPath)
		if err != nil {
			return err
		}
		if !bytes.Equal(stored, wrapped) {
			return errKeyringChanged
		}
		return tx.Put(ctx, termsPath, kr.terms)
	})
}

// Refresh reloads the keyring when another process sharing the backend
// changed its terms (rotated, or dropped old terms after re-encrypting),
// unwrapping it with the wrapper that last opened it. When only the
// wrapping changed (another process rekeyed or migrated the seal) it keeps
// the live keyring and changes nothing: its keys are the same. It fails
// with an error wrapping ErrKeyringUnreadable when the terms changed and
// this barrier's wrapper no longer opens the stored keyring, and with
// ErrSealed while sealed. Calling it when nothing changed costs one read.
func (b *Barrier) Refresh(ctx context.Context) error {
	b.opMu.Lock()
	defer b.opMu.Unlock()
	return b.refreshLocked(ctx)
}

func (b *Barrier) refreshLocked(ctx context.Context) error {
	box := b.wrapper.Load()
	kr, err := b.snapshot()
	if err != nil {
		return err
	}
	if box == nil {
		return ErrSealed
	}
	var wrapped, terms []byte
	err = b.backend.Update(ctx, func(tx storage.Tx) error {
		var err error
		if wrapped, err = tx.Get(ctx, keyringPath); err != nil {
			return err
		}
		terms, err = tx.Get(ctx, termsPath)
		if errors.Is(err, storage.ErrNotFound) {
			terms, err = nil, nil
		}
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotInitialized
	}
	if err != nil {
		return err
	}
	if bytes.Equal(terms, kr.terms) {
		return nil
	}
	enc, err := box.w.Unwrap(ctx, wrapped)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKeyringUnreadable, err)
	}
	defer clear(enc)
	next, err := decodeKeyring(enc)
	if err != nil {
		return err
	}
	if terms == nil {
		if err := b.ensureTerms(ctx, wrapped, next); err != nil {
			next.destroy()
			return err
		}
	}
	b.stored = wrapped
	return b.install(next)
}

// CheckWrapper reports whether w opens the stored keyring (nil) or not
// (an error), changing nothing. Rekey uses it to authenticate the current
// unseal shares.
func (b *Barrier) CheckWrapper(ctx context.Context, w Wrapper) error {
	wrapped, err := b.backend.Get(ctx, keyringPath)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrNotInitialized
	}
	if err != nil {
		return err
	}
	enc, err := w.Unwrap(ctx, wrapped)
	clear(enc)
	if err != nil {
		return fmt.Errorf("barrier: unwrap keyring: %w", err)
	}
	return nil
}

// install makes kr the live keyring, destroying the one it replaces.
func (b *Barrier) install(kr *keyring) error {
	b.krMu.Lock()
	defer b.krMu.Unlock()
	if b.closed.Load() {
		kr.destroy()
		return storage.ErrClosed
	}
	if old := b.kr.Swap(kr); old != nil {
		old.destroy()
		// Keyrings no write uses any more need no waiting for: drop them,
		// so that a node following many rotations keeps no old AEADs. A
		// writer that raises the count later finds its keyring replaced
		// and retries (acquire).
		b.retired = slices.DeleteFunc(b.retired, func(k *keyring) bool { return k.writers.Load() == 0 })
		b.retired = append(b.retired, old)
	}
	return nil
}

// Seal zeroes the keyring's key bytes in memory; every data call then
// returns ErrSealed until Unseal. It never blocks on storage or a Wrapper.
func (b *Barrier) Seal() {
	b.krMu.Lock()
	defer b.krMu.Unlock()
	if old := b.kr.Swap(nil); old != nil {
		old.destroy()
	}
	b.retired = nil
	b.wrapper.Store(nil)
}

// Sealed reports whether the barrier is sealed.
func (b *Barrier) Sealed() bool { return b.kr.Load() == nil }

// Rotate adds a new keyring term, stores the keyring wrapped by w (normally
// the seal in use) and, once that write is durable, makes the new term seal
// all new writes. Values sealed under older terms still open. If the
// barrier is sealed while Rotate runs, the new term is stored but takes
// effect only at the next Unseal, and Rotate returns ErrSealed.
func (b *Barrier) Rotate(ctx context.Context, w Wrapper) (term uint32, err error) {
	b.opMu.Lock()
	defer b.opMu.Unlock()
	b.krMu.Lock()
	cur, err := b.snapshot()
	var next *keyring
	if err == nil {
		next, err = cur.withNewTerm()
	}
	b.krMu.Unlock()
	if err != nil {
		return 0, err
	}
	enc := next.encode()
	defer clear(enc)
	if err := b.store(ctx, w, enc, next.terms, nil); err != nil {
		next.destroy()
		return 0, err
	}
	b.krMu.Lock()
	defer b.krMu.Unlock()
	if !b.kr.CompareAndSwap(cur, next) {
		next.destroy()
		return 0, ErrSealed
	}
	cur.destroy()
	b.retired = append(b.retired, cur)
	return next.active, nil
}

// Terms reports the live keyring's active term and how many terms it holds
// (more than one while values sealed under older terms may remain).
func (b *Barrier) Terms() (active uint32, count int, err error) {
	kr, err := b.snapshot()
	if err != nil {
		return 0, 0, err
	}
	return kr.active, len(kr.aeads), nil
}

// reencryptPage is how many values Reencrypt re-seals per transaction.
const reencryptPage = 128

// Reencrypt completes a rotation without downtime: it waits until no write
// that sealed under a replaced keyring is still in flight, re-seals (in
// small transactions, concurrently with normal traffic) every stored value
// whose term is not the active one, and finally, in one transaction that
// re-checks every value, stores the keyring wrapped by w with only the
// active term and installs it. The pruned keyring is wrapped by the wrapper
// that last opened or stored the keyring, so a rekey or seal migration made
// meanwhile stands. Until that last step every older term stays, so every
// value opens throughout. It returns how many values it re-sealed. Run it
// after Rotate; running it with nothing to do is cheap.
func (b *Barrier) Reencrypt(ctx context.Context) (int, error) {
	if err := b.drainRetired(ctx); err != nil {
		return 0, err
	}
	n, refreshed := 0, 0
	after := ""
	for {
		kr, err := b.snapshot()
		if err != nil {
			return n, err
		}
		ents, err := b.backend.List(ctx, "", after, reencryptPage)
		if err != nil {
			return n, err
		}
		var stale []string
		for _, e := range ents {
			if !reserved(e.Key) && staleTerm(e.Value, kr.active) {
				stale = append(stale, e.Key)
			}
		}
		if len(stale) > 0 {
			err := b.backend.Update(ctx, func(stx storage.Tx) error {
				kr, err := b.snapshot()
				if err != nil {
					return err
				}
				if err := b.checkTerms(ctx, stx, kr); err != nil {
					return err
				}
				_, err = resealWith(ctx, stx, kr, stale)
				return err
			})
			if errors.Is(err, errStaleTerms) && refreshed < staleRetries {
				// Another process rotated meanwhile: follow it and go on
				// (prune re-checks every value anyway).
				refreshed++
				if err := b.Refresh(ctx); err != nil {
					return n, fmt.Errorf("barrier: re-encrypt: %w", err)
				}
				continue
			}
			if err != nil {
				return n, fmt.Errorf("barrier: re-encrypt: %w", err)
			}
			n += len(stale)
		}
		if len(ents) < reencryptPage {
			break
		}
		after = ents[len(ents)-1].Key
	}
	m, err := b.prune(ctx)
	return n + m, err
}

// drainRetired waits until no write sealing under a replaced keyring is in
// flight. Writes started later see the current keyring.
func (b *Barrier) drainRetired(ctx context.Context) error {
	for {
		b.krMu.Lock()
		var busy int64
		for _, kr := range b.retired {
			busy += kr.writers.Load()
		}
		if busy == 0 {
			b.retired = nil
		}
		b.krMu.Unlock()
		if busy == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// staleTerm reports whether a stored value is sealed under a term other
// than active. Values too short to carry a header are left to Get to refuse.
func staleTerm(sealed []byte, active uint32) bool {
	return len(sealed) >= headerLen && sealed[0] == valueVersion && binary.BigEndian.Uint32(sealed[1:]) != active
}

// resealWith re-reads each path inside stx and re-seals it under kr's
// active term if it is still under another one. It returns how many it
// re-sealed; paths deleted meanwhile are skipped.
func resealWith(ctx context.Context, stx storage.Tx, kr *keyring, paths []string) (int, error) {
	n := 0
	for _, p := range paths {
		raw, err := stx.Get(ctx, p)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		if !staleTerm(raw, kr.active) {
			continue
		}
		pt, err := open(kr, p, raw)
		if err != nil {
			return n, err
		}
		sealed, err := seal(kr, p, pt)
		clear(pt)
		if err != nil {
			return n, err
		}
		if err := stx.Put(ctx, p, sealed); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// acquire returns the live keyring with its writer count raised, for a
// write that seals under it; the caller calls release(kr) when the write
// has committed or failed. The count is raised before the keyring is
// re-checked, so drainRetired never misses a writer of a replaced keyring.
func (b *Barrier) acquire() (*keyring, error) {
	for {
		kr, err := b.snapshot()
		if err != nil {
			return nil, err
		}
		kr.writers.Add(1)
		if b.kr.Load() == kr {
			return kr, nil
		}
		kr.writers.Add(-1)
	}
}

func release(kr *keyring) { kr.writers.Add(-1) }

// prune drops every term but the active one from the stored and the live
// keyring, after re-sealing (inside the same transaction) any value still
// under an older term.
func (b *Barrier) prune(ctx context.Context) (int, error) {
	b.opMu.Lock()
	defer b.opMu.Unlock()
	box := b.wrapper.Load()
	if box == nil {
		return 0, ErrSealed
	}
	w := box.w
	b.krMu.Lock()
	cur, err := b.snapshot()
	var next *keyring
	if err == nil && len(cur.keys) > 1 {
		next, err = newKeyring(cur.active, map[uint32][]byte{cur.active: bytes.Clone(cur.keys[cur.active])})
	}
	b.krMu.Unlock()
	if err != nil || next == nil {
		return 0, err
	}
	enc := next.encode()
	defer clear(enc)
	wrapped, err := wrap(ctx, w, enc)
	if err != nil {
		next.destroy()
		return 0, err
	}
	var n int
	err = b.backend.Update(ctx, func(stx storage.Tx) error {
		n = 0
		stored, err := stx.Get(ctx, keyringPath)
		if err != nil {
			return err
		}
		if !bytes.Equal(stored, b.stored) {
			return errKeyringChanged
		}
		after := ""
		for {
			ents, err := stx.List(ctx, "", after, reencryptPage)
			if err != nil {
				return err
			}
			var stale []string
			for _, e := range ents {
				if !reserved(e.Key) && staleTerm(e.Value, cur.active) {
					stale = append(stale, e.Key)
				}
			}
			m, err := resealWith(ctx, stx, cur, stale)
			if err != nil {
				return err
			}
			n += m
			if len(ents) < reencryptPage {
				break
			}
			after = ents[len(ents)-1].Key
		}
		if err := stx.Put(ctx, termsPath, next.terms); err != nil {
			return err
		}
		return stx.Put(ctx, keyringPath, wrapped)
	})
	if err != nil {
		next.destroy()
		return 0, fmt.Errorf("barrier: prune keyring: %w", err)
	}
	b.stored = wrapped
	b.krMu.Lock()
	defer b.krMu.Unlock()
	if !b.kr.CompareAndSwap(cur, next) {
		next.destroy()
		return n, ErrSealed
	}
	cur.destroy()
	return n, nil
}

// Rewrap re-stores the keyring wrapped by w instead of the current wrapper
// (rekey, or migration to another seal); values are untouched. Afterwards
// only w unseals.
func (b *Barrier) Rewrap(ctx context.Context, w Wrapper) error {
	return b.RewrapWithSealConfig(ctx, w, nil)
}

// RewrapWithSealConfig is Rewrap that also replaces the seal-config record
// in the same transaction, so the record always describes the wrapper that
// opens the stored keyring; a nil sealConfig leaves it alone.
func (b *Barrier) RewrapWithSealConfig(ctx context.Context, w Wrapper, sealConfig []byte) error {
	b.opMu.Lock()
	defer b.opMu.Unlock()
	b.krMu.Lock()
	cur, err := b.snapshot()
	var enc []byte
	if err == nil {
		enc = cur.encode()
	}
	b.krMu.Unlock()
	if err != nil {
		return err
	}
	defer clear(enc)
	return b.store(ctx, w, enc, cur.terms, sealConfig)
}

// SealConfig returns the stored seal-config record, or an error wrapping
// storage.ErrNotFound. It works while sealed.
func (b *Barrier) SealConfig(ctx context.Context) ([]byte, error) {
	return b.backend.Get(ctx, SealConfigPath)
}

// wrap wraps the encoded keyring and checks w can unwrap it again, so a
// faulty seal is caught before its output replaces a working keyring.
func wrap(ctx context.Context, w Wrapper, enc []byte) ([]byte, error) {
	wrapped, err := w.Wrap(ctx, enc)
	if err != nil {
		return nil, fmt.Errorf("barrier: wrap keyring: %w", err)
	}
	back, err := w.Unwrap(ctx, wrapped)
	ok := err == nil && subtle.ConstantTimeCompare(back, enc) == 1
	clear(back)
	if !ok {
		return nil, errWrapperRoundTrip
	}
	return wrapped, nil
}

// store wraps enc with w and replaces the stored keyring (and, when not nil,
// the seal config), provided it is still the one this barrier last saw.
// b.opMu must be held.
func (b *Barrier) store(ctx context.Context, w Wrapper, enc, terms, sealConfig []byte) error {
	wrapped, err := wrap(ctx, w, enc)
	if err != nil {
		return err
	}
	err = b.backend.Update(ctx, func(tx storage.Tx) error {
		cur, err := tx.Get(ctx, keyringPath)
		if errors.Is(err, storage.ErrNotFound) {
			return ErrNotInitialized
		}
		if err != nil {
			return err
		}
		if !bytes.Equal(cur, b.stored) {
			return errKeyringChanged
		}
		if sealConfig != nil {
			if err := tx.Put(ctx, SealConfigPath, sealConfig); err != nil {
				return err
			}
		}
		if err := tx.Put(ctx, termsPath, terms); err != nil {
			return err
		}
		return tx.Put(ctx, keyringPath, wrapped)
	})
	if err != nil {
		return err
	}
	b.stored = wrapped
	b.wrapper.Store(&wrapperBox{w})
	return nil
}

// snapshot returns the live keyring, or why there is none.
func (b *Barrier) snapshot() (*keyring, error) {
	if b.closed.Load() {
		return nil, storage.ErrClosed
	}
	kr := b.kr.Load()
	if kr == nil {
		return nil, ErrSealed
	}
	return kr, nil
}

// aad is the GCM additional data: the value's header, then its path.
func aad(header []byte, path string) []byte {
	return append(append(make([]byte, 0, headerLen+len(path)), header[:headerLen]...), path...)
}

// seal returns the sealed form of plaintext for path under the active term.
func seal(kr *keyring, path string, plaintext []byte) ([]byte, error) {
	out := make([]byte, headerLen+nonceLen, overhead+len(plaintext))
	out[0] = valueVersion
	binary.BigEndian.PutUint32(out[1:], kr.active)
	if _, err := rand.Read(out[headerLen:]); err != nil {
		return nil, err
	}
	return kr.aeads[kr.active].Seal(out, out[headerLen:], plaintext, aad(out, path)), nil
}

// open authenticates and decrypts a sealed value read from path. It
// decrypts in place, so sealed must be owned by the caller. It never
// returns plaintext with an error.
func open(kr *keyring, path string, sealed []byte) ([]byte, error) {
	if len(sealed) < overhead {
		return nil, fmt.Errorf("%w: %s: %d bytes is too short", ErrCorrupt, path, len(sealed))
	}
	if sealed[0] != valueVersion {
		return nil, fmt.Errorf("%w: %s: unknown format version %d", ErrCorrupt, path, sealed[0])
	}
	term := binary.BigEndian.Uint32(sealed[1:])
	aead, ok := kr.aeads[term]
	if !ok {
		if term > kr.active {
			return nil, fmt.Errorf("%w: %w: %s: keyring term %d", ErrCorrupt, errNewerTerm, path, term)
		}
		return nil, fmt.Errorf("%w: %s: unknown keyring term %d", ErrCorrupt, path, term)
	}
	ct := sealed[headerLen+nonceLen:]
	pt, err := aead.Open(ct[:0], sealed[headerLen:headerLen+nonceLen], ct, aad(sealed, path))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, path)
	}
	return pt, nil
}

// Get implements storage.Reader: it returns the opened value at path.
func (b *Barrier) Get(ctx context.Context, path string) ([]byte, error) {
	v, err := (&tx{b: b, r: b.backend, w: b.backend}).Get(ctx, path)
	if b.shared && errors.Is(err, errNewerTerm) && b.Refresh(ctx) == nil {
		// Another process rotated and this one has not heard yet.
		v, err = (&tx{b: b, r: b.backend, w: b.backend}).Get(ctx, path)
	}
	return v, err
}

// List implements storage.Reader with opened values. Reserved paths are
// never listed, and a prefix inside them is refused.
func (b *Barrier) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	ents, err := (&tx{b: b, r: b.backend, w: b.backend}).List(ctx, prefix, after, limit)
	if b.shared && errors.Is(err, errNewerTerm) && b.Refresh(ctx) == nil {
		ents, err = (&tx{b: b, r: b.backend, w: b.backend}).List(ctx, prefix, after, limit)
	}
	return ents, err
}

// Put implements storage.Writer: it seals value for path under the active
// term and stores it durably.
func (b *Barrier) Put(ctx context.Context, path string, value []byte) error {
	if b.shared && !reserved(path) {
		// Through a transaction, for the terms check.
		return b.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, path, value) })
	}
	return (&tx{b: b, r: b.backend, w: b.backend}).Put(ctx, path, value)
}

// Delete implements storage.Writer.
func (b *Barrier) Delete(ctx context.Context, path string) error {
	return (&tx{b: b, r: b.backend, w: b.backend}).Delete(ctx, path)
}

// Update implements storage.Backend: fn reads and writes plaintext through
// tx, storage sees sealed values, all in one storage transaction with the
// storage's guarantees (including that fn may run more than once). If the
// barrier is sealed while fn runs, tx calls fail with ErrSealed and nothing
// is written unless fn ignores that.
func (b *Barrier) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	if !b.shared {
		return b.update(ctx, fn)
	}
	for attempt := 0; ; attempt++ {
		err := b.update(ctx, fn)
		if !errors.Is(err, errStaleTerms) || attempt == staleRetries {
			return err
		}
		if err := b.Refresh(ctx); err != nil {
			return err
		}
	}
}

// update is one attempt of Update. Over a shared backend the transaction
// first checks that the stored terms are those of the keyring it seals
// under, and fails with errStaleTerms when they are not.
func (b *Barrier) update(ctx context.Context, fn func(tx storage.Tx) error) error {
	// Counted for the whole transaction: every Put inside seals under this
	// keyring or a newer one.
	kr, err := b.acquire()
	if err != nil {
		return err
	}
	defer release(kr)
	return b.backend.Update(ctx, func(stx storage.Tx) error {
		if b.shared {
			if err := b.checkTerms(ctx, stx, kr); err != nil {
				return err
			}
		}
		return fn(&tx{b: b, r: stx, w: stx, inUpdate: true})
	})
}

// checkTerms fails with errStaleTerms unless the stored terms record is
// kr's, or kr is no longer the live keyring (its writes would seal under
// an older term than the live one). Read first in the transaction, it
// also fixes the transaction's snapshot after the keyring it names.
func (b *Barrier) checkTerms(ctx context.Context, stx storage.Tx, kr *keyring) error {
	stored, err := stx.Get(ctx, termsPath)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	if err != nil || !bytes.Equal(stored, kr.terms) {
		return errStaleTerms
	}
	return nil
}

// Close seals the barrier and closes the storage under it. It is safe to
// call more than once.
func (b *Barrier) Close() error {
	b.closed.Store(true)
	b.Seal()
	return b.backend.Close()
}

// tx seals and opens values around a storage reader and writer: the
// backend itself outside Update, a storage.Tx inside it.
type tx struct {
	b *Barrier
	r storage.Reader
	w storage.Writer
	// inUpdate is set inside Barrier.Update, which already counts the
	// transaction as a writer.
	inUpdate bool
}

func (t *tx) Get(ctx context.Context, path string) ([]byte, error) {
	if reserved(path) {
		return nil, fmt.Errorf("%w: %s", ErrReserved, path)
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
	if reserved(prefix) {
		return nil, fmt.Errorf("%w: %s", ErrReserved, prefix)
	}
	kr, err := t.b.snapshot()
	if err != nil {
		return nil, err
	}
	var out []storage.Entry
	for {
		want := 0
		if limit > 0 {
			want = limit - len(out)
		}
		ents, err := t.r.List(ctx, prefix, after, want)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if reserved(e.Key) {
				continue
			}
			pt, err := open(kr, e.Key, e.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, storage.Entry{Key: e.Key, Value: pt})
		}
		// A full page that contained reserved entries leaves the caller
		// short: read on from where storage stopped.
		if limit <= 0 || len(out) >= limit || len(ents) < want {
			return out, nil
		}
		after = ents[len(ents)-1].Key
	}
}

func (t *tx) Put(ctx context.Context, path string, value []byte) error {
	if reserved(path) {
		return fmt.Errorf("%w: %s", ErrReserved, path)
	}
	var kr *keyring
	var err error
	if t.inUpdate {
		kr, err = t.b.snapshot()
	} else {
		kr, err = t.b.acquire()
		if err == nil {
			defer release(kr)
		}
	}
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
	if reserved(path) {
		return fmt.Errorf("%w: %s", ErrReserved, path)
	}
	if _, err := t.b.snapshot(); err != nil {
		return err
	}
	return t.w.Delete(ctx, path)
}
