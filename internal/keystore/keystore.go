// Package keystore keeps KMS keys, their versions of material and their
// aliases on top of the barrier, and caches unwrapped material and metadata
// in memory so that cryptographic operations do no storage read.
//
// It knows nothing of HTTP, requests or AWS error codes; it returns the
// sentinel errors below. It imports storage (for the interface it consumes)
// and kmscrypto (for material), never a service or transport package.
package keystore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/storage"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: no such key, version or alias.
	ErrNotFound = errors.New("keystore: not found")
	// ErrExists: the key or alias already exists.
	ErrExists = errors.New("keystore: already exists")
	// ErrNotDue: a conditional Destroy found the key not (or no longer) due.
	ErrNotDue = errors.New("keystore: not due")
)

// Backend is what the keystore needs from the barrier: sealed reads, writes
// and transactions. The barrier's *Barrier implements it.
type Backend interface {
	storage.Reader
	storage.Writer
	Update(ctx context.Context, fn func(tx storage.Tx) error) error
}

// State is a key state, spelled as AWS's KeyState enum.
type State string

// Key states.
const (
	Enabled                State = "Enabled"
	Disabled               State = "Disabled"
	PendingDeletion        State = "PendingDeletion"
	PendingImport          State = "PendingImport"
	PendingReplicaDeletion State = "PendingReplicaDeletion"
	Unavailable            State = "Unavailable"
	Creating               State = "Creating"
	Updating               State = "Updating"
)

// Tag is a key tag.
type Tag struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

// Version describes one generation of a key's material. The material itself
// is stored separately so metadata reads never touch it.
type Version struct {
	Number  uint32    `json:"n"`
	Created time.Time `json:"c"`
	// Rotation is how the version came to be: "" for a key's first
	// material, else AWS's RotationType (AUTOMATIC or ON_DEMAND).
	Rotation string `json:"r,omitempty"`
	// MaterialID is the version's KeyMaterialId: 64 random hex digits,
	// independent of the material.
	MaterialID string `json:"mid,omitempty"`
}

// Key is a KMS key's metadata. A *Key returned by the store is a shared,
// immutable snapshot: callers must not modify it; Update hands fn a copy.
type Key struct {
	ID                  string            `json:"id"`
	Account             string            `json:"account"`
	Region              string            `json:"region"`
	Description         string            `json:"description,omitempty"`
	Spec                kmscrypto.KeySpec `json:"spec"`
	Usage               string            `json:"usage"`
	State               State             `json:"state"`
	Origin              string            `json:"origin"`
	Manager             string            `json:"manager"`
	Created             time.Time         `json:"created"`
	DeletionDate        time.Time         `json:"deletionDate,omitzero"`
	PendingWindowInDays int               `json:"pendingWindow,omitempty"`
	MultiRegion         bool              `json:"multiRegion,omitempty"`
	Policy              string            `json:"policy"`
	Tags                []Tag             `json:"tags,omitempty"`
	Versions            []Version         `json:"versions"`
	// Current is the version that new encryptions use.
	Current uint32 `json:"current"`
	// RotationPeriodInDays is non-zero while automatic rotation is enabled.
	RotationPeriodInDays int `json:"rotationPeriod,omitempty"`
	// NextRotation is when the scheduler next rotates the key.
	NextRotation time.Time `json:"nextRotation,omitzero"`
	// OnDemandRotations counts RotateKeyOnDemand calls, against AWS's quota.
	OnDemandRotations int `json:"onDemandRotations,omitempty"`
	// ExpirationModel is the imported material's AWS ExpirationModel
	// (Origin EXTERNAL keys once material was imported), and ValidTo when it
	// expires (zero if it does not).
	ExpirationModel string    `json:"expirationModel,omitempty"`
	ValidTo         time.Time `json:"validTo,omitzero"`
	// MultiRegionType is MultiRegionPrimary or MultiRegionReplica for a
	// multi-Region key, "" for a single-Region one.
	MultiRegionType string `json:"mrkType,omitempty"`
	// PrimaryRegion and ReplicaRegions (sorted) name the regions of the set
	// of related multi-Region keys this key belongs to. Every key of the set
	// carries the same copy; once the primary is created, only the set
	// operations (UpdateSet, AddSharedVersion, Replicate, DestroyInSet)
	// change them, on all keys in one transaction, so the copies never
	// disagree.
	PrimaryRegion  string   `json:"primaryRegion,omitempty"`
	ReplicaRegions []string `json:"replicaRegions,omitempty"`
}

// CurrentVersion returns the version new encryptions use.
func (k *Key) CurrentVersion() Version {
	for _, v := range k.Versions {
		if v.Number == k.Current {
			return v
		}
	}
	return Version{}
}

// Clone returns a deep copy of k.
func (k *Key) Clone() *Key {
	c := *k
	c.Tags = append([]Tag(nil), k.Tags...)
	c.Versions = append([]Version(nil), k.Versions...)
	c.ReplicaRegions = append([]string(nil), k.ReplicaRegions...)
	return &c
}

// Alias is a friendly name for a key.
type Alias struct {
	Name        string    `json:"name"` // "alias/..."
	Account     string    `json:"account"`
	Region      string    `json:"region"`
	TargetKeyID string    `json:"target"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

// Store is the keystore. It is safe for concurrent use.
type Store struct {
	b Backend

	// writeMu serializes writes so that the order in which the cache is
	// refreshed matches the order in which storage committed.
	writeMu sync.Mutex
	keys    sync.Map // cacheKey -> *entry
	aliases sync.Map // aliasPath -> *Alias
	// grants caches each key's grants, including the empty set, so that
	// authorizing a key without grants is one map lookup. A plain map under
	// a read lock rather than a sync.Map because its struct key makes the
	// lookup allocation-free; it is written only under writeMu.
	grantsMu sync.RWMutex
	grants   map[grantKey]*GrantSet

	// Invalidation from other nodes (Forget, ForgetAll, InvalidatePath)
	// bumps gen under invMu's write lock. A read miss notes gen before it
	// reads storage and installs what it read, under invMu's read lock,
	// only if gen is unchanged: a snapshot read before another node's
	// change is never cached after the notice of that change. The hit path
	// takes neither.
	invMu sync.RWMutex
	gen   atomic.Uint64
	// gate is asked before serving keys, aliases or grants: a node that
	// has lost sight of the other nodes' changes for too long refuses
	// rather than serve what may be stale (SetGate).
	gate storage.Gate

	// keyAliases caches each key's alias names (see KeyAliases); written
	// only under writeMu.
	keyAliasMu sync.RWMutex
	keyAliases map[grantKey][]string
}

// SetGate installs fn, called on every key, alias, grant and key-alias
// lookup; when it returns an error the lookup fails with it. The server
// passes storage.Fresh when several nodes share storage.
func (s *Store) SetGate(fn func() error) { s.gate.Set(fn) }

func (s *Store) gated() error { return s.gate.Check() }

// cacheIf runs install under invMu's read lock when no invalidation
// happened since gen was noted, and reports whether it did.
func (s *Store) cacheIf(gen uint64, install func()) bool {
	s.invMu.RLock()
	defer s.invMu.RUnlock()
	if s.gen.Load() != gen {
		return false
	}
	install()
	return true
}

// entry caches one key: its metadata snapshot and unwrapped material.
type entry struct {
	key  *Key
	mu   sync.Mutex
	mats map[uint32]*kmscrypto.Key
}

// New returns a Store over b.
func New(b Backend) *Store { return &Store{b: b, grants: map[grantKey]*GrantSet{}} }

func keyPath(account, region, id string) string {
	return "kms/" + account + "/" + region + "/key/" + id
}

func matPrefix(account, region, id string) string {
	return "kms/" + account + "/" + region + "/mat/" + id + "/"
}

func matPath(account, region, id string, v uint32) string {
	return fmt.Sprintf("%s%010d", matPrefix(account, region, id), v)
}

func importPrefix(account, region, id string) string {
	return "kms/" + account + "/" + region + "/import/" + id + "/"
}

func aliasPrefix(account, region string) string {
	return "kms/" + account + "/" + region + "/alias/"
}

func aliasPath(account, region, name string) string {
	return aliasPrefix(account, region) + strings.TrimPrefix(name, "alias/")
}

// Create stores a new key with material as its version 1, atomically.
func (s *Store) Create(ctx context.Context, k *Key, material *kmscrypto.Key) error {
	k = k.Clone()
	now := k.Created
	if len(k.Versions) == 0 && material != nil {
		mid, err := newMaterialID()
		if err != nil {
			return err
		}
		k.Versions = []Version{{Number: 1, Created: now, MaterialID: mid}}
		k.Current = 1
	}
	rec, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("keystore: encode key: %w", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err = s.b.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, keyPath(k.Account, k.Region, k.ID)); err == nil {
			return ErrExists
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if material != nil {
			// The barrier has sealed its copy once Put returns: wipe the
			// plaintext encoding rather than leave it to the GC.
			raw := material.Marshal()
			err := tx.Put(ctx, matPath(k.Account, k.Region, k.ID, 1), raw)
			clear(raw)
			if err != nil {
				return err
			}
		}
		return tx.Put(ctx, keyPath(k.Account, k.Region, k.ID), rec)
	})
	if err != nil {
		return fmt.Errorf("keystore: create key: %w", err)
	}
	e := &entry{key: k, mats: map[uint32]*kmscrypto.Key{}}
	if material != nil {
		e.mats[1] = material
	}
	s.keys.Store(keyPath(k.Account, k.Region, k.ID), e)
	return nil
}

// Get returns the key's metadata snapshot, or ErrNotFound.
func (s *Store) Get(ctx context.Context, account, region, id string) (*Key, error) {
	e, err := s.load(ctx, account, region, id)
	if err != nil {
		return nil, err
	}
	return e.key, nil
}

func (s *Store) load(ctx context.Context, account, region, id string) (*entry, error) {
	if err := s.gated(); err != nil {
		return nil, err
	}
	p := keyPath(account, region, id)
	if v, ok := s.keys.Load(p); ok {
		return v.(*entry), nil
	}
	gen := s.gen.Load()
	raw, err := s.b.Get(ctx, p)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: read key: %w", err)
	}
	k := new(Key)
	if err := json.Unmarshal(raw, k); err != nil {
		return nil, fmt.Errorf("keystore: decode key %s: %w", id, err)
	}
	// LoadOrStore: a concurrent writer's fresher snapshot wins over ours.
	var e *entry = &entry{key: k, mats: map[uint32]*kmscrypto.Key{}}
	s.cacheIf(gen, func() {
		v, _ := s.keys.LoadOrStore(p, e)
		e = v.(*entry)
	})
	return e, nil
}

// Update applies fn to a copy of the key and stores the result atomically.
// If fn returns an error nothing is written and that error is returned.
func (s *Store) Update(ctx context.Context, account, region, id string, fn func(k *Key) error) (*Key, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var updated *Key
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		k, err := s.updateTx(ctx, tx, account, region, id, fn)
		updated = k
		return err
	})
	if err != nil {
		return nil, err
	}
	s.refresh(updated)
	return updated, nil
}

// updateTx reads the key inside tx, applies fn to it and writes it back.
func (s *Store) updateTx(ctx context.Context, tx storage.Tx, account, region, id string, fn func(k *Key) error) (*Key, error) {
	k, err := readKey(ctx, tx, account, region, id)
	if err != nil {
		return nil, err
	}
	if err := fn(k); err != nil {
		return nil, err
	}
	return k, putKeys(ctx, tx, k)
}

// refresh installs just-committed snapshots of keys in the cache. Callers
// hold writeMu, so snapshots are installed in commit order, and Store (not
// LoadOrStore) makes them win over a concurrent miss that read storage
// before the commit. Unwrapped material is carried over, because a version
// never changes once written; it is copied into a new map because readers
// holding the old entry still write to the old map under the old entry's
// lock.
func (s *Store) refresh(keys ...*Key) {
	for _, k := range keys {
		p := keyPath(k.Account, k.Region, k.ID)
		mats := map[uint32]*kmscrypto.Key{}
		if v, ok := s.keys.Load(p); ok {
			old := v.(*entry)
			old.mu.Lock()
			maps.Copy(mats, old.mats)
			old.mu.Unlock()
		}
		s.keys.Store(p, &entry{key: k, mats: mats})
	}
}

// List returns up to limit keys of the account and region whose IDs sort
// after `after`, in ID order.
func (s *Store) List(ctx context.Context, account, region, after string, limit int) ([]*Key, error) {
	prefix := keyPath(account, region, "")
	start := ""
	if after != "" {
		start = prefix + after
	}
	ents, err := s.b.List(ctx, prefix, start, limit)
	if err != nil {
		return nil, fmt.Errorf("keystore: list keys: %w", err)
	}
	out := make([]*Key, 0, len(ents))
	for _, e := range ents {
		k := new(Key)
		if err := json.Unmarshal(e.Value, k); err != nil {
			return nil, fmt.Errorf("keystore: decode key %s: %w", e.Key, err)
		}
		out = append(out, k)
	}
	return out, nil
}

// Material returns the unwrapped material of version v of key k, from the
// cache when possible. The returned key is shared: callers must not Destroy it.
func (s *Store) Material(ctx context.Context, k *Key, v uint32) (*kmscrypto.Key, error) {
	e, err := s.load(ctx, k.Account, k.Region, k.ID)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	m := e.mats[v]
	e.mu.Unlock()
	if m != nil {
		return m, nil
	}
	raw, err := s.b.Get(ctx, matPath(k.Account, k.Region, k.ID, v))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: read material: %w", err)
	}
	m, err = kmscrypto.ParseKey(k.Spec, raw)
	clear(raw)
	if err != nil {
		return nil, fmt.Errorf("keystore: parse material of %s v%d: %w", k.ID, v, err)
	}
	e.mu.Lock()
	if prev := e.mats[v]; prev != nil {
		m.Destroy()
		m = prev
	} else {
		e.mats[v] = m
	}
	e.mu.Unlock()
	return m, nil
}

// newMaterialID returns 64 random hex digits, the form of AWS's KeyMaterialId.
func newMaterialID() (string, error) {
	b, err := kmscrypto.RandomBytes(32)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Destroy deletes a key, every version of its material, its grants and
// every alias that points to it, if cond (checked inside the transaction; nil means always)
// approves the key's current state. Afterwards the key is gone: Get returns
// ErrNotFound. When cond declines, Destroy returns ErrNotDue. A
// multi-Region key also leaves its set, as with DestroyInSet.
func (s *Store) Destroy(ctx context.Context, account, region, id string, cond func(k *Key) bool) error {
	return s.DestroyInSet(ctx, account, region, id, func(k *Key, _ []*Key) error {
		if cond != nil && !cond(k) {
			return ErrNotDue
		}
		return nil
	})
}

// DestroyInSet deletes a key, every version of its material, its grants
// and every alias that points to it and, in the same transaction, removes its region from
// the ReplicaRegions of the related multi-Region keys (its peers) and stores
// them. fn sees the key and its peers, with their lists already updated; it
// may change the peers (a primary key waiting for its last replica's
// deletion starts its own waiting period) or decline with ErrNotDue, in
// which case nothing is written.
func (s *Store) DestroyInSet(ctx context.Context, account, region, id string, fn func(k *Key, peers []*Key) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var removedAliases []string
	var peers []*Key
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		removedAliases = removedAliases[:0]
		k, ps, err := readSet(ctx, tx, account, region, id)
		if err != nil {
			return err
		}
		peers = ps
		for _, p := range peers {
			p.ReplicaRegions = slices.DeleteFunc(p.ReplicaRegions, func(r string) bool { return r == region })
		}
		if fn != nil {
			if err := fn(k, peers); err != nil {
				return err
			}
		}
		if err := putKeys(ctx, tx, peers...); err != nil {
			return err
		}
		if err := deleteAll(ctx, tx, matPrefix(account, region, id)); err != nil {
			return err
		}
		if err := deleteAll(ctx, tx, importPrefix(account, region, id)); err != nil {
			return err
		}
		if err := deleteKeyGrants(ctx, tx, account, region, id); err != nil {
			return err
		}
		aliases, err := tx.List(ctx, aliasPrefix(account, region), "", 0)
		if err != nil {
			return err
		}
		for _, e := range aliases {
			var a Alias
			if err := json.Unmarshal(e.Value, &a); err != nil {
				return err
			}
			if a.TargetKeyID == id {
				if err := tx.Delete(ctx, e.Key); err != nil {
					return err
				}
				removedAliases = append(removedAliases, e.Key)
			}
		}
		return tx.Delete(ctx, keyPath(account, region, id))
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNotDue) {
		return err
	}
	if err != nil {
		return fmt.Errorf("keystore: destroy key: %w", err)
	}
	s.refresh(peers...)
	s.dropGrants(account, region, id)
	if v, ok := s.keys.LoadAndDelete(keyPath(account, region, id)); ok {
		e := v.(*entry)
		e.mu.Lock()
		for _, m := range e.mats {
			m.Destroy()
		}
		e.mats = nil
		e.mu.Unlock()
	}
	for _, p := range removedAliases {
		s.aliases.Delete(p)
	}
	s.dropKeyAliases(account, region, id)
	return nil
}

// deleteAll deletes every entry under prefix.
func deleteAll(ctx context.Context, tx storage.Tx, prefix string) error {
	ents, err := tx.List(ctx, prefix, "", 0)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := tx.Delete(ctx, e.Key); err != nil {
			return err
		}
	}
	return nil
}

// Each calls fn for every key in storage, in every account and region, in
// path order. It reads storage, not the cache, so it sees other nodes' keys.
func (s *Store) Each(ctx context.Context, fn func(k *Key) error) error {
	after := ""
	for {
		ents, err := s.b.List(ctx, "kms/", after, 256)
		if err != nil {
			return fmt.Errorf("keystore: scan keys: %w", err)
		}
		for _, e := range ents {
			after = e.Key
			if !isKeyPath(e.Key) {
				continue
			}
			k := new(Key)
			if err := json.Unmarshal(e.Value, k); err != nil {
				return fmt.Errorf("keystore: decode key %s: %w", e.Key, err)
			}
			if err := fn(k); err != nil {
				return err
			}
		}
		if len(ents) < 256 {
			return nil
		}
	}
}

// isKeyPath reports whether p is kms/ACCOUNT/REGION/key/ID.
func isKeyPath(p string) bool {
	parts := strings.Split(p, "/")
	return len(parts) == 5 && parts[3] == "key"
}

// Forget drops the cached state of a key (metadata, material, grants) so
// the next read goes to storage. A node calls it when it learns of a change
// another node made.
func (s *Store) Forget(account, region, id string) {
	s.invMu.Lock()
	defer s.invMu.Unlock()
	s.gen.Add(1)
	s.keys.Delete(keyPath(account, region, id))
	s.dropGrants(account, region, id)
	s.dropKeyAliases(account, region, id)
}

// ForgetAll drops every cached key, alias and grant set, for when changes
// made elsewhere may have been missed.
func (s *Store) ForgetAll() {
	s.invMu.Lock()
	defer s.invMu.Unlock()
	s.gen.Add(1)
	s.keys.Clear()
	s.aliases.Clear()
	s.grantsMu.Lock()
	clear(s.grants)
	s.grantsMu.Unlock()
	s.dropAllKeyAliases()
}

// InvalidatePath drops what the store cached from the storage key p, which
// another node changed: a key's metadata, material, grants or import
// parameters forget the key; an alias forgets the alias. Other paths are
// not the keystore's and are ignored.
func (s *Store) InvalidatePath(p string) {
	parts := strings.SplitN(p, "/", 5) // kms ACCOUNT REGION KIND REST
	if len(parts) != 5 || parts[0] != "kms" {
		return
	}
	account, region, rest := parts[1], parts[2], parts[4]
	switch parts[3] {
	case "key", "mat", "grant", "import":
		id, _, _ := strings.Cut(rest, "/")
		s.Forget(account, region, id)
	case "alias":
		s.invMu.Lock()
		defer s.invMu.Unlock()
		s.gen.Add(1)
		s.aliases.Delete(aliasPrefix(account, region) + rest)
		s.dropAllKeyAliases()
	}
}

// CreateAlias stores a new alias, or returns ErrExists.
func (s *Store) CreateAlias(ctx context.Context, a *Alias) error {
	rec, err := json.Marshal(a)
	if err != nil {
		return err
	}
	p := aliasPath(a.Account, a.Region, a.Name)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	err = s.b.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, p); err == nil {
			return ErrExists
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		return tx.Put(ctx, p, rec)
	})
	if err != nil {
		return err
	}
	c := *a
	s.aliases.Store(p, &c)
	s.dropKeyAliases(a.Account, a.Region, a.TargetKeyID)
	return nil
}

// GetAlias returns the alias, or ErrNotFound.
func (s *Store) GetAlias(ctx context.Context, account, region, name string) (*Alias, error) {
	if err := s.gated(); err != nil {
		return nil, err
	}
	p := aliasPath(account, region, name)
	if v, ok := s.aliases.Load(p); ok {
		return v.(*Alias), nil
	}
	gen := s.gen.Load()
	raw, err := s.b.Get(ctx, p)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: read alias: %w", err)
	}
	a := new(Alias)
	if err := json.Unmarshal(raw, a); err != nil {
		return nil, fmt.Errorf("keystore: decode alias: %w", err)
	}
	s.cacheIf(gen, func() {
		v, _ := s.aliases.LoadOrStore(p, a)
		a = v.(*Alias)
	})
	return a, nil
}

// UpdateAlias points an existing alias at a new key.
func (s *Store) UpdateAlias(ctx context.Context, account, region, name, target string, now time.Time) error {
	p := aliasPath(account, region, name)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var updated Alias
	var oldTarget string
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		raw, err := tx.Get(ctx, p)
		if errors.Is(err, storage.ErrNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := json.Unmarshal(raw, &updated); err != nil {
			return err
		}
		oldTarget = updated.TargetKeyID
		updated.TargetKeyID, updated.Updated = target, now
		rec, err := json.Marshal(&updated)
		if err != nil {
			return err
		}
		return tx.Put(ctx, p, rec)
	})
	if err != nil {
		return err
	}
	s.aliases.Store(p, &updated)
	s.dropKeyAliases(account, region, oldTarget, target)
	return nil
}

// DeleteAlias removes an alias, or returns ErrNotFound.
func (s *Store) DeleteAlias(ctx context.Context, account, region, name string) error {
	p := aliasPath(account, region, name)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var target string
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		raw, err := tx.Get(ctx, p)
		if errors.Is(err, storage.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		var a Alias
		if err := json.Unmarshal(raw, &a); err != nil {
			return err
		}
		target = a.TargetKeyID
		return tx.Delete(ctx, p)
	})
	if err != nil {
		return err
	}
	s.aliases.Delete(p)
	s.dropKeyAliases(account, region, target)
	return nil
}

// ListAliases returns up to limit aliases of the account and region whose
// names sort after `after` (a full "alias/..." name), in name order.
func (s *Store) ListAliases(ctx context.Context, account, region, after string, limit int) ([]*Alias, error) {
	prefix := aliasPrefix(account, region)
	start := ""
	if after != "" {
		start = aliasPath(account, region, after)
	}
	ents, err := s.b.List(ctx, prefix, start, limit)
	if err != nil {
		return nil, fmt.Errorf("keystore: list aliases: %w", err)
	}
	out := make([]*Alias, 0, len(ents))
	for _, e := range ents {
		a := new(Alias)
		if err := json.Unmarshal(e.Value, a); err != nil {
			return nil, fmt.Errorf("keystore: decode alias: %w", err)
		}
		out = append(out, a)
	}
	return out, nil
}

// Wipe destroys every cached unwrapped key material and empties the caches.
// The server calls it when Arca is sealed, after the requests that were
// using this Store have finished; a later call on the Store reads storage
// again (and fails while the barrier is sealed).
func (s *Store) Wipe() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.keys.Range(func(k, v any) bool {
		e := v.(*entry)
		e.mu.Lock()
		for _, m := range e.mats {
			m.Destroy()
		}
		clear(e.mats)
		e.mu.Unlock()
		s.keys.Delete(k)
		return true
	})
	s.aliases.Clear()
	s.grantsMu.Lock()
	clear(s.grants)
	s.grantsMu.Unlock()
}
